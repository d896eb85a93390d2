using System.Text;
using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Pgvector;

namespace Harvester.Embed;

/// <summary>Restricts a nearest-image search; every set field must hold (AND).</summary>
public sealed record SearchFilter
{
    /// <summary>Seen on this site (sites.key).</summary>
    public string? Site { get; init; }

    /// <summary>Seen at this place (places.id).</summary>
    public long? PlaceId { get; init; }

    /// <summary>Seen at a place or product of this category.</summary>
    public string? Category { get; init; }

    /// <summary>Seen at a place in this neighbourhood.</summary>
    public string? Neighbourhood { get; init; }

    /// <summary>Assigned in this clustering run (optionally to <see cref="ClusterIndex"/>).</summary>
    public long? ClusterRunId { get; init; }

    public int? ClusterIndex { get; init; }

    /// <summary>Seen by this crawl job.</summary>
    public long? JobId { get; init; }

    /// <summary>Only images whose status is accepted (an image can be marked duplicate after it was embedded).</summary>
    public bool AcceptedOnly { get; init; }

    public bool IsEmpty => this == new SearchFilter();
}

public sealed record Neighbour(long ImageId, double Distance, string Sha256, string SourceUrl, string Status, string? Place, string? Category, string? Neighbourhood);

public sealed record SearchResult(RegisteredModel Model, IReadOnlyList<Neighbour> Neighbours, bool ExactFallback);

