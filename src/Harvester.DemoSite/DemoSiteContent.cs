using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Harvester.DemoSite.Corpus;
using OpenCvSharp;

namespace Harvester.DemoSite;

internal sealed record PhotoSpec(
    string Id,
    string Type,
    bool Shop,
    int CorpusIndex,
    int Edition,
    VariantKind? Variant,
    string? DuplicateOf,
    string? Fault);

internal sealed record PlaceSpec(
    string Id,
    int QueryIndex,
    int Rank,
    string Name,
    string Category,
    string Neighbourhood,
    string Address,
    double Lat,
    double Lng,
    bool Private,
    string? Fault,
    IReadOnlyList<PhotoSpec> Photos);

internal sealed record QuerySpec(string Query, string Neighbourhood, string Category, IReadOnlyList<PlaceSpec> Places);

internal sealed record ReviewSpec(string Id, int Rating, string Text, IReadOnlyList<PhotoSpec> Photos);

internal sealed record ProductSpec(string Id, string CategorySlug, int Rank, string Name, IReadOnlyList<ReviewSpec> Reviews);

internal sealed record ShopCategorySpec(string Slug, string Name, IReadOnlyList<ProductSpec> Products);

/// <summary>
/// Everything the demo site shows, generated from the options' seed: the model (ids, names, which photo is which) is
/// built eagerly and is cheap; photo bytes are rendered on first request and kept in a bounded memory cache.
/// </summary>
internal sealed class DemoSiteContent
{
    public const int ListPageSize = 10;
    public const int GridPageSize = 12;
    public const int ProductsPerPage = 20;
    public const int ReviewsPerPage = 5;

    // The other layouts page differently, so that caps, page ends and "more" clicks fall elsewhere.
    public const int PagedResultsPerPage = 7;
    public const int PagedPhotosPerClick = 6;
    public const int NextProductsPerPage = 5;
    public const int NextReviewsPerPage = 4;

    /// <summary>Position (0-based, by rank) of the product of each category linked under /private/ in the Next layout.</summary>
    public const int PrivateProduct = 3;

    // Positions (0-based, in result order) of the places that carry the injected realism in every query.
    public const int PhotoFaultsPlace = 1;
    public const int NoPhotosPlace = 2;
    public const int HangingGridPlace = 3;
    public const int PrivatePlace = 5;

    private const long CacheBudgetBytes = 256L * 1024 * 1024;

    private static readonly string[] PhotoFaultOrder = [DemoFault.Redirect, DemoFault.Broken, DemoFault.Truncated, DemoFault.HtmlAsJpeg, DemoFault.Oversize];

    private readonly DemoSiteOptions _options;
    private readonly IReadOnlyList<CorpusPhoto> _corpus;
    private readonly Dictionary<string, PhotoSpec> _photos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte[]> _cache = new(StringComparer.Ordinal);
    private readonly Lazy<byte[]> _oversize;
    private long _cachedBytes;
    private long _nextCorpusSlot;

    public DemoSiteContent(DemoSiteOptions options)
    {
        _options = options;
        _corpus = PhotoCorpus.Showcase();
        if (_corpus.Count == 0)
        {
            throw new Core.HarvesterException(
                "The demo site needs real photographs and found none: install mate-backgrounds and python3-skimage (scripts/setup.sh does).");
        }

        Queries = BuildQueries();
        Places = Queries.SelectMany(q => q.Places).ToDictionary(p => p.Id, StringComparer.Ordinal);
        Shop = BuildShop();
        Products = Shop.SelectMany(c => c.Products).ToDictionary(p => p.Id, StringComparer.Ordinal);
        _oversize = new Lazy<byte[]>(BuildOversize);
    }

    public IReadOnlyList<QuerySpec> Queries { get; }

    public IReadOnlyDictionary<string, PlaceSpec> Places { get; }

    public IReadOnlyList<ShopCategorySpec> Shop { get; }

    public IReadOnlyDictionary<string, ProductSpec> Products { get; }

    public bool Faults => _options.Faults;

