using System.Collections;
using Harvester.Core;
using Harvester.Imaging;
using Npgsql;
using OpenCvSharp;

namespace Harvester.Data;

/// <summary>A group member as <see cref="DuplicateGroups"/> reads it from <c>images</c>.</summary>
/// <param name="Accepted">Its own verdict: passed its profile's checks (no reject reasons).</param>
/// <param name="PHash">Its pHash when it is of the current recipe (<see cref="PerceptualHash.Recipe"/>), else null.</param>
public sealed record GroupMember(
    long Id,
    string Sha256,
    bool Accepted,
    int Width,
    int Height,
    EncodingQuality Encoding,
    ulong? PHash,
    byte[]? ColourLayout,
    byte[]? PixelHash,
    long? GroupId)
{
    public KeepCandidate ToCandidate() => new(Id, Accepted, Encoding, Width, Height, ColourLayout);
}

/// <summary>
/// Whether a member still belongs to its group once <paramref name="kept"/> heads it. Membership is always judged
/// against the kept image (a star), never passed along from member to member, so a chain of photos that each resemble
/// the next (one overlaid caption box on five different photos) cannot become one group.
/// </summary>
public interface IGroupMembership
{
    bool Belongs(GroupMember kept, GroupMember member);
}

/// <summary>The curate stage's membership: the same decoded pixels, or pHash and colour layout within <see cref="NearDuplicateRule"/>.</summary>
public sealed class HashMembership(NearDuplicateRule rule) : IGroupMembership
{
    public bool Belongs(GroupMember kept, GroupMember member)
    {
        ArgumentNullException.ThrowIfNull(kept);
        ArgumentNullException.ThrowIfNull(member);
        if (kept.PixelHash is { Length: > 0 } a && member.PixelHash is { } b && a.AsSpan().SequenceEqual(b))
        {
            return true;
        }

        return kept.PHash is { } hk && member.PHash is { } hm && rule.Matches(hk, kept.ColourLayout, hm, member.ColourLayout);
    }
}

/// <summary>
/// What a join or merge did: the group, its kept image and why, and the members that no longer belong to it (judged
/// against the new kept image). Those have their own verdict back and are out of every group; the caller re-examines
/// them (the curate stage looks each up again among kept images, and it may join another group).
/// </summary>
public sealed record GroupChange(long? GroupId, long KeptId, string KeepReason, IReadOnlyList<long> Left);

/// <summary>
/// Duplicate groups, shared by every stage that finds copies (curate by hash, embed/cluster by embedding): one place
/// decides membership and which copy is kept (<see cref="KeepRule"/>), inside the caller's transaction.
/// <list type="bullet">
/// <item><see cref="JoinAsync"/>: a newcomer matched a kept (or ungrouped) image; it joins that image's group.</item>
/// <item><see cref="MergeAsync"/>: a set of images found to be copies of each other; their groups become one.</item>
/// </list>
/// Either way the whole group is re-elected with the keep rule, members that no longer belong to the (new) kept image
/// leave it, and statuses are written: the kept image gets its own verdict (accepted or rejected), every other member
/// is 'duplicate' with <c>duplicate_of_id</c> = the kept image. A group left with one image is dissolved. Callers hold
/// whatever lock serialises their writers (the curate stage holds its advisory lock).
/// </summary>
public sealed class DuplicateGroups(IBlobStore blobs)
{
    /// <summary>Long side the largest member is decoded at for the pixel evidence; the others at the same fraction.</summary>
    public const int EvidenceSize = 1024;

    /// <summary>Groups larger than this are re-elected between the kept image and the newcomer only (decoding every member each time would not scale).</summary>
    public const int MaxElected = 24;

    private readonly KeepThumbCache _thumbs = new();

