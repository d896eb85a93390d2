using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Harvester.Core;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace Harvester.Crawl;

/// <summary>A page-level failure worth recording on the frontier item; Permanent ones are not retried.</summary>
public sealed class CrawlPageException(string message, bool permanent) : Exception(message)
{
    public bool Permanent { get; } = permanent;
}

/// <summary>A found link to a place or product, and the photos a page showed.</summary>
public sealed record FoundLink(string Url, string? ExternalId, int? Rank);

public sealed record FoundPhoto(Uri Url, string? PhotoType, string? ReviewId);

/// <summary>
/// The declarative adapter: drives a page through a site's structure using only the selectors of a
/// <see cref="SiteDefinition"/>. Map and shop sites are two flows of this one engine.
/// </summary>
public sealed class SiteEngine(IOptions<CrawlerOptions> options)
{
    private CrawlerOptions O => options.Value;

    // ---------------- map: search results ----------------

    public async Task<(IReadOnlyList<FoundLink> Places, bool NoResults)> SearchAsync(IPage page, string siteName, SiteDefinition site, Uri baseUrl, string query, int cap, CancellationToken ct)
    {
        if (!string.IsNullOrEmpty(site.SearchUrl))
        {
            await GotoAsync(page, Expand(site.SearchUrl, baseUrl, query: query), ct);
        }
        else
        {
            await GotoAsync(page, Expand(Require(site.SearchPageUrl, nameof(site.SearchPageUrl), siteName), baseUrl), ct);
            var input = page.Locator(Require(site.SearchInput, nameof(site.SearchInput), siteName)).First;
            await WaitOrThrowAsync(input, siteName, nameof(site.SearchInput), site.SearchInput, page.Url);
            await input.FillAsync(query);
            await input.PressAsync("Enter");
        }

        var scope = Scope(page, site.ResultsFrame);
        var items = scope.Locator(Require(site.ResultItem, nameof(site.ResultItem), siteName));
        var waitFor = string.IsNullOrEmpty(site.NoResults) ? site.ResultItem : $"{site.ResultItem}, {site.NoResults}";
        await WaitOrThrowAsync(scope.Locator(waitFor).First, siteName, nameof(site.ResultItem), waitFor, page.Url);
        if (!string.IsNullOrEmpty(site.NoResults) && await scope.Locator(site.NoResults).CountAsync() > 0 && await items.CountAsync() == 0)
        {
            return ([], true);
        }

        var links = await ScrollCollectAsync(
            async () => await ReadLinksAsync(items, site.ResultLink, site.ResultIdAttribute, null),
            l => l.Url,
            cap,
            site.ResultsEnd.Length > 0 ? scope.Locator(site.ResultsEnd) : null,
            site.ResultsNextPage.Length > 0 ? scope.Locator(site.ResultsNextPage) : null,
            site.ResultsScrollContainer.Length > 0 ? scope.Locator(site.ResultsScrollContainer).First : null,
            page,
            ct);

        var placeIdPattern = site.PlaceIdPattern.Length > 0 ? new Regex(site.PlaceIdPattern, RegexOptions.CultureInvariant, PhotoUrls.PatternTimeout) : null;
        return (links.Take(cap).Select(l =>
        {
            var id = l.ExternalId ?? (placeIdPattern?.Match(l.Url) is { Success: true } m ? m.Groups["id"].Value : null);
            var url = site.PlaceUrlTemplate.Length > 0 && id is not null ? Expand(site.PlaceUrlTemplate, baseUrl, id: id).AbsoluteUri : l.Url;
            return l with { Url = url, ExternalId = id };
        }).Where(l => Uri.TryCreate(l.Url, UriKind.Absolute, out _)).ToList(), false);
    }

    // ---------------- map: place page and its photos ----------------

    /// <summary>Opens a place page and reads what it says about the place.</summary>
    public async Task<PlaceInfo> OpenPlaceAsync(IPage page, string siteName, SiteDefinition site, Uri url, FrontierContext context, CancellationToken ct)
    {
        await GotoAsync(page, url, ct);
        var pageUrl = new Uri(page.Url);
        var id = MatchId(site.PlaceIdPattern, page.Url) ?? MatchId(site.PlaceIdPattern, url.ToString())
            ?? throw new CrawlPageException($"adapter {siteName}: PlaceIdPattern '{site.PlaceIdPattern}' found no place id in {page.Url}", true);
        var f = await ReadManyAsync(page, site.PlaceName, site.PlaceCategory, site.PlaceAddress, site.PlaceLatitude, site.PlaceLongitude);
        return new PlaceInfo(
            id, f[0]?.Trim() ?? "", f[1]?.Trim() ?? context.Category, context.Neighbourhood, context.Query, f[2]?.Trim(),
            ParseDouble(f[3]), ParseDouble(f[4]), pageUrl.AbsoluteUri);
    }

