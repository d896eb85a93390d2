using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl;

/// <summary>Per-host politeness shared by browser navigations and downloads: a concurrency cap and a token-bucket rate.</summary>
public sealed class HostThrottle(IOptions<CrawlerOptions> options) : IDisposable
{
    private readonly ConcurrentDictionary<string, (SemaphoreSlim Gate, TokenBucketRateLimiter Rate)> _hosts = new(StringComparer.OrdinalIgnoreCase);

    public async Task<IDisposable> EnterAsync(Uri url, CancellationToken ct)
    {
        var o = options.Value;
        var (gate, rate) = _hosts.GetOrAdd(url.Authority, _ => (
            new SemaphoreSlim(o.PerHostConcurrency),
            new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = Math.Max(1, (int)Math.Ceiling(o.PerHostRequestsPerSecond * 2)),
                TokensPerPeriod = Math.Max(1, (int)Math.Ceiling(o.PerHostRequestsPerSecond / 10)),
                ReplenishmentPeriod = TimeSpan.FromSeconds(Math.Max(1, (int)Math.Ceiling(o.PerHostRequestsPerSecond / 10)) / o.PerHostRequestsPerSecond),
                QueueLimit = int.MaxValue,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                AutoReplenishment = true,
            })));
        using var lease = await rate.AcquireAsync(1, ct);
        await gate.WaitAsync(ct);
        return new Release(gate);
    }

    public void Dispose()
    {
        foreach (var (gate, rate) in _hosts.Values)
        {
            gate.Dispose();
            rate.Dispose();
        }
    }

    private sealed class Release(SemaphoreSlim gate) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                gate.Release();
            }
        }
    }
}
