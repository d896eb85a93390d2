using Harvester.Imaging;
using System.Collections;
using System.Text.Json;
using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Harvester.Curate;

/// <summary>
/// What one pass of the curate stage did: verdicts given to the claimed images (accepted or rejected, or duplicate
/// when they joined a group as a copy), plus kept images displaced by a better copy (counted in Duplicates).
/// </summary>
public sealed record CurationBatchResult(
    int Claimed,
    int Accepted,
    int Rejected,
    int Duplicates,
    IReadOnlyDictionary<string, int> RejectReasons,
    int CrossPlaceGroups)
{
    public static CurationBatchResult Empty { get; } = new(0, 0, 0, 0, new Dictionary<string, int>(), 0);
}

/// <summary>
/// The curate stage: claims fetched images, analyses them in parallel outside any transaction, then in one short
/// transaction per batch records verdicts, hashes and scores and folds duplicates into groups.
/// </summary>
public sealed class CurationService(
    HarvesterDatabase database,
    BlobStore blobs,
    ImageAnalyzer analyzer,
    IOptions<CurationOptions> options,
    ILogger<CurationService> logger)
{
    public const string Stage = "curate";

    // Serialises the short write transactions of concurrent workers, so two batches never miss each other's duplicates.
    private const long WriteLockKey = 0x6375726174650001;

    private const string Candidates = "SELECT id FROM images WHERE status = 'fetched' ORDER BY id";

    private readonly CurationOptions _options = options.Value;

    public Task<CurationBatchResult> RunOnceAsync(int batchSize, CancellationToken ct) => RunOnceAsync(batchSize, null, ct);

    /// <summary>One batch; <paramref name="profile"/> overrides each image's job profile when set.</summary>
    public async Task<CurationBatchResult> RunOnceAsync(int batchSize, string? profile, CancellationToken ct)
    {
        if (profile is not null && !_options.HasProfile(profile))
        {
            throw new HarvesterException($"Curation profile '{profile}' is not configured (Curation:Profiles). Known: {string.Join(", ", _options.Profiles.Keys.Append(CurationOptions.DefaultProfile).Distinct(StringComparer.OrdinalIgnoreCase))}.");
        }

        var ds = database.DataSource;
        var ids = await WorkLeases.ClaimAsync(ds, Stage, Candidates, batchSize, _options.Lease, ct);
        if (ids.Count == 0)
        {
            return CurationBatchResult.Empty;
        }

        var rows = await LoadAsync(ds, ids, ct);
        var attempts = await WorkLeases.AttemptsAsync(ds, Stage, ids, ct);
        var analyses = new ImageAnalysis[rows.Count];
        var parallelism = _options.Parallelism > 0 ? _options.Parallelism : Environment.ProcessorCount;
        await Parallel.ForAsync(0, rows.Count, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (i, token) =>
        {
            var row = rows[i];
            if (attempts.TryGetValue(row.Id, out var n) && n > _options.MaxAttempts)
            {
                Log.GivingUp(logger, row.Id, n);
                analyses[i] = ImageAnalysis.Failed($"curation-failed: gave up after {n - 1} attempts");
                return;
            }

            analyses[i] = await AnalyzeAsync(row, token);
            if (analyses[i].Failure is { } failure)
            {
                Log.ImageFailed(logger, row.Id, failure);
            }
        });

        var result = await WriteAsync(ds, rows, analyses, profile, ids, ct);
        Log.BatchCurated(logger, result.Claimed, result.Accepted, result.Rejected, result.Duplicates);
        return result;
    }

    /// <summary>Runs batches until no fetched image is left; returns the totals.</summary>
    public async Task<CurationBatchResult> RunUntilDoneAsync(int batchSize, string? profile, CancellationToken ct, IProgress<CurationBatchResult>? progress = null)
    {
        var total = CurationBatchResult.Empty;
        while (true)
        {
            var batch = await RunOnceAsync(batchSize, profile, ct);
            if (batch.Claimed == 0)
            {
                return total;
            }

            progress?.Report(batch);
            var reasons = new Dictionary<string, int>(total.RejectReasons);
            foreach (var (k, v) in batch.RejectReasons)
            {
                reasons[k] = reasons.GetValueOrDefault(k) + v;
            }

            total = new CurationBatchResult(total.Claimed + batch.Claimed, total.Accepted + batch.Accepted, total.Rejected + batch.Rejected,
                total.Duplicates + batch.Duplicates, reasons, total.CrossPlaceGroups + batch.CrossPlaceGroups);
        }
    }

    private async Task<ImageAnalysis> AnalyzeAsync(Row row, CancellationToken ct)
    {
        byte[] bytes;
        try
        {
            bytes = await blobs.ReadAsync(row.Sha256, ct);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return ImageAnalysis.Failed("blob-missing: no bytes in the blob store for " + row.Sha256);
        }

        try
        {
            return analyzer.Analyze(bytes);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            // One bad image never stops the batch: whatever a decoder or model throws becomes its reject reason.
            return ImageAnalysis.Failed($"analysis-failed: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
        }
    }

    private sealed record Row(long Id, string Sha256, string Profile);

    private static async Task<List<Row>> LoadAsync(NpgsqlDataSource ds, IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var cmd = ds.CreateCommand("""
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

    private async Task<CurationBatchResult> WriteAsync(
        NpgsqlDataSource ds, List<Row> rows, ImageAnalysis[] analyses, string? profileOverride, IReadOnlyList<long> claimed, CancellationToken ct)
    {
        int accepted = 0, rejected = 0, duplicates = 0, crossPlace = 0;
        var reasonCounts = new Dictionary<string, int>();
        await using var conn = await ds.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await ExecAsync(conn, tx, $"SELECT pg_advisory_xact_lock({WriteLockKey})", ct);
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var a = analyses[i];
            if (a.Failure is { } failure)
            {
                await RejectFailedAsync(conn, tx, row.Id, failure, ct);
                rejected++;
                var code = failure.Split(':')[0];
                reasonCounts[code] = reasonCounts.GetValueOrDefault(code) + 1;
                continue;
            }

            var profileName = profileOverride ?? (string.IsNullOrEmpty(row.Profile) ? CurationOptions.DefaultProfile : row.Profile);
            if (!_options.HasProfile(profileName))
            {
                Log.UnknownProfile(logger, profileName, row.Id);
            }

            var reasons = Verdicts.Evaluate(_options.ProfileFor(profileName), a.Scores);
            var status = reasons.Count == 0 ? ImageStatus.Accepted : ImageStatus.Rejected;
            await WriteVerdictAsync(conn, tx, row.Id, a, status, reasons, profileName, ct);
            foreach (var reason in reasons)
            {
                reasonCounts[reason.Reason] = reasonCounts.GetValueOrDefault(reason.Reason) + 1;
            }

            var match = await FindDuplicateAsync(conn, tx, row.Id, a, ct);
            var final = status;
            if (match is { } m)
            {
                var (newStatus, groupId) = await MergeAsync(conn, tx, row.Id, status, a, m, ct);
                final = newStatus;
                if (newStatus != ImageStatus.Duplicate)
                {
                    // The newcomer displaced the group's kept image, which is a duplicate now.
                    duplicates++;
                }

                if (await SpansPlacesAsync(conn, tx, groupId, ct))
                {
                    crossPlace++;
                }
            }

            switch (final)
            {
                case ImageStatus.Accepted: accepted++; break;
                case ImageStatus.Rejected: rejected++; break;
                default: duplicates++; break;
            }
        }

        await WorkLeases.CompleteAsync(conn, tx, Stage, claimed, ct);
        await tx.CommitAsync(ct);
        return new CurationBatchResult(claimed.Count, accepted, rejected, duplicates, reasonCounts, crossPlace);
    }

    private static async Task RejectFailedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, string failure, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "UPDATE images SET status = 'rejected', reject_reasons = $2, curated_at = now() WHERE id = $1", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(new[] { new RejectReason(failure, null, null) }, Json), NpgsqlDbType = NpgsqlDbType.Jsonb });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    internal static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private static async Task WriteVerdictAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, long id, ImageAnalysis a, ImageStatus status, List<RejectReason> reasons, string profile, CancellationToken ct)
    {
        var scores = new Dictionary<string, object>(a.Scores.Select(kv => KeyValuePair.Create(kv.Key, (object)kv.Value)))
        {
            ["profile"] = profile,
            ["quality"] = a.Quality,
        };
        await using var cmd = new NpgsqlCommand("""
            UPDATE images SET status = $2, format = $3, width = $4, height = $5, phash = $6, dhash = $7, pixel_hash = $8,
                scores = $9, reject_reasons = $10, quality_score = $11, curated_at = now(), duplicate_of_id = NULL, duplicate_group_id = NULL
            WHERE id = $1
            """, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = status });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a.Format.ToString().ToLowerInvariant() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a.Width });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a.Height });
        cmd.Parameters.Add(new NpgsqlParameter { Value = PerceptualHash.ToBits(a.PHash), NpgsqlDbType = NpgsqlDbType.Bit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = PerceptualHash.ToBits(a.DHash), NpgsqlDbType = NpgsqlDbType.Bit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a.PixelHash });
        cmd.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(scores, Json), NpgsqlDbType = NpgsqlDbType.Jsonb });
        cmd.Parameters.Add(new NpgsqlParameter { Value = reasons.Count == 0 ? DBNull.Value : JsonSerializer.Serialize(reasons, Json), NpgsqlDbType = NpgsqlDbType.Jsonb });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a.Quality });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private readonly record struct Match(long Id, DuplicateKind Kind);

    /// <summary>
    /// The group representative this image duplicates: same decoded pixels first, else the nearest pHash within the
    /// radius (exact lookup on the chunk indexes, then the optional dHash check). Rows written earlier in this
    /// transaction are visible, so duplicates inside one batch are found too.
    /// </summary>
    private async Task<Match?> FindDuplicateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, ImageAnalysis a, CancellationToken ct)
    {
        await using (var exact = new NpgsqlCommand(
            "SELECT id FROM images WHERE pixel_hash = $1 AND id <> $2 AND status IN ('accepted', 'rejected') ORDER BY id LIMIT 1", conn, tx))
        {
            exact.Parameters.Add(new NpgsqlParameter { Value = a.PixelHash });
            exact.Parameters.Add(new NpgsqlParameter { Value = id });
            if (await exact.ExecuteScalarAsync(ct) is long same)
            {
                return new Match(same, DuplicateKind.ExactPixels);
            }
        }

        var near = await WithinRadiusAsync(conn, tx, a.PHash, _options.HammingRadius, _options.NeighbourLimit, id, ct);
        foreach (var n in near)
        {
            if (_options.DHashRadius is { } dr && (n.DHash is null || PerceptualHash.Hamming(PerceptualHash.FromBits(n.DHash), a.DHash) > dr))
            {
                continue;
            }

            return new Match(n.Id, DuplicateKind.PerceptualHash);
        }

        return null;
    }

    public sealed record Neighbour(long Id, int Distance, BitArray? DHash);

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
        var list = new List<Neighbour>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new Neighbour(r.GetInt64(0), r.GetInt32(1), r.IsDBNull(2) ? null : r.GetFieldValue<BitArray>(2)));
        }

        return list;
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
        var list = new List<Neighbour>(k);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new Neighbour(r.GetInt64(0), r.GetInt32(1), r.IsDBNull(2) ? null : r.GetFieldValue<BitArray>(2)));
        }

        return list;
    }

    /// <summary>
    /// Folds the new image into the representative's group. Keep rule: an accepted image before a rejected one, then
    /// the larger resolution, then the higher quality score, then the earlier id. The loser becomes 'duplicate' of the
    /// winner; when the newcomer wins, the old representative and its duplicates point to it.
    /// </summary>
    private static async Task<(ImageStatus Status, long GroupId)> MergeAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, long id, ImageStatus status, ImageAnalysis a, Match m, CancellationToken ct)
    {
        long? groupId;
        Candidate kept;
        await using (var read = new NpgsqlCommand(
            "SELECT status, coalesce(width, 0), coalesce(height, 0), coalesce(quality_score, 0), duplicate_group_id FROM images WHERE id = $1", conn, tx))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = m.Id });
            await using var r = await read.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            kept = new Candidate(m.Id, r.GetFieldValue<ImageStatus>(0) == ImageStatus.Accepted, (long)r.GetInt32(1) * r.GetInt32(2), r.GetDouble(3));
            groupId = r.IsDBNull(4) ? null : r.GetInt64(4);
        }

        var g = groupId ?? await ScalarAsync<long>(conn, tx,
            "WITH g AS (INSERT INTO duplicate_groups (kind, kept_image_id, size, created_at) VALUES ($1, $2, 1, now()) RETURNING id) " +
            "UPDATE images SET duplicate_group_id = (SELECT id FROM g) WHERE id = $2 RETURNING duplicate_group_id",
            ct, m.Kind, m.Id);

        var newcomer = new Candidate(id, status == ImageStatus.Accepted, (long)a.Width * a.Height, a.Quality);
        if (KeepRule.Prefer(newcomer, kept))
        {
            await ExecAsync(conn, tx, "UPDATE images SET duplicate_of_id = $1 WHERE duplicate_of_id = $2", ct, id, m.Id);
            await ExecAsync(conn, tx, "UPDATE images SET status = 'duplicate', duplicate_of_id = $1 WHERE id = $2", ct, id, m.Id);
            await ExecAsync(conn, tx, "UPDATE images SET duplicate_group_id = $1 WHERE id = $2", ct, g, id);
            await ExecAsync(conn, tx, "UPDATE duplicate_groups SET kept_image_id = $1, size = size + 1 WHERE id = $2", ct, id, g);
            return (status, g);
        }

        await ExecAsync(conn, tx, "UPDATE images SET status = 'duplicate', duplicate_of_id = $1, duplicate_group_id = $2 WHERE id = $3", ct, m.Id, g, id);
        await ExecAsync(conn, tx, "UPDATE duplicate_groups SET size = size + 1 WHERE id = $1", ct, g);
        return (ImageStatus.Duplicate, g);
    }

    private static async Task<bool> SpansPlacesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long groupId, CancellationToken ct) =>
        await ScalarAsync<long>(conn, tx, """
            SELECT count(DISTINCT p) FROM (
                SELECT s.place_id AS p FROM image_sightings s JOIN images i ON i.id = s.image_id WHERE i.duplicate_group_id = $1 AND s.place_id IS NOT NULL
                UNION SELECT place_id FROM images WHERE duplicate_group_id = $1 AND place_id IS NOT NULL) x
            """, ct, groupId) > 1;

    private static async Task ExecAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var arg in args)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = arg });
        }

        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var arg in args)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = arg });
        }

        return (T)(await cmd.ExecuteScalarAsync(ct))!;
    }
}

/// <summary>A member of a duplicate group as the keep rule sees it.</summary>
public readonly record struct Candidate(long Id, bool Accepted, long Pixels, double Quality);

public static class KeepRule
{
    /// <summary>True when <paramref name="a"/> should be kept over <paramref name="b"/>.</summary>
    public static bool Prefer(Candidate a, Candidate b)
    {
        if (a.Accepted != b.Accepted)
        {
            return a.Accepted;
        }

        if (a.Pixels != b.Pixels)
        {
            return a.Pixels > b.Pixels;
        }

        if (Math.Abs(a.Quality - b.Quality) > 1e-9)
        {
            return a.Quality > b.Quality;
        }

        return a.Id < b.Id;
    }
}