/// <summary>
/// k nearest images by cosine distance through the model's HNSW index. Filters use pgvector 0.8 iterative index scans
/// (relaxed order, re-sorted); if the index still yields fewer than k rows the query is re-run exactly, so a filter
/// never silently returns fewer rows than exist.
/// </summary>
public sealed class SimilarSearch(
    HarvesterDatabase database,
    ModelHost models,
    ModelRegistry registry,
    IOptions<InferenceOptions> options,
    ILogger<SimilarSearch> logger)
{
    public const int MaxK = 1000;

    public async Task<SearchResult> NearestToImageAsync(long imageId, int k, SearchFilter filter, string? model, CancellationToken ct)
    {
        var registered = await RegisteredAsync(model, ct);
        await using var cmd = database.DataSource.CreateCommand(
            "SELECT i.status, e.embedding FROM images i LEFT JOIN embeddings e ON e.image_id = i.id AND e.model_id = $2 WHERE i.id = $1");
        cmd.Parameters.AddWithValue(imageId);
        cmd.Parameters.AddWithValue(registered.Id);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            throw new HarvesterException($"There is no image with id {imageId}.");
        }

        if (r.IsDBNull(1))
        {
            throw new HarvesterException(
                $"Image {imageId} (status {r.GetString(0)}) has no '{registered.Name}' vector yet: only accepted images are embedded; run 'harvester embed --model {registered.Name}'.");
        }

        var vector = r.GetFieldValue<Vector>(1).ToArray();
        await r.CloseAsync();
        return await NearestToVectorAsync(vector, k, filter, registered, imageId, ct);
    }

    /// <summary>Embeds an encoded image on the fly and searches with it.</summary>
    public async Task<SearchResult> NearestToBytesAsync(byte[] image, int k, SearchFilter filter, string? model, CancellationToken ct)
    {
        var embedder = await models.GetAsync(model, ct);
        var registered = await registry.EnsureAsync(embedder.Model, ct);
        var vector = embedder.Embed([image], ct)[0];
        return await NearestToVectorAsync(vector, k, filter, registered, null, ct);
    }

    public async Task<SearchResult> NearestToFileAsync(string path, int k, SearchFilter filter, string? model, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            throw new HarvesterException($"Query image {Path.GetFullPath(path)} does not exist.");
        }

        return await NearestToBytesAsync(await File.ReadAllBytesAsync(path, ct), k, filter, model, ct);
    }

    public async Task<SearchResult> NearestToUrlAsync(Uri url, int k, SearchFilter filter, string? model, CancellationToken ct) =>
        await NearestToBytesAsync(await FetchAsync(url, ct), k, filter, model, ct);

    /// <summary>Downloads a query image (bounded size and time).</summary>
    public async Task<byte[]> FetchAsync(Uri url, CancellationToken ct)
    {
        if (url.Scheme is not ("http" or "https"))
        {
            throw new HarvesterException($"Query URL {url} must be http or https.");
        }

        var o = options.Value;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(o.DownloadTimeout);
        try
        {
            using var response = await ModelCatalog.Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                throw new HarvesterException($"Query URL {url} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            if (response.Content.Headers.ContentLength > o.MaxQueryImageBytes)
            {
                throw new HarvesterException($"Query URL {url} is {response.Content.Headers.ContentLength} bytes; the limit is Inference:MaxQueryImageBytes = {o.MaxQueryImageBytes}.");
            }

            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            using var ms = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = await body.ReadAsync(chunk, timeout.Token)) > 0)
            {
                if (ms.Length + read > o.MaxQueryImageBytes)
                {
                    throw new HarvesterException($"Query URL {url} is larger than Inference:MaxQueryImageBytes = {o.MaxQueryImageBytes}.");
                }

                ms.Write(chunk, 0, read);
            }

            return ms.ToArray();
        }
        catch (HttpRequestException e)
        {
            throw new HarvesterException($"Cannot fetch query URL {url}: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new HarvesterException($"Fetching query URL {url} timed out after {o.DownloadTimeout}.", e);
        }
    }

    public async Task<SearchResult> NearestToVectorAsync(float[] vector, int k, SearchFilter filter, RegisteredModel registered, long? excludeImageId, CancellationToken ct)
    {
        if (k is < 1 or > MaxK)
        {
            throw new HarvesterException($"k must be between 1 and {MaxK} (was {k}).");
        }

        if (vector.Length != registered.Dimension)
        {
            throw new HarvesterException($"The query vector has {vector.Length} dimensions; model '{registered.Name}' stores {registered.Dimension}.");
        }

        if (filter.ClusterIndex is not null && filter.ClusterRunId is null)
        {
            throw new HarvesterException("A cluster index filter needs the clustering run it belongs to.");
        }

        var o = options.Value;
        var (sql, parameters) = BuildQuery(registered, filter, excludeImageId, k);
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var set = new NpgsqlCommand(
            "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.max_scan_tuples', $2, true)", conn, tx))
        {
            set.Parameters.AddWithValue(Math.Max(o.EfSearch, k).ToString(System.Globalization.CultureInfo.InvariantCulture));
            set.Parameters.AddWithValue(o.MaxScanTuples.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await set.ExecuteNonQueryAsync(ct);
        }

        var rows = await RunAsync(conn, tx, sql, vector, parameters, ct);
        var exact = false;
        if (rows.Count < k)
        {
            // The index ran out (max_scan_tuples, or a filter matching few rows far from the query): scan exactly.
            Log.ExactFallback(logger, rows.Count, k);
            await using (var off = new NpgsqlCommand("SELECT set_config('enable_indexscan', 'off', true)", conn, tx))
            {
                await off.ExecuteNonQueryAsync(ct);
            }

            rows = await RunAsync(conn, tx, sql, vector, parameters, ct);
            exact = true;
        }

        var details = await DetailsAsync(conn, tx, rows.Select(x => x.Id).ToArray(), ct);
        await tx.CommitAsync(ct);
        var neighbours = rows.Select(x =>
        {
            var d = details[x.Id];
            return new Neighbour(x.Id, x.Distance, d.Sha, d.Url, d.Status, d.Place, d.Category, d.Neighbourhood);
        }).ToList();
        return new SearchResult(registered, neighbours, exact);
    }

    /// <summary>
    /// The k-NN statement: ORDER BY the index's own cast expression, filters as EXISTS, inside a MATERIALIZED CTE
    /// re-sorted outside (relaxed_order may return rows slightly out of order). Parameters are $2 onwards ($1 is the query vector).
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
            where.Append(" AND EXISTS (SELECT 1 FROM images i WHERE i.id = e.image_id AND i.status = 'accepted')");
        }

        if (f.Site is { } site)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s JOIN sites st ON st.id = s.site_id WHERE s.image_id = e.image_id AND st.key = {P(site)})");
        }

        if (f.PlaceId is { } place)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = e.image_id AND s.place_id = {P(place)})");
        }

        if (f.Category is { } category)
        {
            var c = P(category);
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s LEFT JOIN places p ON p.id = s.place_id LEFT JOIN products pr ON pr.id = s.product_id " +
                         $"WHERE s.image_id = e.image_id AND (p.category = {c} OR pr.category = {c}))");
        }

        if (f.Neighbourhood is { } hood)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s JOIN places p ON p.id = s.place_id WHERE s.image_id = e.image_id AND p.neighbourhood = {P(hood)})");
        }

        if (f.ClusterRunId is { } run)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM cluster_assignments a WHERE a.image_id = e.image_id AND a.run_id = {P(run)}");
            where.Append(f.ClusterIndex is { } ci ? $" AND a.cluster_index = {P(ci)})" : ")");
        }

        if (f.JobId is { } job)
        {
            where.Append($" AND EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = e.image_id AND s.job_id = {P(job)})");
        }

        var sql = $"""
            WITH nn AS MATERIALIZED (
                SELECT e.image_id, e.embedding::{m.Cast} <=> $1::{m.Cast} AS distance
                FROM embeddings e
                WHERE {where}
                ORDER BY distance
                LIMIT {k})
            SELECT image_id, distance FROM nn ORDER BY distance, image_id
            """;
        return (sql, ps);
    }

    private static async Task<List<(long Id, double Distance)>> RunAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, float[] vector, List<object> parameters, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue(new Vector(vector));
        foreach (var p in parameters)
        {
            cmd.Parameters.AddWithValue(p);
        }

        var rows = new List<(long, double)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add((r.GetInt64(0), r.GetDouble(1)));
        }

        return rows;
    }

    private static async Task<Dictionary<long, (string Sha, string Url, string Status, string? Place, string? Category, string? Neighbourhood)>> DetailsAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, long[] ids, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT i.id, i.sha256, i.source_url, i.status, p.name, coalesce(p.category, pr.category), p.neighbourhood
            FROM images i
            LEFT JOIN places p ON p.id = i.place_id
            LEFT JOIN products pr ON pr.id = i.product_id
            WHERE i.id = ANY($1)
            """, conn, tx);
        cmd.Parameters.AddWithValue(ids);
        var map = new Dictionary<long, (string, string, string, string?, string?, string?)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            map[r.GetInt64(0)] = (r.GetString(1), r.GetString(2), r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6));
        }

        return map;
    }

    private async Task<RegisteredModel> RegisteredAsync(string? model, CancellationToken ct)
    {
        var embedder = await models.GetAsync(model, ct);
        return await registry.EnsureAsync(embedder.Model, ct);
    }
}
