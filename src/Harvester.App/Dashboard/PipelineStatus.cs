using System.Globalization;
using System.Text.Json;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Stages;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.App.Dashboard;

public sealed record CountRow(string Key, long Count);

public sealed record JobRow(
    long Id, string Site, string Name, string Status, int PagesVisited, int Places, int Products, int PhotosFound, int PhotosStored, int Failures,
    DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error);

/// <summary>
/// Work leases of one stage: items being worked on now, leases that ran out (their worker died or gave up), and
/// live leases whose owner is gone (<see cref="WorkerRegistry"/>'s rule) — orphaned: the next claim takes them back.
/// </summary>
public sealed record LeaseRow(string Stage, long InFlight, long Expired, int MaxAttempts, long Orphaned = 0);

public sealed record ModelRow(string Name, string Version, int Dimension, long Vectors);

/// <summary>A clustering run; <see cref="OwnerGone"/> marks a run still recorded as running whose process is gone.</summary>
public sealed record RunRow(long Id, string Model, int K, string Status, long? Images, double? Silhouette, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, string? Gallery, string? Error, bool OwnerGone = false);

public sealed record ExportRow(string Path, DateTimeOffset? CreatedAt, int Images, string Splits);

/// <summary>One consistent reading of the pipeline's state, for the dashboard page, its JSON and its metrics.</summary>
public sealed record StatusSnapshot(
    DateTimeOffset At,
    string Database,
    IReadOnlyList<CountRow> Images,
    IReadOnlyList<CountRow> RejectReasons,
    IReadOnlyList<CountRow> Frontier,
    IReadOnlyList<LeaseRow> Leases,
    IReadOnlyList<ModelRow> Models,
    IReadOnlyList<JobRow> Jobs,
    IReadOnlyList<RunRow> Runs,
    IReadOnlyList<ExportRow> Exports,
    IReadOnlyList<WorkerRow> Workers);

/// <summary>
/// Reads what operators watch: images per status and why they were rejected, the crawl frontier, crawl jobs, stage
/// leases in flight or expired, vectors per model, clustering runs and the exports under the output folder. All of it
/// is read in one repeatable-read transaction, so the numbers on a page agree with each other.
/// </summary>
public sealed class PipelineStatus(HarvesterDatabase database, IOptions<StorageOptions> storage)
{
    public const int JobRows = 20;
    public const int RunRows = 10;

