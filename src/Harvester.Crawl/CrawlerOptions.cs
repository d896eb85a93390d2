using Harvester.Core.Stages;
using System.ComponentModel.DataAnnotations;

namespace Harvester.Crawl;

/// <summary>Crawler settings (section "Crawler"): politeness and robustness are defaults, not options left off.</summary>
public sealed class CrawlerOptions : StageOptions
{
    public CrawlerOptions()
    {
        // A frontier item (page or photo) is tried this often before it is marked failed; a claim on it lasts
        // minutes, not the ten other stages allow, because one page or photo takes seconds.
        MaxAttempts = 4;
        Lease = TimeSpan.FromMinutes(3);
        ClaimBatch = 16;
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

    /// <summary>Site definitions by name: the declarative adapter needs configuration, not code, for a new site.</summary>
    public Dictionary<string, SiteDefinition> Sites { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

public enum SiteKind
{
    /// <summary>Search → result list → place page → photo tab → lazy photo grid.</summary>
    Map,

    /// <summary>Category → ranked products → paginated reviews → review photos.</summary>
    Shop,
}

/// <summary>
/// A site described by selectors. CSS selectors are Playwright selectors; "selector@attr" reads an attribute instead of text.
/// URL templates may use {base}, {query}, {id}, {category}, {type}.
/// </summary>
public sealed class SiteDefinition
{
    public SiteKind Kind { get; set; }

    /// <summary>Scheme and host the templates start from; "{demo}" is replaced by the running demo site's address.</summary>
    public string BaseUrl { get; set; } = "";

    /// <summary>Hosts the crawl may visit or download from (the base URL's host is always allowed).</summary>
    public List<string> AllowedHosts { get; set; } = [];

    // ---- map sites ----
    /// <summary>Direct search URL, e.g. "{base}/p/search/{query}". Empty: open SearchPageUrl and type into SearchInput.</summary>
    public string SearchUrl { get; set; } = "";
    public string SearchPageUrl { get; set; } = "";
    public string SearchInput { get; set; } = "";

    /// <summary>The iframe element holding the result list (e.g. "iframe#searchIframe"); empty when the list is in the page.</summary>
    public string ResultsFrame { get; set; } = "";
    public string ResultItem { get; set; } = "";
    public string ResultLink { get; set; } = "";
    /// <summary>Attribute of the result item holding the place id, when links carry none.</summary>
    public string ResultIdAttribute { get; set; } = "";
    public string ResultsScrollContainer { get; set; } = "";
    public string ResultsNextPage { get; set; } = "";
    public string ResultsEnd { get; set; } = "";
    public string NoResults { get; set; } = "";

    /// <summary>Place page URL when result links are not plain hrefs, e.g. "https://pcmap.place.naver.com/place/{id}/home".</summary>
    public string PlaceUrlTemplate { get; set; } = "";
    /// <summary>Regex with a named group "id" that finds the place id in the place page URL.</summary>
    public string PlaceIdPattern { get; set; } = "";
    public string PlaceName { get; set; } = "";
    public string PlaceCategory { get; set; } = "";
    public string PlaceAddress { get; set; } = "";
    public string PlaceLatitude { get; set; } = "";
    public string PlaceLongitude { get; set; } = "";
    /// <summary>Tab or link that opens the photos; empty when photos are on the place page itself.</summary>
    public string PhotoTab { get; set; } = "";
    /// <summary>Filter chip for a photo type, with {type} (e.g. ".photo-chip[data-filter='{type}']").</summary>
    public string PhotoTypeChip { get; set; } = "";
    /// <summary>Maps a job's photo type to the site's filter value, e.g. interior → 내부.</summary>
    public Dictionary<string, string> PhotoTypeValues { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public string PhotoScrollContainer { get; set; } = "";
    /// <summary>Shown by the site when a place has no photos (so an empty grid is an answer, not a timeout).</summary>
    public string PhotoEmpty { get; set; } = "";

    // ---- shop sites ----
    /// <summary>Category page, e.g. "{base}/store/category/{category}?order=popular".</summary>
    public string CategoryUrl { get; set; } = "";
    public string ProductItem { get; set; } = "";
    public string ProductLink { get; set; } = "";
    public string ProductIdAttribute { get; set; } = "";
    public string ProductIdPattern { get; set; } = "";
    public string ProductRankAttribute { get; set; } = "";
    public string ProductsNextPage { get; set; } = "";
    public string ProductName { get; set; } = "";
    public string ReviewItem { get; set; } = "";
    public string ReviewIdAttribute { get; set; } = "";
    public string ReviewText { get; set; } = "";
    public string ReviewRating { get; set; } = "";
    public string ReviewsNextPage { get; set; } = "";

    // ---- photos (both kinds) ----
    /// <summary>Photo elements: on a map site the grid's images, on a shop the review photos.</summary>
    public string PhotoItem { get; set; } = "";
    /// <summary>Attributes tried in order for the photo URL (srcset: the largest candidate).</summary>
    public List<string> PhotoUrlAttributes { get; set; } = ["data-src", "data-original", "srcset", "src"];
    /// <summary>Attribute on the photo element or an ancestor giving its type (interior, menu…).</summary>
    public string PhotoTypeAttribute { get; set; } = "";
    /// <summary>Query parameters that wrap the original URL on image CDNs (e.g. "src"); unwrapped first.</summary>
    public List<string> WrappedUrlParameters { get; set; } = [];
    /// <summary>Query parameters that only pick a thumbnail size (e.g. type, w, h); removed for the full-size photo.</summary>
    public List<string> ThumbnailParameters { get; set; } = [];
    /// <summary>Regexes of URLs that are never photos: sprites, icons, logos, map tiles, placeholders.</summary>
    public List<string> SkipUrlPatterns { get; set; } = [@"(?i)sprite", @"(?i)\.svg(\?|$)", @"(?i)/icons?[/-]", @"(?i)logo", @"(?i)/tiles?/\d+/\d+/\d+", @"^data:"];
}
