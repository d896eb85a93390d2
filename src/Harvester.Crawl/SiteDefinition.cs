namespace Harvester.Crawl;

public enum SiteKind
{
    /// <summary>Search → result list → place page → photo tab → lazy photo grid.</summary>
    Map,

    /// <summary>Category → ranked products → paginated reviews → review photos.</summary>
    Shop,
}

/// <summary>How the engine knows that a click on a next-page control produced the next page.</summary>
public enum NextPageWait
{
    /// <summary>The list's items (or, for a JSON list, its captured responses) differ from the page before.</summary>
    ListChanged,

    /// <summary>The network goes idle first; the list must still have changed afterwards.</summary>
    NetworkIdle,
}

public enum StepAction
{
    /// <summary>Clicks the control once.</summary>
    Click,

    /// <summary>Clicks the control until it is gone (removed or hidden), waiting after each click for the page to react.</summary>
    ClickUntilGone,

    /// <summary>Clicks the control until the items of <see cref="SiteStep.Count"/> stop growing.</summary>
    ClickUntilCountStable,

    /// <summary>Waits until the selector matches.</summary>
    WaitFor,
}

/// <summary>
/// One thing to do on a page before its data is read: open a tab that is not a link, dismiss a banner, expand every
/// "더보기". Steps run in order; a step whose control is missing fails the item unless it is <see cref="Optional"/>.
/// </summary>
public sealed class SiteStep
{
    public StepAction Action { get; set; } = StepAction.Click;

    /// <summary>The control (Playwright/CSS selector).</summary>
    public string Selector { get; set; } = "";

    /// <summary>
    /// For <see cref="StepAction.ClickUntilCountStable"/> (optional for <see cref="StepAction.ClickUntilGone"/>): the name of
    /// this definition's item selector whose matches must grow, e.g. "PhotoItem" or "ReviewItem".
    /// </summary>
    public string Count { get; set; } = "";

    /// <summary>A control that is not there is skipped instead of failing the item.</summary>
    public bool Optional { get; set; }
}

/// <summary>
/// A list read from JSON instead of (or besides) the markup: JSON embedded in the page (a &lt;script&gt; such as
/// __NEXT_DATA__ or <c>window.__STATE__ = {…}</c>) and/or JSON responses the page receives while it loads and grows
/// (XHR, fetch, GraphQL). Paths are a small JSONPath: <c>$</c>, <c>.name</c>, <c>['name']</c>, <c>[2]</c>, <c>[*]</c>,
/// <c>.*</c> and <c>..name</c> (at any depth). Item fields are paths relative to an item.
/// </summary>
public sealed class JsonList
{
    /// <summary>Selector of the element(s) whose text is the JSON, e.g. "script#__NEXT_DATA__".</summary>
    public string Script { get; set; } = "";

    /// <summary>Regex of the URLs of JSON responses to read, e.g. "/production_reviews\\.json".</summary>
    public string Response { get; set; } = "";

    /// <summary>Path to the items, e.g. "$.reviews[*]" or "$..products[*]".</summary>
    public string Items { get; set; } = "";

    /// <summary>Item field: the link (results, products) or the photo URL (photos).</summary>
    public string Url { get; set; } = "";

    /// <summary>Item field: the id (of a place, product or review).</summary>
    public string Id { get; set; } = "";

    /// <summary>Item field: the photo type (photos).</summary>
    public string Type { get; set; } = "";

    /// <summary>Item field: the rank (products).</summary>
    public string Rank { get; set; } = "";

    /// <summary>Item field: the review text (reviews).</summary>
    public string Text { get; set; } = "";

    /// <summary>Item field: the rating (reviews).</summary>
    public string Rating { get; set; } = "";

    /// <summary>Item field: the review's photo URLs, e.g. "images[*].url" (reviews).</summary>
    public string Photos { get; set; } = "";

    public bool IsSet => Script.Length > 0 || Response.Length > 0 || Items.Length > 0;
}

/// <summary>
/// A site described by selectors. CSS selectors are Playwright selectors; "selector@attr" reads an attribute instead of text.
/// URL templates may use {base}, {query}, {id}, {category}, {type}. Every key is checked when the app starts.
/// </summary>
public sealed class SiteDefinition
{
    public SiteKind Kind { get; set; }

    /// <summary>Scheme and host the templates start from; "{demo}" is replaced by the running demo site's address.</summary>
    public string BaseUrl { get; set; } = "";

    /// <summary>Hosts the crawl may visit or download from (the base URL's host is always allowed).</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>How a click on a next-page control is known to have worked (lists of every kind).</summary>
    public NextPageWait NextPageWait { get; set; } = NextPageWait.ListChanged;

    // ---- map sites ----
    /// <summary>Direct search URL, e.g. "{base}/p/search/{query}". Empty: open SearchPageUrl and type into SearchInput.</summary>
    public string SearchUrl { get; set; } = "";
    public string SearchPageUrl { get; set; } = "";
    public string SearchInput { get; set; } = "";
    /// <summary>The control that runs the search after SearchInput is filled; empty: the engine presses Enter.</summary>
    public string SearchSubmit { get; set; } = "";
    /// <summary>Run in the result list's scope after the search is submitted, before results are read.</summary>
    public List<SiteStep> SearchSteps { get; set; } = [];

