using System.Text.Json;
using Harvester.Core;
using Harvester.Data;
using Npgsql;

namespace Harvester.Crawl;

public sealed record CrawlJobSummary(long JobId, JobStatus Status, int Pages, int Places, int Products, int PhotosFound, int PhotosStored, int Failures,
    IReadOnlyDictionary<string, int> FailureReasons, string? Error = null)
{
    /// <summary>The status as the CLI and the dashboard write it: "completed with failures".</summary>
    public string StatusText => CrawlJobStore.Describe(Status);
}

/// <summary>A row of <c>harvester crawl jobs</c>.</summary>
public sealed record CrawlJobRow(long Id, string Site, JobStatus Status, int Places, int Products, int PhotosFound, int PhotosStored, int Failures, string Name, string? Error);

/// <summary>Every statement on crawl_jobs and crawl_schedule_ticks: jobs, their outcome, and which schedule ticks fired.</summary>
public sealed class CrawlJobStore(HarvesterDatabase database)
{
    public static string Describe(JobStatus status) => status switch
    {
        JobStatus.CompletedWithFailures => "completed with failures",
        _ => status.ToString().ToLowerInvariant(),
    };

    public async Task<long> CreateAsync(long siteId, string name, IReadOnlyList<string> queries, CrawlJobSpec spec, string profile, CancellationToken ct,
        NpgsqlConnection? conn = null, NpgsqlTransaction? tx = null)
    {
        const string sql = """
            INSERT INTO crawl_jobs (site_id, name, queries, parameters, profile, status, pages_visited, places_found, products_found, photos_found, photos_stored, failures)
            VALUES ($1, $2, $3, $4::jsonb, $5, 'pending', 0, 0, 0, 0, 0, 0) RETURNING id
            """;
        var own = conn is null;
        conn ??= await database.DataSource.OpenConnectionAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter { Value = siteId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = name });
            cmd.Parameters.Add(new NpgsqlParameter { Value = queries.ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(spec, FrontierStore.Json) });
            cmd.Parameters.Add(new NpgsqlParameter { Value = profile });
            return (long)(await cmd.ExecuteScalarAsync(ct))!;
        }
        finally
        {
            if (own)
            {
                await conn.DisposeAsync();
            }
        }
    }

    /// <summary>The job's request as it was given, its site row and its status.</summary>
    public async Task<(CrawlJobSpec Spec, long SiteId, JobStatus Status)> LoadAsync(long jobId, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT parameters::text, site_id, status FROM crawl_jobs WHERE id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            throw new HarvesterException($"There is no crawl job {jobId} (harvester crawl jobs lists them).");
        }

        return (JsonSerializer.Deserialize<CrawlJobSpec>(r.GetString(0), FrontierStore.Json)!, r.GetInt64(1), r.GetFieldValue<JobStatus>(2));
    }

    /// <summary>Jobs not yet finished (pending, or running when a process stopped), oldest first.</summary>
    public async Task<IReadOnlyList<long>> UnfinishedAsync(CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT id FROM crawl_jobs WHERE status IN ('pending', 'running') ORDER BY id");
        var ids = new List<long>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            ids.Add(r.GetInt64(0));
        }

        return ids;
    }

    /// <summary>Pending jobs among <paramref name="jobIds"/> become running (their first item was claimed).</summary>
    public async Task MarkRunningAsync(IReadOnlyCollection<long> jobIds, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            "UPDATE crawl_jobs SET status = 'running', started_at = COALESCE(started_at, now()) WHERE id = ANY($1) AND status = 'pending'");
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobIds.ToArray() });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Re-opens a finished job (harvester crawl --resume of a job that failed for its configuration).</summary>
    public async Task ReopenAsync(long jobId, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            "UPDATE crawl_jobs SET status = 'running', finished_at = NULL, error = NULL WHERE id = $1 AND status NOT IN ('pending', 'running')");
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Ends a job that cannot run at all (its site is no longer configured), with the reason.</summary>
    public async Task FailAsync(long jobId, string error, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            "UPDATE crawl_jobs SET status = 'failed', error = $2, finished_at = now() WHERE id = $1 AND status IN ('pending', 'running')");
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = error });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Ends a job whose frontier has nothing left to do, once: its counters from the frontier, and its outcome —
    /// completed (nothing failed), completed with failures (some items failed, photos were stored) or failed (items
    /// failed and nothing was stored), with the most common failure as its error. False when the job still has items
    /// to do or was already ended.
    /// </summary>
    public async Task<bool> FinishIfDoneAsync(long jobId, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var lockJob = new NpgsqlCommand("SELECT status FROM crawl_jobs WHERE id = $1 FOR UPDATE", conn, tx))
        {
            lockJob.Parameters.Add(new NpgsqlParameter { Value = jobId });
            await using var r = await lockJob.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct) || r.GetFieldValue<JobStatus>(0) is not (JobStatus.Pending or JobStatus.Running))
            {
                return false;
            }
        }

        var counts = await CountAsync(conn, tx, jobId, ct);
        if (counts.Outstanding > 0)
        {
            return false;
        }

        var outcome = counts.Failures == 0 ? JobStatus.Completed
            : counts.Stored == 0 ? JobStatus.Failed
            : JobStatus.CompletedWithFailures;
        string? error = null;
        if (outcome != JobStatus.Completed)
        {
            var reasons = await FailureReasonsAsync(conn, tx, jobId, ct);
            var top = reasons.FirstOrDefault();
            error = (outcome == JobStatus.Failed ? $"nothing stored: {counts.Failures} item{(counts.Failures == 1 ? "" : "s")} failed" : $"{counts.Failures} item{(counts.Failures == 1 ? "" : "s")} failed")
                    + (top.Key is null ? "" : $"; most often ({top.Value}x) {top.Key}");
        }

        await using (var update = new NpgsqlCommand("""
            UPDATE crawl_jobs SET status = $2, error = $3, finished_at = now(), started_at = COALESCE(started_at, now()),
                pages_visited = $4, places_found = $5, products_found = $6, photos_found = $7, photos_stored = $8, failures = $9
            WHERE id = $1
            """, conn, tx))
        {
            update.Parameters.Add(new NpgsqlParameter { Value = jobId });
            update.Parameters.Add(new NpgsqlParameter { Value = outcome });
            update.Parameters.Add(new NpgsqlParameter { Value = (object?)error ?? DBNull.Value });
            foreach (var v in new[] { counts.Pages, counts.Places, counts.Products, counts.Photos, counts.Stored, counts.Failures })
            {
                update.Parameters.Add(new NpgsqlParameter { Value = v });
            }

            await update.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Counters come from the frontier itself, so they stay right across kills and resumes.</summary>
    public async Task<CrawlJobSummary> SummarizeAsync(long jobId, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        var counts = await CountAsync(conn, null, jobId, ct);
        await using var cmd = new NpgsqlCommand("""
            UPDATE crawl_jobs SET pages_visited = $2, places_found = $3, products_found = $4, photos_found = $5, photos_stored = $6, failures = $7
            WHERE id = $1 RETURNING status, error
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        foreach (var v in new[] { counts.Pages, counts.Places, counts.Products, counts.Photos, counts.Stored, counts.Failures })
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = v });
        }

        JobStatus status;
        string? error;
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await r.ReadAsync(ct))
            {
                throw new HarvesterException($"There is no crawl job {jobId}.");
            }

            status = r.GetFieldValue<JobStatus>(0);
            error = r.IsDBNull(1) ? null : r.GetString(1);
        }

        var reasons = await FailureReasonsAsync(conn, null, jobId, ct);
        return new CrawlJobSummary(jobId, status, counts.Pages, counts.Places, counts.Products, counts.Photos, counts.Stored, counts.Failures, reasons, error);
    }

    /// <summary>
    /// Writes a running job's counters, recounted from its frontier in one grouped statement (not added up in memory:
    /// several processes may work one job, and a killed one leaves no drift). Finished jobs are left as summarized.
    /// </summary>
    public async Task WriteCountersAsync(long jobId, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("""
            UPDATE crawl_jobs j SET
                pages_visited = s.pages, places_found = s.places, products_found = s.products, photos_found = s.photos,
                photos_stored = s.stored, failures = s.failures
            FROM (SELECT
                    count(*) FILTER (WHERE kind <> 'photo' AND state = 'done') AS pages,
                    count(*) FILTER (WHERE kind = 'place') AS places,
                    count(*) FILTER (WHERE kind = 'product') AS products,
                    count(*) FILTER (WHERE kind = 'photo') AS photos,
                    count(*) FILTER (WHERE kind = 'photo' AND state = 'done') AS stored,
                    count(*) FILTER (WHERE state = 'failed') AS failures
                  FROM frontier WHERE job_id = $1) s
            WHERE j.id = $1 AND j.status = 'running'
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<IReadOnlyList<CrawlJobRow>> ListAsync(CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("""
            SELECT j.id, s.key, j.status, j.places_found, j.products_found, j.photos_found, j.photos_stored, j.failures, j.name, j.error
            FROM crawl_jobs j JOIN sites s ON s.id = j.site_id ORDER BY j.id
            """);
        var rows = new List<CrawlJobRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new CrawlJobRow(r.GetInt64(0), r.GetString(1), r.GetFieldValue<JobStatus>(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6),
                r.GetInt32(7), r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9)));
        }

        return rows;
    }

    /// <summary>
    /// Records that a schedule's tick is being acted on; false when another worker (or an earlier pass) already did.
    /// Run it in the transaction that creates the tick's job, so a job exists exactly when its tick does.
    /// </summary>
    public static async Task<bool> TryTakeTickAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string schedule, DateTimeOffset due, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO crawl_schedule_ticks (schedule, due_at) VALUES ($1, $2) ON CONFLICT (schedule, due_at) DO NOTHING", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = schedule });
        cmd.Parameters.Add(new NpgsqlParameter { Value = due });
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    public static async Task SetTickJobAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string schedule, DateTimeOffset due, long jobId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("UPDATE crawl_schedule_ticks SET job_id = $3 WHERE schedule = $1 AND due_at = $2", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = schedule });
        cmd.Parameters.Add(new NpgsqlParameter { Value = due });
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The ticks recorded for a schedule, newest first (for tests and operators).</summary>
    public async Task<IReadOnlyList<(DateTimeOffset Due, long? JobId)>> TicksAsync(string schedule, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT due_at, job_id FROM crawl_schedule_ticks WHERE schedule = $1 ORDER BY due_at DESC");
        cmd.Parameters.Add(new NpgsqlParameter { Value = schedule });
        var ticks = new List<(DateTimeOffset, long?)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            ticks.Add((r.GetFieldValue<DateTimeOffset>(0), r.IsDBNull(1) ? null : r.GetInt64(1)));
        }

        return ticks;
    }

    private sealed record Counts(int Pages, int Places, int Products, int Photos, int Stored, int Failures, int Outstanding);

    private static async Task<Counts> CountAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long jobId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT
                count(*) FILTER (WHERE kind <> 'photo' AND state = 'done')::int,
                count(*) FILTER (WHERE kind = 'place')::int,
                count(*) FILTER (WHERE kind = 'product')::int,
                count(*) FILTER (WHERE kind = 'photo')::int,
                count(*) FILTER (WHERE kind = 'photo' AND state = 'done')::int,
                count(*) FILTER (WHERE state = 'failed')::int,
                count(*) FILTER (WHERE state IN ('pending', 'claimed'))::int
            FROM frontier WHERE job_id = $1
            """, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return new Counts(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6));
    }

    /// <summary>Failed items grouped by their reason, URLs and sizes blanked so alike failures count together.</summary>
    private static async Task<Dictionary<string, int>> FailureReasonsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long jobId, CancellationToken ct)
    {
        var reasons = new Dictionary<string, int>();
        await using var q = new NpgsqlCommand("""
            SELECT kind || ': ' || regexp_replace(coalesce(last_error, '?'), '(https?://\S+|\d+ bytes|attempt \d+)', '…', 'g'), count(*)::int
            FROM frontier WHERE job_id = $1 AND state = 'failed' GROUP BY 1 ORDER BY 2 DESC, 1
            """, conn, tx);
        q.Parameters.Add(new NpgsqlParameter { Value = jobId });
        await using var r = await q.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            reasons[r.GetString(0)] = r.GetInt32(1);
        }

        return reasons;
    }
}
