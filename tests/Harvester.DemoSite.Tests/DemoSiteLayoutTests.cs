using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using OpenCvSharp;

namespace Harvester.DemoSite.Tests;

/// <summary>The Paged and Next layouts serve the same content as the classic pages, on other patterns, and say so in their truth.</summary>
public sealed partial class DemoSiteLayoutTests(DemoSiteHttpFixture fixture) : IClassFixture<DemoSiteHttpFixture>
{
    private const string Query = "망원동 카페";
    private DemoSiteServer Site => fixture.Site;
    private HttpClient Http => fixture.Http;

    [Fact]
    public async Task Each_layout_has_its_own_truth_over_the_same_content()
    {
        var paged = await FetchTruthAsync("paged");
        var next = await FetchTruthAsync("next");
        Assert.Equal(DemoLayout.Paged, paged.Layout);
        Assert.Equal(Site.Truth.Places.Select(p => (p.Id, p.Name, p.Photos.Count)), paged.Places.Select(p => (p.Id, p.Name, p.Photos.Count)));
        Assert.All(paged.Places, p => Assert.Matches(p.Private ? "^/private/paged/place/\\d+$" : "^/paged/place/\\d+$", p.HomeUrl.AbsolutePath));
        Assert.All(paged.Places.SelectMany(p => p.Photos), ph => Assert.Matches("^/paged/img/[0-9a-f]{16}$", ph.Url.AbsolutePath));
        Assert.All(next.ShopCategories.SelectMany(c => c.Products), p => Assert.Matches(p.Private ? "^/private/next/p/\\d+$" : "^/next/p/\\d+$", p.Url.AbsolutePath));
        Assert.Equal(6, next.ShopCategories.Count(c => c.Products.Any(p => p.Private))); // one per category
        Assert.All(next.ShopCategories.SelectMany(c => c.Products).SelectMany(p => p.Reviews).SelectMany(r => r.Photos),
            ph => Assert.Matches("^/next/media/[0-9a-f]{16}\\.jpg$", ph.Url.AbsolutePath));
        Assert.DoesNotContain(Site.Truth.ShopCategories.SelectMany(c => c.Products), p => p.Private); // the classic shop has none
        using var bad = await Http.GetAsync(Site.Url("/__truth?layout=tiles"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public void Some_photo_urls_are_shown_by_two_places_and_by_reviews_of_two_products()
    {
        var byPlace = Site.Truth.Places.SelectMany(p => p.Photos.Select(ph => (ph.Id, Place: p.Id))).GroupBy(x => x.Id).Where(g => g.Count() > 1).ToList();
        Assert.NotEmpty(byPlace);
        Assert.All(byPlace, g => Assert.Equal(2, g.Select(x => x.Place).Distinct().Count()));
        var products = Site.Truth.ShopCategories.SelectMany(c => c.Products);
        Assert.Contains(products.SelectMany(p => p.Reviews.SelectMany(r => r.Photos).Select(ph => (ph.Id, Product: p.Id))).Distinct().GroupBy(x => x.Id), g => g.Count() > 1);
    }

    [Fact]
    public async Task Paged_search_runs_only_from_its_button_and_pages_seven_results_in_truth_order()
    {
        var search = await Http.GetStringAsync(Site.Url("/paged/"));
        Assert.DoesNotContain("<form", search, StringComparison.Ordinal);
        Assert.DoesNotContain("keydown", search, StringComparison.Ordinal);
        Assert.Contains("button.search-btn", "button." + SearchButton().Match(search).Groups[1].Value);

        var truth = Site.TruthFor(DemoLayout.Paged);
        var ids = new List<string>();
        var hrefs = new List<string>();
        var first = await GetJsonAsync($"/paged/api/search?q={Uri.EscapeDataString(Query)}&page=1");
        var pages = first.GetProperty("pages").GetInt32();
        Assert.Equal((truth.Query(Query).PlaceIds.Count + 6) / 7, pages);
        for (var page = 1; page <= pages; page++)
        {
            var json = page == 1 ? first : await GetJsonAsync($"/paged/api/search?q={Uri.EscapeDataString(Query)}&page={page}");
            var items = json.GetProperty("items").EnumerateArray().ToList();
            Assert.InRange(items.Count, 1, 7);
            ids.AddRange(items.Select(i => i.GetProperty("id").GetString()!));
            hrefs.AddRange(items.Select(i => i.GetProperty("href").GetString()!));
        }

        Assert.Equal(truth.Query(Query).PlaceIds, ids);
        Assert.Equal(truth.PlacesOf(Query).Select(p => p.HomeUrl.AbsolutePath), hrefs);
        Assert.Equal(0, (await GetJsonAsync("/paged/api/search?q=nowhere&page=1")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Paged_places_show_css_background_thumbnails_whose_originals_lose_the_size_parameter()
    {
        var place = Site.TruthFor(DemoLayout.Paged).PlacesOf(Query).First(p => p.Fault is null && p.Photos.Count > 6 && p.Photos.All(ph => ph.Fault is null));
        var html = await Http.GetStringAsync(place.HomeUrl);
        Assert.Contains("class=\"more\"", html, StringComparison.Ordinal);
        Assert.Contains("backgroundImage", html, StringComparison.Ordinal);
        var json = await GetJsonAsync($"/paged/api/place/{place.Id}/photos?offset=0&limit=6");
        Assert.Equal(place.Photos.Count, json.GetProperty("total").GetInt32());
        var thumbs = json.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("thumb").GetString()!).ToList();
        Assert.Equal(place.Photos.Take(6).Select(p => p.Url.AbsolutePath + "?s=240"), thumbs);

        var thumb = await Http.GetByteArrayAsync(Site.Url(thumbs[0]));
        var original = await Http.GetByteArrayAsync(place.Photos[0].Url);
        Assert.Equal(Site.PhotoBytes(place.Photos[0].Id), original);
        using var small = Cv2.ImDecode(thumb, ImreadModes.Color);
        using var large = Cv2.ImDecode(original, ImreadModes.Color);
        Assert.Equal(240, small.Width);
        Assert.True(large.Width > small.Width);
    }

    [Fact]
    public async Task Next_categories_embed_their_first_products_and_serve_the_rest_over_a_json_api()
    {
        var category = Site.TruthFor(DemoLayout.Next).ShopCategories[0];
        var html = await Http.GetStringAsync(category.Url);
        var data = JsonDocument.Parse(NextData().Match(html).Groups[1].Value).RootElement.GetProperty("props").GetProperty("pageProps");
        Assert.DoesNotContain("<a ", html.Split("<script", StringSplitOptions.None)[0], StringComparison.Ordinal); // cards are not links
        var urls = data.GetProperty("products").EnumerateArray().Select(p => p.GetProperty("url").GetString()!).ToList();
        var cursor = data.GetProperty("nextCursor").GetString();
        Assert.Equal(5, urls.Count);
        while (cursor is not null)
        {
            var json = await GetJsonAsync($"/next/api/products?category={category.Slug}&cursor={cursor}");
            urls.AddRange(json.GetProperty("products").EnumerateArray().Select(p => p.GetProperty("url").GetString()!));
            cursor = json.GetProperty("nextCursor").GetString();
        }

        Assert.Equal(category.Products.OrderBy(p => p.Rank).Select(p => p.Url.AbsolutePath), urls);
    }

    [Fact]
    public async Task Next_reviews_come_four_at_a_time_over_xhr_with_their_original_photo_urls()
    {
        var product = Site.TruthFor(DemoLayout.Next).ShopCategories[0].Products.First(p => p.Reviews.Count > 4 && !p.Private);
        var html = await Http.GetStringAsync(product.Url);
        Assert.Contains("more-reviews", html, StringComparison.Ordinal);
        Assert.Contains("srcset", html, StringComparison.Ordinal);
        var reviews = new List<JsonElement>();
        for (var page = 1; ; page++)
        {
            var json = await GetJsonAsync($"/next/api/reviews?product={product.Id}&page={page}");
            reviews.AddRange(json.GetProperty("reviews").EnumerateArray());
            Assert.InRange(json.GetProperty("reviews").GetArrayLength(), 0, 4);
            if (!json.GetProperty("hasNext").GetBoolean())
            {
                break;
            }
        }

        Assert.Equal(product.Reviews.Select(r => r.Id), reviews.Select(r => r.GetProperty("id").GetString()));
        Assert.Equal(product.Reviews.SelectMany(r => r.Photos).Select(p => p.Url.AbsolutePath),
            reviews.SelectMany(r => r.GetProperty("images").EnumerateArray()).Select(i => i.GetProperty("url").GetString()));
    }

    [Fact]
    public async Task In_a_browser_enter_does_not_search_the_button_does_and_next_replaces_the_list()
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
        });
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(15_000);
        await page.GotoAsync(Site.Url("/paged/").ToString());
        await page.FillAsync("#q", Query);
        await page.PressAsync("#q", "Enter");
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        Assert.Equal(0, await page.Locator("#results li.result").CountAsync());

        await page.ClickAsync("button.search-btn");
        var items = page.Locator("#results li.result");
        await items.Nth(6).WaitForAsync();
        var truth = Site.TruthFor(DemoLayout.Paged).Query(Query).PlaceIds;
        Assert.Equal(truth.Take(7), await items.EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.id)"));

        await page.ClickAsync("nav.pager button.next");
        await page.WaitForFunctionAsync("first => { const e = document.querySelector('#results li.result'); return e && e.dataset.id !== first; }", truth[0]);
        Assert.Equal(truth.Skip(7).Take(7), await items.EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.id)"));
    }

    private async Task<DemoSiteTruth> FetchTruthAsync(string layout)
    {
        await using var stream = await Http.GetStreamAsync(Site.Url("/__truth?layout=" + layout));
        return (await JsonSerializer.DeserializeAsync<DemoSiteTruth>(stream, DemoSiteTruth.Json))!;
    }

    private async Task<JsonElement> GetJsonAsync(string pathAndQuery)
    {
        var text = await Http.GetStringAsync(Site.Url(pathAndQuery));
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [GeneratedRegex("<button type=\"button\" class=\"(search-btn)\">")]
    private static partial Regex SearchButton();

    [GeneratedRegex("<script id=\"__NEXT_DATA__\" type=\"application/json\">(.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex NextData();
}