    public QuerySpec? FindQuery(string? query)
    {
        var normalised = string.Join(' ', (query ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return Queries.FirstOrDefault(q => q.Query == normalised);
    }

    public PhotoSpec? FindPhoto(string id) => _photos.GetValueOrDefault(id);

    /// <summary>A deterministic decision with the given probability, keyed by a string (a URL, a query page).</summary>
    public bool Chance(string purpose, string key, double probability) =>
        probability > 0 && Unit(Hash(_options.Seed, purpose, key)) < probability;

    public static string PhotoPath(PhotoSpec photo) => photo.Shop ? $"/cdn/uploads/{photo.Id}.jpg" : $"/photos/{photo.Id}.jpg";

    /// <summary>The full-size URL of a photo in a layout.</summary>
    public static string PhotoPath(PhotoSpec photo, DemoLayout layout) => layout switch
    {
        DemoLayout.Paged when !photo.Shop => $"/paged/img/{photo.Id}",
        DemoLayout.Next when photo.Shop => $"/next/media/{photo.Id}.jpg",
        _ => PhotoPath(photo),
    };

    public static string PlaceHref(PlaceSpec place) =>
        place.Private ? $"/private/place/{place.Id}/home" : $"/pcmap/place/{place.Id}/home";

    public static string PlaceHref(PlaceSpec place, DemoLayout layout) => layout == DemoLayout.Paged
        ? (place.Private ? $"/private/paged/place/{place.Id}" : $"/paged/place/{place.Id}")
        : PlaceHref(place);

    /// <summary>Whether a product's link points under /private/: one per category in the Next layout, when faults are on.</summary>
    public bool IsPrivate(ProductSpec product, DemoLayout layout) => layout == DemoLayout.Next && _options.Faults && product.Rank == PrivateProduct + 1;

    public string ProductHref(ProductSpec product, DemoLayout layout) => layout == DemoLayout.Next
        ? (IsPrivate(product, layout) ? $"/private/next/p/{product.Id}" : $"/next/p/{product.Id}")
        : $"/productions/{product.Id}/selling";

    public static string ThumbUrl(PhotoSpec photo, int width) =>
        $"/img/thumb?type=w{width.ToString(CultureInfo.InvariantCulture)}_sharpen&src={Uri.EscapeDataString(PhotoPath(photo))}";

    public static string ShopCategoryName(string slug) => slug switch
    {
        "furniture" => "가구",
        "fabric" => "패브릭",
        "kitchen" => "주방용품",
        "deco" => "데코·조명",
        "plants" => "식물·가드닝",
        "living" => "생활용품",
        _ => slug,
    };

    /// <summary>The picture's bytes as a healthy server would send them (faults are applied when serving).</summary>
    public byte[] PictureBytes(PhotoSpec photo) => Cached("full:" + photo.Id, () => RenderPicture(photo));

    /// <summary>What the full-size URL serves for a photo with a body fault.</summary>
    public byte[] FaultyBytes(PhotoSpec photo) => photo.Fault switch
    {
        DemoFault.Broken => RandomBytes(photo.Id, 24_000),
        DemoFault.Truncated => PictureBytes(photo)[..(int)(PictureBytes(photo).Length * 0.6)],
        DemoFault.HtmlAsJpeg => Encoding.UTF8.GetBytes(
            "<!doctype html><html><head><title>로그인이 필요합니다</title></head><body><h1>로그인이 필요합니다</h1>" +
            "<p>이 이미지를 보려면 로그인하세요.</p></body></html>"),
        DemoFault.Oversize => _oversize.Value,
        _ => PictureBytes(photo),
    };

    /// <summary>A resized JPEG: width <paramref name="width"/> keeping the aspect, or a centre crop to width x height.</summary>
    public byte[] Resized(PhotoSpec photo, int width, int height, bool crop) =>
        Cached(string.Create(CultureInfo.InvariantCulture, $"thumb:{photo.Id}:{width}x{height}:{crop}"), () =>
        {
            using var image = Cv2.ImDecode(PictureBytes(photo), ImreadModes.Color);
            using var output = ResizeImage(image, width, height, crop);
            return output.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 80));
        });

    public static string ContentType(byte[] bytes) => bytes switch
    {
        [0xFF, 0xD8, ..] => "image/jpeg",
        [0x89, 0x50, 0x4E, 0x47, ..] => "image/png",
        [0x52, 0x49, 0x46, 0x46, _, _, _, _, 0x57, 0x45, 0x42, 0x50, ..] => "image/webp",
        _ => "application/octet-stream",
    };

