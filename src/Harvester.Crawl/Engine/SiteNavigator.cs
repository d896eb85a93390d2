using System.Diagnostics;
using System.Globalization;
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

/// <summary>A found link to a place or product.</summary>
public sealed record FoundLink(string Url, string? ExternalId, int? Rank);

/// <summary>A photo a page showed, at its full-size URL.</summary>
public sealed record FoundPhoto(Uri Url, string? PhotoType, string? ReviewId);

/// <summary>The site a flow works on: its name (for messages), definition, base URL, and the trace a check reads.</summary>
public sealed record SiteScope(string Name, SiteDefinition Site, Uri BaseUrl, ICrawlTrace? Trace = null)
{
    public string Key(string name) => $"Crawler:Sites:{Name}:{name}";
}

/// <summary>
/// One list on a page and the ways it grows: scrolling (a container, or the window when nothing else is configured),
/// a load-more control, a next-page control, an end marker; items come from the markup, from JSON, or both.
/// </summary>
internal sealed record ListSpec(string Key, ILocator? Items, JsonResponses? Responses)
{
    public string End { get; init; } = "";
    public string NextPage { get; init; } = "";
    public string NextPageKey { get; init; } = "";
    public string LoadMore { get; init; } = "";
    public string LoadMoreKey { get; init; } = "";
    public string ScrollContainer { get; init; } = "";

    /// <summary>Scroll the window when the list has no container, load-more or next page (lazy grids and result lists).</summary>
    public bool ScrollWindowByDefault { get; init; }
}

/// <summary>
/// The navigation every flow shares: opening pages, waiting for selectors, running a definition's steps, and reading a
/// list to its end by scrolling, clicking "more" or following next pages, always waiting on a condition (the list grew,
/// the list changed, a control went away) rather than for a fixed time.
/// </summary>
public sealed class SiteNavigator(IOptions<CrawlerOptions> options)
{
    private CrawlerOptions Options => options.Value;

    /// <summary>Loads <paramref name="url"/> in <paramref name="frame"/>; an HTTP error or a failed load is a page failure.</summary>
    public async Task GotoAsync(IFrame frame, Uri url, SiteScope site, string step, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        IResponse? response;
        try
        {
            response = await frame.GotoAsync(url.AbsoluteUri, new FrameGotoOptions { WaitUntil = WaitUntilState.DOMContentLoaded });
        }
        catch (TimeoutException)
        {
            throw new CrawlPageException($"page did not load within {Seconds(Options.NavigationTimeout)}s: {url}", false);
        }
        catch (PlaywrightException e)
        {
            throw new CrawlPageException($"navigation to {url} failed: {e.Message.Split('\n')[0]}", false);
        }

        site.Trace?.Page(step, url.AbsoluteUri);
        if (response is not null && response.Status >= 400)
        {
            throw new CrawlPageException($"HTTP {response.Status} for {url}", !PhotoDownloader.IsTransient(response.Status));
        }
    }

    /// <summary>The frame a list lives in: the page itself, or the iframe <paramref name="frameSelector"/> names.</summary>
    public async Task<IFrame> ScopeAsync(IPage page, string frameSelector, string key, SiteScope site)
    {
        if (frameSelector.Length == 0)
        {
            return page.MainFrame;
        }

        var element = page.Locator(frameSelector).First;
        await WaitForAsync(page.MainFrame, element, key, frameSelector, site, Options.NavigationTimeout);
        var handle = await element.ElementHandleAsync();
        return await handle.ContentFrameAsync()
            ?? throw new CrawlPageException($"adapter {site.Name}: {key} ('{frameSelector}') matched an element on {page.Url} that is not an iframe", true);
    }

