using System.Globalization;
using System.Text;
using Harvester.Core;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl;

/// <summary>What <c>harvester crawl check</c> saw: every key it used, in order, and the step that failed if one did.</summary>
public sealed record CrawlCheckReport(string Site, string Query, Uri BaseUrl, IReadOnlyList<TraceEntry> Entries, string? FailedStep, string? Failure)
{
    public bool Ok => Failure is null;

    /// <summary>The report as the command prints it: one line per page, key, value skipped or note, then the verdict.</summary>
    public IReadOnlyList<string> Render()
    {
        var lines = new List<string> { $"crawl check: site {Site}, query '{Query}', base {BaseUrl}" };
        foreach (var e in Entries)
        {
            lines.Add(e.Kind switch
            {
                "page" => $"  open     {e.Key,-24} {e.Spec}",
                "matched" => $"  {(e.Count > 0 ? "ok" : "NONE"),-8} {e.Key,-24} '{e.Spec}' matched {e.Count}"
                             + (e.Note is null ? "" : $" ({e.Note})")
                             + string.Concat(e.Values.Select(v => $"\n  {"",-8} {"",-24}   {Shorten(v)}")),
                "skipped" => $"  skipped  {e.Key,-24} {Shorten(e.Spec)}: {e.Note}",
                _ => $"  note     {e.Key,-24} {e.Note}",
            });
        }

        lines.Add(Ok ? "result: every step worked; a crawl with this definition would find what is listed above"
                     : $"result: step '{FailedStep}' would fail: {Failure}");
        return lines;
    }

    private static string Shorten(string value)
    {
        var oneLine = value.ReplaceLineEndings(" ");
        return oneLine.Length <= 140 ? oneLine : oneLine[..140] + "…";
    }
}

/// <summary>
/// A dry run of a site definition, for writing and debugging one before a crawl: opens the first search (or category)
/// page, the first place (or product) a crawl would visit and its photos, and records what every configured key
/// matched, the first values and photo URLs it read, what was skipped and why, and the step that would fail. Nothing is
/// stored and no photo is downloaded.
/// </summary>
public sealed class CrawlCheck(MapFlow map, ShopFlow shop, BrowserHost browsers, PhotoDownloader downloader, IOptions<CrawlerOptions> options)
{
    /// <summary>Results and photos read per list: enough to show what the selectors give, few enough to be quick.</summary>
    public const int SampleSize = 5;

    public async Task<CrawlCheckReport> RunAsync(string siteName, string query, string? baseUrl, string? photoType, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.Sites.TryGetValue(siteName, out var site))
        {
            throw new HarvesterException($"--site: unknown site '{siteName}' (configured: {string.Join(", ", o.Sites.Keys.Order())}).");
        }

        var raw = baseUrl ?? site.BaseUrl;
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var baseUri) || !baseUri.Scheme.StartsWith("http", StringComparison.Ordinal))
        {
            throw new HarvesterException($"--base-url: site '{siteName}' has no usable base URL ('{raw}'); pass --base-url (for demo sites: a running harvester demo-site).");
        }

        var trace = new RecordingTrace();
        var scope = new SiteScope(siteName, site, baseUri, trace);
        var hosts = new HashSet<string>(site.AllowedHosts, StringComparer.OrdinalIgnoreCase) { baseUri.Host };
        var step = site.Kind == SiteKind.Map ? "search" : "category";
        string? failure = null;
        await using var lease = await browsers.AcquirePageAsync(ct);
        var page = lease.Page;
        try
        {
            if (site.Kind == SiteKind.Map)
            {
                var (places, noResults) = await map.SearchAsync(page, scope, query, SampleSize, ct);
                if (noResults || places.Count == 0)
                {
                    trace.Note("search", noResults ? "the site says there are no results for this query: try another" : "no places were read");
                    return Report(noResults ? null : "no places were read from the result list");
                }

                step = "place";
                var place = await FirstAllowedAsync(places.Select(p => p.Url), hosts, o.RespectRobotsTxt, trace, ct);
                if (place is null)
                {
                    return Report("every place found is on a host not allowed or disallowed by robots.txt");
                }

                await map.PlaceAsync(page, scope, place, new FrontierContext { Query = query, PhotoType = photoType }, SampleSize * 2, null, ct);
            }
            else
            {
                var products = await shop.CategoryAsync(page, scope, query, SampleSize, ct);
                if (products.Count == 0)
                {
                    return Report("no products were read from the category page");
                }

                step = "product";
                var product = await FirstAllowedAsync(products.Select(p => p.Url), hosts, o.RespectRobotsTxt, trace, ct);
                if (product is null)
                {
                    return Report("every product found is on a host not allowed or disallowed by robots.txt");
                }

                await shop.ProductAsync(page, scope, product, new FrontierContext { Query = query, Category = query }, SampleSize, ct);
            }
        }
        catch (CrawlPageException e)
        {
            failure = e.Message;
        }
        catch (TimeoutException e)
        {
            failure = "timed out: " + e.Message.Split('\n')[0];
        }
        catch (Microsoft.Playwright.PlaywrightException e)
        {
            failure = "browser error: " + e.Message.Split('\n')[0];
        }

        return Report(failure);

        CrawlCheckReport Report(string? problem) => new(siteName, query, baseUri, trace.Entries, problem is null ? null : step, problem);
    }

    private async Task<Uri?> FirstAllowedAsync(IEnumerable<string> urls, HashSet<string> hosts, bool robots, ICrawlTrace trace, CancellationToken ct)
    {
        foreach (var raw in urls)
        {
            var url = new Uri(raw);
            if (!hosts.Contains(url.Host))
            {
                trace.Skipped("link", raw, $"host {url.Host} is not in AllowedHosts");
            }
            else if (robots && !await downloader.IsAllowedByRobotsAsync(url, ct))
            {
                trace.Skipped("link", raw, "robots.txt disallows " + url.AbsolutePath);
            }
            else
            {
                return url;
            }
        }

        return null;
    }
}