    public DemoSiteTruth BuildTruth(Uri baseUrl, DemoLayout layout = DemoLayout.Classic)
    {
        Uri Abs(string path) => new(baseUrl, path);
        DemoPhotoTruth Photo(PhotoSpec p) => new(
            p.Id, p.Type, Abs(PhotoPath(p, layout)), p.CorpusIndex >= 0 ? _corpus[p.CorpusIndex].Id : null, p.Edition,
            p.Variant?.ToString(), p.DuplicateOf, p.Fault);

        var reviewsPerPage = layout == DemoLayout.Next ? NextReviewsPerPage : ReviewsPerPage;
        var queries = Queries.Select(q => new DemoQueryTruth(q.Query, q.Neighbourhood, q.Category, [.. q.Places.Select(p => p.Id)])).ToList();
        var places = Queries.SelectMany(q => q.Places).Select(p => new DemoPlaceTruth(
            p.Id, Queries[p.QueryIndex].Query, p.Rank, p.Name, p.Category, p.Neighbourhood, p.Address, p.Lat, p.Lng,
            Abs(PlaceHref(p, layout)), p.Private, p.Fault, [.. p.Photos.Select(Photo)])).ToList();
        var categoryUrl = layout == DemoLayout.Next ? "/next/category/{0}" : "/store/category/{0}?order=popular";
        var shop = Shop.Select(c => new DemoShopCategoryTruth(c.Slug, c.Name, Abs(string.Format(CultureInfo.InvariantCulture, categoryUrl, c.Slug)), [.. c.Products.Select(product =>
            new DemoProductTruth(product.Id, product.Rank, product.Name, c.Slug, Abs(ProductHref(product, layout)), [.. product.Reviews.Select((r, i) =>
                new DemoReviewTruth(r.Id, (i / reviewsPerPage) + 1, r.Rating, r.Text, [.. r.Photos.Select(Photo)]))], IsPrivate(product, layout)))])).ToList();
        return new DemoSiteTruth(baseUrl, _options.Seed, queries, places, shop, layout);
    }

    private List<QuerySpec> BuildQueries()
    {
        var queries = new List<QuerySpec>();
        var neighbourhoods = _options.EffectiveNeighbourhoods;
        var categories = _options.EffectiveCategories;
        for (var n = 0; n < neighbourhoods.Count; n++)
        {
            for (var c = 0; c < categories.Count; c++)
            {
                var q = queries.Count;
                var places = new List<PlaceSpec>();
                var names = new HashSet<string>(StringComparer.Ordinal);
                for (var p = 0; p < _options.PlacesPerQuery; p++)
                {
                    places.Add(BuildPlace(q, p, neighbourhoods[n], n, categories[c], places, names));
                }

                queries.Add(new QuerySpec($"{neighbourhoods[n]} {categories[c]}", neighbourhoods[n], categories[c], places));
            }
        }

        return queries;
    }

