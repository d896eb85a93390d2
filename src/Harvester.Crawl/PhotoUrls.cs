using System.Text.RegularExpressions;
using System.Web;

namespace Harvester.Crawl;

/// <summary>Turns what a page shows (thumbnails, srcsets, CDN wrappers) into the full-size photo URL, and drops non-photos.</summary>
public static class PhotoUrls
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

    /// <summary>Resolves, unwraps CDN wrappers and strips thumbnail-size parameters. Null when the URL is not a photo.</summary>
    public static Uri? ToFullSize(string raw, Uri pageUrl, SiteDefinition site)
    {
        if (string.IsNullOrWhiteSpace(raw) || raw.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (!Uri.TryCreate(pageUrl, raw.Trim(), out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            return null;
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

        return site.SkipUrlPatterns.Any(p => Regex.IsMatch(url.AbsoluteUri, p, RegexOptions.CultureInvariant, PatternTimeout))
            ? null
            : url;
    }
}
