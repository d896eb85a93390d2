using System.Collections;
using System.Text.Json;
using Harvester.Core;
using Harvester.Data;
using Harvester.Imaging;
using Npgsql;
using NpgsqlTypes;

namespace Harvester.Curate;

/// <summary>A kept image as the keep rule sees it, with the group it heads (if any).</summary>
public sealed record KeptImage(Candidate Candidate, long? GroupId);

/// <summary>Every statement of the curate stage: what it claims, reads, and writes in its batch transaction.</summary>
public sealed class CurateStore(HarvesterDatabase database)
{
    /// <summary>Serialises the short write transactions of concurrent workers, so two batches never miss each other's duplicates.</summary>
    private const long WriteLockKey = 0x6375726174650001;

    /// <summary>Images waiting for a verdict, oldest first (the candidates a curate claim takes).</summary>
    public const string Candidates = "SELECT id FROM images WHERE status = 'fetched' ORDER BY id";

    internal static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public sealed record Row(long Id, string Sha256, string Profile);

    public sealed record Neighbour(long Id, int Distance, BitArray? DHash);

    /// <summary>The claimed images still waiting for a verdict, with the profile of the job that fetched them.</summary>
    public async Task<List<Row>> LoadAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("""
            SELECT i.id, i.sha256, coalesce(j.profile, '')
            FROM images i LEFT JOIN crawl_jobs j ON j.id = i.job_id
            WHERE i.id = ANY($1) AND i.status = 'fetched'
            ORDER BY i.id
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        var rows = new List<Row>(ids.Count);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new Row(r.GetInt64(0), r.GetString(1), r.GetString(2)));
        }

        return rows;
    }

    /// <summary>Opens the batch's write transaction, holding the stage's write lock until it ends.</summary>
    public async Task<Batch> BeginBatchAsync(CancellationToken ct)
    {
        var conn = await database.DataSource.OpenConnectionAsync(ct);
        var tx = await conn.BeginTransactionAsync(ct);
        var batch = new Batch(conn, tx);
        await batch.ExecAsync($"SELECT pg_advisory_xact_lock({WriteLockKey})", ct);
        return batch;
    }

    /// <summary>
    /// Up to <paramref name="limit"/> curated, non-duplicate images whose pHash is within <paramref name="radius"/> bits
    /// of <paramref name="phash"/>, nearest first (then lowest id). Exact: every such image is a candidate, found by
    /// probing the four 16-bit chunk indexes (<see cref="HashChunks"/>) and checked with <c>&lt;~&gt;</c> on the hash
    /// the index carries; only the few survivors are read from the table.
    /// </summary>
    public static async Task<List<Neighbour>> WithinRadiusAsync(
        NpgsqlConnection conn, NpgsqlTransaction? tx, ulong phash, int radius, int limit, long excludeId, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(radius);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var probeRadius = HashChunks.ProbeRadius(radius);
        var indexed = probeRadius <= HashChunks.MaxProbeRadius;
        var candidates = indexed
            ? string.Join("\n    UNION ", Enumerable.Range(0, HashChunks.Count).Select(c =>
                $"SELECT id, phash <~> $1 AS d FROM images WHERE phash_chunk{c} = ANY(${c + 5}) AND phash <~> $1 <= $2"))
            : "SELECT id, phash <~> $1 AS d FROM images WHERE phash <~> $1 <= $2";
        await using var cmd = new NpgsqlCommand($"""
            SELECT i.id, c.d::int, i.dhash FROM (
                {candidates}) c
            JOIN images i ON i.id = c.id
            WHERE i.status IN ('accepted', 'rejected') AND i.id <> $3
            ORDER BY c.d, i.id LIMIT $4
            """, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = PerceptualHash.ToBits(phash), NpgsqlDbType = NpgsqlDbType.Bit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (double)radius });
        cmd.Parameters.Add(new NpgsqlParameter { Value = excludeId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        if (indexed)
        {
            for (var c = 0; c < HashChunks.Count; c++)
            {
                cmd.Parameters.Add(new NpgsqlParameter { Value = HashChunks.Probes(HashChunks.Chunk(phash, c), probeRadius) });
            }
        }

        // Prepared once per connection and reused (Npgsql keeps it by SQL text): the plan is the same four index probes
        // every time, and planning would otherwise be a large share of a sub-millisecond lookup.
        await cmd.PrepareAsync(ct);
        return await ReadNeighboursAsync(cmd, ct);
    }

    /// <summary>
    /// The k curated, non-duplicate images nearest to <paramref name="phash"/> by Hamming distance, via the HNSW
    /// bit_hamming_ops index (approximate, like any HNSW search; the caller sets hnsw.ef_search). For "everything
    /// within a radius", as dedupe needs, <see cref="WithinRadiusAsync"/> is exact and faster.
    /// </summary>
    public static async Task<List<Neighbour>> NearestAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, ulong phash, int k, long excludeId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT id, (phash <~> $1)::int, dhash FROM images
            WHERE status IN ('accepted', 'rejected') AND phash IS NOT NULL AND id <> $2
            ORDER BY phash <~> $1 LIMIT $3
            """, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = PerceptualHash.ToBits(phash), NpgsqlDbType = NpgsqlDbType.Bit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = excludeId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = k });
        return await ReadNeighboursAsync(cmd, ct);
    }

    private static async Task<List<Neighbour>> ReadNeighboursAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var list = new List<Neighbour>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new Neighbour(r.GetInt64(0), r.GetInt32(1), r.IsDBNull(2) ? null : r.GetFieldValue<BitArray>(2)));
        }

        return list;
    }

    /// <summary>One batch's write transaction (under the stage's write lock): verdicts, duplicate groups, leases.</summary>
    public sealed class Batch(NpgsqlConnection connection, NpgsqlTransaction transaction) : IAsyncDisposable
    {
        public NpgsqlConnection Connection => connection;

        public NpgsqlTransaction Transaction => transaction;

        public Task CommitAsync(CancellationToken ct) => transaction.CommitAsync(ct);

        public async Task RejectFailedAsync(long id, string failure, CancellationToken ct) =>
            await ExecAsync("UPDATE images SET status = 'rejected', reject_reasons = $2, curated_at = now() WHERE id = $1", ct,
                id, new NpgsqlParameter { Value = JsonSerializer.Serialize(new[] { new RejectReason(failure, null, null) }, Json), NpgsqlDbType = NpgsqlDbType.Jsonb });

        public async Task WriteVerdictAsync(long id, ImageAnalysis a, ImageStatus status, List<RejectReason> reasons, string profile, CancellationToken ct)
        {
            var scores = new Dictionary<string, object>(a.Scores.Select(kv => KeyValuePair.Create(kv.Key, (object)kv.Value)))
            {
                ["profile"] = profile,
                ["quality"] = a.Quality,
            };
            await ExecAsync("""
                UPDATE images SET status = $2, format = $3, width = $4, height = $5, phash = $6, dhash = $7, pixel_hash = $8,
                    scores = $9, reject_reasons = $10, quality_score = $11, curated_at = now(), duplicate_of_id = NULL, duplicate_group_id = NULL
                WHERE id = $1
                """, ct,
                id, status, a.Format.ToString().ToLowerInvariant(), a.Width, a.Height,
                new NpgsqlParameter { Value = PerceptualHash.ToBits(a.PHash), NpgsqlDbType = NpgsqlDbType.Bit },
                new NpgsqlParameter { Value = PerceptualHash.ToBits(a.DHash), NpgsqlDbType = NpgsqlDbType.Bit },
                a.PixelHash,
                new NpgsqlParameter { Value = JsonSerializer.Serialize(scores, Json), NpgsqlDbType = NpgsqlDbType.Jsonb },
                new NpgsqlParameter { Value = reasons.Count == 0 ? DBNull.Value : JsonSerializer.Serialize(reasons, Json), NpgsqlDbType = NpgsqlDbType.Jsonb },
                a.Quality);
        }

        /// <summary>A curated image (accepted or rejected) with exactly these decoded pixels, lowest id first.</summary>
        public async Task<long?> FindSamePixelsAsync(byte[] pixelHash, long excludeId, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT id FROM images WHERE pixel_hash = $1 AND id <> $2 AND status IN ('accepted', 'rejected') ORDER BY id LIMIT 1", connection, transaction);
            cmd.Parameters.Add(new NpgsqlParameter { Value = pixelHash });
            cmd.Parameters.Add(new NpgsqlParameter { Value = excludeId });
            return await cmd.ExecuteScalarAsync(ct) is long same ? same : null;
        }

        public Task<List<Neighbour>> WithinRadiusAsync(ulong phash, int radius, int limit, long excludeId, CancellationToken ct) =>
            CurateStore.WithinRadiusAsync(connection, transaction, phash, radius, limit, excludeId, ct);

        /// <summary>The image a newcomer matched, as the keep rule sees it.</summary>
        public async Task<KeptImage> ReadKeptAsync(long id, CancellationToken ct)
        {
            await using var read = new NpgsqlCommand(
                "SELECT status, coalesce(width, 0), coalesce(height, 0), coalesce(quality_score, 0), duplicate_group_id FROM images WHERE id = $1", connection, transaction);
            read.Parameters.Add(new NpgsqlParameter { Value = id });
            await using var r = await read.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            return new KeptImage(
                new Candidate(id, r.GetFieldValue<ImageStatus>(0) == ImageStatus.Accepted, (long)r.GetInt32(1) * r.GetInt32(2), r.GetDouble(3)),
                r.IsDBNull(4) ? null : r.GetInt64(4));
        }

        /// <summary>Starts a group headed by <paramref name="keptId"/> (size 1) and returns its id.</summary>
        public async Task<long> CreateGroupAsync(DuplicateKind kind, long keptId, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand("""
                WITH g AS (INSERT INTO duplicate_groups (kind, kept_image_id, size, created_at) VALUES ($1, $2, 1, now()) RETURNING id)
                UPDATE images SET duplicate_group_id = (SELECT id FROM g) WHERE id = $2 RETURNING duplicate_group_id
                """, connection, transaction);
            cmd.Parameters.Add(new NpgsqlParameter { Value = kind });
            cmd.Parameters.Add(new NpgsqlParameter { Value = keptId });
            return (long)(await cmd.ExecuteScalarAsync(ct))!;
        }

        /// <summary>The newcomer heads the group: the old kept image and every copy of it become copies of the newcomer.</summary>
        public async Task ReplaceKeptAsync(long groupId, long newcomerId, long oldKeptId, CancellationToken ct)
        {
            await ExecAsync("UPDATE images SET duplicate_of_id = $1 WHERE duplicate_of_id = $2", ct, newcomerId, oldKeptId);
            await ExecAsync("UPDATE images SET status = 'duplicate', duplicate_of_id = $1 WHERE id = $2", ct, newcomerId, oldKeptId);
            await ExecAsync("UPDATE images SET duplicate_group_id = $1 WHERE id = $2", ct, groupId, newcomerId);
            await ExecAsync("UPDATE duplicate_groups SET kept_image_id = $1, size = size + 1 WHERE id = $2", ct, newcomerId, groupId);
        }

        /// <summary>The newcomer joins the group as a copy of its kept image.</summary>
        public async Task AddCopyAsync(long groupId, long newcomerId, long keptId, CancellationToken ct)
        {
            await ExecAsync("UPDATE images SET status = 'duplicate', duplicate_of_id = $1, duplicate_group_id = $2 WHERE id = $3", ct, keptId, groupId, newcomerId);
            await ExecAsync("UPDATE duplicate_groups SET size = size + 1 WHERE id = $1", ct, groupId);
        }

        /// <summary>Whether the group's images were seen at more than one place.</summary>
        public async Task<bool> SpansPlacesAsync(long groupId, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT count(DISTINCT p) FROM (
                    SELECT s.place_id AS p FROM image_sightings s JOIN images i ON i.id = s.image_id WHERE i.duplicate_group_id = $1 AND s.place_id IS NOT NULL
                    UNION SELECT place_id FROM images WHERE duplicate_group_id = $1 AND place_id IS NOT NULL) x
                """, connection, transaction);
            cmd.Parameters.Add(new NpgsqlParameter { Value = groupId });
            return (long)(await cmd.ExecuteScalarAsync(ct))! > 1;
        }

        internal async Task ExecAsync(string sql, CancellationToken ct, params object[] args)
        {
            await using var cmd = new NpgsqlCommand(sql, connection, transaction);
            foreach (var arg in args)
            {
                cmd.Parameters.Add(arg as NpgsqlParameter ?? new NpgsqlParameter { Value = arg });
            }

            await cmd.ExecuteNonQueryAsync(ct);
        }

        public async ValueTask DisposeAsync()
        {
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }
}
