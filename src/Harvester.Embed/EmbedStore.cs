using System.Globalization;
using System.Text;
using Harvester.Data;
using Harvester.Data.Stages;
using Npgsql;
using Pgvector;

namespace Harvester.Embed;

/// <summary>An image's status and its vector for one model (null when it has none yet).</summary>
public sealed record StoredVector(string Status, float[]? Vector);

/// <summary>What a search shows for each neighbour besides its distance.</summary>
public sealed record NeighbourDetails(string Sha256, string SourceUrl, string Status, string? Place, string? Category, string? Neighbourhood);

/// <summary>
/// Every statement of the embed stage: what it claims, what it reads and writes, and the nearest-image queries of
/// <see cref="SimilarSearch"/>. The services decide; this class is the only one that talks to PostgreSQL for them.
/// </summary>
public sealed class EmbedStore(HarvesterDatabase database)
{
    /// <summary>Accepted images without a vector for model $1, oldest first (the candidates an embed claim takes).</summary>
    public const string Candidates = """
        SELECT i.id FROM images i
        WHERE i.status = 'accepted'
          AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = i.id AND e.model_id = $1)
        ORDER BY i.id
        """;

    public NpgsqlDataSource DataSource => database.DataSource;

    /// <summary>The blob (sha256) of each image.</summary>
    public async Task<Dictionary<long, string>> BlobsAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT id, sha256 FROM images WHERE id = ANY($1)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        var map = new Dictionary<long, string>(ids.Count);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            map[r.GetInt64(0)] = r.GetString(1);
        }

        return map;
    }

    /// <summary>Stores vectors and completes their leases in one transaction (an image that already has one keeps it).</summary>
    public async Task WriteAsync(int modelId, string stage, IReadOnlyList<long> ids, IReadOnlyList<float[]> vectors, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO embeddings (image_id, model_id, embedding) SELECT * FROM unnest($1::bigint[], $2::int[], $3::vector[]) ON CONFLICT (image_id, model_id) DO NOTHING", conn, tx))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
            insert.Parameters.Add(new NpgsqlParameter { Value = Enumerable.Repeat(modelId, ids.Count).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter { Value = vectors.Select(v => new Vector(v)).ToArray() });
            await insert.ExecuteNonQueryAsync(ct);
        }

        await StageLeases.CompleteAsync(conn, tx, stage, ids, ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>Marks claimed items as given up, each with its reason.</summary>
    public async Task GiveUpAsync(string stage, IReadOnlyList<(long Id, string Reason)> items, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await StageLeases.GiveUpAsync(conn, null, stage, items, ct);
    }

    /// <summary>Gives claimed items back at once (nothing was written for them).</summary>
    public Task ReleaseAsync(string stage, IReadOnlyList<long> ids, CancellationToken ct) =>
        StageLeases.ReleaseAsync(database.DataSource, stage, ids, ct);

    /// <summary>An image's status and its vector for the model; null when there is no such image.</summary>
    public async Task<StoredVector?> VectorAsync(long imageId, int modelId, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            "SELECT i.status::text, e.embedding FROM images i LEFT JOIN embeddings e ON e.image_id = i.id AND e.model_id = $2 WHERE i.id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = imageId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = modelId });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            return null;
        }

        return new StoredVector(r.GetString(0), r.IsDBNull(1) ? null : r.GetFieldValue<Vector>(1).ToArray());
    }

    /// <summary>
    /// The k nearest images to <paramref name="vector"/> under <paramref name="filter"/>, nearest first, with their
    /// details: the settings and the k-NN statement in one round trip, the details in a second. The model's HNSW index answers with pgvector 0.8's iterative scan; when it yields
    /// fewer than k rows (max_scan_tuples reached, or a filter matching few rows far from the query) the same query
    /// runs again with index scans off, so a filter never silently returns fewer rows than exist.
    /// </summary>
    public async Task<(List<(long Id, double Distance, NeighbourDetails Details)> Rows, bool Exact)> NearestAsync(
        RegisteredModel model, float[] vector, SearchFilter filter, long? excludeImageId, int k, int efSearch, int maxScanTuples, CancellationToken ct)
    {
        var (sql, parameters) = BuildQuery(model, filter, excludeImageId, k);
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        var rows = await RunAsync(conn, sql, vector, parameters, efSearch, maxScanTuples, indexScans: true, ct);
        var exact = false;
        if (rows.Count < k)
        {
            rows = await RunAsync(conn, sql, vector, parameters, efSearch, maxScanTuples, indexScans: false, ct);
            exact = true;
        }

        return (rows, exact);
    }

    /// <summary>
    /// The k-NN statement: ORDER BY the index's own cast expression, filters as EXISTS, inside a MATERIALIZED CTE
    /// re-sorted outside (relaxed_order may return rows slightly out of order), each neighbour's details joined to the k
    /// rows in the same statement. Parameters are $2 onwards ($1 is the query vector).
    /// Each EXISTS ends in OFFSET 0 so it stays a per-row index probe: otherwise PostgreSQL may hash the whole filter
    /// first (every sighting of a neighbourhood, 145 ms at a million images) while the ordered scan needs a few hundred rows.
    /// </summary>
    public static (string Sql, List<object> Parameters) BuildQuery(RegisteredModel m, SearchFilter f, long? excludeImageId, int k)
    {
        var where = new StringBuilder($"e.model_id = {m.Id}");
        var ps = new List<object>();
        string P(object value)
        {
            ps.Add(value);
            return "$" + (ps.Count + 1);
        }

        if (excludeImageId is { } self)
        {
            where.Append($" AND e.image_id <> {P(self)}");
        }

        if (f.AcceptedOnly)
        {
            where.Append(" AND EXISTS (SELECT 1 FROM images i WHERE i.id = e.image_id AND i.status = 'accepted' OFFSET 0)");
        }

        if (f.Site is { } site)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s JOIN sites st ON st.id = s.site_id WHERE s.image_id = e.image_id AND st.key = {P(site)} OFFSET 0)");
        }

        if (f.PlaceId is { } place)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = e.image_id AND s.place_id = {P(place)} OFFSET 0)");
        }

        if (f.Category is { } category)
        {
            var c = P(category);
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s LEFT JOIN places p ON p.id = s.place_id LEFT JOIN products pr ON pr.id = s.product_id " +
                         $"WHERE s.image_id = e.image_id AND (p.category = {c} OR pr.category = {c}) OFFSET 0)");
        }

        if (f.Neighbourhood is { } hood)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s JOIN places p ON p.id = s.place_id WHERE s.image_id = e.image_id AND p.neighbourhood = {P(hood)} OFFSET 0)");
        }

        if (f.ClusterRunId is { } run)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM cluster_assignments a WHERE a.image_id = e.image_id AND a.run_id = {P(run)}");
            where.Append(f.ClusterIndex is { } ci ? $" AND a.cluster_index = {P(ci)} OFFSET 0)" : " OFFSET 0)");
        }

        if (f.JobId is { } job)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = e.image_id AND s.job_id = {P(job)} OFFSET 0)");
        }

        var sql = $"""
            WITH nn AS MATERIALIZED (
                SELECT e.image_id, e.embedding::{m.Cast} <=> $1::{m.Cast} AS distance
                FROM embeddings e
                WHERE {where}
                ORDER BY distance
                LIMIT {k})
            SELECT nn.image_id, nn.distance, i.sha256, i.source_url, i.status::text, p.name, coalesce(p.category, pr.category), p.neighbourhood
            FROM nn
            JOIN images i ON i.id = nn.image_id
            LEFT JOIN places p ON p.id = i.place_id
            LEFT JOIN products pr ON pr.id = i.product_id
            ORDER BY nn.distance, nn.image_id
            """;
        return (sql, ps);
    }

    /// <summary>
    /// The search settings and the k-NN statement in one round trip: one batch is one implicit transaction, so the
    /// transaction-local settings hold for the statement and end with it. On the index path both are prepared: Npgsql
    /// keeps prepared statements on the pooled physical connection, so later searches on it skip parsing and, once
    /// PostgreSQL settles on a generic plan, planning (the statement's text differs only by model, filters and k).
    /// </summary>
    private static async Task<List<(long Id, double Distance, NeighbourDetails Details)>> RunAsync(
        NpgsqlConnection conn, string sql, float[] vector, List<object> parameters, int efSearch, int maxScanTuples, bool indexScans, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn);
        var settings = new NpgsqlBatchCommand(
            "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true), " +
            "set_config('hnsw.max_scan_tuples', $2, true), set_config('enable_indexscan', $3, true)");
        settings.Parameters.Add(new NpgsqlParameter { Value = efSearch.ToString(CultureInfo.InvariantCulture) });
        settings.Parameters.Add(new NpgsqlParameter { Value = maxScanTuples.ToString(CultureInfo.InvariantCulture) });
        settings.Parameters.Add(new NpgsqlParameter { Value = indexScans ? "on" : "off" });
        var query = new NpgsqlBatchCommand(sql);
        query.Parameters.Add(new NpgsqlParameter { Value = new Vector(vector) });
        foreach (var p in parameters)
        {
            query.Parameters.Add(new NpgsqlParameter { Value = p });
        }

        batch.BatchCommands.Add(settings);
        batch.BatchCommands.Add(query);
        if (indexScans)
        {
            // Only the index path: a cached generic plan does not follow enable_indexscan, so the exact re-run is planned anew.
            await batch.PrepareAsync(ct);
        }

        var rows = new List<(long, double, NeighbourDetails)>();
        await using var r = await batch.ExecuteReaderAsync(ct);
        await r.NextResultAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add((r.GetInt64(0), r.GetDouble(1), new NeighbourDetails(r.GetString(2), r.GetString(3), r.GetString(4),
                r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7))));
        }

        return rows;
    }
}
