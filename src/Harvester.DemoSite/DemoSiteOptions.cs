using System.ComponentModel.DataAnnotations;

namespace Harvester.DemoSite;

/// <summary>
/// The local demo site (section "DemoSite"): how much content it generates from its seed and which faults it injects.
/// Empty lists mean the built-in defaults (configuration binding appends to arrays, so defaults are not pre-filled).
/// </summary>
public sealed class DemoSiteOptions
{
    public const string Section = "DemoSite";

    /// <summary>16 real Seoul neighbourhoods (행정동/법정동 names) of the cafe studies this product serves.</summary>
    public static readonly IReadOnlyList<string> DefaultNeighbourhoods =
    [
        "망원동", "연남동", "성수동", "합정동", "서교동", "익선동", "한남동", "이태원동",
        "삼청동", "을지로동", "문래동", "상수동", "연희동", "신사동", "청담동", "성북동",
    ];

    public static readonly IReadOnlyList<string> DefaultCategories = ["카페", "베이커리", "식당", "브런치"];

    public static readonly IReadOnlyList<string> DefaultShopCategories = ["furniture", "fabric", "kitchen", "deco", "plants", "living"];

    /// <summary>Everything the site serves is a function of this seed.</summary>
    [Range(0, 100_000)]
    public int Seed { get; set; } = 1;

    /// <summary>TCP port on 127.0.0.1; 0 picks a free one.</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    [Range(1, 999)]
    public int PlacesPerQuery { get; set; } = 30;

    [Range(0, 500)]
    public int PhotosPerPlace { get; set; } = 14;

    [Range(1, 999)]
    public int ProductsPerCategory { get; set; } = 25;

    [Range(0, 99)]
    public int ReviewsPerProduct { get; set; } = 12;

    /// <summary>Share of full-size photo URLs answering 429 (with Retry-After) or 500 on their first request, and, separately, of slow ones.</summary>
    [Range(0.0, 0.5)]
    public double FaultRate { get; set; } = 0.03;

    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>Off: no slow responses, 429/500, broken/truncated/oversize/HTML images, redirect, hanging grid or private links.</summary>
    public bool Faults { get; set; } = true;

    /// <summary>Size of the oversized image (a valid JPEG padded with application segments); above the crawler's default cap.</summary>
    [Range(1024, 512L * 1024 * 1024)]
    public long OversizeBytes { get; set; } = 26L * 1024 * 1024;

    /// <summary>Empty: <see cref="DefaultNeighbourhoods"/>.</summary>
    public string[] Neighbourhoods { get; set; } = [];

    /// <summary>Empty: <see cref="DefaultCategories"/>.</summary>
    public string[] Categories { get; set; } = [];

    /// <summary>Shop category slugs. Empty: <see cref="DefaultShopCategories"/>.</summary>
    public string[] ShopCategories { get; set; } = [];

    /// <summary>
    /// A copy serving only what one crawl asks for: these searches' places and photos and these shop categories'
    /// products and reviews, faults and seed as configured. Photos are dealt from the corpus in the order the site is
    /// built, so a site no larger than its crawl shows each corpus photo once (a larger one repeats them as editions).
    /// </summary>
    public DemoSiteOptions ScopedTo(IReadOnlyList<string> neighbourhoods, IReadOnlyList<string> categories, int placesPerQuery, int photosPerPlace,
        IReadOnlyList<string> shopCategories, int productsPerCategory, int reviewsPerProduct)
    {
        var copy = (DemoSiteOptions)MemberwiseClone();
        copy.Neighbourhoods = [.. neighbourhoods];
        copy.Categories = [.. categories];
        copy.PlacesPerQuery = placesPerQuery;
        copy.PhotosPerPlace = photosPerPlace;
        copy.ShopCategories = [.. shopCategories];
        copy.ProductsPerCategory = productsPerCategory;
        copy.ReviewsPerProduct = reviewsPerProduct;
        return copy;
    }

    /// <summary>The neighbourhoods the site serves: the configured list cleaned, or the defaults.</summary>
    public IReadOnlyList<string> EffectiveNeighbourhoods => Neighbourhoods.Length > 0 ? Clean(Neighbourhoods) : DefaultNeighbourhoods;

    internal IReadOnlyList<string> EffectiveCategories => Categories.Length > 0 ? Clean(Categories) : DefaultCategories;

    /// <summary>The shop category slugs the site serves: the configured list cleaned, or the defaults.</summary>
    public IReadOnlyList<string> EffectiveShopCategories => ShopCategories.Length > 0 ? Clean(ShopCategories) : DefaultShopCategories;

    private static string[] Clean(string[] values) =>
        [.. values.Select(v => v.Trim()).Where(v => v.Length > 0).Distinct(StringComparer.Ordinal)];
}
