using System.Collections;
using System.Text.Json;
using Harvester.Core;
using Harvester.Data;
using Harvester.Imaging;
using Npgsql;
using NpgsqlTypes;

namespace Harvester.Curate;

/// <summary>Every statement of the curate stage: what it claims, reads, and writes in its batch transaction.</summary>
public sealed class CurateStore(HarvesterDatabase database)
{
    /// <summary>Serialises the short write transactions of concurrent workers, so two batches never miss each other's duplicates.</summary>
    private const long WriteLockKey = 0x6375726174650001;

    /// <summary>Images waiting for a verdict, oldest first (the candidates a curate claim takes).</summary>
    public const string Candidates = "SELECT id FROM images WHERE status = 'fetched' ORDER BY id";

    internal static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public sealed record Row(long Id, string Sha256, string Profile);

    /// <summary>A kept or ungrouped image near a query hash, with what confirms the match.</summary>
    public sealed record Neighbour(long Id, int Distance, ulong PHash, byte[]? ColourLayout);

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
    /// Up to <paramref name="limit"/> curated, non-duplicate images (kept or ungrouped) of the current hash recipe whose pHash is within <paramref name="radius"/> bits
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
            SELECT i.id, c.d::int, i.phash, i.colour_layout FROM (
                {candidates}) c
            JOIN images i ON i.id = c.id
            WHERE i.status IN ('accepted', 'rejected') AND i.id <> $3 AND i.hash_version = {PerceptualHash.Recipe}
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
        await using var cmd = new NpgsqlCommand($"""
            SELECT id, (phash <~> $1)::int, phash, colour_layout FROM images
            WHERE status IN ('accepted', 'rejected') AND phash IS NOT NULL AND id <> $2 AND hash_version = {PerceptualHash.Recipe}
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
            list.Add(new Neighbour(r.GetInt64(0), r.GetInt32(1), PerceptualHash.FromBits(r.GetFieldValue<BitArray>(2)), r.IsDBNull(3) ? null : r.GetFieldValue<byte[]>(3)));
        }

        return list;
    }

    /// <summary>
    /// What the stage did to these images, as the database holds it now: statuses, reasons of the rejected ones (the
    /// code before any ':'), the duplicate groups they are in and how many of those span several places.
    /// </summary>
    public async Task<CurationBatchResult> SummarizeAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        var array = ids.Distinct().ToArray();
        await using var batch = new NpgsqlBatch(await database.DataSource.OpenConnectionAsync(ct));
        await using var connection = batch.Connection!;
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT status, count(*)::int FROM images WHERE id = ANY($1) GROUP BY status") { Parameters = { new() { Value = array } } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand("""
            SELECT split_part(r->>'reason', ':', 1), count(*)::int FROM images, jsonb_array_elements(reject_reasons) r
            WHERE id = ANY($1) AND status = 'rejected' GROUP BY 1
            """) { Parameters = { new() { Value = array } } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand("""
            WITH g AS (SELECT DISTINCT duplicate_group_id AS id FROM images WHERE id = ANY($1) AND duplicate_group_id IS NOT NULL)
            SELECT count(*)::int,
                   count(*) FILTER (WHERE (SELECT count(DISTINCT p) FROM (
                       SELECT s.place_id AS p FROM image_sightings s JOIN images i ON i.id = s.image_id WHERE i.duplicate_group_id = g.id AND s.place_id IS NOT NULL
                       UNION SELECT place_id FROM images WHERE duplicate_group_id = g.id AND place_id IS NOT NULL) x) > 1)::int
            FROM g
            """) { Parameters = { new() { Value = array } } });
        int accepted = 0, rejected = 0, duplicates = 0, groups = 0, crossPlace = 0;
        var reasons = new Dictionary<string, int>();
        await using (var r = await batch.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var count = r.GetInt32(1);
                switch (r.GetFieldValue<ImageStatus>(0))
                {
                    case ImageStatus.Accepted: accepted = count; break;
                    case ImageStatus.Rejected: rejected = count; break;
                    case ImageStatus.Duplicate: duplicates = count; break;
                }
            }

            await r.NextResultAsync(ct);
            while (await r.ReadAsync(ct))
            {
                reasons[r.GetString(0)] = r.GetInt32(1);
            }

            await r.NextResultAsync(ct);
            if (await r.ReadAsync(ct))
            {
                (groups, crossPlace) = (r.GetInt32(0), r.GetInt32(1));
            }
        }

        return new CurationBatchResult(array.Length, accepted, rejected, duplicates, reasons, groups, crossPlace, array);
    }

    /// <summary>Curated images whose stored pHash is of an older recipe, lowest id first (what a rehash pass works on).</summary>
    public async Task<List<Row>> StaleHashesAsync(int limit, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand($"""
            SELECT id, sha256, '' FROM images
            WHERE phash IS NOT NULL AND hash_version IS DISTINCT FROM {PerceptualHash.Recipe} AND status <> 'fetched'
            ORDER BY id LIMIT $1
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        var rows = new List<Row>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new Row(r.GetInt64(0), r.GetString(1), r.GetString(2)));
        }

        return rows;
    }

    /// <summary>Stores recomputed hashes and keep signals; a row whose blob could not be read gets the recipe mark with no hash, so it is not retried forever.</summary>
    public static async Task WriteRehashAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, ImageAnalysis? a, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"""
            UPDATE images SET phash = $2, dhash = $3, colour_layout = $4, encode_quality = $5, encode_exact = $6, hash_version = {PerceptualHash.Recipe}
            WHERE id = $1
            """, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a is null ? DBNull.Value : PerceptualHash.ToBits(a.PHash), NpgsqlDbType = NpgsqlDbType.Bit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a is null ? DBNull.Value : PerceptualHash.ToBits(a.DHash), NpgsqlDbType = NpgsqlDbType.Bit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a is null ? DBNull.Value : a.ColourLayout, NpgsqlDbType = NpgsqlDbType.Bytea });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a is null || a.Encoding.Quality <= 0 ? DBNull.Value : (float)a.Encoding.Quality, NpgsqlDbType = NpgsqlDbType.Real });
        cmd.Parameters.Add(new NpgsqlParameter { Value = a is null ? DBNull.Value : a.Encoding.Exact, NpgsqlDbType = NpgsqlDbType.Boolean });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Groups found by hash, oldest first, from <paramref name="afterId"/> on (a rehash re-judges their members).</summary>
    public async Task<List<(long Group, long Kept)>> HashGroupsAsync(long afterId, int limit, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            "SELECT id, kept_image_id FROM duplicate_groups WHERE kind = ANY($3) AND id > $1 ORDER BY id LIMIT $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = afterId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = new[] { DuplicateKind.PerceptualHash, DuplicateKind.ExactPixels } });
        var list = new List<(long, long)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add((r.GetInt64(0), r.GetInt64(1)));
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
                    scores = $9, reject_reasons = $10, quality_score = $11, curated_at = now(), duplicate_of_id = NULL, duplicate_group_id = NULL,
                    hash_version = $12, colour_layout = $13, encode_quality = $14, encode_exact = $15
                WHERE id = $1
                """, ct,
                id, status, a.Format.ToString().ToLowerInvariant(), a.Width, a.Height,
                new NpgsqlParameter { Value = PerceptualHash.ToBits(a.PHash), NpgsqlDbType = NpgsqlDbType.Bit },
                new NpgsqlParameter { Value = PerceptualHash.ToBits(a.DHash), NpgsqlDbType = NpgsqlDbType.Bit },
                a.PixelHash,
                new NpgsqlParameter { Value = JsonSerializer.Serialize(scores, Json), NpgsqlDbType = NpgsqlDbType.Jsonb },
                new NpgsqlParameter { Value = reasons.Count == 0 ? DBNull.Value : JsonSerializer.Serialize(reasons, Json), NpgsqlDbType = NpgsqlDbType.Jsonb },
                a.Quality,
                (short)PerceptualHash.Recipe,
                a.ColourLayout,
                new NpgsqlParameter { Value = a.Encoding.Quality > 0 ? (float)a.Encoding.Quality : DBNull.Value, NpgsqlDbType = NpgsqlDbType.Real },
                a.Encoding.Exact);
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