    public async Task<GroupChange> JoinAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long newcomerId, long matchedId, DuplicateKind kind,
        IGroupMembership membership, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(membership);
        return await MergeAsync(connection, transaction, [matchedId, newcomerId], kind, membership, ct);
    }

    /// <summary>
    /// Folds <paramref name="imageIds"/> and every member of the groups they are in into one group (the oldest of
    /// those groups, else a new one of <paramref name="kind"/>), elects its kept image and applies it.
    /// </summary>
    public async Task<GroupChange> MergeAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyCollection<long> imageIds, DuplicateKind kind,
        IGroupMembership membership, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(imageIds);
        ArgumentNullException.ThrowIfNull(membership);
        var members = await ReadMembersAsync(connection, transaction, imageIds, ct);
        if (members.Count == 0)
        {
            throw new ArgumentException("None of the images exist.", nameof(imageIds));
        }

        var groups = members.Where(m => m.GroupId is not null).Select(m => m.GroupId!.Value).Distinct().Order().ToList();
        KeepDecision decision;
        if (members.Count > MaxElected)
        {
            // Only the current kept images and the given images compete; the rest stay copies of whichever wins.
            var keptNow = await KeptImagesAsync(connection, transaction, groups, ct);
            var contenders = members.Where(m => keptNow.Contains(m.Id) || imageIds.Contains(m.Id)).ToList();
            var d = Elect(contenders);
            decision = d with { Index = members.FindIndex(m => m.Id == contenders[d.Index].Id) };
        }
        else
        {
            decision = Elect(members);
        }

        var kept = members[decision.Index];
        var stay = new List<long> { kept.Id };
        var left = new List<long>();
        foreach (var m in members.Where(m => m.Id != kept.Id))
        {
            (membership.Belongs(kept, m) ? stay : left).Add(m.Id);
        }

        if (stay.Count < 2)
        {
            foreach (var g in groups)
            {
                await DeleteGroupAsync(connection, transaction, g, ct);
            }

            await RestoreVerdictsAsync(connection, transaction, members.Select(m => m.Id).ToArray(), ct);
            return new GroupChange(null, kept.Id, decision.Reason, [.. left]);
        }

        long groupId;
        if (groups.Count > 0)
        {
            groupId = groups[0];
            foreach (var g in groups.Skip(1))
            {
                await DeleteGroupAsync(connection, transaction, g, ct);
            }
        }
        else
        {
            await using var insert = new NpgsqlCommand(
                "INSERT INTO duplicate_groups (kind, kept_image_id, size, created_at) VALUES ($1, $2, 0, now()) RETURNING id", connection, transaction);
            insert.Parameters.Add(new NpgsqlParameter { Value = kind });
            insert.Parameters.Add(new NpgsqlParameter { Value = kept.Id });
            groupId = (long)(await insert.ExecuteScalarAsync(ct))!;
        }

        await RestoreVerdictsAsync(connection, transaction, [.. left], ct);
        await using (var write = new NpgsqlCommand("""
            UPDATE images SET
                status = CASE WHEN id = $1 THEN (CASE WHEN reject_reasons IS NULL THEN 'accepted' ELSE 'rejected' END)::image_status ELSE 'duplicate' END,
                duplicate_of_id = CASE WHEN id = $1 THEN NULL ELSE $1 END,
                duplicate_group_id = $2
            WHERE id = ANY($3)
            """, connection, transaction))
        {
            write.Parameters.Add(new NpgsqlParameter { Value = kept.Id });
            write.Parameters.Add(new NpgsqlParameter { Value = groupId });
            write.Parameters.Add(new NpgsqlParameter { Value = stay.ToArray() });
            await write.ExecuteNonQueryAsync(ct);
        }

        await using (var group = new NpgsqlCommand(
            "UPDATE duplicate_groups SET kept_image_id = $1, size = $2, keep_reason = $3 WHERE id = $4", connection, transaction))
        {
            group.Parameters.Add(new NpgsqlParameter { Value = kept.Id });
            group.Parameters.Add(new NpgsqlParameter { Value = stay.Count });
            group.Parameters.Add(new NpgsqlParameter { Value = decision.Reason });
            group.Parameters.Add(new NpgsqlParameter { Value = groupId });
            await group.ExecuteNonQueryAsync(ct);
        }

        return new GroupChange(groupId, kept.Id, decision.Reason, left);
    }

    /// <summary>The keep rule over members read from the database, with their pixels decoded from blobs only if it asks.</summary>
    public KeepDecision Elect(IReadOnlyList<GroupMember> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        var largest = members.Max(m => Math.Max(m.Width, m.Height));
        var fraction = largest <= EvidenceSize ? 1.0 : (double)EvidenceSize / largest;
        using var evidence = new PixelKeepEvidence(
            members.Count, i => Decode(members[i], fraction), _thumbs, i => $"{members[i].Sha256}@{Side(members[i], fraction)}");
        return KeepRule.Elect(members.Select(m => m.ToCandidate()).ToList(), evidence);
    }

    private static int Side(GroupMember m, double fraction) => Math.Max(16, (int)Math.Round(Math.Max(m.Width, m.Height) * fraction));

    private Mat? Decode(GroupMember m, double fraction)
    {
        try
        {
            var bytes = File.ReadAllBytes(blobs.LocalPath(m.Sha256));
            var side = Side(m, fraction);
            using var decoded = new ImageDecoder(long.MaxValue, long.MaxValue, side).Decode(bytes);
            return decoded.Pixels.Clone();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ImageRejectedException or OpenCVException)
        {
            // A member whose bytes are gone or unreadable gives no pixel evidence; the containers still decide.
            return null;
        }
    }

    /// <summary>The members: the given images and every image in the groups they belong to.</summary>
    public static async Task<List<GroupMember>> ReadMembersAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, IEnumerable<long> imageIds, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT id, sha256, reject_reasons IS NULL, coalesce(width, 0), coalesce(height, 0), encode_quality, coalesce(encode_exact, false),
                   CASE WHEN hash_version = $2 THEN phash END, colour_layout, pixel_hash, duplicate_group_id
            FROM images
            WHERE id = ANY($1) OR duplicate_group_id IN (SELECT duplicate_group_id FROM images WHERE id = ANY($1) AND duplicate_group_id IS NOT NULL)
            ORDER BY id
            """, connection, transaction);
        cmd.Parameters.Add(new NpgsqlParameter { Value = imageIds.Distinct().ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (short)PerceptualHash.Recipe });
        var list = new List<GroupMember>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var quality = r.IsDBNull(5) ? EncodingQuality.Unknown : new EncodingQuality(r.GetFloat(5) >= EncodingQuality.LosslessQuality, r.GetFloat(5), r.GetBoolean(6));
            list.Add(new GroupMember(
                r.GetInt64(0), r.GetString(1), r.GetBoolean(2), r.GetInt32(3), r.GetInt32(4), quality,
                r.IsDBNull(7) ? null : PerceptualHash.FromBits(r.GetFieldValue<BitArray>(7)),
                r.IsDBNull(8) ? null : r.GetFieldValue<byte[]>(8),
                r.IsDBNull(9) ? null : r.GetFieldValue<byte[]>(9),
                r.IsDBNull(10) ? null : r.GetInt64(10)));
        }

        return list;
    }

    private static async Task<HashSet<long>> KeptImagesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<long> groups, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT kept_image_id FROM duplicate_groups WHERE id = ANY($1)", connection, transaction);
        cmd.Parameters.Add(new NpgsqlParameter { Value = groups.ToArray() });
        var set = new HashSet<long>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            set.Add(r.GetInt64(0));
        }

        return set;
    }

    /// <summary>Out of every group, with their own verdict back.</summary>
    private static async Task RestoreVerdictsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long[] ids, CancellationToken ct)
    {
        if (ids.Length == 0)
        {
            return;
        }

        await using var cmd = new NpgsqlCommand("""
            UPDATE images SET status = (CASE WHEN reject_reasons IS NULL THEN 'accepted' ELSE 'rejected' END)::image_status,
                duplicate_of_id = NULL, duplicate_group_id = NULL
            WHERE id = ANY($1)
            """, connection, transaction);
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task DeleteGroupAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long groupId, CancellationToken ct)
    {
        foreach (var sql in (string[])["UPDATE images SET duplicate_group_id = NULL WHERE duplicate_group_id = $1", "DELETE FROM duplicate_groups WHERE id = $1"])
        {
            await using var cmd = new NpgsqlCommand(sql, connection, transaction);
            cmd.Parameters.Add(new NpgsqlParameter { Value = groupId });
            await cmd.ExecuteNonQueryAsync(ct);
        }
    }
}
