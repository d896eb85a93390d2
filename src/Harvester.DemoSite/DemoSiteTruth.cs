using System.Text.Json;
using System.Text.Json.Serialization;

namespace Harvester.DemoSite;

/// <summary>
/// The site's layouts: one content (places, photos, products, reviews, faults) shown in three different ways, so a
/// crawler is tested on patterns rather than on one page structure.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<DemoLayout>))]
public enum DemoLayout
{
    /// <summary>naver-map style map (search URL, list in an iframe, infinite scroll, lazy img grid behind a tab, CDN
    /// wrapper thumbnails) and ohouse style shop (paged server-rendered categories and reviews, sized img thumbnails).</summary>
    Classic,

    /// <summary>Map under /paged/: a search that runs only on its button, numbered result pages replaced in place over
    /// XHR (some slowly), place pages whose photos are CSS background-images in a grid grown by a 사진 더보기 button.</summary>
    Paged,

    /// <summary>Shop under /next/: categories as __NEXT_DATA__ JSON plus infinite scroll over a JSON API with cards that
    /// are not links; product reviews loaded over XHR with a 리뷰 더보기 button and srcset thumbnails.</summary>
    Next,
}

/// <summary>
/// What the demo site contains, served at <c>GET /__truth[?layout=paged|next]</c>: tests compare a crawl against it.
/// The URLs (place pages, product pages, full-size photos) are those of <paramref name="Layout"/>.
/// </summary>
public sealed record DemoSiteTruth(
    Uri BaseUrl,
    int Seed,
    IReadOnlyList<DemoQueryTruth> Queries,
    IReadOnlyList<DemoPlaceTruth> Places,
    IReadOnlyList<DemoShopCategoryTruth> ShopCategories,
    DemoLayout Layout = DemoLayout.Classic)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public DemoQueryTruth Query(string query) =>
        Queries.FirstOrDefault(q => q.Query == query) ?? throw new KeyNotFoundException($"No query '{query}' on the demo site.");

    public DemoPlaceTruth Place(string id) =>
        Places.FirstOrDefault(p => p.Id == id) ?? throw new KeyNotFoundException($"No place {id} on the demo site.");

    /// <summary>Places of a query in result-list order.</summary>
    public IEnumerable<DemoPlaceTruth> PlacesOf(string query) => Query(query).PlaceIds.Select(Place);

    public DemoProductTruth Product(string id) =>
        ShopCategories.SelectMany(c => c.Products).FirstOrDefault(p => p.Id == id)
        ?? throw new KeyNotFoundException($"No product {id} on the demo site.");
}

/// <summary>A search "{neighbourhood} {category}" and its places in result order.</summary>
public sealed record DemoQueryTruth(string Query, string Neighbourhood, string Category, IReadOnlyList<string> PlaceIds);

/// <summary>
/// A place. <paramref name="Private"/>: its list link points under /private/ (disallowed by robots.txt), so a compliant
/// crawler never sees its photos. <paramref name="Fault"/>: <see cref="DemoFault.PhotoGridHangs"/> or null; a place
/// whose grid hangs lists no photos here because none can be crawled.
/// </summary>
public sealed record DemoPlaceTruth(
    string Id,
    string Query,
    int Rank,
    string Name,
    string Category,
    string Neighbourhood,
    string Address,
    double Lat,
    double Lng,
    Uri HomeUrl,
    bool Private,
    string? Fault,
    IReadOnlyList<DemoPhotoTruth> Photos);

/// <summary>
/// One photo as the site lists it. <paramref name="Url"/> is the full-size URL (thumbnail parameters stripped).
/// <paramref name="CorpusLabel"/>: the <c>PhotoCorpus</c> id it is rendered from (null for menu text images).
/// <paramref name="Edition"/>: 0 for the first use of a corpus photo; later uses are re-encoded (so their bytes differ)
/// and mirrored on odd editions: same label and same edition parity = the same picture.
/// <paramref name="DuplicateOf"/>: the photo id this one copies, verbatim (<paramref name="Variant"/> null: same bytes)
/// or transformed (<paramref name="Variant"/> = a <c>VariantKind</c> name). <paramref name="Fault"/>: a
/// <see cref="DemoFault"/> constant or null. A photo listed under two places (or two products' reviews) with the same
/// id is one URL shown by both: a complete crawl records a sighting for each.
/// </summary>
public sealed record DemoPhotoTruth(
    string Id,
    string Type,
    Uri Url,
    string? CorpusLabel,
    int Edition,
    string? Variant,
    string? DuplicateOf,
    string? Fault);

public sealed record DemoShopCategoryTruth(string Slug, string Name, Uri Url, IReadOnlyList<DemoProductTruth> Products);

/// <summary>
/// A product; <paramref name="Rank"/> is its 1-based position under order=popular. <paramref name="Private"/>: its link
/// points under /private/ (robots.txt disallows it), so a compliant crawler finds none of its reviews (Next layout).
/// </summary>
public sealed record DemoProductTruth(string Id, int Rank, string Name, string Category, Uri Url, IReadOnlyList<DemoReviewTruth> Reviews, bool Private = false);

/// <summary>A review; <paramref name="Page"/> is the review page (1-based) it appears on.</summary>
public sealed record DemoReviewTruth(string Id, int Page, int Rating, string Text, IReadOnlyList<DemoPhotoTruth> Photos);

/// <summary>Photo types on the map site's photo tab, and the type of shop review photos.</summary>
public static class DemoPhotoType
{
    public const string Interior = "interior";
    public const string Exterior = "exterior";
    public const string Menu = "menu";
    public const string Food = "food";
    public const string Review = "review";

    public static readonly IReadOnlyList<string> MapTypes = [Interior, Exterior, Menu, Food];
}

/// <summary>Injected faults recorded in the truth.</summary>
public static class DemoFault
{
    /// <summary>First request answers 429 with Retry-After: 1; later requests succeed.</summary>
    public const string TooManyRequests = "429";

    /// <summary>First request answers 500; later requests succeed.</summary>
    public const string ServerError = "500";

    /// <summary>Every request waits SlowDelay before answering.</summary>
    public const string Slow = "slow";

    /// <summary>302 to /photos/original/{id}.jpg, which serves the photo.</summary>
    public const string Redirect = "redirect";

    /// <summary>Random bytes served as image/jpeg.</summary>
    public const string Broken = "broken";

    /// <summary>The first 60% of a real JPEG.</summary>
    public const string Truncated = "truncated";

    /// <summary>An HTML page served as image/jpeg.</summary>
    public const string HtmlAsJpeg = "html-as-jpeg";

    /// <summary>A valid JPEG padded past OversizeBytes.</summary>
    public const string Oversize = "oversize";

    /// <summary>Place fault: the photo grid's data request never answers.</summary>
    public const string PhotoGridHangs = "photo-grid-hangs";
}