    public async Task<StatusSnapshot> ReadAsync(CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var images = await CountsAsync(conn, tx, "SELECT status::text, count(*) FROM images GROUP BY 1 ORDER BY 1", ct);
        var reasons = await CountsAsync(conn, tx, """
            SELECT r->>'reason', count(*) FROM images, jsonb_array_elements(COALESCE(reject_reasons, '[]'::jsonb)) r
            WHERE status = 'rejected' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 15
            """, ct);
        var frontier = await CountsAsync(conn, tx, "SELECT state::text, count(*) FROM frontier GROUP BY 1 ORDER BY 1", ct);

        var workers = await WorkerRegistry.ListAsync(conn, tx, ct);
        var goneWorkers = workers.Where(w => w.State == WorkerState.Gone).Select(w => w.Id).ToHashSet(StringComparer.Ordinal);
        bool Gone(string? owner) => owner is not null && (goneWorkers.Contains(owner) || ProcessIdentity.IsDeadLocalOwner(owner));

        // Per owner, so leases of gone owners can be told apart; the crawl frontier's own claims count as stage crawl.
        var perOwner = new List<(string Stage, string? Owner, long Live, long Expired, int Attempts)>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT stage, claimed_by, count(*) FILTER (WHERE lease_until > now()), count(*) FILTER (WHERE lease_until <= now()), max(attempts)
            FROM work_leases GROUP BY 1, 2
            UNION ALL
            SELECT 'crawl', claimed_by, count(*) FILTER (WHERE lease_until > now()), count(*) FILTER (WHERE lease_until <= now()), max(attempts)
            FROM frontier WHERE state = 'claimed' GROUP BY 1, 2
            """, conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                perOwner.Add((r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt32(4)));
            }
        }

        var leases = perOwner.GroupBy(x => x.Stage).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new LeaseRow(g.Key, g.Sum(x => x.Live), g.Sum(x => x.Expired), g.Max(x => x.Attempts), g.Where(x => Gone(x.Owner)).Sum(x => x.Live)))
            .ToList();

        var models = new List<ModelRow>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT m.name, m.version, m.dimension, (SELECT count(*) FROM embeddings e WHERE e.model_id = m.id)
            FROM embedding_models m ORDER BY m.id
            """, conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                models.Add(new ModelRow(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetInt64(3)));
            }
        }

        var jobs = new List<JobRow>();
        await using (var cmd = new NpgsqlCommand($"""
            SELECT j.id, s.key, j.name, j.status::text, j.pages_visited, j.places_found, j.products_found, j.photos_found, j.photos_stored,
                   j.failures, j.created_at, j.started_at, j.finished_at, j.error
            FROM crawl_jobs j JOIN sites s ON s.id = j.site_id ORDER BY j.id DESC LIMIT {JobRows}
            """, conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                jobs.Add(new JobRow(
                    r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), r.GetInt32(8), r.GetInt32(9),
                    r.GetFieldValue<DateTimeOffset>(10), Nullable(r, 11), Nullable(r, 12), r.IsDBNull(13) ? null : r.GetString(13)));
            }
        }

        var output = storage.Value.ResolveOutputRoot();
        var runs = new List<RunRow>();
        await using (var cmd = new NpgsqlCommand($"""
            SELECT c.id, m.name || ':' || m.version, c.k, c.status::text, (c.metrics->>'images')::bigint, (c.metrics->>'silhouette')::double precision,
                   c.started_at, c.finished_at, c.error, c.owner
            FROM clustering_runs c JOIN embedding_models m ON m.id = c.model_id ORDER BY c.id DESC LIMIT {RunRows}
            """, conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var id = r.GetInt64(0);
                var gallery = Path.GetRelativePath(output, Path.Combine(Cluster.ClusterGallery.DirectoryFor(output, id), "index.html"));
                runs.Add(new RunRow(
                    id, r.GetString(1), r.GetInt32(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetInt64(4), r.IsDBNull(5) ? null : r.GetDouble(5),
                    r.GetFieldValue<DateTimeOffset>(6), Nullable(r, 7), File.Exists(Path.Combine(output, gallery)) ? gallery.Replace('\\', '/') : null,
                    r.IsDBNull(8) ? null : r.GetString(8), r.GetString(3) == "running" && !r.IsDBNull(9) && Gone(r.GetString(9))));
            }
        }

        await tx.CommitAsync(ct);
        return new StatusSnapshot(DateTimeOffset.UtcNow, conn.Database, images, reasons, frontier, leases, models, jobs, runs, Exports(output), workers);
    }

    private static DateTimeOffset? Nullable(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetFieldValue<DateTimeOffset>(i);

    private static async Task<List<CountRow>> CountsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        var rows = new List<CountRow>();
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new CountRow(r.IsDBNull(0) ? "(none)" : r.GetString(0), r.GetInt64(1)));
        }

        return rows;
    }

    /// <summary>Exports written under the output folder (up to three levels down), newest first.</summary>
    private static List<ExportRow> Exports(string output)
    {
        var rows = new List<ExportRow>();
        if (!Directory.Exists(output))
        {
            return rows;
        }

        var options = new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 3, IgnoreInaccessible = true };
        foreach (var file in Directory.EnumerateFiles(output, "export.json", options))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(file));
                var root = doc.RootElement;
                var splits = root.TryGetProperty("splits", out var s) && s.ValueKind == JsonValueKind.Array
                    ? string.Join(", ", s.EnumerateArray().Select(x => $"{x.GetProperty("name").GetString()} {x.GetProperty("images").GetInt32()}"))
                    : "";
                DateTimeOffset? created = root.TryGetProperty("createdAt", out var c) && c.TryGetDateTimeOffset(out var at) ? at : null;
                rows.Add(new ExportRow(Path.GetRelativePath(output, Path.GetDirectoryName(file)!).Replace('\\', '/'), created,
                    root.TryGetProperty("images", out var n) ? n.GetInt32() : 0, splits));
            }
            catch (Exception e) when (e is JsonException or IOException or InvalidOperationException or KeyNotFoundException or FormatException)
            {
                // A half-copied or foreign export.json is not the dashboard's to judge; it is left off the list.
            }
        }

        return [.. rows.OrderByDescending(r => r.CreatedAt)];
    }
}