    /// <summary>Waits until <paramref name="locator"/> matches; throws a page failure naming the key otherwise.</summary>
    public async Task WaitForAsync(IFrame scope, ILocator locator, string key, string selector, SiteScope site, TimeSpan timeout)
    {
        try
        {
            await locator.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = Ms(timeout) });
        }
        catch (TimeoutException)
        {
            site.Trace?.Matched(key, selector, 0, [], $"nothing within {Seconds(timeout)}s");
            throw new CrawlPageException($"adapter {site.Name}: selector {key} ('{selector}') matched nothing on {scope.Url} within {Seconds(timeout)}s", false);
        }
    }

    /// <summary>Checks <paramref name="condition"/> every Crawler:PagePollInterval until it holds or the time is up.</summary>
    public async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await condition())
            {
                return true;
            }

            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            await Task.Delay(left < Options.PagePollInterval ? left : Options.PagePollInterval, ct);
        }
    }

    /// <summary>Runs a definition's steps (<paramref name="key"/> names them in messages) in order.</summary>
    public async Task RunStepsAsync(IFrame scope, SiteScope site, string key, IReadOnlyList<SiteStep> steps, CancellationToken ct)
    {
        var o = Options;
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            var name = $"{key}[{i}]";
            var control = scope.Locator(step.Selector).First;
            var counted = step.Count.Length > 0 ? scope.Locator(ItemSelector(site.Site, step.Count)) : null;
            if (step.Action == StepAction.WaitFor)
            {
                if (step.Optional && !await WaitUntilAsync(async () => await control.CountAsync() > 0, o.NavigationTimeout, ct))
                {
                    site.Trace?.Note(name, $"WaitFor '{step.Selector}': not there (optional)");
                    continue;
                }

                await WaitForAsync(scope, control, name, step.Selector, site, o.NavigationTimeout);
                site.Trace?.Matched(name, step.Selector, await scope.Locator(step.Selector).CountAsync(), [], "WaitFor");
                continue;
            }

            if (!await WaitUntilAsync(() => control.IsVisibleAsync(), o.ScrollIdleTimeout, ct))
            {
                if (step.Optional)
                {
                    site.Trace?.Note(name, $"{step.Action} '{step.Selector}': no such control (optional, skipped)");
                    continue;
                }

                throw new CrawlPageException($"adapter {site.Name}: step {name} ({step.Action} '{step.Selector}') found no visible control on {scope.Url} within {Seconds(o.ScrollIdleTimeout)}s", false);
            }

            var clicks = 0;
            do
            {
                var before = counted is null ? 0 : await counted.CountAsync();
                await control.ClickAsync();
                clicks++;
                if (step.Action == StepAction.Click)
                {
                    break;
                }

                // After a click the page answers by loading items, or by removing the control once all are shown.
                var reacted = await WaitUntilAsync(
                    async () => (counted is not null && await counted.CountAsync() > before) || !await control.IsVisibleAsync(),
                    o.ScrollIdleTimeout,
                    ct);
                var gone = !await control.IsVisibleAsync();
                if (gone || !reacted || (step.Action == StepAction.ClickUntilCountStable && counted is not null && await counted.CountAsync() <= before))
                {
                    break;
                }
            }
            while (clicks < o.MaxListPages);

            site.Trace?.Matched(name, step.Selector, 1, [], $"{step.Action}: clicked {clicks}x" + (counted is null ? "" : $", {step.Count} now {await counted.CountAsync()}"));
        }
    }

    /// <summary>
    /// Waits for a list's first item (or its empty marker, or its first JSON response), up to <paramref name="timeout"/>
    /// (Crawler:NavigationTimeout when null). False when only the empty marker showed.
    /// </summary>
    internal async Task<bool> WaitForFirstAsync(IFrame scope, SiteScope site, ListSpec list, string itemSelector, JsonList json, string empty, string emptyKey, TimeSpan? timeout = null)
    {
        var wait = timeout ?? Options.NavigationTimeout;
        var emptyLocator = empty.Length > 0 ? scope.Locator(empty) : null;
        if (list.Items is not null && json.Response.Length == 0)
        {
            var first = emptyLocator is null ? list.Items.First : list.Items.First.Or(emptyLocator.First);
            await WaitForAsync(scope, first, list.Key, emptyLocator is null ? itemSelector : $"{itemSelector}, {empty}", site, wait);
            return await list.Items.CountAsync() > 0 || emptyLocator is null || await emptyLocator.CountAsync() == 0;
        }

        var script = json.Script.Length > 0 ? scope.Locator(json.Script) : null;
        var ready = await WaitUntilAsync(
            async () => (list.Responses is { Count: > 0 })
                        || (script is not null && await script.CountAsync() > 0)
                        || (list.Items is not null && await list.Items.CountAsync() > 0)
                        || (emptyLocator is not null && await emptyLocator.CountAsync() > 0),
            wait,
            CancellationToken.None);
        if (!ready)
        {
            var what = string.Join(" or ", new[]
            {
                json.Response.Length > 0 ? $"a response matching Response '{json.Response}'" : null,
                script is not null ? $"Script '{json.Script}'" : null,
                list.Items is not null ? $"'{itemSelector}'" : null,
                emptyLocator is not null ? $"{emptyKey} '{empty}'" : null,
            }.OfType<string>());
            site.Trace?.Matched(list.Key, json.Response.Length > 0 ? json.Response : json.Script, 0, [], $"nothing within {Seconds(wait)}s");
            throw new CrawlPageException($"adapter {site.Name}: {list.Key} saw nothing on {scope.Url} within {Seconds(wait)}s (waited for {what})", false);
        }

        return emptyLocator is null || await emptyLocator.CountAsync() == 0 || list.Responses is { Count: > 0 } || (list.Items is not null && await list.Items.CountAsync() > 0);
    }

    /// <summary>
    /// Reads a list until <paramref name="cap"/> items, its end marker, or no more growth: scrolls (its container, or the
    /// window when the list has no other way to grow) while new items keep coming within Crawler:ScrollIdleTimeout, then
    /// clicks "more" while each click brings new items, then follows the next page, which must change the list.
    /// </summary>
    internal async Task<List<T>> CollectAsync<T>(
        IFrame scope, SiteScope site, ListSpec list, Func<int, Task<IReadOnlyList<T>>> read, Func<T, string> identity, int cap, CancellationToken ct)
    {
        var o = Options;
        var found = new List<T>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pageIndex = 0;
        var turns = 0;
        var moreClicks = 0;
        var started = Stopwatch.StartNew();
        var end = list.End.Length > 0 ? scope.Locator(list.End) : null;
        var next = list.NextPage.Length > 0 ? scope.Locator(list.NextPage).First : null;
        var more = list.LoadMore.Length > 0 ? scope.Locator(list.LoadMore).First : null;
        var container = list.ScrollContainer.Length > 0 ? scope.Locator(list.ScrollContainer).First : null;
        var scrolls = container is not null || (list.ScrollWindowByDefault && next is null && more is null);

        async Task<bool> AddAsync()
        {
            var grew = false;
            foreach (var item in await read(pageIndex))
            {
                if (seen.Add(identity(item)))
                {
                    found.Add(item);
                    grew = true;
                }
            }

            return grew;
        }

        async Task<bool> EndedAsync() => end is not null && await end.CountAsync() > 0;

        await AddAsync();
        while (found.Count < cap)
        {
            ct.ThrowIfCancellationRequested();
            if (await EndedAsync())
            {
                // The list says it is complete; one more read catches items rendered with the marker.
                await AddAsync();
                break;
            }

            if (started.Elapsed > o.ScrollTimeout)
            {
                site.Trace?.Note(list.Key, $"stopped after Crawler:ScrollTimeout ({Seconds(o.ScrollTimeout)}s)");
                break;
            }

            if (turns >= o.MaxListPages)
            {
                site.Trace?.Note(list.Key, $"stopped after Crawler:MaxListPages ({o.MaxListPages}) pages");
                break;
            }

            if (scrolls)
            {
                // Nudge the list every poll interval and read it; it is exhausted when nothing new came for the idle time.
                var idle = Stopwatch.StartNew();
                var grew = false;
                while (!grew && idle.Elapsed < o.ScrollIdleTimeout && found.Count < cap)
                {
                    if (container is not null)
                    {
                        await container.EvaluateAsync("el => el.scrollTo(0, el.scrollHeight)");
                    }
                    else
                    {
                        await scope.EvaluateAsync("() => window.scrollTo(0, document.documentElement.scrollHeight)");
                    }

                    grew = await WaitUntilAsync(async () => await AddAsync() || await EndedAsync(), o.PagePollInterval, ct);
                }

                if (grew)
                {
                    continue;
                }
            }

            if (more is not null && await more.IsVisibleAsync())
            {
                turns++;
                moreClicks++;
                var before = await MarkAsync(list);
                await more.ClickAsync();
                var grew = await WaitUntilAsync(async () => await MarkAsync(list) > before || !await more.IsVisibleAsync(), o.ScrollIdleTimeout, ct);
                var added = await AddAsync();
                if (!grew && !added)
                {
                    site.Trace?.Note(list.LoadMoreKey, $"'{list.LoadMore}' was clicked but nothing new came within {Seconds(o.ScrollIdleTimeout)}s; the list ends here");
                    break;
                }

                continue;
            }

            if (next is not null && await next.IsVisibleAsync() && await next.IsEnabledAsync())
            {
                turns++;
                await NextPageAsync(scope, site, list, next, ct);
                pageIndex++;
                await AddAsync();
                continue;
            }

            break;
        }

        if (site.Trace is { } trace)
        {
            if (more is not null)
            {
                trace.Matched(list.LoadMoreKey, list.LoadMore, moreClicks > 0 ? 1 : await more.CountAsync(), [], moreClicks > 0 ? $"clicked {moreClicks}x" : "not clicked (not shown, or the cap came first)");
            }

            if (next is not null)
            {
                trace.Matched(list.NextPageKey, list.NextPage, pageIndex > 0 ? 1 : await next.CountAsync(), [], $"followed {pageIndex} page{(pageIndex == 1 ? "" : "s")}");
            }
        }

        return found;
    }

    private async Task NextPageAsync(IFrame scope, SiteScope site, ListSpec list, ILocator next, CancellationToken ct)
    {
        var o = Options;
        var href = await next.GetAttributeAsync("href");
        if (href is not null && !href.StartsWith('#') && !href.StartsWith("javascript", StringComparison.OrdinalIgnoreCase)
            && Uri.TryCreate(new Uri(scope.Url), href, out var url) && url.Scheme.StartsWith("http", StringComparison.Ordinal))
        {
            await GotoAsync(scope, url, site, list.NextPageKey, ct);
            if (list.Items is not null)
            {
                await WaitUntilAsync(async () => await list.Items.CountAsync() > 0, o.NavigationTimeout, ct);
            }

            return;
        }

        // A click that replaces the list in place: the page is read again only once the list actually changed.
        var before = await SignatureAsync(list);
        await next.ClickAsync();
        if (site.Site.NextPageWait == NextPageWait.NetworkIdle)
        {
            try
            {
                await scope.Page.WaitForLoadStateAsync(LoadState.NetworkIdle, new PageWaitForLoadStateOptions { Timeout = Ms(o.NavigationTimeout) });
            }
            catch (TimeoutException)
            {
                // A page that polls never goes idle; the change check below still decides.
            }
        }

        var changed = await WaitUntilAsync(async () => (await SignatureAsync(list)) is var now && now.Key != before.Key && now.HasItems, o.NavigationTimeout, ct);
        if (!changed)
        {
            throw new CrawlPageException(
                $"adapter {site.Name}: {list.NextPageKey} ('{list.NextPage}') was clicked on {scope.Url} but the list did not change within {Seconds(o.NavigationTimeout)}s", false);
        }
    }

    private static async Task<int> MarkAsync(ListSpec list) =>
        (list.Items is null ? 0 : await list.Items.CountAsync()) + (list.Responses?.Count ?? 0);

    /// <summary>What the list shows now: its markup's hash and length, and how many JSON responses came.</summary>
    private static async Task<(string Key, bool HasItems)> SignatureAsync(ListSpec list)
    {
        var dom = list.Items is null
            ? "0"
            : await list.Items.EvaluateAllAsync<string>(
                """
                els => {
                  let h = 2166136261;
                  for (const e of els) { const s = e.outerHTML; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } }
                  return els.length + ':' + (h >>> 0);
                }
                """);
        var responses = list.Responses?.Count ?? 0;
        return ($"{dom}|{responses}", !dom.StartsWith("0:", StringComparison.Ordinal) && dom != "0" || responses > 0);
    }

    /// <summary>Several "selector" / "selector@attr" reads in one round trip: text, attribute, or null when absent.</summary>
    public static async Task<string?[]> ReadFieldsAsync(IFrame scope, params string[] specs)
    {
        var pairs = specs.Select(SplitRead).Select(p => new[] { p.Selector, p.Attribute }).ToArray();
        return await scope.EvaluateAsync<string?[]>(
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

    /// <summary>"selector@attr" → (selector, attr); a plain selector reads text.</summary>
    public static (string Selector, string Attribute) SplitRead(string spec)
    {
        var at = spec.LastIndexOf('@');
        return at > 0 && !spec[at..].Contains(']', StringComparison.Ordinal) ? (spec[..at], spec[(at + 1)..]) : (spec, "");
    }

    /// <summary>The selector a step's Count names ("PhotoItem", "ReviewItem", …).</summary>
    public static string ItemSelector(SiteDefinition site, string key) => key switch
    {
        nameof(SiteDefinition.ResultItem) => site.ResultItem,
        nameof(SiteDefinition.PhotoItem) => site.PhotoItem,
        nameof(SiteDefinition.ProductItem) => site.ProductItem,
        nameof(SiteDefinition.ReviewItem) => site.ReviewItem,
        _ => throw new HarvesterException($"'{key}' is not an item selector (ResultItem, PhotoItem, ProductItem or ReviewItem)."),
    };

    public static readonly IReadOnlyList<string> ItemSelectorKeys =
        [nameof(SiteDefinition.ResultItem), nameof(SiteDefinition.PhotoItem), nameof(SiteDefinition.ProductItem), nameof(SiteDefinition.ReviewItem)];

    public static string? MatchId(string pattern, string url) =>
        pattern.Length > 0 && Regex.Match(url, pattern, RegexOptions.CultureInvariant, PhotoUrls.PatternTimeout) is { Success: true } m
            ? Uri.UnescapeDataString(m.Groups["id"].Value)
            : null;

    public static double? ParseDouble(string? s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;

    public static Uri Expand(string template, Uri baseUrl, string? query = null, string? id = null, string? category = null)
    {
        var s = template
            .Replace("{base}", baseUrl.GetLeftPart(UriPartial.Authority) + baseUrl.AbsolutePath.TrimEnd('/'), StringComparison.Ordinal)
            .Replace("{query}", Uri.EscapeDataString(query ?? ""), StringComparison.Ordinal)
            .Replace("{id}", Uri.EscapeDataString(id ?? ""), StringComparison.Ordinal)
            .Replace("{category}", Uri.EscapeDataString(category ?? ""), StringComparison.Ordinal);
        return new Uri(baseUrl, s);
    }

    internal static float Ms(TimeSpan t) => (float)t.TotalMilliseconds;

    internal static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);
}