    private PlaceSpec BuildPlace(int q, int p, string neighbourhood, int neighbourhoodIndex, string category, List<PlaceSpec> earlier, HashSet<string> names)
    {
        var seed = _options.Seed;
        var id = (1_000_000_000L + (seed * 10_000_000L) + (q * 1000L) + p).ToString(CultureInfo.InvariantCulture);
        var r = new Random((int)Hash(seed, "place", id));
        var name = PlaceName(r, category, neighbourhood);
        for (var branch = 2; !names.Add(name); branch++)
        {
            name = PlaceName(r, category, neighbourhood) + " " + branch.ToString(CultureInfo.InvariantCulture) + "호점";
        }

        var address = $"서울특별시 {District(neighbourhood)} {neighbourhood} {r.Next(1, 600).ToString(CultureInfo.InvariantCulture)}-{r.Next(1, 40).ToString(CultureInfo.InvariantCulture)}".Replace("  ", " ", StringComparison.Ordinal);
        var lat = Math.Round(37.50 + (neighbourhoodIndex % 8 * 0.012) + (r.NextDouble() * 0.008), 6);
        var lng = Math.Round(126.90 + (neighbourhoodIndex / 8 * 0.06) + (r.NextDouble() * 0.012), 6);

        var faults = _options.Faults;
        var isPrivate = faults && p == PrivatePlace && q % 2 == 0;
        string? placeFault = faults && p == HangingGridPlace ? DemoFault.PhotoGridHangs : null;
        var photos = new List<PhotoSpec>();
        if (p != NoPhotosPlace && placeFault is null)
        {
            var count = _options.PhotosPerPlace;
            for (var j = 0; j < count; j++)
            {
                var photoId = PhotoId("map", id, j);
                var type = PickType(photoId);
                string? fault = null;
                if (faults && p == PhotoFaultsPlace && j < PhotoFaultOrder.Length)
                {
                    fault = PhotoFaultOrder[j];
                    type = type == DemoPhotoType.Menu ? DemoPhotoType.Interior : type;
                }

                photos.Add(NewPhoto(photoId, type, shop: false, fault));
            }

            InjectMapDuplicates(q, p, photos, earlier);

            // A chain or a tagged post: the very same photo URL shown by this place and the one before it.
            if (p >= 6 && p % 4 == 3 && photos.Count > 1 && Original(earlier[p - 1]) is { } shared)
            {
                photos[0] = shared;
            }
        }

        foreach (var photo in photos)
        {
            _photos[photo.Id] = photo;
        }

        return new PlaceSpec(id, q, p + 1, name, category, neighbourhood, address, lat, lng, isPrivate, placeFault, photos);
    }

    private void InjectMapDuplicates(int q, int p, List<PhotoSpec> photos, List<PlaceSpec> earlier)
    {
        // Same bytes posted by two places, and re-encoded/resized copies of another place's photo.
        if (p < 6 || photos.Count < 3)
        {
            return;
        }

        if (p % 5 == 0 && Original(earlier[p - 1]) is { } verbatim)
        {
            var last = photos[^1];
            photos[^1] = verbatim with { Id = last.Id, DuplicateOf = verbatim.Id, Fault = ServingFault(last.Id, shop: false) };
        }

        if (p % 7 == 3 && Original(earlier[p - 3]) is { } source)
        {
            var index = photos.Count - 2;
            var kind = (VariantKind)((q + p) % Enum.GetValues<VariantKind>().Length);
            photos[index] = source with { Id = photos[index].Id, Variant = kind, DuplicateOf = source.Id, Fault = ServingFault(photos[index].Id, shop: false) };
        }
    }

    private static PhotoSpec? Original(PlaceSpec place) =>
        place.Photos.FirstOrDefault(ph => ph.DuplicateOf is null && ph.Fault is null && ph.Type != DemoPhotoType.Menu);

    private List<ShopCategorySpec> BuildShop()
    {
        var seed = _options.Seed;
        var categories = new List<ShopCategorySpec>();
        var history = new List<(string Product, PhotoSpec Photo)>();
        var reviewCounter = 0;
        var slugs = _options.EffectiveShopCategories;
        for (var c = 0; c < slugs.Count; c++)
        {
            var products = new List<ProductSpec>();
            for (var k = 0; k < _options.ProductsPerCategory; k++)
            {
                var productId = (1_000_000L + (seed * 100_000L) + (c * 1000L) + k).ToString(CultureInfo.InvariantCulture);
                var r = new Random((int)Hash(seed, "product", productId));
                var reviews = new List<ReviewSpec>();
                for (var v = 0; v < _options.ReviewsPerProduct; v++)
                {
                    var reviewId = (long.Parse(productId, CultureInfo.InvariantCulture) * 100 + v).ToString(CultureInfo.InvariantCulture);
                    var u = r.NextDouble();
                    var photoCount = u < 0.25 ? 0 : u < 0.8 ? 1 : 2;
                    var photos = new List<PhotoSpec>();
                    for (var i = 0; i < photoCount; i++)
                    {
                        var photoId = PhotoId("shop", reviewId, i);
                        photos.Add(NewPhoto(photoId, DemoPhotoType.Review, shop: true, ServingFault(photoId, shop: true)));
                    }

                    reviewCounter++;
                    var fromOtherProduct = history.LastOrDefault(h => h.Product != productId).Photo;
                    if (photos.Count > 0 && fromOtherProduct is not null)
                    {
                        if (reviewCounter % 11 == 7)
                        {
                            photos[0] = fromOtherProduct with { Id = photos[0].Id, DuplicateOf = fromOtherProduct.Id, Fault = photos[0].Fault };
                        }
                        else if (reviewCounter % 13 == 5)
                        {
                            var kind = (VariantKind)(reviewCounter % Enum.GetValues<VariantKind>().Length);
                            photos[0] = fromOtherProduct with { Id = photos[0].Id, Variant = kind, DuplicateOf = fromOtherProduct.Id, Fault = photos[0].Fault };
                        }
                    }

                    // The same uploaded photo URL in reviews of two products (one account reviewing a set).
                    if (photos.Count > 0 && reviewCounter % 17 == 9 && history.LastOrDefault(h => h.Product != productId).Photo is { } shared)
                    {
                        photos[^1] = shared;
                    }

                    foreach (var photo in photos)
                    {
                        _photos[photo.Id] = photo;
                        if (photo.DuplicateOf is null && !history.Any(h => h.Photo.Id == photo.Id))
                        {
                            history.Add((productId, photo));
                        }
                    }

                    reviews.Add(new ReviewSpec(reviewId, RatingFor(r), ReviewText(r), photos));
                }

                products.Add(new ProductSpec(productId, slugs[c], k + 1, ProductName(r, slugs[c]), reviews));
            }

            categories.Add(new ShopCategorySpec(slugs[c], ShopCategoryName(slugs[c]), products));
        }

        return categories;
    }

