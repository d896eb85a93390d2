using System.Collections;
using Harvester.Core;
using Harvester.Data;
using Harvester.Imaging;
using Npgsql;

namespace Harvester.App.Report;

/// <summary>An image as the report shows it: enough to draw its thumbnail and caption it.</summary>
public sealed record ReportImage(long Id, string Sha256, int? Width, int? Height, string? Format, double? Quality, ImageStatus Status);

public sealed record RejectExample(ReportImage Image, string Reason, double? Score, double? Threshold);

public sealed record DuplicateGroupView(long Id, DuplicateKind Kind, long KeptId, IReadOnlyList<(ReportImage Image, int? Bits)> Members);

public sealed record NearMiss(ReportImage A, ReportImage B, string Measure, double Value);

public sealed record ClusterView(int Index, int Size, double Cohesion, IReadOnlyList<(ReportImage Image, double Distance)> Nearest, IReadOnlyList<(ReportImage Image, double Distance)> Farthest);

public sealed record RunView(long Id, string Model, int K, int Images, double? Silhouette, IReadOnlyList<ClusterView> Clusters, IReadOnlyList<(ReportImage Image, int Cluster, double Distance)> Outliers);

public sealed record CountRow(string Label, long Total, long Accepted);

public sealed record JobRow(long Id, string Site, string Name, JobStatus Status, int Pages, int Places, int Products, int PhotosStored, int Failures);

/// <summary>The queries behind `harvester report`: everything is read in one repeatable-read snapshot.</summary>
public sealed class ReportStore(NpgsqlConnection conn, NpgsqlTransaction tx)
{
    private const string ImageColumns = "i.id, i.sha256, i.width, i.height, i.format, i.quality_score, i.status";

    public static async Task<ReportStore> OpenAsync(HarvesterDatabase database, CancellationToken ct)
    {
        var conn = await database.DataSource.OpenConnectionAsync(ct);
        var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        return new ReportStore(conn, tx);
    }

    public async Task<Dictionary<ImageStatus, long>> StatusCountsAsync(CancellationToken ct)
    {
        var counts = new Dictionary<ImageStatus, long>();
        await using var r = await ReaderAsync("SELECT status, count(*) FROM images GROUP BY 1", ct);
        while (await r.ReadAsync(ct))
        {
            counts[r.GetFieldValue<ImageStatus>(0)] = r.GetInt64(1);
        }

        return counts;
    }

    public async Task<List<JobRow>> JobsAsync(CancellationToken ct)
    {
        var jobs = new List<JobRow>();
        await using var r = await ReaderAsync("""
            SELECT j.id, s.key, coalesce(j.name, ''), j.status, j.pages_visited, j.places_found, j.products_found, j.photos_stored, j.failures
            FROM crawl_jobs j JOIN sites s ON s.id = j.site_id ORDER BY j.id DESC LIMIT 50
            """, ct);
        while (await r.ReadAsync(ct))
        {
            jobs.Add(new JobRow(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetFieldValue<JobStatus>(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), r.GetInt32(8)));
        }

        return jobs;
    }

    /// <summary>Images per site, neighbourhood or category (<paramref name="column"/> of harvester.image_details), largest first.</summary>
    public async Task<List<CountRow>> CountsByAsync(string column, CancellationToken ct)
    {
        if (column is not ("site" or "neighbourhood" or "category"))
        {
            throw new ArgumentOutOfRangeException(nameof(column));
        }

        var rows = new List<CountRow>();
        await using var r = await ReaderAsync($"""
            SELECT coalesce({column}, '(none)'), count(*), count(*) FILTER (WHERE status = 'accepted')
            FROM harvester.image_details GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 30
            """, ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new CountRow(r.GetString(0), r.GetInt64(1), r.GetInt64(2)));
        }

