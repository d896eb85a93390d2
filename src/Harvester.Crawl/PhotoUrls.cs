using System.Text.RegularExpressions;
using System.Web;

namespace Harvester.Crawl;

/// <summary>Turns what a page shows (thumbnails, srcsets, CDN wrappers) into the full-size photo URL, and drops non-photos.</summary>
public static partial class PhotoUrls
{
    /// <summary>
    /// Guards configured patterns against catastrophic backtracking; generous, because a loaded machine must not turn
    /// an ordinary match into a failure.
    /// </summary>
    public static readonly TimeSpan PatternTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The largest candidate of a srcset ("a.jpg 1x, b.jpg 2x" or "a.jpg 300w, b.jpg 600w").</summary>
    public static string? LargestFromSrcset(string srcset)
    {
        string? best = null;
        var bestScore = -1.0;
        foreach (var part in srcset.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var bits = part.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (bits.Length == 0)
            {
                continue;
            }

            var score = 1.0;
            if (bits.Length > 1 && bits[1].Length > 1 && double.TryParse(bits[1][..^1], System.Globalization.CultureInfo.InvariantCulture, out var v))
            {
                score = v;
            }

            if (score > bestScore)
            {
                bestScore = score;
                best = bits[0];
            }
        }

        return best;
    }

    /// <summary>The first url(…) in a CSS value (an inline style or a computed background-image); null when there is none.</summary>
    public static string? CssUrl(string? css)
    {
        if (string.IsNullOrEmpty(css))
        {
            return null;
        }

        var m = CssUrlPattern().Match(css);
        if (!m.Success)
        {
            return null;
        }

        var value = m.Groups["url"].Value.Trim();
        // Inline styles escape quotes as entities when they come from markup written by hand.
        return value.Replace("&quot;", "", StringComparison.Ordinal).Replace("&#39;", "", StringComparison.Ordinal);
    }

    /// <summary>Resolves, unwraps CDN wrappers and strips thumbnail-size parameters. Null when the URL is not a photo.</summary>
    public static Uri? ToFullSize(string raw, Uri pageUrl, SiteDefinition site) => Resolve(raw, pageUrl, site).Url;

    /// <summary>
    /// Like <see cref="ToFullSize"/>, and when the value is not taken, why: not a URL, not http(s), or the skip pattern
    /// that matched it. A crawl check prints these reasons.
    /// </summary>
    public static (Uri? Url, string? Skipped) Resolve(string raw, Uri pageUrl, SiteDefinition site)
    {
        if (string.IsNullOrWhiteSpace(raw))
        {
            return (null, "empty");
        }

        if (raw.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return (null, "an inline data: URL (a placeholder)");
        }

        if (!Uri.TryCreate(pageUrl, raw.Trim(), out var url))
        {
            return (null, "not a URL");
        }

        if (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
        {
            return (null, $"a {url.Scheme}: URL, not http(s)");
        }

        // A wrapper such as /thumb?type=w300&src=<original> hides the original URL in a parameter.
        for (var depth = 0; depth < 3; depth++)
        {
            var q = HttpUtility.ParseQueryString(url.Query);
            var inner = site.WrappedUrlParameters.Select(p => q[p]).FirstOrDefault(v => !string.IsNullOrEmpty(v));
            if (inner is null || !Uri.TryCreate(url, inner, out var unwrapped))
            {
                break;
            }

            url = unwrapped;
        }

        if (site.ThumbnailParameters.Count > 0 && url.Query.Length > 1)
        {
            var q = HttpUtility.ParseQueryString(url.Query);
            foreach (var p in site.ThumbnailParameters)
            {
                q.Remove(p);
            }

            var rest = q.ToString();
            url = new UriBuilder(url) { Query = string.IsNullOrEmpty(rest) ? "" : rest }.Uri;
        }

        var skip = site.SkipUrlPatterns.FirstOrDefault(p => Regex.IsMatch(url.AbsoluteUri, p, RegexOptions.CultureInvariant, PatternTimeout));
        return skip is null ? (url, null) : (null, $"SkipUrlPatterns '{skip}'");
    }

    /// <summary>Applies a definition's PhotoUrlPattern: its group "url", or the whole match; null when it does not match.</summary>
    public static string? ApplyPattern(string value, string pattern)
    {
        if (pattern.Length == 0)
        {
            return value;
        }

        var m = Regex.Match(value, pattern, RegexOptions.CultureInvariant, PatternTimeout);
        if (!m.Success)
        {
            return null;
        }

        return m.Groups["url"] is { Success: true } g ? g.Value : m.Value;
    }

    [GeneratedRegex(@"url\(\s*(?<q>['""]?)(?<url>.*?)\k<q>\s*\)", RegexOptions.CultureInvariant)]
    private static partial Regex CssUrlPattern();
}