    /// <summary>
    /// A new photo: a menu is rendered text; any other takes the next corpus photo in the order the site is built
    /// (places by search and rank, then the shop), so a site no larger than the corpus shows every photo once and a
    /// larger one starts over with mirrored, re-encoded editions.
    /// </summary>
    private PhotoSpec NewPhoto(string id, string type, bool shop, string? fault)
    {
        if (type == DemoPhotoType.Menu)
        {
            return new PhotoSpec(id, type, shop, -1, 0, null, null, fault ?? ServingFault(id, shop));
        }

        var slot = _nextCorpusSlot++;
        return new PhotoSpec(id, type, shop, (int)(slot % _corpus.Count), (int)(slot / _corpus.Count), null, null, fault ?? ServingFault(id, shop));
    }

    /// <summary>429/500 on the first request, or slow, for a deterministic share of full-size photo URLs.</summary>
    private string? ServingFault(string photoId, bool shop)
    {
        if (!_options.Faults)
        {
            return null;
        }

        var path = shop ? $"/cdn/uploads/{photoId}.jpg" : $"/photos/{photoId}.jpg";
        if (Chance("first-request", path, _options.FaultRate))
        {
            return (Hash(_options.Seed, "status", path) & 1) == 0 ? DemoFault.TooManyRequests : DemoFault.ServerError;
        }

        return Chance("slow", path, _options.FaultRate) ? DemoFault.Slow : null;
    }

