using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Harvester.DemoSite;

/// <summary>
/// A local web app reproducing the structure of a naver-map style map app and an ohouse style shop, with the faults
/// real sites have, bound to 127.0.0.1 and started in-process. Everything it serves follows from its options' seed;
/// <see cref="Truth"/> (also <c>GET /__truth</c>) says what a complete crawl finds.
/// </summary>
public sealed partial class DemoSiteServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DemoSiteContent _content;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, byte> _firstRequests = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _requests = new(StringComparer.Ordinal);
    private readonly Lazy<IReadOnlyDictionary<string, byte[]>> _staticImages = new(RenderStaticImages);

    private DemoSiteServer(WebApplication app, DemoSiteContent content, DemoSiteOptions options)
    {
        _app = app;
        _content = content;
        Options = options;
    }

    public DemoSiteOptions Options { get; }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The classic layout's truth (<see cref="TruthFor"/> gives the others).</summary>
    public DemoSiteTruth Truth { get; private set; } = null!;

    /// <summary>What the site contains with the URLs of <paramref name="layout"/>.</summary>
    public DemoSiteTruth TruthFor(DemoLayout layout) => layout == DemoLayout.Classic ? Truth : _content.BuildTruth(BaseUrl, layout);

    /// <summary>
    /// The image bytes a photo's full-size URL ends up serving (after a retried 429/500, or at the redirect's target;
    /// the cut-off JPEG of a truncated one): what a crawl that stored the original, not a thumbnail, has for it.
    /// </summary>
    public byte[] PhotoBytes(string photoId) => _content.FindPhoto(photoId) switch
    {
        { Fault: DemoFault.Truncated } photo => _content.FaultyBytes(photo),
        { } photo => _content.PictureBytes(photo),
        null => throw new KeyNotFoundException($"No photo {photoId} on the demo site."),
    };

    /// <summary>Every path and query requested so far (e.g. "/robots.txt", "/photos/ab12.jpg"), in no order.</summary>
    public IReadOnlyCollection<string> RequestedUrls => [.. _requests.Keys];

    /// <summary>How often a path (with its query, if any) was requested.</summary>
    public int RequestCount(string pathAndQuery) => _requests.GetValueOrDefault(pathAndQuery);

    public Uri Url(string pathAndQuery) => new(BaseUrl, pathAndQuery);

    public static async Task<DemoSiteServer> StartAsync(DemoSiteOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var content = new DemoSiteContent(options);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (loggerFactory is not null)
        {
            builder.Services.AddSingleton(loggerFactory);
        }

        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, options.Port);
            k.Limits.MaxResponseBufferSize = null;
        });
        var app = builder.Build();
        var site = new DemoSiteServer(app, content, options);
        site.MapEndpoints();
        await app.StartAsync(cancellationToken);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        site.BaseUrl = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/");
        site.Truth = content.BuildTruth(site.BaseUrl);
        return site;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private void MapEndpoints()
    {
        var app = _app;
        app.Use(async (context, next) =>
        {
            _requests.AddOrUpdate(context.Request.Path.Value + context.Request.QueryString.Value, 1, (_, n) => n + 1);
            await next(context);
        });

        app.MapGet("/", () => Html(DemoSitePages.Index()));
        app.MapGet("/robots.txt", () => Results.Text(DemoSitePages.Robots(), "text/plain; charset=utf-8"));
        app.MapGet("/__truth", (HttpContext context, string? layout) =>
            Enum.TryParse<DemoLayout>(layout ?? nameof(DemoLayout.Classic), ignoreCase: true, out var l)
                ? TruthJson(context.Request.Query["query"], l)
                : Results.BadRequest($"layout: one of {string.Join(", ", Enum.GetNames<DemoLayout>())}"));

        // Map app.
        app.MapGet("/map", () => Html(DemoSitePages.Map(null)));
        app.MapGet("/map/search/{query}", (string query) => Html(DemoSitePages.Map(query)));
        app.MapGet("/pcmap/list", (string? query) => Html(DemoSitePages.List(query ?? "")));
        app.MapGet("/api/pcmap/list", ListApiAsync);
        app.MapGet("/pcmap/place/{id}/{tab}", (HttpContext context, string id, string tab, string? filter) => PlacePageAsync(context, id, tab, filter, "/pcmap"));
        app.MapGet("/private/place/{id}/{tab}", (HttpContext context, string id, string tab, string? filter) => PlacePageAsync(context, id, tab, filter, "/private"));
        app.MapGet("/api/pcmap/place/{id}/photos", PhotoGridApiAsync);
        app.MapGet("/img/thumb", Thumbnail);
        app.MapGet("/photos/{id}.jpg", FullPhotoAsync);
        app.MapGet("/photos/original/{id}.jpg", (string id) =>
            _content.FindPhoto(id) is { Shop: false } photo ? Image(_content.PictureBytes(photo)) : Results.NotFound());

        // Decoration a crawler must not take for photos.
        app.MapGet("/static/{name}.png", (string name) =>
            _staticImages.Value.TryGetValue(name, out var png) ? Results.Bytes(png, "image/png") : Results.NotFound());
        app.MapGet("/static/icon-{name}.svg", (string name) => Results.Text(DemoSitePages.Svg(name), "image/svg+xml"));
        app.MapGet("/tiles/{z:int}/{x:int}/{y:int}.png", () => Results.Bytes(_staticImages.Value["tile"], "image/png"));

        // Shop.
        app.MapGet("/store", () => Html(DemoSitePages.Store(_content.Shop)));
        app.MapGet("/store/category/{slug}", (string slug, int? page) =>
            _content.Shop.FirstOrDefault(c => c.Slug == slug) is { } category && PageInRange(page, category.Products.Count, DemoSiteContent.ProductsPerPage) is { } p
                ? Html(DemoSitePages.Category(category, p))
                : Results.NotFound());
        app.MapGet("/productions/{id}/selling", (string id, int? review_page) =>
            _content.Products.TryGetValue(id, out var product) && PageInRange(review_page, product.Reviews.Count, DemoSiteContent.ReviewsPerPage) is { } p
                ? Html(DemoSitePages.Product(product, p))
                : Results.NotFound());
        app.MapGet("/cdn/uploads/{id}.jpg", UploadAsync);

        MapPagedLayout(app);
        MapNextLayout(app);
    }

    /// <summary>The Paged layout: button search, numbered pages over XHR, CSS-background gallery with 사진 더보기.</summary>
    private void MapPagedLayout(WebApplication app)
    {
        app.MapGet("/paged/", () => Html(DemoSiteLayouts.PagedSearch()));
        app.MapGet("/paged/api/search", async (HttpContext context, string? q, int? page) =>
        {
            var places = _content.FindQuery(q)?.Places ?? [];
            var pages = (places.Count + DemoSiteContent.PagedResultsPerPage - 1) / DemoSiteContent.PagedResultsPerPage;
            var number = Math.Clamp(page ?? 1, 1, Math.Max(1, pages));
            if (number > 1)
            {
                // Later pages take a moment (a fixed pause after the click would read the old list), some much longer.
                var slow = _content.Faults && _content.Chance("slow-paged", $"{q}|{number}", 0.5);
                await Task.Delay(slow ? Options.SlowDelay : TimeSpan.FromMilliseconds(150), context.RequestAborted);
            }

            var items = places.Skip((number - 1) * DemoSiteContent.PagedResultsPerPage).Take(DemoSiteContent.PagedResultsPerPage)
                .Select(p => new { id = p.Id, name = p.Name, category = p.Category, href = DemoSiteContent.PlaceHref(p, DemoLayout.Paged) });
            return Results.Json(new { page = number, pages, total = places.Count, items });
        });
        app.MapGet("/paged/place/{id}", (string id) => _content.Places.TryGetValue(id, out var place) ? Html(DemoSiteLayouts.PagedPlace(place)) : Results.NotFound());
        app.MapGet("/private/paged/place/{id}", (string id) => _content.Places.TryGetValue(id, out var place) ? Html(DemoSiteLayouts.PagedPlace(place)) : Results.NotFound());
        app.MapGet("/paged/api/place/{id}/photos", async (HttpContext context, string id, int? offset, int? limit) =>
        {
            if (!_content.Places.TryGetValue(id, out var place))
            {
                return Results.NotFound();
            }

            if (place.Fault == DemoFault.PhotoGridHangs)
            {
                await HangAsync(context);
                return Results.Empty;
            }

            var start = Math.Max(0, offset ?? 0);
            var items = place.Photos.Skip(start).Take(Math.Clamp(limit ?? DemoSiteContent.PagedPhotosPerClick, 1, 100))
                .Select(p => new { id = p.Id, type = p.Type, thumb = DemoSiteContent.PhotoPath(p, DemoLayout.Paged) + "?s=240" });
            return Results.Json(new { total = place.Photos.Count, items });
        });
        app.MapGet("/paged/img/{id}", async (HttpContext context, string id, int? s) =>
            _content.FindPhoto(id) is { Shop: false } photo ? await ServePhotoAsync(context, photo, s, 0, crop: false) : Results.NotFound());
    }

    /// <summary>The Next layout: __NEXT_DATA__ and a JSON API behind infinite scroll; reviews over XHR with 리뷰 더보기.</summary>
    private void MapNextLayout(WebApplication app)
    {
        static object Card(DemoSiteContent content, ProductSpec p) =>
            new { id = p.Id, rank = p.Rank, name = p.Name, url = content.ProductHref(p, DemoLayout.Next), reviewCount = p.Reviews.Count };

        object ProductPage(ShopCategorySpec category, int start)
        {
            var products = category.Products.Skip(start).Take(DemoSiteContent.NextProductsPerPage).Select(p => Card(_content, p)).ToList();
            var next = start + DemoSiteContent.NextProductsPerPage;
            return new { category = new { slug = category.Slug, name = category.Name }, products, nextCursor = next < category.Products.Count ? next.ToString(CultureInfo.InvariantCulture) : null };
        }

        app.MapGet("/next/category/{slug}", (string slug) =>
            _content.Shop.FirstOrDefault(c => c.Slug == slug) is { } category ? Html(DemoSiteLayouts.NextCategory(category, ProductPage(category, 0))) : Results.NotFound());
        app.MapGet("/next/api/products", (string? category, int? cursor) =>
            _content.Shop.FirstOrDefault(c => c.Slug == category) is { } c ? Results.Json(ProductPage(c, Math.Max(0, cursor ?? 0))) : Results.NotFound());
        app.MapGet("/next/p/{id}", (string id) => _content.Products.TryGetValue(id, out var product) ? Html(DemoSiteLayouts.NextProduct(product)) : Results.NotFound());
        app.MapGet("/private/next/p/{id}", (string id) => _content.Products.TryGetValue(id, out var product) ? Html(DemoSiteLayouts.NextProduct(product)) : Results.NotFound());
        app.MapGet("/next/api/reviews", (string? product, int? page) =>
        {
            if (product is null || !_content.Products.TryGetValue(product, out var p))
            {
                return Results.NotFound();
            }

            var number = Math.Max(1, page ?? 1);
            var reviews = p.Reviews.Skip((number - 1) * DemoSiteContent.NextReviewsPerPage).Take(DemoSiteContent.NextReviewsPerPage).Select(r => new
            {
                id = r.Id,
                body = r.Text,
                stars = r.Rating,
                images = r.Photos.Select(ph => new { url = DemoSiteContent.PhotoPath(ph, DemoLayout.Next), thumb = DemoSiteContent.PhotoPath(ph, DemoLayout.Next) + "?w=320" }),
            });
            return Results.Json(new { page = number, hasNext = number * DemoSiteContent.NextReviewsPerPage < p.Reviews.Count, total = p.Reviews.Count, reviews });
        });
        app.MapGet("/next/media/{id}.jpg", async (HttpContext context, string id, int? w) =>
            _content.FindPhoto(id) is { Shop: true } photo ? await ServePhotoAsync(context, photo, w, 0, crop: false) : Results.NotFound());
    }

    /// <summary>A photo's full-size URL in any layout: resized when a width is asked for, else the bytes with the photo's faults.</summary>
    private async Task<IResult> ServePhotoAsync(HttpContext context, PhotoSpec photo, int? width, int height, bool crop)
    {
        if (width is > 0)
        {
            return Image(_content.Resized(photo, Math.Clamp(width.Value, 16, 2048), height, crop));
        }

        if (await ServingFaultAsync(context, photo) is { } failure)
        {
            return failure;
        }

        return photo.Fault switch
        {
            DemoFault.Redirect => Results.Redirect($"/photos/original/{photo.Id}.jpg"),
            DemoFault.Broken or DemoFault.Truncated or DemoFault.HtmlAsJpeg or DemoFault.Oversize =>
                Results.Bytes(_content.FaultyBytes(photo), "image/jpeg"),
            _ => Image(_content.PictureBytes(photo)),
        };
    }

    private async Task HangAsync(HttpContext context)
    {
        // Never answers: the client gives up (or the site stops).
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        try
        {
            await Task.Delay(Timeout.Infinite, linked.Token);
        }
        catch (OperationCanceledException)
        {
            // The client left or the site stops.
        }
    }

    private IResult TruthJson(Microsoft.Extensions.Primitives.StringValues queries, DemoLayout layout)
    {
        var truth = TruthFor(layout);
        if (queries.Count > 0)
        {
            var wanted = queries.Where(q => q is not null).Select(q => q!).ToHashSet(StringComparer.Ordinal);
            truth = truth with
            {
                Queries = [.. truth.Queries.Where(q => wanted.Contains(q.Query))],
                Places = [.. truth.Places.Where(p => wanted.Contains(p.Query))],
            };
        }

        return Results.Json(truth, DemoSiteTruth.Json);
    }

    private async Task<IResult> ListApiAsync(HttpContext context, string? query, int? page)
    {
        var found = _content.FindQuery(query);
        var places = found?.Places ?? [];
        var number = Math.Max(1, page ?? 1);
        if (_content.Faults && page > 1 && _content.Chance("slow-list", $"{query}|{number}", 0.15))
        {
            await Task.Delay(Options.SlowDelay, context.RequestAborted);
        }

        var items = places.Skip((number - 1) * DemoSiteContent.ListPageSize).Take(DemoSiteContent.ListPageSize)
            .Select(p => new { id = p.Id, name = p.Name, category = p.Category, address = p.Address, href = DemoSiteContent.PlaceHref(p) })
            .ToList();
        return Results.Json(new
        {
            query = found?.Query ?? query ?? "",
            page = number,
            total = places.Count,
            hasMore = number * DemoSiteContent.ListPageSize < places.Count,
            items,
        });
    }

    private async Task<IResult> PlacePageAsync(HttpContext context, string id, string tab, string? filter, string prefix)
    {
        if (!_content.Places.TryGetValue(id, out var place))
        {
            return Results.NotFound();
        }

        switch (tab)
        {
            case "home":
                return Html(DemoSitePages.PlaceHome(place, prefix));
            case "review":
                return Html(DemoSitePages.PlaceReviews(place, prefix));
            case "photo":
                if (_content.Faults && _content.Chance("slow-photo-tab", id, Options.FaultRate * 3))
                {
                    await Task.Delay(Options.SlowDelay, context.RequestAborted);
                }

                return Html(DemoSitePages.PlacePhotos(place, prefix, NormaliseFilter(filter)));
            default:
                return Results.NotFound();
        }
    }

    private async Task<IResult> PhotoGridApiAsync(HttpContext context, string id, string? filter, int? offset, int? limit)
    {
        if (!_content.Places.TryGetValue(id, out var place))
        {
            return Results.NotFound();
        }

        if (place.Fault == DemoFault.PhotoGridHangs)
        {
            await HangAsync(context);
            return Results.Empty;
        }

        var type = NormaliseFilter(filter);
        var photos = place.Photos.Where(p => type == "all" || p.Type == type).ToList();
        var start = Math.Max(0, offset ?? 0);
        var count = Math.Clamp(limit ?? DemoSiteContent.GridPageSize, 1, 100);
        var items = photos.Skip(start).Take(count)
            .Select(p => new { id = p.Id, type = p.Type, thumb = DemoSiteContent.ThumbUrl(p, 300), thumb2x = DemoSiteContent.ThumbUrl(p, 600) })
            .ToList();
        return Results.Json(new { total = photos.Count, offset = start, items });
    }

    private IResult Thumbnail(string? type, string? src)
    {
        var width = type is not null && ThumbType().Match(type) is { Success: true } m
            ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
            : 300;
        if (src is null || PhotoPathPattern().Match(src) is not { Success: true } path || _content.FindPhoto(path.Groups[1].Value) is not { Shop: false } photo)
        {
            return Results.NotFound();
        }

        return Image(_content.Resized(photo, Math.Clamp(width, 16, 2048), 0, crop: false));
    }

    private async Task<IResult> FullPhotoAsync(HttpContext context, string id) =>
        _content.FindPhoto(id) is { Shop: false } photo ? await ServePhotoAsync(context, photo, null, 0, crop: false) : Results.NotFound();

    private async Task<IResult> UploadAsync(HttpContext context, string id, int? w, int? h, string? c)
    {
        if (_content.FindPhoto(id) is not { Shop: true } photo)
        {
            return Results.NotFound();
        }

        if (w is > 0 || h is > 0)
        {
            return Image(_content.Resized(photo, Math.Clamp(w ?? 0, 0, 2048), Math.Clamp(h ?? 0, 0, 2048), crop: c == "c" && w > 0 && h > 0));
        }

        return await ServingFaultAsync(context, photo) ?? Image(_content.PictureBytes(photo));
    }

    /// <summary>429/500 on the first request of a faulty URL, or a delay for a slow one; null to serve normally.</summary>
    private async Task<IResult?> ServingFaultAsync(HttpContext context, PhotoSpec photo)
    {
        var key = context.Request.Path.Value + context.Request.QueryString.Value;
        switch (photo.Fault)
        {
            case DemoFault.TooManyRequests when _firstRequests.TryAdd(key, 0):
                context.Response.Headers.RetryAfter = "1";
                return Results.StatusCode(StatusCodes.Status429TooManyRequests);
            case DemoFault.ServerError when _firstRequests.TryAdd(key, 0):
                return Results.StatusCode(StatusCodes.Status500InternalServerError);
            case DemoFault.Slow:
                await Task.Delay(Options.SlowDelay, context.RequestAborted);
                return null;
            default:
                return null;
        }
    }

    private static int? PageInRange(int? page, int count, int perPage)
    {
        var p = page ?? 1;
        return p >= 1 && (p == 1 || (p - 1) * perPage < count) ? p : null;
    }

    private static string NormaliseFilter(string? filter) =>
        filter is not null && DemoPhotoType.MapTypes.Contains(filter) ? filter : "all";

    private static IResult Html(string html) => Results.Content(html, "text/html; charset=utf-8");

    private static IResult Image(byte[] bytes) => Results.Bytes(bytes, DemoSiteContent.ContentType(bytes));

    private static Dictionary<string, byte[]> RenderStaticImages()
    {
        static byte[] Png(Mat image) => image.ImEncode(".png");

        using var sprite = new Mat(24, 96, MatType.CV_8UC3, new Scalar(255, 255, 255));
        Scalar[] colours = [new(90, 199, 3), new(195, 104, 0), new(60, 60, 220), new(0, 180, 255)];
        for (var i = 0; i < colours.Length; i++)
        {
            Cv2.Circle(sprite, new Point(12 + (i * 24), 12), 9, colours[i], -1, LineTypes.AntiAlias);
        }

        using var logo = new Mat(48, 160, MatType.CV_8UC3, new Scalar(90, 199, 3));
        Cv2.PutText(logo, "DEMO MAP", new Point(12, 32), HersheyFonts.HersheySimplex, 0.9, new Scalar(255, 255, 255), 2, LineTypes.AntiAlias);

        using var tile = new Mat(256, 256, MatType.CV_8UC3, new Scalar(232, 240, 242));
        Cv2.Line(tile, new Point(0, 90), new Point(256, 130), new Scalar(255, 255, 255), 10);
        Cv2.Line(tile, new Point(120, 0), new Point(150, 256), new Scalar(160, 220, 255), 7);
        Cv2.Rectangle(tile, new Rect(20, 150, 70, 60), new Scalar(200, 230, 200), -1);

        return new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["sprite"] = Png(sprite),
            ["logo"] = Png(logo),
            ["tile"] = Png(tile),
        };
    }

    [GeneratedRegex("^w(\\d{1,4})(_\\w+)?$")]
    private static partial Regex ThumbType();

    [GeneratedRegex("^/photos/([0-9a-f]{16})\\.jpg$")]
    private static partial Regex PhotoPathPattern();
}

/// <summary>Reads <c>GET /__truth</c> for clients that only have the site's URL (e.g. a site in another process).</summary>
public static class DemoSiteTruthClient
{
    /// <summary>The whole truth, or only the given queries' places (the shop is always included).</summary>
    public static async Task<DemoSiteTruth> FetchAsync(HttpClient http, Uri baseUrl, IEnumerable<string>? queries = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(http);
        var filter = string.Join('&', (queries ?? []).Select(q => "query=" + Uri.EscapeDataString(q)));
        var url = new Uri(baseUrl, filter.Length == 0 ? "/__truth" : "/__truth?" + filter);
        await using var stream = await http.GetStreamAsync(url, cancellationToken);
        return await JsonSerializer.DeserializeAsync<DemoSiteTruth>(stream, DemoSiteTruth.Json, cancellationToken)
            ?? throw new InvalidDataException("Empty truth document.");
    }
}