        return rows;
    }

    /// <summary>Every reject reason with the image, its measured value and the threshold it missed.</summary>
    public async Task<List<RejectExample>> RejectsAsync(CancellationToken ct)
    {
        var list = new List<RejectExample>();
        await using var r = await ReaderAsync($"""
            SELECT {ImageColumns}, x->>'reason', (x->>'score')::float8, (x->>'threshold')::float8
            FROM images i, jsonb_array_elements(i.reject_reasons) x
            WHERE i.status = 'rejected' ORDER BY i.id
            """, ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new RejectExample(Image(r), r.GetString(7), r.IsDBNull(8) ? null : r.GetDouble(8), r.IsDBNull(9) ? null : r.GetDouble(9)));
        }

        return list;
    }

    /// <summary>The largest duplicate groups with every member and its pHash distance to the kept image.</summary>
    public async Task<List<DuplicateGroupView>> DuplicateGroupsAsync(int limit, CancellationToken ct)
    {
        var groups = new List<(long Id, DuplicateKind Kind, long Kept)>();
        await using (var r = await ReaderAsync($"SELECT id, kind, kept_image_id FROM duplicate_groups ORDER BY size DESC, id LIMIT {limit}", ct))
        {
            while (await r.ReadAsync(ct))
            {
                groups.Add((r.GetInt64(0), r.GetFieldValue<DuplicateKind>(1), r.GetInt64(2)));
            }
        }

        var result = new List<DuplicateGroupView>();
        foreach (var (id, kind, kept) in groups)
        {
            var members = new List<(ReportImage, int?)>();
            await using var r = await ReaderAsync($"""
                SELECT {ImageColumns}, (i.phash <~> k.phash)::int FROM images i, images k
                WHERE k.id = {kept} AND (i.duplicate_group_id = {id} OR i.id = {kept})
                ORDER BY i.id = {kept} DESC, i.id
                """, ct);
            while (await r.ReadAsync(ct))
            {
                members.Add((Image(r), r.IsDBNull(7) ? null : r.GetInt32(7)));
            }

            result.Add(new DuplicateGroupView(id, kind, kept, members));
        }

        return result;
    }

    /// <summary>
    /// Pairs of distinct (not grouped) curated images whose pHash distance is just above the duplicate radius: what a
    /// slightly larger radius would have folded. Probes the HNSW index from up to <paramref name="probes"/> images.
    /// </summary>
    public async Task<List<NearMiss>> HashNearMissesAsync(int radius, int margin, int probes, int limit, CancellationToken ct)
    {
        var pairs = new List<(long A, long B, int D)>();
        await using (var r = await ReaderAsync($"""
            SELECT a.id, n.id, n.d FROM (
                SELECT id, phash FROM images WHERE phash IS NOT NULL AND status IN ('accepted', 'rejected') ORDER BY id LIMIT {probes}) a
            CROSS JOIN LATERAL (
                SELECT b.id, (b.phash <~> a.phash)::int AS d FROM images b
                WHERE b.phash IS NOT NULL AND b.status IN ('accepted', 'rejected') AND b.id > a.id
                ORDER BY b.phash <~> a.phash LIMIT 4) n
            WHERE n.d > {radius} AND n.d <= {radius + margin}
            ORDER BY n.d, a.id LIMIT {limit}
            """, ct))
        {
            while (await r.ReadAsync(ct))
            {
                pairs.Add((r.GetInt64(0), r.GetInt64(1), r.GetInt32(2)));
            }
        }

        var images = await ImagesAsync([.. pairs.SelectMany(p => new[] { p.A, p.B })], ct);
        return [.. pairs.Select(p => new NearMiss(images[p.A], images[p.B], "pHash bits", p.D))];
    }

    /// <summary>Pairs of accepted images whose cosine similarity is just below the near-copy threshold.</summary>
    public async Task<List<NearMiss>> VectorNearMissesAsync(RegisteredModel model, double threshold, double margin, int limit, CancellationToken ct)
    {
        var pairs = await VectorNeighbours.PairsAsync(conn, tx, model, ImageScope.All, 1 - (threshold - margin), 4, ct);
        var misses = pairs.Where(p => p.A < p.B && 1 - p.Distance < threshold).OrderBy(p => p.Distance).Take(limit).ToList();
        var images = await ImagesAsync([.. misses.SelectMany(p => new[] { p.A, p.B })], ct);
        return [.. misses.Select(p => new NearMiss(images[p.A], images[p.B], "cosine", 1 - p.Distance))];
    }

    /// <summary>The latest completed k-means runs, newest first.</summary>
    public async Task<List<(long Id, string Model, int K, int Images, double? Silhouette)>> KMeansRunsAsync(long? only, int limit, CancellationToken ct)
    {
        var runs = new List<(long, string, int, int, double?)>();
        await using var r = await ReaderAsync($"""
            SELECT c.id, m.name || ':' || m.version, c.k, coalesce((c.metrics->>'images')::int, 0), (c.metrics->>'silhouette')::float8
            FROM clustering_runs c JOIN embedding_models m ON m.id = c.model_id
            WHERE c.status = 'completed' AND c.parameters->>'method' = 'kmeans' {(only is { } id ? $"AND c.id = {id}" : "")}
            ORDER BY c.id DESC LIMIT {limit}
            """, ct);
        while (await r.ReadAsync(ct))
        {
            runs.Add((r.GetInt64(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.IsDBNull(4) ? null : r.GetDouble(4)));
        }

        return runs;
    }

    /// <summary>Each cluster of a run with its members nearest and farthest from the centroid, and the run's outliers.</summary>
    public async Task<RunView> RunAsync((long Id, string Model, int K, int Images, double? Silhouette) run, int perCluster, int outliers, CancellationToken ct)
    {
        var members = new Dictionary<int, List<(long Id, double Distance)>>();
        await using (var r = await ReaderAsync($"SELECT cluster_index, image_id, distance FROM cluster_assignments WHERE run_id = {run.Id} ORDER BY cluster_index, distance, image_id", ct))
        {
            while (await r.ReadAsync(ct))
            {
                var c = r.GetInt32(0);
                if (!members.TryGetValue(c, out var list))
                {
                    members[c] = list = [];
                }

                list.Add((r.GetInt64(1), r.GetDouble(2)));
            }
        }

        var top = members.Values.SelectMany(m => m).OrderByDescending(m => m.Distance).ThenBy(m => m.Id).Take(outliers).ToList();
        var wanted = members.Values.SelectMany(m => m.Take(perCluster).Concat(m.TakeLast(Math.Min(3, Math.Max(0, m.Count - perCluster))))).Concat(top).Select(m => m.Id).Distinct().ToArray();
        var images = await ImagesAsync(wanted, ct);
        var clusters = members.OrderBy(kv => kv.Key).Select(kv => new ClusterView(
            kv.Key, kv.Value.Count, kv.Value.Average(m => m.Distance),
            [.. kv.Value.Take(perCluster).Select(m => (images[m.Id], m.Distance))],
            [.. kv.Value.Skip(perCluster).TakeLast(3).Reverse().Select(m => (images[m.Id], m.Distance))])).ToList();
        var clusterOf = members.SelectMany(kv => kv.Value.Select(m => (m.Id, kv.Key))).ToDictionary(x => x.Id, x => x.Key);
        return new RunView(run.Id, run.Model, run.K, run.Images, run.Silhouette, clusters, [.. top.Select(t => (images[t.Id], clusterOf[t.Id], t.Distance))]);
    }

    public async Task<Dictionary<long, ReportImage>> ImagesAsync(long[] ids, CancellationToken ct)
    {
        var map = new Dictionary<long, ReportImage>();
        if (ids.Length == 0)
        {
            return map;
        }

        await using var cmd = new NpgsqlCommand($"SELECT {ImageColumns} FROM images i WHERE i.id = ANY($1)", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var image = Image(r);
            map[image.Id] = image;
        }

        return map;
    }

    /// <summary>The registered model with the most vectors, or null when nothing is embedded.</summary>
    public async Task<RegisteredModel?> MainModelAsync(CancellationToken ct)
    {
        await using var r = await ReaderAsync("""
            SELECT m.id, m.name, m.version, m.manifest_sha256, m.dimension, m.vector_type, m.near_copy_cosine FROM embedding_models m
            WHERE EXISTS (SELECT 1 FROM embeddings e WHERE e.model_id = m.id)
            ORDER BY (SELECT count(*) FROM embeddings e WHERE e.model_id = m.id) DESC, m.id DESC LIMIT 1
            """, ct);
        return await r.ReadAsync(ct)
            ? new RegisteredModel(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetString(5),
                new CosineThresholds(NearCopy: r.IsDBNull(6) ? null : r.GetDouble(6)))
            : null;
    }

    private static ReportImage Image(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetInt32(2), r.IsDBNull(3) ? null : r.GetInt32(3),
        r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetDouble(5), r.GetFieldValue<ImageStatus>(6));

    private async Task<NpgsqlDataReader> ReaderAsync(string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        return await cmd.ExecuteReaderAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await tx.DisposeAsync();
        await conn.DisposeAsync();
    }
}