    private byte[] RenderPicture(PhotoSpec photo)
    {
        if (photo.DuplicateOf is not null && _photos.TryGetValue(photo.DuplicateOf, out var original))
        {
            var bytes = PictureBytes(original);
            return photo.Variant is { } kind ? PhotoCorpus.Variant(bytes, kind, (int)Hash(_options.Seed, "variant", photo.Id)) : bytes;
        }

        if (photo.CorpusIndex < 0)
        {
            return PhotoCorpus.RenderTextImage(MenuLines(photo.Id), 600, 800);
        }

        var rendered = PhotoCorpus.RenderJpeg(_corpus[photo.CorpusIndex]);
        if (photo.Edition == 0)
        {
            return rendered;
        }

        // Later uses of a corpus photo: mirrored on odd editions, always re-encoded so the bytes differ.
        using var image = Cv2.ImDecode(rendered, ImreadModes.Color);
        if (photo.Edition % 2 == 1)
        {
            Cv2.Flip(image, image, FlipMode.Y);
        }

        var quality = Math.Max(60, 90 - (3 * ((photo.Edition + 1) / 2)));
        return image.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, quality));
    }

    private byte[] BuildOversize()
    {
        // A decodable JPEG whose size comes from APP15 segments (as cameras pad with maker notes and previews).
        var photo = PictureBytes(Places.Values.SelectMany(p => p.Photos).First(p => p.CorpusIndex >= 0));
        var target = _options.OversizeBytes;
        using var stream = new MemoryStream((int)Math.Min(int.MaxValue, target + photo.Length + 65_536));
        stream.Write(photo, 0, 2);
        var filler = RandomBytes("oversize", 65_533);
        while (stream.Length + photo.Length - 2 < target)
        {
            stream.Write([0xFF, 0xEF, 0xFF, 0xFF]);
            stream.Write(filler, 0, 65_533);
        }

        stream.Write(photo, 2, photo.Length - 2);
        return stream.ToArray();
    }

    private byte[] RandomBytes(string key, int length)
    {
        var bytes = new byte[length];
        new Random((int)Hash(_options.Seed, "random", key)).NextBytes(bytes);
        bytes[0] = 0x00;
        return bytes;
    }

    private byte[] Cached(string key, Func<byte[]> make)
    {
        if (_cache.TryGetValue(key, out var hit))
        {
            return hit;
        }

        var bytes = make();
        if (Interlocked.Add(ref _cachedBytes, bytes.Length) > CacheBudgetBytes)
        {
            // Crude but bounded: start over rather than track recency; everything can be rendered again.
            _cache.Clear();
            Interlocked.Exchange(ref _cachedBytes, bytes.Length);
        }

        _cache[key] = bytes;
        return bytes;
    }

    private static Mat ResizeImage(Mat image, int width, int height, bool crop)
    {
        var output = new Mat();
        if (width <= 0 && height <= 0)
        {
            image.CopyTo(output);
            return output;
        }

        if (crop && width > 0 && height > 0)
        {
            var scale = Math.Max((double)width / image.Width, (double)height / image.Height);
            using var scaled = new Mat();
            Cv2.Resize(image, scaled, new Size(Math.Max(width, (int)Math.Ceiling(image.Width * scale)), Math.Max(height, (int)Math.Ceiling(image.Height * scale))), 0, 0, InterpolationFlags.Area);
            using var centre = new Mat(scaled, new Rect((scaled.Width - width) / 2, (scaled.Height - height) / 2, width, height));
            centre.CopyTo(output);
            return output;
        }

        var factor = width > 0 ? (double)width / image.Width : (double)height / image.Height;
        factor = Math.Min(1.0, factor);
        Cv2.Resize(image, output, new Size(Math.Max(1, (int)Math.Round(image.Width * factor)), Math.Max(1, (int)Math.Round(image.Height * factor))), 0, 0, InterpolationFlags.Area);
        return output;
    }

    private string PickType(string photoId)
    {
        var u = Unit(Hash(_options.Seed, "type", photoId));
        return u switch
        {
            < 0.45 => DemoPhotoType.Interior,
            < 0.70 => DemoPhotoType.Food,
            < 0.85 => DemoPhotoType.Exterior,
            _ => DemoPhotoType.Menu,
        };
    }

    private string PhotoId(string section, string owner, int index) =>
        Hash(_options.Seed, section + ":" + owner, index.ToString(CultureInfo.InvariantCulture)).ToString("x16", CultureInfo.InvariantCulture);

    private static string[] MenuLines(string photoId)
    {
        string[] items =
        [
            "Americano", "Cafe Latte", "Flat White", "Vanilla Latte", "Cold Brew", "Hojicha Latte", "Einspanner",
            "Croissant", "Salt Bread", "Scone", "Basque Cheesecake", "Tiramisu", "Egg Tart", "Avocado Toast",
            "Pancakes", "Kimchi Stew", "Bibimbap", "Cold Noodles", "Tteokbokki", "Grapefruit Ade",
        ];
        var r = new Random((int)Hash(0, "menu", photoId));
        var lines = new List<string> { r.Next(2) == 0 ? "MENU" : "DRINKS & DESSERTS", "" };
        foreach (var item in items.OrderBy(_ => r.Next()).Take(r.Next(8, 14)))
        {
            var price = (r.Next(6, 30) * 500).ToString("N0", CultureInfo.InvariantCulture);
            lines.Add($"{item} .......... {price}");
        }

        return [.. lines];
    }

    private static string PlaceName(Random r, string category, string neighbourhood)
    {
        string[] words = ["온도", "하루", "소담", "달빛", "모래", "숲속", "바람", "여름", "오후", "느린", "초록", "별빛", "나무", "구름", "작은", "푸른", "단골", "새벽", "골목", "햇살"];
        string[] suffixes = category switch
        {
            "카페" => ["커피", "로스터스", "커피바", "카페", "에스프레소바"],
            "베이커리" => ["베이커리", "제과", "브레드", "빵공장"],
            "식당" => ["식당", "키친", "밥상", "국수", "식탁"],
            "브런치" => ["브런치", "테이블", "다이닝"],
            _ => [category],
        };
        var branch = neighbourhood.EndsWith('동') ? neighbourhood[..^1] : neighbourhood;
        return $"{words[r.Next(words.Length)]} {suffixes[r.Next(suffixes.Length)]} {branch}점";
    }

    private static string District(string neighbourhood) => neighbourhood switch
    {
        "망원동" or "연남동" or "합정동" or "서교동" or "상수동" => "마포구",
        "성수동" => "성동구",
        "익선동" or "삼청동" => "종로구",
        "한남동" or "이태원동" => "용산구",
        "을지로동" => "중구",
        "문래동" => "영등포구",
        "연희동" => "서대문구",
        "신사동" or "청담동" => "강남구",
        "성북동" => "성북구",
        _ => "",
    };

    private static string ProductName(Random r, string slug)
    {
        string[] items = slug switch
        {
            "furniture" => ["원목 식탁", "패브릭 소파", "수납 선반", "1인 라운지체어", "침대 프레임", "사이드 테이블"],
            "fabric" => ["린넨 커튼", "극세사 러그", "코튼 침구세트", "쿠션 커버", "워싱 이불"],
            "kitchen" => ["법랑 냄비", "원목 도마", "유리 밀폐용기", "핸드드립 세트", "스텐 프라이팬"],
            "deco" => ["플로어 조명", "무드등", "포스터 액자", "벽시계", "캔들 워머"],
            "plants" => ["몬스테라 화분", "올리브나무", "행잉 플랜트", "토분 세트", "미니 다육이"],
            "living" => ["규조토 발매트", "수납 바스켓", "빨래 건조대", "무선 청소기 거치대", "욕실 수납장"],
            _ => ["베스트 상품"],
        };
        string[] brands = ["오늘의집 PICK", "마켓비", "한샘", "데코뷰", "모던하우스", "리바트", "이케아 스타일"];
        return $"[{brands[r.Next(brands.Length)]}] {items[r.Next(items.Length)]} {(r.Next(1, 9) * 100).ToString(CultureInfo.InvariantCulture)}";
    }

    private static int RatingFor(Random r) => r.NextDouble() switch
    {
        < 0.05 => 2,
        < 0.20 => 3,
        < 0.50 => 4,
        _ => 5,
    };

    private static string ReviewText(Random r)
    {
        string[] sentences =
        [
            "배송이 생각보다 빨랐어요.", "사진이랑 색감이 거의 똑같아요.", "조립이 조금 어려웠지만 만족합니다.",
            "마감이 깔끔하고 튼튼해요.", "거실 분위기가 확 바뀌었어요.", "가격 대비 품질이 좋아요.",
            "생각보다 크기가 커서 자리를 잘 재보세요.", "두 번째 구매입니다.", "포장이 꼼꼼하게 되어 왔어요.",
            "냄새가 조금 났는데 며칠 지나니 괜찮아요.",
        ];
        return string.Join(' ', sentences.OrderBy(_ => r.Next()).Take(r.Next(1, 4)));
    }

    internal static ulong Hash(int seed, string purpose, string key)
    {
        // FNV-1a over "seed|purpose|key", then a SplitMix64 finaliser: stable across processes and runtimes.
        var h = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{seed}|{purpose}|{key}")))
        {
            h = (h ^ b) * 1099511628211UL;
        }

        h ^= h >> 30;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 27;
        h *= 0x94D049BB133111EBUL;
        return h ^ (h >> 31);
    }

    private static double Unit(ulong hash) => (hash >> 11) * (1.0 / (1UL << 53));
}
