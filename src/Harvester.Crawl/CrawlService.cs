using System.Diagnostics;
using System.Text.Json;
using Harvester.Core;
using Harvester.Core.Telemetry;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using Npgsql;

namespace Harvester.Crawl;

public sealed record CrawlJobSummary(long JobId, JobStatus Status, int Pages, int Places, int Products, int PhotosFound, int PhotosStored, int Failures,
    IReadOnlyDictionary<string, int> FailureReasons);

/// <summary>
/// Runs crawl jobs: expands and validates the request, seeds the persistent frontier, then works it with browser pages
/// (search, place, category, product) and HTTP downloads (photos) until nothing is left. Safe to kill at any moment and
/// to run from several processes: all state is in PostgreSQL and every item is claimed with a lease.
/// </summary>
public sealed class CrawlService(
    HarvesterDatabase database,
    FrontierStore frontier,
    CrawlStore store,
    SiteEngine engine,
    BrowserHost browsers,
    PhotoDownloader downloader,
    HostThrottle throttle,
    IOptions<CrawlerOptions> options,
    ILogger<CrawlService> logger)
{
    private static readonly FrontierKind[] PageKinds = [FrontierKind.Search, FrontierKind.Place, FrontierKind.Category, FrontierKind.Product];
    private static readonly FrontierKind[] PhotoKinds = [FrontierKind.Photo];

    /// <summary>Validates the request (nothing is crawled if it is invalid), records the job and seeds its frontier.</summary>
    public async Task<long> CreateJobAsync(CrawlJobSpec spec, CancellationToken ct)
    {
        var o = options.Value;
        spec.Validate(o);
        var site = o.Sites[spec.Site];
        var baseUrl = new Uri(spec.BaseUrl ?? site.BaseUrl);
        var siteId = await store.EnsureSiteAsync(spec.Site, site.Kind.ToString().ToLowerInvariant(), baseUrl.ToString(), ct);
        var queries = spec.Expand();
        long jobId;
        await using (var cmd = database.DataSource.CreateCommand("""
            INSERT INTO crawl_jobs (site_id, name, queries, parameters, profile, status, pages_visited, places_found, products_found, photos_found, photos_stored, failures)
            VALUES ($1, $2, $3, $4::jsonb, $5, 'pending', 0, 0, 0, 0, 0, 0) RETURNING id
            """))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = siteId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = spec.Name ?? $"{spec.Site}: {queries.Count} queries" });
            cmd.Parameters.Add(new NpgsqlParameter { Value = queries.Select(q => q.Query).ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(spec with { BaseUrl = baseUrl.AbsoluteUri }, FrontierStore.Json) });
            cmd.Parameters.Add(new NpgsqlParameter { Value = spec.Profile });
            jobId = (long)(await cmd.ExecuteScalarAsync(ct))!;
        }

        var seeds = queries.Select(q => site.Kind == SiteKind.Map
            ? new NewFrontierItem(FrontierKind.Search, SiteEngine.Expand(site.SearchUrl.Length > 0 ? site.SearchUrl : "{base}#search={query}", baseUrl, query: q.Query).AbsoluteUri,
                new FrontierContext { Query = q.Query, Neighbourhood = q.Neighbourhood, Category = q.Category, PhotoType = spec.PhotoType })
            : new NewFrontierItem(FrontierKind.Category, SiteEngine.Expand(site.CategoryUrl, baseUrl, category: q.Query).AbsoluteUri,
                new FrontierContext { Query = q.Query, Category = q.Category ?? q.Query })).ToList();
        await frontier.EnqueueAsync(jobId, seeds, ct);
        return jobId;
    }

    /// <summary>Jobs not yet finished (pending, or running when a process stopped), oldest first.</summary>
    public async Task<IReadOnlyList<long>> UnfinishedJobsAsync(CancellationToken ct)
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

    /// <summary>Works a job's frontier until nothing is left to do; resumes where any earlier run stopped.</summary>
    public async Task<CrawlJobSummary> RunJobAsync(long jobId, CancellationToken ct)
    {
        var (spec, siteId) = await LoadJobAsync(jobId, ct);
        var o = options.Value;
        if (!o.Sites.TryGetValue(spec.Site, out var site))
        {
            throw new HarvesterException($"Crawl job {jobId} uses site '{spec.Site}', which is no longer configured under Crawler:Sites.");
        }

        var baseUrl = new Uri(spec.BaseUrl ?? site.BaseUrl);
        var run = new JobRun(jobId, siteId, spec, spec.Site, site, baseUrl, AllowedHosts(site, baseUrl), spec.RespectRobotsTxt ?? o.RespectRobotsTxt);
        var reclaimed = await frontier.ReclaimOrphansAsync(jobId, ct);
        if (reclaimed > 0)
        {
            Log.ReclaimedOrphans(logger, reclaimed, jobId);
        }

        await SetStatusAsync(jobId, JobStatus.Running, ct);
        // Bytes the blob store writes from here on count as the crawl's.
        using var stage = HarvesterTelemetry.EnterStage("crawl");
        Log.JobStarted(logger, jobId, spec.Site, spec.Expand().Count);

        using var pagesDone = new CancellationTokenSource();
        using var workDone = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var counters = FlushCountersAsync(jobId, o.CounterFlushInterval, workDone.Token);
        try
        {
            var pageWorkers = Enumerable.Range(0, o.PageConcurrency).Select(_ => PageWorkerAsync(run, ct)).ToList();
            var photoWorker = PhotoWorkerAsync(run, pagesDone.Token, ct);
            try
            {
                await Task.WhenAll(pageWorkers);
            }
            finally
            {
                await pagesDone.CancelAsync();
            }

            await photoWorker;
        }
        finally
        {
            await workDone.CancelAsync();
            await counters;
        }

        var summary = await SummarizeAsync(jobId, ct);
        var outstanding = await frontier.OutstandingAsync(jobId, [.. PageKinds, .. PhotoKinds], ct);
        var status = outstanding == 0 ? JobStatus.Completed : JobStatus.Running;
        await SetStatusAsync(jobId, status, ct);
        summary = summary with { Status = status };
        Log.JobFinished(logger, jobId, status.ToString(), summary.Pages, summary.Places, summary.Products, summary.PhotosStored, summary.Failures);
        return summary;
    }

    private sealed record JobRun(long JobId, long SiteId, CrawlJobSpec Spec, string SiteName, SiteDefinition Site, Uri BaseUrl, HashSet<string> Hosts, bool Robots)
    {
        public bool HostAllowed(Uri u) => Hosts.Contains(u.Host);
    }

    private static HashSet<string> AllowedHosts(SiteDefinition site, Uri baseUrl)
    {
        var hosts = new HashSet<string>(site.AllowedHosts, StringComparer.OrdinalIgnoreCase) { baseUrl.Host };
        return hosts;
    }

    /// <summary>
    /// One browser page at a time: claims a page item and works it. A worker keeps its page between items (navigation
    /// resets it) and takes a new one when its context is due to be replaced after Crawler:PagesPerContext pages.
    /// </summary>
    private async Task PageWorkerAsync(JobRun run, CancellationToken ct)
    {
        var o = options.Value;
        BrowserHost.PageLease? lease = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var batch = await frontier.ClaimAsync(run.JobId, PageKinds, 1, o.Lease, ct);
                if (batch.Count == 0)
                {
                    if (await frontier.OutstandingAsync(run.JobId, PageKinds, ct) == 0)
                    {
                        return;
                    }

                    await Task.Delay(250, ct); // others hold the remaining items, or they wait for their backoff
                    continue;
                }

                foreach (var item in batch)
                {
                    if (lease is null || lease.Expired)
                    {
                        if (lease is not null)
                        {
                            await lease.DisposeAsync();
                        }

                        lease = await browsers.AcquirePageAsync(ct);
                    }

                    lease.CountUse();
                    await ProcessPageItemAsync(run, item, lease.Page, ct);
                }
            }
        }
        finally
        {
            if (lease is not null)
            {
                await lease.DisposeAsync();
            }
        }
    }

    private async Task ProcessPageItemAsync(JobRun run, ClaimedItem item, IPage page, CancellationToken ct)
    {
        var url = new Uri(item.Url);
        var kind = item.Kind.ToString().ToLowerInvariant();
        using var span = HarvesterTelemetry.StartPageVisit(kind, url);
        var clock = Stopwatch.StartNew();
        var failure = await VisitPageAsync(run, item, page, url, ct);
        HarvesterTelemetry.RecordItem("crawl", failure is null ? "visited" : "failed", clock.Elapsed, span, failure);
    }

    /// <summary>Works one page item; null when it went through, else the type of what failed it (it is then on record).</summary>
    private async Task<string?> VisitPageAsync(JobRun run, ClaimedItem item, IPage page, Uri url, CancellationToken ct)
    {
        var o = options.Value;
        try
        {
            if (!run.HostAllowed(url))
            {
                throw new CrawlPageException($"host {url.Host} is not allowed for site {run.SiteName}", true);
            }

            if (run.Robots && !await downloader.IsAllowedByRobotsAsync(url, ct))
            {
                throw new CrawlPageException("robots.txt disallows " + url.AbsolutePath, true);
            }

            using (await throttle.EnterAsync(url, ct))
            {
                switch (item.Kind)
                {
                    case FrontierKind.Search:
                        await SearchAsync(run, item, page, ct);
                        break;
                    case FrontierKind.Place:
                        await PlaceAsync(run, item, page, url, ct);
                        break;
                    case FrontierKind.Category:
                        await CategoryAsync(run, item, page, ct);
                        break;
                    case FrontierKind.Product:
                        await ProductAsync(run, item, page, url, ct);
                        break;
                    default:
                        throw new CrawlPageException($"unexpected {item.Kind} item on a page worker", true);
                }
            }

            return null;
        }
        catch (CrawlPageException e)
        {
            Log.ItemFailed(logger, item.Kind.ToString(), item.Url, item.Attempts, e.Message);
            await frontier.MarkFailedAsync(item, e.Message, e.Permanent, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
            return e.GetType().Name;
        }
        catch (PlaywrightException e) when (!ct.IsCancellationRequested)
        {
            var reason = "browser error: " + e.Message.Split('\n')[0];
            Log.ItemFailed(logger, item.Kind.ToString(), item.Url, item.Attempts, reason);
            await frontier.MarkFailedAsync(item, reason, false, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
            return e.GetType().Name;
        }
        catch (TimeoutException e) when (!ct.IsCancellationRequested)
        {
            var reason = "timed out: " + e.Message.Split('\n')[0];
            Log.ItemFailed(logger, item.Kind.ToString(), item.Url, item.Attempts, reason);
            await frontier.MarkFailedAsync(item, reason, false, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
            return e.GetType().Name;
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException and not HarvesterException and not NpgsqlException)
        {
            // One bad page never stops the job: whatever else it throws is recorded on the item and retried.
            var reason = $"unexpected {e.GetType().Name}: {e.Message.Split('\n')[0]}";
            Log.ItemFailed(logger, item.Kind.ToString(), item.Url, item.Attempts, reason);
            await frontier.MarkFailedAsync(item, reason, false, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
            return e.GetType().Name;
        }
    }

    private async Task SearchAsync(JobRun run, ClaimedItem item, IPage page, CancellationToken ct)
    {
        var query = item.Context.Query ?? "";
        var (places, noResults) = await engine.SearchAsync(page, run.SiteName, run.Site, run.BaseUrl, query, run.Spec.PlacesPerQuery, ct);
        var children = places.Select((p, i) => new NewFrontierItem(FrontierKind.Place, p.Url, item.Context with { PageUrl = page.Url }, item.Id, 5)).ToList();
        await CompleteWithChildrenAsync(run.JobId, item, children, noResults ? "no results" : null, ct);
    }

    private async Task PlaceAsync(JobRun run, ClaimedItem item, IPage page, Uri url, CancellationToken ct)
    {
        // The place is recorded even when its photos then fail to load: its metadata is worth keeping.
        var place = await engine.OpenPlaceAsync(page, run.SiteName, run.Site, url, item.Context, ct);
        var placeId = await store.UpsertPlaceAsync(run.SiteId, place, ct);
        var (photos, note) = await engine.PlacePhotosAsync(page, run.SiteName, run.Site, item.Context, run.Spec.PhotosPerPlace, ct);
        var children = photos.Select(p => new NewFrontierItem(FrontierKind.Photo, p.Url.AbsoluteUri,
            item.Context with { PlaceId = placeId, PageUrl = page.Url, PhotoType = p.PhotoType ?? item.Context.PhotoType }, item.Id, 10)).ToList();
        await CompleteWithChildrenAsync(run.JobId, item, children, note, ct);
    }

    private async Task CategoryAsync(JobRun run, ClaimedItem item, IPage page, CancellationToken ct)
    {
        var category = item.Context.Query ?? item.Context.Category ?? "";
        var products = await engine.CategoryAsync(page, run.SiteName, run.Site, run.BaseUrl, category, run.Spec.ProductsPerCategory, ct);
        var children = products.Select((p, i) => new NewFrontierItem(FrontierKind.Product, p.Url,
            item.Context with { Rank = p.Rank ?? i + 1, PageUrl = page.Url }, item.Id, 5)).ToList();
        await CompleteWithChildrenAsync(run.JobId, item, children, products.Count == 0 ? "no products" : null, ct);
    }

    private async Task ProductAsync(JobRun run, ClaimedItem item, IPage page, Uri url, CancellationToken ct)
    {
        var (product, reviews, photos) = await engine.ProductAsync(page, run.SiteName, run.Site, url, item.Context, run.Spec.ReviewsPerProduct, ct);
        var productId = await store.UpsertProductAsync(run.SiteId, product, ct);
        var reviewIds = await store.UpsertReviewsAsync(run.SiteId, null, productId, reviews, ct);
        var children = photos.Select(p => new NewFrontierItem(FrontierKind.Photo, p.Url.AbsoluteUri,
            item.Context with { ProductId = productId, ReviewId = p.ReviewId is not null && reviewIds.TryGetValue(p.ReviewId, out var rid) ? rid : null, PageUrl = page.Url },
            item.Id, 10)).ToList();
        await CompleteWithChildrenAsync(run.JobId, item, children, reviews.Count == 0 ? "no reviews" : null, ct);
    }

    /// <summary>Children are queued and the parent marked done in one transaction: a kill never loses found links.</summary>
    private async Task CompleteWithChildrenAsync(long jobId, ClaimedItem item, IReadOnlyCollection<NewFrontierItem> children, string? note, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await frontier.EnqueueAsync(jobId, children, ct, conn, tx);
        await FrontierStore.MarkDoneAsync(conn, tx, item.Id, note, ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Downloads photos while page workers run, and after them until none are left: DownloadConcurrency loops that each
    /// claim a couple of items at a time, so one slow photo never holds up a whole batch.
    /// </summary>
    private async Task PhotoWorkerAsync(JobRun run, CancellationToken pagesDone, CancellationToken ct)
    {
        var o = options.Value;
        await Task.WhenAll(Enumerable.Range(0, o.DownloadConcurrency).Select(async _ =>
        {
            while (!ct.IsCancellationRequested)
            {
                var batch = await frontier.ClaimAsync(run.JobId, PhotoKinds, 2, o.Lease, ct);
                if (batch.Count == 0)
                {
                    if (pagesDone.IsCancellationRequested && await frontier.OutstandingAsync(run.JobId, PhotoKinds, ct) == 0)
                    {
                        return;
                    }

                    await Task.Delay(200, ct);
                    continue;
                }

                foreach (var item in batch)
                {
                    await DownloadPhotoAsync(run, item, ct);
                }
            }
        }));
    }

    private async Task DownloadPhotoAsync(JobRun run, ClaimedItem item, CancellationToken ct)
    {
        using var span = HarvesterTelemetry.StartDownload(new Uri(item.Url));
        var clock = Stopwatch.StartNew();
        try
        {
            var failure = await FetchAndStorePhotoAsync(run, item, ct);
            HarvesterTelemetry.RecordItem("crawl", failure is null ? "stored" : "failed", clock.Elapsed, span, failure);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException and not NpgsqlException)
        {
            // One bad photo never stops the job.
            var reason = $"unexpected {e.GetType().Name}: {e.Message.Split('\n')[0]}";
            Log.ItemFailed(logger, "photo", item.Url, item.Attempts, reason);
            HarvesterTelemetry.RecordItem("crawl", "failed", clock.Elapsed, span, e.GetType().Name);
            var o = options.Value;
            await frontier.MarkFailedAsync(item, reason, false, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
        }
    }

    /// <summary>Null when the photo was stored, else why not in a word (it is then on record on the item).</summary>
    private async Task<string?> FetchAndStorePhotoAsync(JobRun run, ClaimedItem item, CancellationToken ct)
    {
        var o = options.Value;
        var url = new Uri(item.Url);
        if (run.Robots && !await downloader.IsAllowedByRobotsAsync(url, ct))
        {
            await frontier.MarkFailedAsync(item, "robots.txt disallows " + url.AbsolutePath, true, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
            return "robots";
        }

        var download = await downloader.GetAsync(url, run.HostAllowed, ct);
        if (!download.Ok)
        {
            Log.ItemFailed(logger, "photo", item.Url, item.Attempts, download.Error!);
            await frontier.MarkFailedAsync(item, download.Error!, download.Permanent, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
            return download.Permanent ? "download-permanent" : "download-transient";
        }

        await store.StorePhotoAsync(run.JobId, run.SiteId, item, download, ct);
        return null;
    }

    private async Task<(CrawlJobSpec Spec, long SiteId)> LoadJobAsync(long jobId, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT parameters::text, site_id FROM crawl_jobs WHERE id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            throw new HarvesterException($"There is no crawl job {jobId} (harvester crawl jobs lists them).");
        }

        return (JsonSerializer.Deserialize<CrawlJobSpec>(r.GetString(0), FrontierStore.Json)!, r.GetInt64(1));
    }

    private async Task SetStatusAsync(long jobId, JobStatus status, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("""
            UPDATE crawl_jobs SET status = $2,
                started_at = COALESCE(started_at, CASE WHEN $2 = 'running'::job_status THEN now() END),
                finished_at = CASE WHEN $2 IN ('completed'::job_status, 'failed', 'cancelled') THEN now() END
            WHERE id = $1
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = status });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Writes the job's counters every <paramref name="every"/> while it runs, so the dashboard and `crawl jobs` show it
    /// move. They are recounted from the frontier each time (one grouped statement over the job's rows), not added up
    /// in memory: several processes may work one job, and a killed one leaves no drift. A failed write is logged and
    /// tried again next time; the job's own work reports a database that went away.
    /// </summary>
    private async Task FlushCountersAsync(long jobId, TimeSpan every, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    await using var cmd = database.DataSource.CreateCommand(CountersSql + " WHERE j.id = $1 AND j.status = 'running'");
                    cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
                    await cmd.ExecuteNonQueryAsync(ct);
                }
                catch (NpgsqlException e)
                {
                    Log.CountersNotWritten(logger, jobId, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>The job's counters recounted from its frontier; the caller adds the WHERE clause.</summary>
    private const string CountersSql = """
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
        """;

    /// <summary>Counters come from the frontier itself, so they stay right across kills and resumes.</summary>
    public async Task<CrawlJobSummary> SummarizeAsync(long jobId, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using (var upd = new NpgsqlCommand(CountersSql + """

            WHERE j.id = $1
            RETURNING j.status, j.pages_visited, j.places_found, j.products_found, j.photos_found, j.photos_stored, j.failures
            """, conn))
        {
            upd.Parameters.Add(new NpgsqlParameter { Value = jobId });
            await using var r = await upd.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct))
            {
                throw new HarvesterException($"There is no crawl job {jobId}.");
            }

            var status = r.GetFieldValue<JobStatus>(0);
            var values = Enumerable.Range(1, 6).Select(r.GetInt32).ToArray();
            await r.CloseAsync();
            var reasons = new Dictionary<string, int>();
            await using var q = new NpgsqlCommand("""
                SELECT kind || ': ' || regexp_replace(coalesce(last_error, '?'), '(https?://\S+|\d+ bytes|attempt \d+)', '…', 'g'), count(*)
                FROM frontier WHERE job_id = $1 AND state = 'failed' GROUP BY 1 ORDER BY 2 DESC
                """, conn);
            q.Parameters.Add(new NpgsqlParameter { Value = jobId });
            await using var rr = await q.ExecuteReaderAsync(ct);
            while (await rr.ReadAsync(ct))
            {
                reasons[rr.GetString(0)] = (int)rr.GetInt64(1);
            }

            return new CrawlJobSummary(jobId, status, values[0], values[1], values[2], values[3], values[4], values[5], reasons);
        }
    }
}
