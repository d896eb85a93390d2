using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Harvester.DemoSite;
using OpenCvSharp;

namespace Harvester.DemoSite.Tests;

/// <summary>One demo site for the HTTP-level tests; small enough to start fast, large enough for two list pages.</summary>
public sealed class DemoSiteHttpFixture : IAsyncLifetime
{
    public static DemoSiteOptions Options() => new()
    {
        Seed = 7,
        PlacesPerQuery = 25,
        PhotosPerPlace = 14,
        ProductsPerCategory = 23,
        ReviewsPerProduct = 12,
        OversizeBytes = 26L * 1024 * 1024,
        SlowDelay = TimeSpan.FromMilliseconds(200),
        Neighbourhoods = ["망원동", "연남동", "성수동", "합정동"],
        Categories = ["카페", "베이커리"],
    };

    public DemoSiteServer Site { get; private set; } = null!;

    public HttpClient Http { get; } = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync() => Site = await DemoSiteServer.StartAsync(Options());

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Site.DisposeAsync();
    }
}

public sealed partial class DemoSiteTests(DemoSiteHttpFixture fixture) : IClassFixture<DemoSiteHttpFixture>
{
    private const string Query = "망원동 카페";
    private DemoSiteServer Site => fixture.Site;
    private HttpClient Http => fixture.Http;

    [Fact]
    public async Task Served_truth_matches_the_in_process_truth_and_covers_every_query()
    {
        var served = await DemoSiteTruthClient.FetchAsync(Http, Site.BaseUrl);

        Assert.Equal(8, served.Queries.Count);
        Assert.Equal(Site.Truth.Places.Select(p => p.Id), served.Places.Select(p => p.Id));
        Assert.Equal(
            Site.Truth.Places.SelectMany(p => p.Photos).Select(p => (p.Id, p.Url, p.CorpusLabel, p.Fault)),
            served.Places.SelectMany(p => p.Photos).Select(p => (p.Id, p.Url, p.CorpusLabel, p.Fault)));
        Assert.Equal(6, served.ShopCategories.Count);
        Assert.All(served.Places, p => Assert.StartsWith(Site.BaseUrl.ToString(), p.HomeUrl.ToString(), StringComparison.Ordinal));

        var one = await DemoSiteTruthClient.FetchAsync(Http, Site.BaseUrl, [Query]);
        Assert.Equal([Query], one.Queries.Select(q => q.Query));
        Assert.Equal(25, one.Places.Count);
    }

    [Fact]
    public async Task List_api_pages_ten_places_at_a_time_in_truth_order_until_the_cap()
    {
        var ids = new List<string>();
        var pages = 0;
        for (var page = 1; ; page++)
        {
            var json = await GetJsonAsync($"/api/pcmap/list?query={Uri.EscapeDataString(Query)}&page={page}");
            pages++;
            Assert.Equal(25, json.GetProperty("total").GetInt32());
            ids.AddRange(json.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()!));
            if (!json.GetProperty("hasMore").GetBoolean())
            {
                break;
            }
        }

        Assert.Equal(3, pages);
        Assert.Equal(Site.Truth.Query(Query).PlaceIds, ids);

        var html = await Http.GetStringAsync(Site.Url("/pcmap/list?query=" + Uri.EscapeDataString(Query)));
        Assert.Contains("id=\"list-scroll\"", html, StringComparison.Ordinal);
        Assert.Contains("overflow:auto;height:600px", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("부산동 카페")]
    [InlineData("망원동 노래방")]
    [InlineData("")]
    public async Task Unknown_queries_have_no_results(string query)
    {
        var json = await GetJsonAsync("/api/pcmap/list?query=" + Uri.EscapeDataString(query) + "&page=1");

        Assert.Equal(0, json.GetProperty("total").GetInt32());
        Assert.Empty(json.GetProperty("items").EnumerateArray());
        Assert.False(json.GetProperty("hasMore").GetBoolean());
    }

