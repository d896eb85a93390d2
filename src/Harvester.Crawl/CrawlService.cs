using System.Collections.Concurrent;
using System.Diagnostics;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Core.Telemetry;
using Harvester.Data;
using Harvester.Data.Stages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using Npgsql;

namespace Harvester.Crawl;

/// <summary>The two kinds of crawl work, each with its own concurrency in a process: browser pages, and plain HTTP downloads.</summary>
public enum CrawlLane
{
    /// <summary>Search, place, category and product pages, one at a time per lane (Crawler:PageConcurrency lanes).</summary>
    Pages,

    /// <summary>Photo downloads, Crawler:ClaimBatch at a time per lane (Crawler:DownloadConcurrency lanes).</summary>
    Photos,
}

/// <summary>What one crawl pass did.</summary>
public sealed record CrawlPassResult(int Claimed, int Pages, int PhotosStored, int Failed) : IStageResult<CrawlPassResult>
{
    public static CrawlPassResult Empty { get; } = new(0, 0, 0, 0);

    public CrawlPassResult Add(CrawlPassResult other) => new(Claimed + other.Claimed, Pages + other.Pages, PhotosStored + other.PhotosStored, Failed + other.Failed);
}

/// <summary>
/// The crawl stage's service: creates jobs (validated, seeded into the persistent frontier) and works the frontier in
/// passes, each claiming a page or a few photos, working them and recording the result with the claim's release in
/// one transaction. The worker (<see cref="CrawlStage"/>) runs passes over every unfinished job; a command runs the
/// same passes over one job until it is done. All state is in PostgreSQL, so a kill at any moment loses nothing and
/// several processes share a job.
/// </summary>
public sealed class CrawlService(
    HarvesterDatabase database,
    FrontierStore frontier,
    CrawlStore store,
    CrawlJobStore jobs,
    MapFlow map,
    ShopFlow shop,
    BrowserHost browsers,
    PhotoDownloader downloader,
    HostThrottle throttle,
    IOptions<CrawlerOptions> options,
    TimeProvider time,
    ILogger<CrawlService> logger)
{
    private static readonly FrontierKind[] PageKinds = [FrontierKind.Search, FrontierKind.Place, FrontierKind.Category, FrontierKind.Product];
    private static readonly FrontierKind[] PhotoKinds = [FrontierKind.Photo];

    private readonly ConcurrentDictionary<long, Task<JobRun?>> _runs = new();
    private readonly ConcurrentDictionary<long, byte> _running = new();
    private readonly WorkSignal _signal = new(time);
    private readonly Lazy<SemaphoreSlim> _pageSlots = new(() => new SemaphoreSlim(options.Value.PageConcurrency));
    private readonly Lazy<SemaphoreSlim> _photoSlots = new(() => new SemaphoreSlim(options.Value.DownloadConcurrency));
    private readonly ConcurrentDictionary<long, long> _countersWritten = new();
    private readonly ConcurrentQueue<long> _abandoned = new();
    private long _lastReclaimTicks;

    /// <summary>Validates the request (nothing is crawled if it is invalid), records the job and seeds its frontier.</summary>
    public async Task<long> CreateJobAsync(CrawlJobSpec spec, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var jobId = await CreateJobAsync(spec, conn, tx, ct);
        await tx.CommitAsync(ct);
        return jobId;
    }

    /// <summary>
    /// Creates the job of a schedule's tick, unless another worker (or an earlier pass) already did: the tick and its
    /// job are recorded in one transaction. Null when the tick was taken.
    /// </summary>
    public async Task<long?> CreateScheduledJobAsync(CrawlSchedule schedule, DateTimeOffset due, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (!await CrawlJobStore.TryTakeTickAsync(conn, tx, schedule.Name, due, ct))
        {
            return null;
        }

        var jobId = await CreateJobAsync(schedule.Job! with { Name = $"{schedule.Name} @ {due:yyyy-MM-dd HH:mm}Z" }, conn, tx, ct);
        await CrawlJobStore.SetTickJobAsync(conn, tx, schedule.Name, due, jobId, ct);
        await tx.CommitAsync(ct);
        return jobId;
    }

    private async Task<long> CreateJobAsync(CrawlJobSpec spec, NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        var o = options.Value;
        spec.Validate(o);
        var site = o.Sites[spec.Site];
        var baseUrl = new Uri(spec.BaseUrl ?? site.BaseUrl);
        var siteId = await store.EnsureSiteAsync(spec.Site, site.Kind.ToString().ToLowerInvariant(), baseUrl.ToString(), ct);
        var queries = spec.Expand();
        var jobId = await jobs.CreateAsync(siteId, spec.Name ?? $"{spec.Site}: {queries.Count} queries", [.. queries.Select(q => q.Query)],
            spec with { BaseUrl = baseUrl.AbsoluteUri }, spec.Profile, ct, conn, tx);
        var seeds = queries.Select(q => site.Kind == SiteKind.Map
            ? new NewFrontierItem(FrontierKind.Search, SiteNavigator.Expand(site.SearchUrl.Length > 0 ? site.SearchUrl : "{base}#search={query}", baseUrl, query: q.Query).AbsoluteUri,
                new FrontierContext { Query = q.Query, Neighbourhood = q.Neighbourhood, Category = q.Category, PhotoType = spec.PhotoType })
            : new NewFrontierItem(FrontierKind.Category, SiteNavigator.Expand(site.CategoryUrl, baseUrl, category: q.Query).AbsoluteUri,
                new FrontierContext { Query = q.Query, Category = q.Category ?? q.Query })).ToList();
        await frontier.EnqueueAsync(jobId, seeds, ct, conn, tx);
        return jobId;
    }

    public Task<IReadOnlyList<long>> UnfinishedJobsAsync(CancellationToken ct) => jobs.UnfinishedAsync(ct);

    public Task<CrawlJobSummary> SummarizeAsync(long jobId, CancellationToken ct) => jobs.SummarizeAsync(jobId, ct);

    public Task<IReadOnlyList<CrawlJobRow>> ListJobsAsync(CancellationToken ct) => jobs.ListAsync(ct);

    /// <summary>
    /// Works one job until nothing is left that this process can do (items other live processes hold are theirs), with
    /// the passes the worker runs: Crawler:PageConcurrency + Crawler:DownloadConcurrency of them side by side, each
    /// drained until it finds nothing. Resumes where any earlier run stopped.
    /// </summary>
    public async Task<CrawlJobSummary> RunJobAsync(long jobId, CancellationToken ct)
    {
        var o = options.Value;
        var (spec, _, _) = await jobs.LoadAsync(jobId, ct);
        if (!o.Sites.ContainsKey(spec.Site))
        {
            throw new HarvesterException($"Crawl job {jobId} uses site '{spec.Site}', which is no longer configured under Crawler:Sites.");
        }

        Log.JobStarted(logger, jobId, spec.Site, spec.Expand().Count);
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => StageRunner.DrainAsync(c => RunPassAsync(jobId, c), ct)));
        await FinishIfDoneAsync(jobId, ct);
        return await jobs.SummarizeAsync(jobId, ct);
    }

    /// <summary>Passes that can run side by side in one process: one per page lane and one per download lane.</summary>
    public int Concurrency => options.Value.PageConcurrency + options.Value.DownloadConcurrency;

    /// <summary>
    /// One pass over one job or (null) every unfinished job: takes a free lane that has work — a page first, so that
    /// discovery runs ahead, else Crawler:ClaimBatch photos — works it and records the outcome. At most
    /// Crawler:PageConcurrency page passes and Crawler:DownloadConcurrency photo passes run at once in a process. When
    /// nothing is claimable it waits, for this process's pages to queue more or for a retry's backoff to end, and
    /// returns an empty result only when neither can bring work.
    /// </summary>
    public async Task<CrawlPassResult> RunPassAsync(long? jobId, CancellationToken ct)
    {
        var o = options.Value;
        await ReleaseAbandonedAsync(ct);
        await ReclaimDeadOwnersAsync(ct);
        while (true)
        {
            var woken = _signal.Next();
            foreach (var lane in Lanes)
            {
                var slots = lane == CrawlLane.Pages ? _pageSlots.Value : _photoSlots.Value;
                if (!await slots.WaitAsync(0, ct))
                {
                    continue;
                }

                try
                {
                    var claim = await frontier.ClaimAsync(jobId, KindsOf(lane), lane == CrawlLane.Pages ? 1 : o.ClaimBatch, o.Lease, o.MaxAttempts, ct);
                    if (claim.Count > 0)
                    {
                        try
                        {
                            return await WorkAsync(lane, claim, ct);
                        }
                        catch (Exception e) when (TransientDatabaseErrors.Is(e))
                        {
                            // The database went away mid-pass: what this pass claimed and did not finish goes back as
                            // soon as it is reachable again, rather than when the lease runs out minutes later.
                            foreach (var item in claim.Items)
                            {
                                _abandoned.Enqueue(item.Id);
                            }

                            throw;
                        }
                    }
                }
                finally
                {
                    slots.Release();
                }
            }

            // Pages in work here may still queue items; a retried item becomes due after its backoff.
            var (working, nextDue) = await frontier.IdleStateAsync(jobId, [.. PageKinds, .. PhotoKinds], PageKinds, ct);
            if (!working && nextDue is null)
            {
                return CrawlPassResult.Empty;
            }

            var wait = o.PollInterval;
            if (nextDue is { } due && due - time.GetUtcNow() < wait)
            {
                wait = due - time.GetUtcNow();
            }

            await _signal.WaitAsync(woken, wait, ct);
        }
    }

    private static readonly CrawlLane[] Lanes = [CrawlLane.Pages, CrawlLane.Photos];

    private static FrontierKind[] KindsOf(CrawlLane lane) => lane == CrawlLane.Pages ? PageKinds : PhotoKinds;

    private async Task<CrawlPassResult> WorkAsync(CrawlLane lane, FrontierClaim claim, CancellationToken ct)
    {
        var o = options.Value;
        // Bytes the blob store writes from here on count as the crawl's.
        using var stage = HarvesterTelemetry.EnterStage("crawl");
        var result = CrawlPassResult.Empty with { Claimed = claim.Count };
        foreach (var item in claim.Exhausted)
        {
            var reason = $"given up after {item.Attempts - 1} attempts: {item.LastError ?? "its claims ran out without an answer (the worker stopped or hung)"}";
            await frontier.MarkFailedAsync(item, reason, true, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
            result = result with { Failed = result.Failed + 1 };
        }

        var touched = new HashSet<long>(claim.Exhausted.Select(i => i.JobId));
        foreach (var group in claim.Items.GroupBy(i => i.JobId))
        {
            touched.Add(group.Key);
            var run = await RunOf(group.Key, ct);
            if (run is null)
            {
                await frontier.ReleaseAsync([.. group.Select(i => i.Id)], CancellationToken.None);
                continue;
            }

            if (_running.TryAdd(group.Key, 0))
            {
                await jobs.MarkRunningAsync([group.Key], ct);
            }

            foreach (var item in group)
            {
                var ok = lane == CrawlLane.Pages ? await WorkPageAsync(run, item, ct) : await DownloadPhotoAsync(run, item, ct);
                result = ok
                    ? result with { Pages = result.Pages + (lane == CrawlLane.Pages ? 1 : 0), PhotosStored = result.PhotosStored + (lane == CrawlLane.Photos ? 1 : 0) }
                    : result with { Failed = result.Failed + 1 };
                _signal.Pulse();
            }
        }

        _signal.Pulse();
        foreach (var job in touched)
        {
            await FinishIfDoneAsync(job, ct);
            await WriteCountersIfDueAsync(job, ct);
        }

        return result;
    }

    /// <summary>Ends a job whose frontier is empty, logging its outcome; used after passes and by the worker's sweep.</summary>
    public async Task FinishIfDoneAsync(long jobId, CancellationToken ct)
    {
        if (await frontier.OutstandingAsync(jobId, ct) > 0 || !await jobs.FinishIfDoneAsync(jobId, ct))
        {
            return;
        }

        var s = await jobs.SummarizeAsync(jobId, ct);
        Log.JobFinished(logger, jobId, s.StatusText, s.Pages, s.Places, s.Products, s.PhotosStored, s.Failures);
        _running.TryRemove(jobId, out _);
        _runs.TryRemove(jobId, out _);
        _countersWritten.TryRemove(jobId, out _);
    }

    /// <summary>
    /// Writes a job's live counters at most once per Crawler:CounterFlushInterval in this process, so the dashboard and
    /// `crawl jobs` see a job move while it runs. A failed write is logged and tried again after the next pass; the
    /// job's own work reports a database that went away.
    /// </summary>
    private async Task WriteCountersIfDueAsync(long jobId, CancellationToken ct)
    {
        var now = time.GetTimestamp();
        var last = _countersWritten.GetOrAdd(jobId, 0);
        if (last != 0 && time.GetElapsedTime(last, now) < options.Value.CounterFlushInterval || !_countersWritten.TryUpdate(jobId, now, last))
        {
            return;
        }

        try
        {
            await jobs.WriteCountersAsync(jobId, ct);
        }
        catch (NpgsqlException e)
        {
            Log.CountersNotWritten(logger, jobId, e.Message.Split('\n')[0]);
        }
    }

    private sealed record JobRun(long JobId, long SiteId, CrawlJobSpec Spec, SiteScope Scope, HashSet<string> Hosts, bool Robots)
    {
        public bool HostAllowed(Uri u) => Hosts.Contains(u.Host);
    }

    /// <summary>What a job needs while its items are worked; null (and the job failed) when its site is no longer configured.</summary>
    private Task<JobRun?> RunOf(long jobId, CancellationToken ct) => _runs.GetOrAdd(jobId, async id =>
    {
        var o = options.Value;
        var (spec, siteId, _) = await jobs.LoadAsync(id, ct);
        if (!o.Sites.TryGetValue(spec.Site, out var site))
        {
            var error = $"site '{spec.Site}' is no longer configured under Crawler:Sites";
            Log.JobCannotRun(logger, id, error);
            await jobs.FailAsync(id, error, ct);
            return null;
        }

        var baseUrl = new Uri(spec.BaseUrl ?? site.BaseUrl);
        var hosts = new HashSet<string>(site.AllowedHosts, StringComparer.OrdinalIgnoreCase) { baseUrl.Host };
        return new JobRun(id, siteId, spec, new SiteScope(spec.Site, site, baseUrl), hosts, spec.RespectRobotsTxt ?? o.RespectRobotsTxt);
    });

    /// <summary>Gives back the items of passes a database outage broke (only those still claimed by this process).</summary>
    private async Task ReleaseAbandonedAsync(CancellationToken ct)
    {
        var ids = new List<long>();
        while (_abandoned.TryDequeue(out var id))
        {
            ids.Add(id);
        }

        if (ids.Count == 0)
        {
            return;
        }

        try
        {
            var released = await frontier.ReleaseOwnAsync(ids, ct);
            Log.AbandonedReleased(logger, released);
        }
        catch
        {
            foreach (var id in ids)
            {
                _abandoned.Enqueue(id);
            }

            throw;
        }
    }

    /// <summary>Claims of dead processes on this machine go back at once, checked at most once per Crawler:PollInterval.</summary>
    private async Task ReclaimDeadOwnersAsync(CancellationToken ct)
    {
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastReclaimTicks);
        if (last != 0 && time.GetElapsedTime(last, now) < options.Value.PollInterval || Interlocked.CompareExchange(ref _lastReclaimTicks, now, last) != last)
        {
            return;
        }

        foreach (var (job, count) in await frontier.ReclaimDeadOwnersAsync(ct))
        {
            Log.ReclaimedOrphans(logger, count, job);
        }
    }

    /// <summary>A page item with a pooled browser page; false when it failed (recorded on the item).</summary>
    private async Task<bool> WorkPageAsync(JobRun run, ClaimedItem item, CancellationToken ct)
    {
        var lease = await browsers.RentPageAsync(ct);
        try
        {
            lease.CountUse();
            return await ProcessPageItemAsync(run, item, lease.Page, ct);
        }
        finally
        {
            await browsers.ReturnPageAsync(lease);
        }
    }

    private async Task<bool> ProcessPageItemAsync(JobRun run, ClaimedItem item, IPage page, CancellationToken ct)
    {
        var url = new Uri(item.Url);
        using var span = HarvesterTelemetry.StartPageVisit(item.Kind.ToString().ToLowerInvariant(), url);
        var clock = Stopwatch.StartNew();
        var failure = await VisitPageAsync(run, item, page, url, ct);
        HarvesterTelemetry.RecordItem("crawl", failure is null ? "visited" : "failed", clock.Elapsed, span, failure);
        return failure is null;
    }

    /// <summary>Works one page item; null when it went through, else the type of what failed it (it is then on record on the item).</summary>
    private async Task<string?> VisitPageAsync(JobRun run, ClaimedItem item, IPage page, Uri url, CancellationToken ct)
    {
        string failure;
        string errorType;
        var permanent = false;
        try
        {
            if (!run.HostAllowed(url))
            {
                throw new CrawlPageException($"host {url.Host} is not allowed for site {run.Scope.Name}", true);
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
                        throw new CrawlPageException($"unexpected {item.Kind} item on a page lane", true);
                }
            }

            return null;
        }
        catch (CrawlPageException e)
        {
            (failure, errorType) = (e.Message, e.GetType().Name);
            permanent = e.Permanent;
        }
        catch (PlaywrightException e) when (!ct.IsCancellationRequested)
        {
            (failure, errorType) = ("browser error: " + e.Message.Split('\n')[0], e.GetType().Name);
        }
        catch (TimeoutException e) when (!ct.IsCancellationRequested)
        {
            (failure, errorType) = ("timed out: " + e.Message.Split('\n')[0], e.GetType().Name);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException and not HarvesterException and not NpgsqlException)
        {
            // One bad page never stops the job: whatever else it throws is recorded on the item and retried.
            (failure, errorType) = ($"unexpected {e.GetType().Name}: {e.Message.Split('\n')[0]}", e.GetType().Name);
        }

        var o = options.Value;
        Log.ItemFailed(logger, item.Kind.ToString(), item.Url, item.Attempts, failure);
        await frontier.MarkFailedAsync(item, failure, permanent, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
        return errorType;
    }

    private async Task SearchAsync(JobRun run, ClaimedItem item, IPage page, CancellationToken ct)
    {
        var (places, noResults) = await map.SearchAsync(page, run.Scope, item.Context.Query ?? "", run.Spec.PlacesPerQuery, ct);
        var children = places.Select(p => new NewFrontierItem(FrontierKind.Place, p.Url, item.Context with { PageUrl = page.Url }, item.Id, 5)).ToList();
        await CompleteWithChildrenAsync(run.JobId, item, children, noResults ? "no results" : null, ct);
    }

    private async Task PlaceAsync(JobRun run, ClaimedItem item, IPage page, Uri url, CancellationToken ct)
    {
        // The place is recorded even when its photos then fail to load: its metadata is worth keeping.
        long placeId = 0;
        var (_, photos, note) = await map.PlaceAsync(page, run.Scope, url, item.Context, run.Spec.PhotosPerPlace,
            async place => placeId = await store.UpsertPlaceAsync(run.SiteId, place, ct), ct);
        var children = photos.Select(p =>
        {
            var context = item.Context with { PlaceId = placeId, PageUrl = page.Url, PhotoType = p.PhotoType ?? item.Context.PhotoType };
            return new NewFrontierItem(FrontierKind.Photo, p.Url.AbsoluteUri, context, item.Id, 10, context.Owner);
        }).ToList();
        await CompleteWithChildrenAsync(run.JobId, item, children, note, ct);
    }

    private async Task CategoryAsync(JobRun run, ClaimedItem item, IPage page, CancellationToken ct)
    {
        var category = item.Context.Query ?? item.Context.Category ?? "";
        var products = await shop.CategoryAsync(page, run.Scope, category, run.Spec.ProductsPerCategory, ct);
        var children = products.Select((p, i) => new NewFrontierItem(FrontierKind.Product, p.Url,
            item.Context with { Rank = p.Rank ?? i + 1, PageUrl = page.Url }, item.Id, 5)).ToList();
        await CompleteWithChildrenAsync(run.JobId, item, children, products.Count == 0 ? "no products" : null, ct);
    }

    private async Task ProductAsync(JobRun run, ClaimedItem item, IPage page, Uri url, CancellationToken ct)
    {
        var (product, reviews, photos) = await shop.ProductAsync(page, run.Scope, url, item.Context, run.Spec.ReviewsPerProduct, ct);
        var productId = await store.UpsertProductAsync(run.SiteId, product, ct);
        var reviewIds = await store.UpsertReviewsAsync(run.SiteId, null, productId, reviews, ct);
        var children = photos.Select(p =>
        {
            var context = item.Context with
            {
                ProductId = productId,
                ReviewId = p.ReviewId is not null && reviewIds.TryGetValue(p.ReviewId, out var rid) ? rid : null,
                PageUrl = page.Url,
            };
            return new NewFrontierItem(FrontierKind.Photo, p.Url.AbsoluteUri, context, item.Id, 10, context.Owner);
        }).ToList();
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
        Log.PageProcessed(logger, item.Kind.ToString(), item.Url, children.Count);
    }

    /// <summary>Downloads and stores one photo; false when it failed (recorded on the item).</summary>
    private async Task<bool> DownloadPhotoAsync(JobRun run, ClaimedItem item, CancellationToken ct)
    {
        using var span = HarvesterTelemetry.StartDownload(new Uri(item.Url));
        var clock = Stopwatch.StartNew();
        var failure = await FetchAndStorePhotoAsync(run, item, ct);
        HarvesterTelemetry.RecordItem("crawl", failure is null ? "stored" : "failed", clock.Elapsed, span, failure);
        return failure is null;
    }

    /// <summary>Null when the photo is on record (stored, or one more sighting of stored bytes), else why not in a word.</summary>
    private async Task<string?> FetchAndStorePhotoAsync(JobRun run, ClaimedItem item, CancellationToken ct)
    {
        var o = options.Value;
        string reason;
        string errorType;
        var permanent = false;
        try
        {
            var url = new Uri(item.Url);
            if (run.Robots && !await downloader.IsAllowedByRobotsAsync(url, ct))
            {
                reason = "robots.txt disallows " + url.AbsolutePath;
                errorType = "robots";
                permanent = true;
            }
            else if (await store.TryAddSightingOfKnownUrlAsync(run.SiteId, item, ct))
            {
                // Another place of this job showed the same URL and its bytes are stored: one more sighting, no download.
                return null;
            }
            else
            {
                var download = await downloader.GetAsync(url, run.HostAllowed, ct);
                if (download.Ok)
                {
                    await store.StorePhotoAsync(run.JobId, run.SiteId, item, download, ct);
                    return null;
                }

                reason = download.Error!;
                permanent = download.Permanent;
                errorType = permanent ? "download-permanent" : "download-transient";
            }
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException and not NpgsqlException)
        {
            // One bad photo never stops the job.
            reason = $"unexpected {e.GetType().Name}: {e.Message.Split('\n')[0]}";
            errorType = e.GetType().Name;
        }

        Log.ItemFailed(logger, "photo", item.Url, item.Attempts, reason);
        await frontier.MarkFailedAsync(item, reason, permanent, o.MaxAttempts, o.RetryBaseDelay, CancellationToken.None);
        return errorType;
    }
}

/// <summary>
/// Wakes lanes waiting for work when an item of this process finishes (it may have queued more). Take the token with
/// <see cref="Next"/> before looking for work, so a pulse between the look and the wait is not lost.
/// </summary>
internal sealed class WorkSignal(TimeProvider time)
{
    private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Next() => Volatile.Read(ref _current).Task;

    public void Pulse() => Interlocked.Exchange(ref _current, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public async Task WaitAsync(Task token, TimeSpan timeout, CancellationToken ct)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            await token.WaitAsync(timeout, time, ct);
        }
        catch (TimeoutException)
        {
            // Time to look again: another process may have queued work, or a backoff ended.
        }
    }
}