    /// <summary>From an open place page: the photo tab, the type filter, then the lazy grid until the cap.</summary>
    public async Task<(IReadOnlyList<FoundPhoto> Photos, string? Note)> PlacePhotosAsync(
        IPage page, string siteName, SiteDefinition site, FrontierContext context, int cap, CancellationToken ct)
    {
        if (site.PhotoTab.Length > 0)
        {
            var tab = page.Locator(site.PhotoTab).First;
            await WaitOrThrowAsync(tab, siteName, nameof(site.PhotoTab), site.PhotoTab, page.Url);
            var href = await tab.GetAttributeAsync("href");
            if (href is not null && Uri.TryCreate(new Uri(page.Url), href, out var tabUrl) && tabUrl.Scheme.StartsWith("http", StringComparison.Ordinal))
            {
                await GotoAsync(page, tabUrl, ct);
            }
            else
            {
                await tab.ClickAsync();
            }
        }

        if (!string.IsNullOrEmpty(context.PhotoType) && site.PhotoTypeChip.Length > 0)
        {
            var value = site.PhotoTypeValues.TryGetValue(context.PhotoType, out var mapped) ? mapped : context.PhotoType;
            var chip = page.Locator(site.PhotoTypeChip.Replace("{type}", value, StringComparison.Ordinal)).First;
            try
            {
                await chip.WaitForAsync(new LocatorWaitForOptions { Timeout = (float)O.ScrollIdleTimeout.TotalMilliseconds });
            }
            catch (TimeoutException)
            {
                return ([], $"no '{context.PhotoType}' filter on this place's photo page");
            }

            var href = await chip.GetAttributeAsync("href");
            if (href is not null && !href.StartsWith('#') && !href.StartsWith("javascript", StringComparison.OrdinalIgnoreCase) && Uri.TryCreate(new Uri(page.Url), href, out var chipUrl))
            {
                await GotoAsync(page, chipUrl, ct);
            }
            else
            {
                await chip.ClickAsync();
                try
                {
                    await page.WaitForLoadStateAsync(LoadState.NetworkIdle, new PageWaitForLoadStateOptions { Timeout = (float)O.ScrollIdleTimeout.TotalMilliseconds });
                }
                catch (TimeoutException)
                {
                    // A page that keeps polling never goes idle; the grid read below waits for items itself.
                }
            }
        }

        var photoPage = new Uri(page.Url);
        var photos = page.Locator(Require(site.PhotoItem, nameof(site.PhotoItem), siteName));
        // The grid fills in after the page loads: wait for its first photo (or the empty marker), not a fixed delay.
        try
        {
            var first = site.PhotoEmpty.Length > 0 ? page.Locator($"{site.PhotoItem}, {site.PhotoEmpty}").First : photos.First;
            await first.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = (float)O.ScrollIdleTimeout.TotalMilliseconds });
        }
        catch (TimeoutException)
        {
            // Nothing yet: the scroll below may still load photos, and reports the grid if it never does.
        }

        var found = await ScrollCollectAsync(
            async () => await ReadPhotosAsync(photos, site, photoPage, null),
            p => p.Url.AbsoluteUri,
            cap,
            site.PhotoEmpty.Length > 0 ? page.Locator(site.PhotoEmpty) : null,
            null,
            site.PhotoScrollContainer.Length > 0 ? page.Locator(site.PhotoScrollContainer).First : null,
            page,
            ct);
        if (found.Count == 0)
        {
            if (site.PhotoEmpty.Length > 0 && await page.Locator(site.PhotoEmpty).CountAsync() > 0)
            {
                return ([], "the place has no photos");
            }

            throw new CrawlPageException(
                $"adapter {siteName}: selector PhotoItem ('{site.PhotoItem}') matched nothing on {page.Url} within {O.ScrollIdleTimeout.TotalSeconds:0.#}s (the photo grid did not load, or the selector is out of date)",
                false);
        }

        return (found.Take(cap).ToList(), null);
    }

    // ---------------- shop: category → ranked products ----------------

    public async Task<IReadOnlyList<FoundLink>> CategoryAsync(IPage page, string siteName, SiteDefinition site, Uri baseUrl, string category, int cap, CancellationToken ct)
    {
        var url = Expand(Require(site.CategoryUrl, nameof(site.CategoryUrl), siteName), baseUrl, category: category);
        await GotoAsync(page, url, ct);
        var all = new List<FoundLink>();
        for (var pageNo = 0; pageNo < 200 && all.Count < cap; pageNo++)
        {
            var items = page.Locator(Require(site.ProductItem, nameof(site.ProductItem), siteName));
            if (pageNo == 0)
            {
                await WaitOrThrowAsync(items.First, siteName, nameof(site.ProductItem), site.ProductItem, page.Url);
            }

            var links = await ReadLinksAsync(items, site.ProductLink, site.ProductIdAttribute, site.ProductRankAttribute);
            all.AddRange(links.Where(l => all.All(a => a.Url != l.Url)));
            if (all.Count >= cap || site.ProductsNextPage.Length == 0 || !await NextPageAsync(page, page.Locator(site.ProductsNextPage).First, ct))
            {
                break;
            }
        }

        var pattern = site.ProductIdPattern;
        return all.OrderBy(l => l.Rank ?? int.MaxValue).Take(cap)
            .Select(l => l with { ExternalId = l.ExternalId ?? MatchId(pattern, l.Url) }).ToList();
    }

    // ---------------- shop: product → reviews → photos ----------------

    public async Task<(ProductInfo Product, IReadOnlyList<ReviewInfo> Reviews, IReadOnlyList<FoundPhoto> Photos)> ProductAsync(
        IPage page, string siteName, SiteDefinition site, Uri url, FrontierContext context, int reviewCap, CancellationToken ct)
    {
        await GotoAsync(page, url, ct);
        var id = MatchId(site.ProductIdPattern, page.Url) ?? MatchId(site.ProductIdPattern, url.ToString())
            ?? throw new CrawlPageException($"adapter {siteName}: ProductIdPattern '{site.ProductIdPattern}' found no product id in {page.Url}", true);
        var product = new ProductInfo(id, (await ReadAsync(page, site.ProductName))?.Trim() ?? "", context.Category, context.Rank, page.Url);
        var reviews = new List<ReviewInfo>();
        var photos = new List<FoundPhoto>();
        for (var pageNo = 0; pageNo < 500 && reviews.Count < reviewCap; pageNo++)
        {
            var items = page.Locator(Require(site.ReviewItem, nameof(site.ReviewItem), siteName));
            var count = await items.CountAsync();
            for (var i = 0; i < count && reviews.Count < reviewCap; i++)
            {
                var item = items.Nth(i);
                var rid = site.ReviewIdAttribute.Length > 0 ? await item.GetAttributeAsync(site.ReviewIdAttribute) : null;
                rid ??= $"{id}-p{pageNo}-{i}";
                if (reviews.Any(r => r.ExternalId == rid))
                {
                    continue;
                }

                reviews.Add(new ReviewInfo(rid, (await ReadAsync(item, site.ReviewText))?.Trim(), ParseDouble(await ReadAsync(item, site.ReviewRating))));
                photos.AddRange(await ReadPhotosAsync(item.Locator(site.PhotoItem), site, new Uri(page.Url), rid));
            }

            if (site.ReviewsNextPage.Length == 0 || !await NextPageAsync(page, page.Locator(site.ReviewsNextPage).First, ct))
            {
                break;
            }
        }

        return (product, reviews, photos.DistinctBy(p => p.Url.AbsoluteUri).ToList());
    }

    // ---------------- shared mechanics ----------------

    private async Task GotoAsync(IPage page, Uri url, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        IResponse? response;
        try
        {
            response = await page.GotoAsync(url.AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.DOMContentLoaded });
        }
        catch (TimeoutException)
        {
            throw new CrawlPageException($"page did not load within {O.NavigationTimeout.TotalSeconds:0.#}s: {url}", false);
        }
        catch (PlaywrightException e)
        {
            throw new CrawlPageException($"navigation to {url} failed: {e.Message.Split('\n')[0]}", false);
        }

        if (response is not null && response.Status >= 400)
        {
            throw new CrawlPageException($"HTTP {response.Status} for {url}", !PhotoDownloader.IsTransient(response.Status));
        }
    }

    private async Task WaitOrThrowAsync(ILocator locator, string siteName, string selectorName, string selector, string pageUrl)
    {
        try
        {
            await locator.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = (float)O.NavigationTimeout.TotalMilliseconds });
        }
        catch (TimeoutException)
        {
            throw new CrawlPageException(
                $"adapter {siteName}: selector {selectorName} ('{selector}') matched nothing on {pageUrl} within {O.NavigationTimeout.TotalSeconds:0.#}s", false);
        }
    }

    /// <summary>Reads items, scrolling (a container or the window) or paging, until the cap, an end marker, or no growth.</summary>
    private async Task<List<T>> ScrollCollectAsync<T>(
        Func<Task<IReadOnlyList<T>>> read, Func<T, string> key, int cap, ILocator? end, ILocator? next, ILocator? container, IPage page, CancellationToken ct)
    {
        var seen = new Dictionary<string, T>();
        var started = DateTime.UtcNow;
        var lastGrowth = DateTime.UtcNow;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            foreach (var item in await read())
            {
                if (seen.TryAdd(key(item), item))
                {
                    lastGrowth = DateTime.UtcNow;
                }
            }

            if (seen.Count >= cap || DateTime.UtcNow - started > O.ScrollTimeout || DateTime.UtcNow - lastGrowth > O.ScrollIdleTimeout)
            {
                break;
            }

            if (end is not null && await end.CountAsync() > 0)
            {
                // The list says it is complete; one last read catches items rendered with the marker.
                foreach (var item in await read())
                {
                    seen.TryAdd(key(item), item);
                }

                break;
            }

            if (next is not null && await next.CountAsync() > 0)
            {
                if (!await NextPageAsync(page, next.First, ct))
                {
                    break;
                }

                continue;
            }

            if (container is not null)
            {
                await container.EvaluateAsync("el => el.scrollTo(0, el.scrollHeight)");
            }
            else
            {
                await page.EvaluateAsync("() => window.scrollTo(0, document.documentElement.scrollHeight)");
            }

            await Task.Delay(150, ct);
        }

        return seen.Values.ToList();
    }

    private static async Task<bool> NextPageAsync(IPage page, ILocator next, CancellationToken ct)
    {
        if (await next.CountAsync() == 0 || !await next.IsVisibleAsync())
        {
            return false;
        }

        var href = await next.GetAttributeAsync("href");
        if (href is not null && !href.StartsWith('#') && !href.StartsWith("javascript", StringComparison.OrdinalIgnoreCase) && Uri.TryCreate(new Uri(page.Url), href, out var url))
        {
            ct.ThrowIfCancellationRequested();
            var response = await page.GotoAsync(url.AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.DOMContentLoaded });
            return response is null || response.Ok;
        }

        await next.ClickAsync();
        await Task.Delay(300, ct);
        return true;
    }

    private static async Task<IReadOnlyList<FoundLink>> ReadLinksAsync(ILocator items, string linkSelector, string idAttribute, string? rankAttribute)
    {
        var raw = await items.EvaluateAllAsync<JsonElement>(
            """
            (els, a) => els.map(e => {
              const link = a.link ? (e.matches(a.link) ? e : e.querySelector(a.link)) : (e.closest('a') || e.querySelector('a'));
              const href = link ? (link.href || link.getAttribute('href')) : null;
              return { href, id: a.id ? e.getAttribute(a.id) : null, rank: a.rank ? e.getAttribute(a.rank) : null };
            })
            """,
            new { link = linkSelector, id = idAttribute, rank = rankAttribute ?? "" });
        var list = new List<FoundLink>();
        foreach (var e in raw.EnumerateArray())
        {
            var href = e.GetProperty("href").GetString();
            if (string.IsNullOrEmpty(href))
            {
                continue;
            }

            int? rank = int.TryParse(e.GetProperty("rank").GetString(), CultureInfo.InvariantCulture, out var r) ? r : null;
            list.Add(new FoundLink(href, e.GetProperty("id").GetString(), rank));
        }

        return list;
    }

    private static async Task<IReadOnlyList<FoundPhoto>> ReadPhotosAsync(ILocator photos, SiteDefinition site, Uri pageUrl, string? reviewId)
    {
        var raw = await photos.EvaluateAllAsync<JsonElement>(
            """
            (els, a) => els.map(e => {
              let value = null, attr = null;
              for (const at of a.attrs) { const v = e.getAttribute(at); if (v && !v.startsWith('data:')) { value = v; attr = at; break; } }
              const typed = a.type ? e.closest('[' + a.type + ']') : null;
              return { value, attr, type: typed ? typed.getAttribute(a.type) : null };
            })
            """,
            new { attrs = site.PhotoUrlAttributes, type = site.PhotoTypeAttribute });
        var list = new List<FoundPhoto>();
        foreach (var e in raw.EnumerateArray())
        {
            var value = e.GetProperty("value").GetString();
            if (value is null)
            {
                continue;
            }

            if (e.GetProperty("attr").GetString() is "srcset" or "data-srcset")
            {
                value = PhotoUrls.LargestFromSrcset(value);
            }

            var url = value is null ? null : PhotoUrls.ToFullSize(value, pageUrl, site);
            if (url is not null)
            {
                list.Add(new FoundPhoto(url, e.GetProperty("type").GetString(), reviewId));
            }
        }

        return list;
    }

    /// <summary>"selector" → text, "selector@attr" → attribute; null when empty or absent.</summary>
    private static async Task<string?> ReadAsync(IPage page, string spec) => spec.Length == 0 ? null : await ReadAsync(page.Locator("html"), spec);

    /// <summary>Several "selector" / "selector@attr" reads in one round trip to the browser.</summary>
    private static async Task<string?[]> ReadManyAsync(IPage page, params string[] specs)
    {
        var pairs = specs.Select(spec =>
        {
            var at = spec.LastIndexOf('@');
            return new[] { at > 0 ? spec[..at] : spec, at > 0 ? spec[(at + 1)..] : "" };
        }).ToArray();
        return await page.EvaluateAsync<string?[]>(
            """
            specs => specs.map(([sel, attr]) => {
              if (!sel) return null;
              let el = null;
              try { el = document.querySelector(sel); } catch { return null; }
              if (!el) return null;
              return attr ? el.getAttribute(attr) : el.innerText;
            })
            """,
            pairs);
    }

    private static async Task<string?> ReadAsync(ILocator scope, string spec)
    {
        if (spec.Length == 0)
        {
            return null;
        }

        var at = spec.LastIndexOf('@');
        var selector = at > 0 ? spec[..at] : spec;
        var loc = scope.Locator(selector).First;
        if (await loc.CountAsync() == 0)
        {
            return null;
        }

        return at > 0 ? await loc.GetAttributeAsync(spec[(at + 1)..]) : await loc.InnerTextAsync();
    }

    private static IFrameLocatorOrPage Scope(IPage page, string frame) =>
        frame.Length == 0 ? new IFrameLocatorOrPage(page, null) : new IFrameLocatorOrPage(null, page.FrameLocator(frame));

    private readonly record struct IFrameLocatorOrPage(IPage? Page, IFrameLocator? Frame)
    {
        public ILocator Locator(string selector) => Frame is not null ? Frame.Locator(selector) : Page!.Locator(selector);
    }

    private static string? MatchId(string pattern, string url) =>
        pattern.Length > 0 && Regex.Match(url, pattern, RegexOptions.CultureInvariant, PhotoUrls.PatternTimeout) is { Success: true } m
            ? Uri.UnescapeDataString(m.Groups["id"].Value)
            : null;

    private static double? ParseDouble(string? s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;

    private static string Require(string value, string name, string siteName) =>
        value.Length > 0 ? value : throw new HarvesterException($"Crawler:Sites:{siteName}:{name} is empty but this site's flow needs it.");

    public static Uri Expand(string template, Uri baseUrl, string? query = null, string? id = null, string? category = null)
    {
        var s = template
            .Replace("{base}", baseUrl.GetLeftPart(UriPartial.Authority) + baseUrl.AbsolutePath.TrimEnd('/'), StringComparison.Ordinal)
            .Replace("{query}", Uri.EscapeDataString(query ?? ""), StringComparison.Ordinal)
            .Replace("{id}", Uri.EscapeDataString(id ?? ""), StringComparison.Ordinal)
            .Replace("{category}", Uri.EscapeDataString(category ?? ""), StringComparison.Ordinal);
        return new Uri(baseUrl, s);
    }
}