    /// <summary>The iframe element holding the result list (e.g. "iframe#searchIframe"); empty when the list is in the page.</summary>
    public string ResultsFrame { get; set; } = "";
    public string ResultItem { get; set; } = "";
    public string ResultLink { get; set; } = "";
    /// <summary>Attribute of the result item holding the place id, when links carry none.</summary>
    public string ResultIdAttribute { get; set; } = "";
    public string ResultsScrollContainer { get; set; } = "";
    public string ResultsNextPage { get; set; } = "";
    /// <summary>A "more results" control clicked until it is gone or the list stops growing.</summary>
    public string ResultsLoadMore { get; set; } = "";
    public string ResultsEnd { get; set; } = "";
    public string NoResults { get; set; } = "";
    /// <summary>Results read from JSON (Url, or Id with PlaceUrlTemplate).</summary>
    public JsonList ResultsJson { get; set; } = new();

    /// <summary>Place page URL when result links are not plain hrefs, e.g. "https://pcmap.place.naver.com/place/{id}/home".</summary>
    public string PlaceUrlTemplate { get; set; } = "";
    /// <summary>Regex with a named group "id" that finds the place id in the place page URL.</summary>
    public string PlaceIdPattern { get; set; } = "";
    /// <summary>Run on the place page before its fields are read.</summary>
    public List<SiteStep> PlaceSteps { get; set; } = [];
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
    /// <summary>Run on the photo page (after the tab and the type filter) before the grid is read.</summary>
    public List<SiteStep> PhotoSteps { get; set; } = [];
    public string PhotoScrollContainer { get; set; } = "";
    /// <summary>A "더보기" control under the grid, clicked until it is gone or the grid stops growing.</summary>
    public string PhotoLoadMore { get; set; } = "";
    /// <summary>Shown by the site when a place has no photos (so an empty grid is an answer, not a timeout).</summary>
    public string PhotoEmpty { get; set; } = "";
    /// <summary>Place photos read from JSON (Url, optionally Type).</summary>
    public JsonList PhotoJson { get; set; } = new();

    // ---- shop sites ----
    /// <summary>Category page, e.g. "{base}/store/category/{category}?order=popular".</summary>
    public string CategoryUrl { get; set; } = "";
    /// <summary>Run on the category page before products are read.</summary>
    public List<SiteStep> CategorySteps { get; set; } = [];
    public string ProductItem { get; set; } = "";
    public string ProductLink { get; set; } = "";
    public string ProductIdAttribute { get; set; } = "";
    public string ProductIdPattern { get; set; } = "";
    /// <summary>Product page URL when product links carry only an id, e.g. "{base}/productions/{id}/selling".</summary>
    public string ProductUrlTemplate { get; set; } = "";
    public string ProductRankAttribute { get; set; } = "";
    public string ProductsScrollContainer { get; set; } = "";
    public string ProductsNextPage { get; set; } = "";
    public string ProductsLoadMore { get; set; } = "";
    /// <summary>Products read from JSON (Url or Id, optionally Rank).</summary>
    public JsonList ProductsJson { get; set; } = new();
    /// <summary>Run on the product page before reviews are read.</summary>
    public List<SiteStep> ProductSteps { get; set; } = [];
    public string ProductName { get; set; } = "";
    public string ReviewItem { get; set; } = "";
    public string ReviewIdAttribute { get; set; } = "";
    public string ReviewText { get; set; } = "";
    public string ReviewRating { get; set; } = "";
    public string ReviewsNextPage { get; set; } = "";
    public string ReviewsLoadMore { get; set; } = "";
    /// <summary>Reviews read from JSON (Id, Photos, optionally Text and Rating).</summary>
    public JsonList ReviewsJson { get; set; } = new();

    // ---- photos (both kinds) ----
    /// <summary>Photo elements: on a map site the grid's images, on a shop the review photos (inside ReviewItem).</summary>
    public string PhotoItem { get; set; } = "";
    /// <summary>
    /// Where a photo element keeps its URL, tried in order: any attribute (srcset: its largest candidate); "style" for an
    /// inline CSS background-image; "css:background-image" (any property) for the computed style.
    /// </summary>
    public List<string> PhotoUrlAttributes { get; set; } = ["data-src", "data-original", "srcset", "src"];
    /// <summary>Optional regex applied to the value read: its group "url" (or the whole match) is the URL.</summary>
    public string PhotoUrlPattern { get; set; } = "";
    /// <summary>Attribute on the photo element or an ancestor giving its type (interior, menu…).</summary>
    public string PhotoTypeAttribute { get; set; } = "";
    /// <summary>Query parameters that wrap the original URL on image CDNs (e.g. "src"); unwrapped first.</summary>
    public List<string> WrappedUrlParameters { get; set; } = [];
    /// <summary>Query parameters that only pick a thumbnail size (e.g. type, w, h); removed for the full-size photo.</summary>
    public List<string> ThumbnailParameters { get; set; } = [];
    /// <summary>Regexes of URLs that are never photos: sprites, icons, logos, map tiles, placeholders.</summary>
    public List<string> SkipUrlPatterns { get; set; } = [@"(?i)sprite", @"(?i)\.svg(\?|$)", @"(?i)/icons?[/-]", @"(?i)logo", @"(?i)/tiles?/\d+/\d+/\d+", @"^data:"];
}
