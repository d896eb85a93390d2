using Harvester.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace Harvester.Crawl;

/// <summary>At most one browser per process, started on first use; work gets fresh contexts from it.</summary>
public sealed class BrowserHost(IOptions<CrawlerOptions> options, ILogger<BrowserHost> logger) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private readonly SemaphoreSlim _contextGate = new(1, 1);
    private readonly Dictionary<IBrowserContext, int> _livePages = [];
    private IBrowserContext? _current;
    private int _pagesInCurrent;
    private readonly System.Collections.Concurrent.ConcurrentBag<PageLease> _idlePages = [];

    // Fonts and media are intercepted by URL (they are rare); images are not requested at all (see ImagesOff).
    private static readonly System.Text.RegularExpressions.Regex HeavyResource = new(
        @"(?i)\.(woff2?|ttf|otf|eot|mp4|webm|mp3|m4a|ogg)(\?|#|$)",
        System.Text.RegularExpressions.RegexOptions.Compiled);

    /// <summary>
    /// With Crawler:BlockPageResources, Chromium does not load images (img, CSS backgrounds) at all: the crawler reads
    /// their URLs from the markup and downloads photos itself. Turning them off in the renderer, rather than aborting
    /// each request through the Playwright driver, keeps hundreds of request objects per page out of the driver and the
    /// client, and their memory with them.
    /// </summary>
    private const string ImagesOff = "--blink-settings=imagesEnabled=false";

    public int BrowsersLaunched { get; private set; }

    public static string FindExecutable(string configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return File.Exists(configured)
                ? configured
                : throw new HarvesterException($"Crawler:BrowserExecutablePath is '{configured}', which does not exist. Install Chromium with 'apt-get install chromium' (./harvester setup does) or fix the path.");
        }

        string[] candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];
        var found = candidates.FirstOrDefault(File.Exists);
        if (found is not null)
        {
            return found;
        }

        // Playwright's own browser download, when someone installed it.
        var cache = Environment.GetEnvironmentVariable("PLAYWRIGHT_BROWSERS_PATH") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "ms-playwright");
        if (Directory.Exists(cache))
        {
            var own = Directory.GetDirectories(cache, "chromium*").OrderDescending()
                .Select(d => Path.Combine(d, "chrome-linux", "chrome")).FirstOrDefault(File.Exists);
            if (own is not null)
            {
                return own;
            }
        }

        throw new HarvesterException(
            "No Chromium found (looked for /usr/bin/chromium, chromium-browser, google-chrome and Playwright's browsers). " +
            "Install it with 'apt-get install chromium' (./harvester setup does), or set Crawler:BrowserExecutablePath.");
    }

    public async Task<IBrowser> GetBrowserAsync(CancellationToken ct)
    {
        if (_browser is { IsConnected: true })
        {
            return _browser;
        }

        await _gate.WaitAsync(ct);
        try
        {
            if (_browser is { IsConnected: true })
            {
                return _browser;
            }

            var o = options.Value;
            var exe = FindExecutable(o.BrowserExecutablePath);
            _playwright ??= await StartDriverAsync(o.DriverNodeOptions);
            if (_browser is not null)
            {
                await _browser.DisposeAsync();
            }

            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = exe,
                Headless = o.Headless,
                Args = o.BlockPageResources ? [.. o.BrowserArgs, ImagesOff] : o.BrowserArgs,
                Timeout = (float)o.NavigationTimeout.TotalMilliseconds * 2,
            });
            BrowsersLaunched++;
            Log.BrowserLaunched(logger, exe, _browser.Version);
            return _browser;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Starts Playwright's driver with Crawler:DriverNodeOptions added to NODE_OPTIONS. The driver inherits this
    /// process's environment when it starts, so the variable is set for that moment only (under the launch gate) and
    /// then put back; options a user already set in NODE_OPTIONS come first.
    /// </summary>
    private static async Task<IPlaywright> StartDriverAsync(string nodeOptions)
    {
        if (string.IsNullOrWhiteSpace(nodeOptions))
        {
            return await Playwright.CreateAsync();
        }

        var before = Environment.GetEnvironmentVariable("NODE_OPTIONS");
        Environment.SetEnvironmentVariable("NODE_OPTIONS", string.IsNullOrWhiteSpace(before) ? nodeOptions : $"{before} {nodeOptions}");
        try
        {
            return await Playwright.CreateAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Node prints its own reason (e.g. "--x is not allowed in NODE_OPTIONS") and exits, and Playwright then
            // fails in more than one way (a closed target, a disposed token source); name the key too.
            throw new HarvesterException(
                $"Playwright's driver did not start ({e.GetType().Name}: {e.Message.Split('\n')[0]}) with Crawler:DriverNodeOptions '{nodeOptions}' " +
                "in its NODE_OPTIONS; if Node said it refuses an option, fix the value or set it empty.", e);
        }
        finally
        {
            Environment.SetEnvironmentVariable("NODE_OPTIONS", before);
        }
    }

    /// <summary>A fresh context with the crawler's identity; images, fonts and media are skipped when configured.</summary>
    public async Task<IBrowserContext> NewContextAsync(CancellationToken ct)
    {
        var o = options.Value;
        var browser = await GetBrowserAsync(ct);
        var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            UserAgent = o.UserAgent,
            Locale = "ko-KR",
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
            JavaScriptEnabled = true,
        });
        context.SetDefaultNavigationTimeout((float)o.NavigationTimeout.TotalMilliseconds);
        context.SetDefaultTimeout((float)o.NavigationTimeout.TotalMilliseconds);
        if (o.BlockPageResources)
        {
            // Only URLs that look like fonts or media go through the interception round trip; documents, scripts and
            // data requests load directly. The resource type still decides, so nothing else is blocked.
            await context.RouteAsync(HeavyResource, async route =>
            {
                if (route.Request.ResourceType is "image" or "media" or "font")
                {
                    await route.AbortAsync();
                }
                else
                {
                    await route.ContinueAsync();
                }
            });
        }

        return context;
    }

    /// <summary>
    /// A page for a worker. Pages share one context (cheaper than a context each); the context is replaced once
    /// Crawler:PagesPerContext units of work have used it, and closed when its last page is released, which bounds memory.
    /// </summary>
    public async Task<PageLease> AcquirePageAsync(CancellationToken ct)
    {
        IBrowserContext context;
        await _contextGate.WaitAsync(ct);
        try
        {
            if (_current is null || _pagesInCurrent >= options.Value.PagesPerContext || _current.Browser is { IsConnected: false })
            {
                var retired = _current;
                _current = await NewContextAsync(ct);
                _pagesInCurrent = 0;
                _livePages[_current] = 0;
                if (retired is not null && _livePages.GetValueOrDefault(retired) == 0)
                {
                    _livePages.Remove(retired);
                    await retired.DisposeAsync();
                }
            }

            context = _current;
            _livePages[context]++;
        }
        finally
        {
            _contextGate.Release();
        }

        try
        {
            return new PageLease(this, context, await context.NewPageAsync());
        }
        catch
        {
            await ReleaseAsync(context, null);
            throw;
        }
    }

    /// <summary>
    /// A page for one unit of work: an idle one a previous pass returned (navigation resets it), or a new one when
    /// none is idle or the idle ones' context is due to be replaced.
    /// </summary>
    public async Task<PageLease> RentPageAsync(CancellationToken ct)
    {
        while (_idlePages.TryTake(out var idle))
        {
            if (!idle.Expired)
            {
                return idle;
            }

            await idle.DisposeAsync();
        }

        return await AcquirePageAsync(ct);
    }

    /// <summary>Keeps a rented page for the next unit of work, or closes it when its context is being replaced.</summary>
    public async Task ReturnPageAsync(PageLease lease)
    {
        if (lease.Expired)
        {
            await lease.DisposeAsync();
        }
        else
        {
            _idlePages.Add(lease);
        }
    }

    private async Task ReleaseAsync(IBrowserContext context, IPage? page)
    {
        if (page is not null)
        {
            try
            {
                await page.CloseAsync();
            }
            catch (PlaywrightException)
            {
                // The browser went away with the page; nothing left to close.
            }
        }

        await _contextGate.WaitAsync();
        try
        {
            if (_livePages.TryGetValue(context, out var live))
            {
                _livePages[context] = live - 1;
                if (live - 1 == 0 && !ReferenceEquals(context, _current))
                {
                    _livePages.Remove(context);
                    await context.DisposeAsync();
                }
            }
        }
        finally
        {
            _contextGate.Release();
        }
    }

    /// <summary>Counts a unit of work against the context's page budget.</summary>
    private void CountUse(IBrowserContext context)
    {
        if (ReferenceEquals(context, _current))
        {
            Interlocked.Increment(ref _pagesInCurrent);
        }
    }

    private bool IsExpired(IBrowserContext context, IPage page) =>
        page.IsClosed || !ReferenceEquals(context, _current) || Volatile.Read(ref _pagesInCurrent) >= options.Value.PagesPerContext;

    public sealed class PageLease(BrowserHost host, IBrowserContext context, IPage page) : IAsyncDisposable
    {
        public IPage Page { get; } = page;

        /// <summary>Time for a new page: this one closed, or its context has served its pages and is being replaced.</summary>
        public bool Expired => host.IsExpired(context, Page);

        public void CountUse() => host.CountUse(context);

        public ValueTask DisposeAsync() => new(host.ReleaseAsync(context, Page));
    }

    public async ValueTask DisposeAsync()
    {
        _idlePages.Clear();
        foreach (var context in _livePages.Keys.ToList())
        {
            await context.DisposeAsync();
        }

        _livePages.Clear();
        _current = null;
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
            _browser = null;
        }

        _playwright?.Dispose();
        _playwright = null;
    }
}
