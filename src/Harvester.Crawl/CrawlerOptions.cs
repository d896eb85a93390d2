using Harvester.Core.Stages;
using System.ComponentModel.DataAnnotations;

namespace Harvester.Crawl;

/// <summary>Crawler settings (section "Crawler"): politeness and robustness are defaults, not options left off.</summary>
public sealed class CrawlerOptions : StageOptions
{
    public CrawlerOptions()
    {
        // A frontier item (page or photo) is tried this often before it is marked failed; a claim on it lasts
        // minutes, not the ten other stages allow, because one page or photo takes seconds. A download lane claims
        // ClaimBatch photos at a time (a page lane one page): small, so one slow photo never holds up many.
        MaxAttempts = 4;
        Lease = TimeSpan.FromMinutes(3);
        ClaimBatch = 2;
    }

    public const string Section = "Crawler";

    /// <summary>Empty: /usr/bin/chromium, then chromium/google-chrome on PATH, then Playwright's own browsers.</summary>
    public string BrowserExecutablePath { get; set; } = "";

    public bool Headless { get; set; } = true;

    /// <summary>Flags a sandboxed server needs (root, no GPU, no background traffic).</summary>
    public List<string> BrowserArgs { get; set; } =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
    ];

    [Required]
    public string UserAgent { get; set; } = "HarvesterBot/1.0 (image dataset crawler; respects robots.txt)";

    /// <summary>Browser pages working at once (search, place and product pages).</summary>
    [Range(1, 64)]
    public int PageConcurrency { get; set; } = 3;

    /// <summary>Photo downloads at once (plain HTTP, no browser).</summary>
    [Range(1, 256)]
    public int DownloadConcurrency { get; set; } = 8;

    /// <summary>Requests at once to one host, across pages and downloads.</summary>
    [Range(1, 256)]
    public int PerHostConcurrency { get; set; } = 8;

    /// <summary>Requests per second to one host (token bucket; bursts up to twice this).</summary>
    [Range(0.1, 10_000)]
    public double PerHostRequestsPerSecond { get; set; } = 20;

    /// <summary>
    /// Options for the Node.js process that drives the browser (Playwright's driver), given to it as NODE_OPTIONS.
    /// The default caps V8's young generation at 4 MB per semi-space (Node's own default is 16 MB): the driver turns
    /// over many short-lived protocol messages, and the smaller nursery keeps its memory ~50 MB lower at no measured
    /// CPU cost (docs/crawling.md). Empty leaves Node's defaults.
    /// </summary>
    public string DriverNodeOptions { get; set; } = "--max-semi-space-size=4";

    /// <summary>A browser context is closed and a fresh one opened after this many pages, to bound memory.</summary>
    [Range(1, 10_000)]
    public int PagesPerContext { get; set; } = 20;

    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan NavigationTimeout { get; set; } = TimeSpan.FromSeconds(20);

    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long a lazy list or photo grid may stay without new items before it counts as finished.</summary>
    [Range(typeof(TimeSpan), "00:00:00.200", "00:05:00")]
    public TimeSpan ScrollIdleTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Upper bound on the whole scroll of one list or grid.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan ScrollTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How often a condition on a page is checked while the engine waits for it: a list grew after a scroll or a
    /// "more" click, a list changed after a next-page click, a control went away.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:05")]
    public TimeSpan PagePollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Most pages (next-page clicks, "more" clicks) one list is followed through; a list longer than this ends there.</summary>
    [Range(1, 100_000)]
    public int MaxListPages { get; set; } = 500;

    [Range(1024, long.MaxValue)]
    public long MaxImageBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>HTTP retries inside one attempt (429/5xx/timeouts, exponential backoff with jitter, Retry-After honoured).</summary>
    [Range(0, 10)]
    public int HttpRetries { get; set; } = 3;

    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How often a running job writes its counters (pages, places, photos, failures) to crawl_jobs: one grouped
    /// statement per interval rather than one per item, so the dashboard sees a job move while it runs.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan CounterFlushInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Default for jobs; a job may turn it off explicitly.</summary>
    public bool RespectRobotsTxt { get; set; } = true;

    /// <summary>Images, fonts and media are not needed to read a page's markup: skipping them saves time and memory.</summary>
    public bool BlockPageResources { get; set; } = true;

    /// <summary>
    /// A schedule tick older than this when a worker first sees it is skipped (logged) instead of run; of several
    /// missed ticks only the latest runs.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "366.00:00:00")]
    public TimeSpan ScheduleMissedTickWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Crawl jobs the worker creates on a cron schedule, once per due time across all workers.</summary>
    public List<CrawlSchedule> Schedules { get; set; } = [];

    /// <summary>Site definitions by name: the declarative adapter needs configuration, not code, for a new site.</summary>
    public Dictionary<string, SiteDefinition> Sites { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>A crawl job the worker creates on a cron schedule (section Crawler:Schedules).</summary>
public sealed class CrawlSchedule
{
    /// <summary>Names the schedule; its ticks are recorded under this name, so it must be unique.</summary>
    public string Name { get; set; } = "";

    /// <summary>Cron expression (5 fields, UTC), e.g. "0 3 * * *".</summary>
    public string Cron { get; set; } = "";

    public CrawlJobSpec? Job { get; set; }
}
