using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace Harvester.Crawl;

/// <summary>
/// The map flow of the declarative adapter: search → result list → place page → photo tab and type filter → photo grid,
/// using only a <see cref="SiteDefinition"/>.
/// </summary>
public sealed class MapFlow(SiteNavigator navigator, IOptions<CrawlerOptions> options)
{
    private CrawlerOptions Options => options.Value;

    /// <summary>Runs a search and reads its result list up to <paramref name="cap"/> places; NoResults when the site said so.</summary>
    public async Task<(IReadOnlyList<FoundLink> Places, bool NoResults)> SearchAsync(IPage page, SiteScope scope, string query, int cap, CancellationToken ct)
    {
        var site = scope.Site;
        using var responses = JsonResponses.Start(page, site.ResultsJson);
        if (site.SearchUrl.Length > 0)
        {
            await navigator.GotoAsync(page.MainFrame, SiteNavigator.Expand(site.SearchUrl, scope.BaseUrl, query: query), scope, nameof(site.SearchUrl), ct);
        }
        else
        {
            await navigator.GotoAsync(page.MainFrame, SiteNavigator.Expand(site.SearchPageUrl, scope.BaseUrl), scope, nameof(site.SearchPageUrl), ct);
            var input = page.Locator(site.SearchInput).First;
            await navigator.WaitForAsync(page.MainFrame, input, nameof(site.SearchInput), site.SearchInput, scope, Options.NavigationTimeout);
            await input.FillAsync(query);
            if (site.SearchSubmit.Length > 0)
            {
                var submit = page.Locator(site.SearchSubmit).First;
                await navigator.WaitForAsync(page.MainFrame, submit, nameof(site.SearchSubmit), site.SearchSubmit, scope, Options.NavigationTimeout);
                await submit.ClickAsync();
                scope.Trace?.Matched(nameof(site.SearchSubmit), site.SearchSubmit, await page.Locator(site.SearchSubmit).CountAsync(), [], "clicked");
            }
            else
            {
                await input.PressAsync("Enter");
            }
        }

        var frame = await navigator.ScopeAsync(page, site.ResultsFrame, nameof(site.ResultsFrame), scope);
        await navigator.RunStepsAsync(frame, scope, nameof(site.SearchSteps), site.SearchSteps, ct);
        var items = site.ResultItem.Length > 0 ? frame.Locator(site.ResultItem) : null;
        var list = new ListSpec(site.ResultsJson.IsSet ? nameof(site.ResultsJson) : nameof(site.ResultItem), items, responses)
        {
            End = site.ResultsEnd,
            NextPage = site.ResultsNextPage,
            NextPageKey = nameof(site.ResultsNextPage),
            LoadMore = site.ResultsLoadMore,
            LoadMoreKey = nameof(site.ResultsLoadMore),
            ScrollContainer = site.ResultsScrollContainer,
            ScrollWindowByDefault = true,
        };
        if (!await navigator.WaitForFirstAsync(frame, scope, list, site.ResultItem, site.ResultsJson, site.NoResults, nameof(site.NoResults)))
        {
            scope.Trace?.Matched(nameof(site.NoResults), site.NoResults, 1, [], "the site says the search has no results");
            return ([], true);
        }

        var links = await navigator.CollectAsync(frame, scope, list, async _ => await ReadResultsAsync(frame, scope, list), l => l.Url, cap, ct);
        var placeIdPattern = site.PlaceIdPattern;
        var places = links.Take(cap).Select(l =>
        {
            var id = l.ExternalId ?? SiteNavigator.MatchId(placeIdPattern, l.Url);
            var url = site.PlaceUrlTemplate.Length > 0 && id is not null ? SiteNavigator.Expand(site.PlaceUrlTemplate, scope.BaseUrl, id: id).AbsoluteUri : l.Url;
            return l with { Url = url, ExternalId = id };
        }).Where(l => Uri.TryCreate(l.Url, UriKind.Absolute, out _)).ToList();
        scope.Trace?.Matched(list.Key, site.ResultsJson.IsSet ? site.ResultsJson.Items : site.ResultItem, places.Count, [.. places.Take(3).Select(p => p.Url)], $"places read (cap {cap})");
        if (places.Count == 0 && responses is { Count: > 0 } && items is null)
        {
            return ([], true); // the search's JSON answered with an empty list
        }

        return (places, false);
    }