    [Fact]
    public async Task Map_pages_have_the_structure_the_adapter_expects()
    {
        var map = await Http.GetStringAsync(Site.Url("/map/search/" + Uri.EscapeDataString(Query)));
        Assert.Contains("id=\"search-input\"", map, StringComparison.Ordinal);
        Assert.Contains("id=\"search-button\"", map, StringComparison.Ordinal);
        Assert.Contains("id=\"searchIframe\" name=\"searchIframe\"", map, StringComparison.Ordinal);
        Assert.Contains("id=\"entryIframe\" name=\"entryIframe\"", map, StringComparison.Ordinal);

        var place = Site.Truth.PlacesOf(Query).First();
        var home = await Http.GetStringAsync(Site.Url($"/pcmap/place/{place.Id}/home"));
        Assert.Contains($"<h1 class=\"place-name\">{place.Name}</h1>", home, StringComparison.Ordinal);
        Assert.Contains($"<span class=\"place-category\">{place.Category}</span>", home, StringComparison.Ordinal);
        Assert.Contains($"<span class=\"place-address\">{place.Address}</span>", home, StringComparison.Ordinal);
        Assert.Contains("id=\"place-meta\"", home, StringComparison.Ordinal);
        Assert.Contains($"<a role=\"tab\" class=\"tab\" href=\"/pcmap/place/{place.Id}/photo\"", home, StringComparison.Ordinal);

        var photoTab = await Http.GetStringAsync(Site.Url($"/pcmap/place/{place.Id}/photo"));
        foreach (var filter in new[] { "all", "interior", "exterior", "menu", "food" })
        {
            Assert.Contains($"class=\"photo-chip\" role=\"button\" data-filter=\"{filter}\"", photoTab, StringComparison.Ordinal);
        }

        Assert.Contains("id=\"photo-grid\"", photoTab, StringComparison.Ordinal);
        foreach (var decoration in new[] { "/static/sprite.png", "/static/icon-camera.svg", "/tiles/12/3494/1582.png" })
        {
            Assert.Contains(decoration, photoTab, StringComparison.Ordinal);
            using var response = await Http.GetAsync(Site.Url(decoration));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("image/", response.Content.Headers.ContentType!.MediaType, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Photo_grid_api_lists_each_places_photos_with_thumbnails_whose_src_is_the_full_url()
    {
        foreach (var place in Site.Truth.PlacesOf(Query).Where(p => p.Fault is null))
        {
            var listed = new List<(string Id, string Type, string Thumb)>();
            for (var offset = 0; ; offset += 12)
            {
                var json = await GetJsonAsync($"/api/pcmap/place/{place.Id}/photos?filter=all&offset={offset}&limit=12");
                Assert.Equal(place.Photos.Count, json.GetProperty("total").GetInt32());
                var items = json.GetProperty("items").EnumerateArray().ToList();
                listed.AddRange(items.Select(i => (i.GetProperty("id").GetString()!, i.GetProperty("type").GetString()!, i.GetProperty("thumb").GetString()!)));
                if (items.Count < 12)
                {
                    break;
                }
            }

            Assert.Equal(place.Photos.Select(p => p.Id), listed.Select(l => l.Id));
            foreach (var (photo, item) in place.Photos.Zip(listed))
            {
                Assert.Equal(photo.Type, item.Type);
                var src = Uri.UnescapeDataString(ThumbSrc().Match(item.Thumb).Groups[1].Value);
                Assert.Equal(photo.Url, Site.Url(src));
            }

            foreach (var type in DemoPhotoType.MapTypes)
            {
                var json = await GetJsonAsync($"/api/pcmap/place/{place.Id}/photos?filter={type}&offset=0&limit=100");
                Assert.Equal(place.Photos.Count(p => p.Type == type), json.GetProperty("total").GetInt32());
                Assert.All(json.GetProperty("items").EnumerateArray(), i => Assert.Equal(type, i.GetProperty("type").GetString()));
            }
        }
    }

    [Fact]
    public async Task Thumbnails_are_small_jpegs_and_full_photos_are_real_jpegs_at_most_1024_px()
    {
        var photo = Site.Truth.PlacesOf(Query).First().Photos.First(p => p.Fault is null);
        var thumb = await Http.GetByteArrayAsync(Site.Url("/img/thumb?type=w300_sharpen&src=" + Uri.EscapeDataString(photo.Url.AbsolutePath)));
        var full = await Http.GetByteArrayAsync(photo.Url);

        using var t = Cv2.ImDecode(thumb, ImreadModes.Color);
        using var f = Cv2.ImDecode(full, ImreadModes.Color);
        Assert.True(t.Width <= 300 && t.Width > 0);
        Assert.True(f.Width >= t.Width && Math.Max(f.Width, f.Height) <= 1024);
        Assert.Equal(0xFF, full[0]);
        Assert.Equal(0xD8, full[1]);
    }

    [Fact]
    public async Task Every_healthy_photo_of_a_query_serves_a_decodable_image_with_its_content_type()
    {
        var photos = Site.Truth.PlacesOf(Query).Where(p => !p.Private).SelectMany(p => p.Photos).Where(p => p.Fault is null).ToList();
        Assert.Contains(photos, p => p.Type == DemoPhotoType.Menu);
        foreach (var photo in photos)
        {
            using var response = await Http.GetAsync(photo.Url);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            using var decoded = Cv2.ImDecode(bytes, ImreadModes.Color);
            Assert.False(decoded.Empty(), photo.Id);
            var expectedType = photo.Variant switch
            {
                nameof(Corpus.VariantKind.Png) => "image/png",
                nameof(Corpus.VariantKind.WebP) => "image/webp",
                _ => "image/jpeg",
            };
            Assert.Equal(expectedType, response.Content.Headers.ContentType!.MediaType);
        }
    }

    [Fact]
    public async Task Faulty_photo_urls_answer_429_with_retry_after_or_500_once_then_succeed()
    {
        var photos = Site.Truth.Places.SelectMany(p => p.Photos).ToList();
        var tooMany = photos.First(p => p.Fault == DemoFault.TooManyRequests);
        var error = photos.First(p => p.Fault == DemoFault.ServerError);
        var rate = photos.Count(p => p.Fault is DemoFault.TooManyRequests or DemoFault.ServerError) / (double)photos.Count;
        Assert.InRange(rate, 0.01, 0.06);

        using (var first = await Http.GetAsync(tooMany.Url))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, first.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), first.Headers.RetryAfter?.Delta);
        }

        using (var second = await Http.GetAsync(tooMany.Url))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        using (var first = await Http.GetAsync(error.Url))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, first.StatusCode);
        }

        using (var second = await Http.GetAsync(error.Url))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }
    }

    [Fact]
    public async Task Second_place_of_each_query_serves_redirect_broken_truncated_html_and_oversized_photos()
    {
        var place = Site.Truth.PlacesOf(Query).ElementAt(1);
        var byFault = place.Photos.Where(p => p.Fault is not null).ToDictionary(p => p.Fault!);

        using (var redirect = await Http.GetAsync(byFault[DemoFault.Redirect].Url))
        {
            Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
            var target = new Uri(Site.BaseUrl, redirect.Headers.Location!);
            var bytes = await Http.GetByteArrayAsync(target);
            using var decoded = Cv2.ImDecode(bytes, ImreadModes.Color);
            Assert.False(decoded.Empty());
        }

        using (var broken = await Http.GetAsync(byFault[DemoFault.Broken].Url))
        {
            Assert.Equal("image/jpeg", broken.Content.Headers.ContentType!.MediaType);
            var bytes = await broken.Content.ReadAsByteArrayAsync();
            Assert.False(bytes is [0xFF, 0xD8, ..]);
        }

        var truncatedPhoto = byFault[DemoFault.Truncated];
        var truncated = await Http.GetByteArrayAsync(truncatedPhoto.Url);
        var whole = await Http.GetByteArrayAsync(Site.Url($"/photos/original/{truncatedPhoto.Id}.jpg"));
        Assert.Equal((int)(whole.Length * 0.6), truncated.Length);
        Assert.Equal(whole[..truncated.Length], truncated);

        using (var html = await Http.GetAsync(byFault[DemoFault.HtmlAsJpeg].Url))
        {
            Assert.Equal("image/jpeg", html.Content.Headers.ContentType!.MediaType);
            Assert.StartsWith("<!doctype html>", await html.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var oversize = await Http.GetAsync(byFault[DemoFault.Oversize].Url, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal("image/jpeg", oversize.Content.Headers.ContentType!.MediaType);
            Assert.True(oversize.Content.Headers.ContentLength > 25L * 1024 * 1024);
            await using var stream = await oversize.Content.ReadAsStreamAsync();
            var head = new byte[2];
            await stream.ReadExactlyAsync(head);
            Assert.Equal([0xFF, 0xD8], head);
        }
    }

    [Fact]
    public async Task Place_without_photos_has_an_empty_grid_and_the_hanging_place_never_answers()
    {
        var places = Site.Truth.PlacesOf(Query).ToList();
        var empty = places[2];
        Assert.Empty(empty.Photos);
        var json = await GetJsonAsync($"/api/pcmap/place/{empty.Id}/photos?filter=all&offset=0&limit=12");
        Assert.Equal(0, json.GetProperty("total").GetInt32());

        var hanging = places[3];
        Assert.Equal(DemoFault.PhotoGridHangs, hanging.Fault);
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Http.GetAsync(Site.Url($"/api/pcmap/place/{hanging.Id}/photos?filter=all&offset=0&limit=12"), giveUp.Token));
    }

    [Fact]
    public async Task Robots_txt_disallows_private_and_some_queries_link_a_private_place()
    {
        var robots = await Http.GetStringAsync(Site.Url("/robots.txt"));
        Assert.Contains("User-agent: *", robots, StringComparison.Ordinal);
        Assert.Contains("Disallow: /private/", robots, StringComparison.Ordinal);

        var privatePlace = Assert.Single(Site.Truth.PlacesOf(Query), p => p.Private);
        Assert.Equal("/private/place/" + privatePlace.Id + "/home", privatePlace.HomeUrl.AbsolutePath);
        var json = await GetJsonAsync($"/api/pcmap/list?query={Uri.EscapeDataString(Query)}&page=1");
        var item = json.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("id").GetString() == privatePlace.Id);
        Assert.StartsWith("/private/", item.GetProperty("href").GetString(), StringComparison.Ordinal);
        Assert.Contains(Site.Truth.Queries, q => Site.Truth.PlacesOf(q.Query).All(p => !p.Private));
    }

    [Fact]
    public async Task Duplicates_are_verbatim_or_derived_copies_of_another_places_photo()
    {
        var photos = Site.Truth.Places.SelectMany(p => p.Photos).DistinctBy(p => p.Id).ToDictionary(p => p.Id);
        var verbatim = photos.Values.Where(p => p.DuplicateOf is not null && p.Variant is null).Take(3).ToList();
        var variants = photos.Values.Where(p => p.Variant is not null).Take(4).ToList();
        Assert.NotEmpty(verbatim);
        Assert.NotEmpty(variants);

        foreach (var copy in verbatim)
        {
            var original = photos[copy.DuplicateOf!];
            Assert.NotEqual(original.Id, copy.Id);
            Assert.Equal(original.CorpusLabel, copy.CorpusLabel);
            Assert.Equal(await OriginalBytesAsync(original), await OriginalBytesAsync(copy));
        }

        foreach (var copy in variants)
        {
            var original = await OriginalBytesAsync(photos[copy.DuplicateOf!]);
            var bytes = await OriginalBytesAsync(copy);
            Assert.NotEqual(original, bytes);
            using var decoded = Cv2.ImDecode(bytes, ImreadModes.Color);
            Assert.False(decoded.Empty());
        }
    }

    [Fact]
    public async Task Shop_ranks_products_20_per_page_and_pages_reviews_5_at_a_time_with_their_photos()
    {
        var store = await Http.GetStringAsync(Site.Url("/store"));
        Assert.Equal(6, CategoryLink().Matches(store).Count);

        var category = Site.Truth.ShopCategories[0];
        var page1 = await Http.GetStringAsync(Site.Url($"/store/category/{category.Slug}?order=popular"));
        var page2 = await Http.GetStringAsync(Site.Url($"/store/category/{category.Slug}?order=popular&page=2"));
        Assert.Contains("class=\"next-page\" href=\"?order=popular&amp;page=2\"", page1, StringComparison.Ordinal);
        Assert.DoesNotContain("class=\"next-page\"", page2, StringComparison.Ordinal);
        var ranked = ProductItem().Matches(page1 + page2).Select(m => (m.Groups[1].Value, int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(category.Products.Select(p => (p.Id, p.Rank)), ranked);
        Assert.Equal(Enumerable.Range(1, 23), ranked.Select(r => r.Item2));

        var product = category.Products.First(p => p.Reviews.Any(r => r.Photos.Count == 2) && p.Reviews.Any(r => r.Photos.Count == 0));
        var reviewIds = new List<string>();
        var photoSrcs = new List<string>();
        for (var page = 1; ; page++)
        {
            var html = await Http.GetStringAsync(Site.Url($"/productions/{product.Id}/selling?review_page={page}"));
            Assert.Contains($"<h1 class=\"product-name\">", html, StringComparison.Ordinal);
            var ids = ReviewItem().Matches(html).Select(m => m.Groups[1].Value).ToList();
            Assert.InRange(ids.Count, 1, 5);
            reviewIds.AddRange(ids);
            photoSrcs.AddRange(ReviewPhoto().Matches(html).Select(m => m.Groups[1].Value));
            if (!html.Contains("class=\"review-next\"", StringComparison.Ordinal))
            {
                break;
            }
        }

        Assert.Equal(product.Reviews.Select(r => r.Id), reviewIds);
        var expected = product.Reviews.SelectMany(r => r.Photos).ToList();
        Assert.Equal(expected.Select(p => p.Url.AbsolutePath), photoSrcs.Select(s => s.Split('?')[0]));

        var thumb = await Http.GetByteArrayAsync(Site.Url(photoSrcs[0].Replace("&amp;", "&", StringComparison.Ordinal)));
        using (var decoded = Cv2.ImDecode(thumb, ImreadModes.Color))
        {
            Assert.Equal(new Size(360, 360), decoded.Size());
        }

        var healthy = expected.First(p => p.Fault is null);
        using var full = Cv2.ImDecode(await Http.GetByteArrayAsync(healthy.Url), ImreadModes.Color);
        Assert.False(full.Empty());
    }

    [Fact]
    public async Task Same_seed_gives_the_same_site_and_another_seed_a_different_one()
    {
        await using var again = await DemoSiteServer.StartAsync(DemoSiteHttpFixture.Options());
        var otherOptions = DemoSiteHttpFixture.Options();
        otherOptions.Seed = 8;
        await using var other = await DemoSiteServer.StartAsync(otherOptions);

        Assert.NotEqual(Site.BaseUrl, again.BaseUrl);
        Assert.Equal(Site.Truth.Places.Select(p => (p.Id, p.Name)), again.Truth.Places.Select(p => (p.Id, p.Name)));
        Assert.Equal(
            Site.Truth.Places.SelectMany(p => p.Photos).Select(p => (p.Id, p.Type, p.CorpusLabel, p.Fault, p.DuplicateOf)),
            again.Truth.Places.SelectMany(p => p.Photos).Select(p => (p.Id, p.Type, p.CorpusLabel, p.Fault, p.DuplicateOf)));
        Assert.NotEqual(Site.Truth.Places.Select(p => p.Id), other.Truth.Places.Select(p => p.Id));

        var photo = Site.Truth.PlacesOf(Query).First().Photos.First(p => p.Fault is null);
        var same = again.Truth.Place(Site.Truth.PlacesOf(Query).First().Id).Photos.First(p => p.Id == photo.Id);
        Assert.Equal(await Http.GetByteArrayAsync(photo.Url), await Http.GetByteArrayAsync(same.Url));
    }

    private async Task<byte[]> OriginalBytesAsync(DemoPhotoTruth photo) =>
        await Http.GetByteArrayAsync(Site.Url($"/photos/original/{photo.Id}.jpg"));

    private async Task<JsonElement> GetJsonAsync(string pathAndQuery)
    {
        var text = await Http.GetStringAsync(Site.Url(pathAndQuery));
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [GeneratedRegex("[?&]src=([^&]+)")]
    private static partial Regex ThumbSrc();

    [GeneratedRegex("<a class=\"category-link\" href=\"/store/category/[a-z]+\">")]
    private static partial Regex CategoryLink();

    [GeneratedRegex("<article class=\"product-item\" data-product-id=\"(\\d+)\"\\s+data-rank=\"(\\d+)\">")]
    private static partial Regex ProductItem();

    [GeneratedRegex("<div class=\"review-item\" data-review-id=\"(\\d+)\">")]
    private static partial Regex ReviewItem();

    [GeneratedRegex("<img class=\"review-photo\" src=\"([^\"]+)\"")]
    private static partial Regex ReviewPhoto();
}
