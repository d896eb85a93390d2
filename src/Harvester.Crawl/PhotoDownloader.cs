using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl;

public sealed record Download(byte[]? Bytes, string? Format, string? ContentType, Uri? FinalUrl, string? Error, bool Permanent)
{
    public bool Ok => Bytes is not null;
}

/// <summary>
/// Fetches photo bytes over plain HTTP (the browser is for pages): per-host throttle, robots.txt, allowed hosts, retries
/// with backoff and Retry-After (resilience handler on the named client), a size cap, and content sniffing.
/// </summary>
public sealed class PhotoDownloader(IHttpClientFactory httpClients, HostThrottle throttle, IOptions<CrawlerOptions> options, ILogger<PhotoDownloader> logger)
{
    public const string ClientName = "harvester-crawler";
    private readonly ConcurrentDictionary<string, Task<RobotsTxt>> _robots = new(StringComparer.OrdinalIgnoreCase);

    public async Task<bool> IsAllowedByRobotsAsync(Uri url, CancellationToken ct)
    {
        var key = url.GetLeftPart(UriPartial.Authority);
        var robots = await _robots.GetOrAdd(key, k => FetchRobotsAsync(new Uri(k + "/robots.txt"), ct));
        var allowed = robots.IsAllowed(url);
        if (!allowed)
        {
            Log.RobotsDisallowed(logger, url.Authority, url.ToString());
        }

        return allowed;
    }

    private async Task<RobotsTxt> FetchRobotsAsync(Uri robotsUrl, CancellationToken ct)
    {
        try
        {
            using var _ = await throttle.EnterAsync(robotsUrl, ct);
            using var response = await httpClients.CreateClient(ClientName).GetAsync(robotsUrl, ct);
            if ((int)response.StatusCode >= 500)
            {
                return RobotsTxt.DisallowAll; // RFC 9309: an unreachable robots.txt means "assume complete disallow"
            }

            return response.IsSuccessStatusCode
                ? RobotsTxt.Parse(await response.Content.ReadAsStringAsync(ct), options.Value.UserAgent)
                : RobotsTxt.AllowAll; // 4xx: no rules
        }
        catch (HttpRequestException)
        {
            return RobotsTxt.DisallowAll;
        }
    }

    public async Task<Download> GetAsync(Uri url, Func<Uri, bool> hostAllowed, CancellationToken ct)
    {
        var o = options.Value;
        if (!hostAllowed(url))
        {
            return new Download(null, null, null, url, $"host {url.Host} is not allowed for this site", true);
        }

        try
        {
            using var _ = await throttle.EnterAsync(url, ct);
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Accept.ParseAdd("image/avif,image/webp,image/jpeg,image/png,image/*;q=0.8,*/*;q=0.5");
            using var response = await httpClients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            var final = response.RequestMessage?.RequestUri ?? url;
            if (!hostAllowed(final))
            {
                return new Download(null, null, null, final, $"redirected to {final.Host}, which is not allowed for this site", true);
            }

            if (!response.IsSuccessStatusCode)
            {
                var code = (int)response.StatusCode;
                return new Download(null, null, null, final, $"HTTP {code} {response.ReasonPhrase}", !IsTransient(code));
            }

            var declared = response.Content.Headers.ContentType?.MediaType;
            if (response.Content.Headers.ContentLength is long len && len > o.MaxImageBytes)
            {
                return new Download(null, null, declared, final, $"over the size cap: {len} bytes > Crawler:MaxImageBytes {o.MaxImageBytes}", true);
            }

            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            var bytes = await ReadCappedAsync(stream, response.Content.Headers.ContentLength, o.MaxImageBytes, ct);
            if (bytes is null)
            {
                return new Download(null, null, declared, final, $"over the size cap: more than Crawler:MaxImageBytes {o.MaxImageBytes} bytes", true);
            }

            var format = ImageSniffer.Format(bytes);
            if (format is null)
            {
                return new Download(null, null, declared, final, $"not an image: body is {ImageSniffer.Describe(bytes)} (declared {declared ?? "no content type"})", true);
            }

            return new Download(bytes, format, declared, final, null, false);
        }
        catch (HttpRequestException e)
        {
            return new Download(null, null, null, url, "request failed: " + e.Message, false);
        }
        catch (Polly.Timeout.TimeoutRejectedException)
        {
            return new Download(null, null, null, url, $"timed out after {o.RequestTimeout.TotalSeconds:0.#}s", false);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return new Download(null, null, null, url, $"timed out after {o.RequestTimeout.TotalSeconds:0.#}s", false);
        }
    }

    /// <summary>Statuses worth trying again later (timeouts, too early, rate limits, server errors); others are final.</summary>
    public static bool IsTransient(int status) => status is 408 or 425 or 429 or >= 500;

    /// <summary>
    /// Reads the body into one array of its exact size when the length is announced (photos are large-object-heap
    /// sized, so a growing buffer plus a final copy doubles that churn); null when it exceeds the cap.
    /// </summary>
    private static async Task<byte[]?> ReadCappedAsync(Stream stream, long? length, long cap, CancellationToken ct)
    {
        if (length is long n && n <= cap)
        {
            var exact = new byte[n];
            var read = await stream.ReadAtLeastAsync(exact, exact.Length, throwOnEndOfStream: false, ct);
            if (read < n)
            {
                return exact[..read]; // the server sent less than it announced: keep what came; sniffing and decoding judge it
            }

            // More than announced would be a broken server; the cap still holds.
            var probe = new byte[1];
            return await stream.ReadAsync(probe, ct) == 0 ? exact : null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int got;
        while ((got = await stream.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, got);
            if (buffer.Length > cap)
            {
                return null;
            }
        }

        return buffer.ToArray();
    }
}