    private async Task<IReadOnlyList<FoundLink>> ReadResultsAsync(IFrame frame, SiteScope scope, ListSpec list)
    {
        var site = scope.Site;
        if (site.ResultsJson.IsSet)
        {
            var items = await JsonItems.ReadAsync(frame, site.ResultsJson, list.Responses);
            return PageReaders.LinksFromJson(items, site.ResultsJson, new Uri(frame.Url), scope.BaseUrl, site.PlaceUrlTemplate);
        }

        return await PageReaders.ReadLinksAsync(list.Items!, site.ResultLink, site.ResultIdAttribute, "");
    }

    /// <summary>
    /// Opens a place page, reads what it says about the place (handed to <paramref name="placeRead"/> before the photos are
    /// read, so a place is recorded even when its photos then fail), then its photos: the tab, the type filter, the grid.
    /// </summary>
    public async Task<(PlaceInfo Place, IReadOnlyList<FoundPhoto> Photos, string? Note)> PlaceAsync(
        IPage page, SiteScope scope, Uri url, FrontierContext context, int cap, Func<PlaceInfo, Task>? placeRead, CancellationToken ct)
    {
        var site = scope.Site;

        // JSON the photo grid loads may come with the place page itself, so listening starts before it opens.
        using var responses = JsonResponses.Start(page, site.PhotoJson);
        await navigator.GotoAsync(page.MainFrame, url, scope, "place", ct);
        var id = SiteNavigator.MatchId(site.PlaceIdPattern, page.Url) ?? SiteNavigator.MatchId(site.PlaceIdPattern, url.ToString())
            ?? throw new CrawlPageException($"adapter {scope.Name}: PlaceIdPattern '{site.PlaceIdPattern}' found no place id in {page.Url}", true);
        await navigator.RunStepsAsync(page.MainFrame, scope, nameof(site.PlaceSteps), site.PlaceSteps, ct);
        var f = await SiteNavigator.ReadFieldsAsync(page.MainFrame, site.PlaceName, site.PlaceCategory, site.PlaceAddress, site.PlaceLatitude, site.PlaceLongitude);
        if (scope.Trace is { } trace)
        {
            string[] keys = [nameof(site.PlaceName), nameof(site.PlaceCategory), nameof(site.PlaceAddress), nameof(site.PlaceLatitude), nameof(site.PlaceLongitude)];
            string[] specs = [site.PlaceName, site.PlaceCategory, site.PlaceAddress, site.PlaceLatitude, site.PlaceLongitude];
            for (var i = 0; i < keys.Length; i++)
            {
                if (specs[i].Length > 0)
                {
                    trace.Matched(keys[i], specs[i], f[i] is null ? 0 : 1, f[i] is null ? [] : [f[i]!.Trim()]);
                }
            }
        }

        var place = new PlaceInfo(
            id, f[0]?.Trim() ?? "", f[1]?.Trim() ?? context.Category, context.Neighbourhood, context.Query, f[2]?.Trim(),
            SiteNavigator.ParseDouble(f[3]), SiteNavigator.ParseDouble(f[4]), new Uri(page.Url).AbsoluteUri);
        if (placeRead is not null)
        {
            await placeRead(place);
        }

        var (photos, note) = await PhotosAsync(page, scope, responses, context, cap, ct);
        return (place, photos, note);
    }

