using Harvester.DemoSite;
using Microsoft.Playwright;

namespace Harvester.DemoSite.Tests;

/// <summary>The demo site in real Chromium: JS-rendered list in a named iframe, infinite scroll, place in the second iframe, lazy grid.</summary>
public sealed class DemoSiteBrowserTests
{
    private const string Query = "망원동 카페";

    [Fact]
    public async Task Search_list_loads_in_the_iframe_scrolls_for_more_and_a_place_opens_with_a_lazy_photo_grid()
    {
        await using var site = await DemoSiteServer.StartAsync(new DemoSiteOptions
        {
            Seed = 3,
            Neighbourhoods = ["망원동"],
            Categories = ["카페"],
            PlacesPerQuery = 25,
            PhotosPerPlace = 30,
            ProductsPerCategory = 1,
            ReviewsPerProduct = 1,
            Faults = false,
        });
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
        });
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(15_000);

        await page.GotoAsync(site.Url("/map/search/" + Uri.EscapeDataString(Query)).ToString());
        var list = page.FrameLocator("#searchIframe");
        var items = list.Locator("li.place-item");
        await items.Nth(9).WaitForAsync();
        Assert.Equal(10, await items.CountAsync());

        // Infinite scroll: scrolling the container to the bottom loads the next pages until the list ends.
        var scroller = list.Locator("#list-scroll");
        for (var round = 0; round < 5 && await list.Locator(".list-end").CountAsync() == 0; round++)
        {
            await scroller.EvaluateAsync("el => el.scrollTop = el.scrollHeight");
            await page.WaitForTimeoutAsync(300);
        }

        await list.Locator(".list-end").WaitForAsync();
        var ids = await items.EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.placeId)");
        Assert.Equal(site.Truth.Query(Query).PlaceIds, ids);

        // A place link targets the second iframe; its id is in the URL path.
        var place = site.Truth.PlacesOf(Query).First(p => p.Photos.Count == 30);
        await list.Locator($"li.place-item[data-place-id='{place.Id}'] a.place-link").ClickAsync();
        var entry = page.FrameLocator("#entryIframe");
        await entry.Locator("h1.place-name").WaitForAsync();
        Assert.Equal(place.Name, await entry.Locator("h1.place-name").TextContentAsync());
        var entryFrame = page.Frame("entryIframe")!;
        Assert.Contains($"/pcmap/place/{place.Id}/home", entryFrame.Url, StringComparison.Ordinal);

        // Photo tab: the grid fills by pages of 12; only visible thumbnails get their real src.
        await entry.Locator("a.tab[href$='/photo']").ClickAsync();
        var thumbs = entry.Locator(".photo-item img.photo-thumb");
        await thumbs.Nth(11).WaitForAsync();
        await page.WaitForTimeoutAsync(500);
        var loaded = await thumbs.EvaluateAllAsync<int>("els => els.filter(e => e.src.includes('/img/thumb')).length");
        var total = await thumbs.CountAsync();
        Assert.InRange(loaded, 1, total);
        var firstSrc = await thumbs.First.GetAttributeAsync("data-src");
        Assert.Contains(Uri.EscapeDataString(place.Photos[0].Url.AbsolutePath), firstSrc, StringComparison.Ordinal);

        // A type chip filters the grid in place.
        await entry.Locator("a.photo-chip[data-filter='interior']").ClickAsync();
        var expectedInterior = place.Photos.Count(p => p.Type == DemoPhotoType.Interior);
        await entryFrame.WaitForFunctionAsync(
            "n => { const items = [...document.querySelectorAll('.photo-item')]; return items.length >= Math.min(n, 12) && items.every(i => i.dataset.photoType === 'interior'); }",
            expectedInterior);
    }
}