    private async Task<(IReadOnlyList<FoundPhoto> Photos, string? Note)> PhotosAsync(
        IPage page, SiteScope scope, JsonResponses? responses, FrontierContext context, int cap, CancellationToken ct)
    {
        var site = scope.Site;
        var o = Options;
        var frame = page.MainFrame;
        if (site.PhotoTab.Length > 0)
        {
            var tab = page.Locator(site.PhotoTab).First;
            await navigator.WaitForAsync(frame, tab, nameof(site.PhotoTab), site.PhotoTab, scope, o.NavigationTimeout);
            var href = await tab.GetAttributeAsync("href");
            if (href is not null && Uri.TryCreate(new Uri(page.Url), href, out var tabUrl) && tabUrl.Scheme.StartsWith("http", StringComparison.Ordinal))
            {
                await navigator.GotoAsync(frame, tabUrl, scope, nameof(site.PhotoTab), ct);
            }
            else
            {
                await tab.ClickAsync();
                scope.Trace?.Matched(nameof(site.PhotoTab), site.PhotoTab, 1, [], "clicked");
            }
        }

        if (!string.IsNullOrEmpty(context.PhotoType) && site.PhotoTypeChip.Length > 0)
        {
            var value = site.PhotoTypeValues.TryGetValue(context.PhotoType, out var mapped) ? mapped : context.PhotoType;
            var chipSelector = site.PhotoTypeChip.Replace("{type}", value, StringComparison.Ordinal);
            var chip = page.Locator(chipSelector).First;
            if (!await navigator.WaitUntilAsync(async () => await chip.CountAsync() > 0, o.ScrollIdleTimeout, ct))
            {
                scope.Trace?.Matched(nameof(site.PhotoTypeChip), chipSelector, 0, []);
                return ([], $"no '{context.PhotoType}' filter on this place's photo page");
            }

            var href = await chip.GetAttributeAsync("href");
            if (href is not null && !href.StartsWith('#') && !href.StartsWith("javascript", StringComparison.OrdinalIgnoreCase) && Uri.TryCreate(new Uri(page.Url), href, out var chipUrl))
            {
                await navigator.GotoAsync(frame, chipUrl, scope, nameof(site.PhotoTypeChip), ct);
            }
            else
            {
                // A chip that filters in place: the grid read below waits for the filtered items itself.
                await chip.ClickAsync();
                scope.Trace?.Matched(nameof(site.PhotoTypeChip), chipSelector, 1, [], "clicked");
            }
        }

        await navigator.RunStepsAsync(frame, scope, nameof(site.PhotoSteps), site.PhotoSteps, ct);
        var photoPage = new Uri(page.Url);
        var items = site.PhotoItem.Length > 0 ? page.Locator(site.PhotoItem) : null;
        var list = new ListSpec(site.PhotoJson.IsSet ? nameof(site.PhotoJson) : nameof(site.PhotoItem), items, responses)
        {
            End = site.PhotoEmpty,
            LoadMore = site.PhotoLoadMore,
            LoadMoreKey = nameof(site.PhotoLoadMore),
            ScrollContainer = site.PhotoScrollContainer,
            ScrollWindowByDefault = true,
        };

        // The grid fills in after the page loads: wait for its first photo (or the empty marker), not a fixed delay.
        try
        {
            await navigator.WaitForFirstAsync(frame, scope, list, site.PhotoItem, site.PhotoJson, site.PhotoEmpty, nameof(site.PhotoEmpty), o.ScrollIdleTimeout);
        }
        catch (CrawlPageException)
        {
            // Nothing yet: the read below may still find photos, and says what the grid showed if it never does.
        }

        var last = PhotoRead.Empty;
        var found = await navigator.CollectAsync<FoundPhoto>(frame, scope, list, async _ =>
        {
            last = site.PhotoJson.IsSet
                ? PageReaders.PhotosFromJson(await JsonItems.ReadAsync(frame, site.PhotoJson, responses), site.PhotoJson, site, photoPage)
                : await PageReaders.ReadPhotosAsync(items!, site, photoPage, null);
            return last.Photos;
        }, p => p.Url.AbsoluteUri, cap, ct);
        TracePhotos(scope, list.Key, site.PhotoJson.IsSet ? site.PhotoJson.Items : site.PhotoItem, last, found.Take(cap).ToList());
        if (found.Count > 0)
        {
            return (found.Take(cap).ToList(), null);
        }

        if (site.PhotoEmpty.Length > 0 && await page.Locator(site.PhotoEmpty).CountAsync() > 0)
        {
            return ([], "the place has no photos");
        }

        if (last.Elements > 0)
        {
            throw new CrawlPageException(last.Explain(scope.Name, list.Key, site.PhotoJson.IsSet ? site.PhotoJson.Items : site.PhotoItem, site, page.Url), false);
        }

        throw new CrawlPageException(
            site.PhotoJson.IsSet
                ? $"adapter {scope.Name}: PhotoJson found no items at '{site.PhotoJson.Items}' on {page.Url} within {SiteNavigator.Seconds(o.ScrollIdleTimeout)}s"
                : $"adapter {scope.Name}: selector PhotoItem ('{site.PhotoItem}') matched nothing on {page.Url} within {SiteNavigator.Seconds(o.ScrollIdleTimeout)}s (the photo grid did not load, or the selector is out of date)",
            false);
    }

    internal static void TracePhotos(SiteScope scope, string key, string spec, PhotoRead last, IReadOnlyList<FoundPhoto> found, string taken = "taken")
    {
        if (scope.Trace is not { } trace)
        {
            return;
        }

        trace.Matched(key, spec, last.Elements, [.. found.Take(3).Select(p => p.Url.AbsoluteUri)],
            $"{found.Count} photo URL{(found.Count == 1 ? "" : "s")} {taken}" + (last.WithoutUrl > 0 ? $", {last.WithoutUrl} element(s) without a URL in PhotoUrlAttributes" : ""));
        foreach (var (value, reason) in last.Skipped.Take(5))
        {
            trace.Skipped(key, value, reason);
        }
    }
}
