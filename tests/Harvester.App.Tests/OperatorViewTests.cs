using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace Harvester.App.Tests;

/// <summary>
/// What an operator watches, seen the way they see it: real `harvester` processes (demo, dashboard, worker, curate), the
/// dashboard in headless Chromium, and OpenTelemetry received over OTLP/HTTP by a receiver in the test.
/// </summary>
public sealed partial class OperatorViewTests : IAsyncLifetime
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(6);
    private readonly string _home = Path.Combine(Path.GetTempPath(), "harvester-ops-" + Guid.NewGuid().ToString("N")[..10]);
    private HarvesterDatabase _db = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_home);
        // This process stays a client of the cluster for the whole test, so the commands it starts share it.
        _db = new HarvesterDatabase(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build(),
            Options.Create(new PostgreSqlOptions { Fsync = false }), Options.Create(new StorageOptions { Root = _home }), NullLoggerFactory.Instance);
        await _db.StartAsync(migrate: true, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        try
        {
            Directory.Delete(_home, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>`harvester dashboard` on a free loopback port, refreshing every second; its address once it listens.</summary>
    private async Task<(HarvesterProcess Process, Uri Address)> DashboardAsync(Dictionary<string, string>? env = null)
    {
        env ??= [];
        env["Harvester__Dashboard__Refresh"] = "00:00:01";
        var p = HarvesterProcess.Start(_home, env, "dashboard", "--urls", "http://127.0.0.1:0");
        await p.WaitForOutputAsync("Dashboard: http://", Long);
        var address = DashboardAddress().Match(p.StandardOutput).Groups[1].Value;
        return (p, new Uri(address + "/"));
    }

    private static async Task<(IPlaywright, IBrowser, IPage)> BrowserAsync()
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = "/usr/bin/chromium", Headless = true });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 1600 } });
        return (playwright, browser, page);
    }

    [Fact]
    public async Task The_dashboard_in_a_browser_shows_a_running_demo_crawl_count_up_and_draws_its_charts()
    {
        // The demo at a throttled request rate, so its map crawl runs long enough to be watched.
        var demoEnv = new Dictionary<string, string>
        {
            ["Harvester__Crawler__PerHostRequestsPerSecond"] = "8",
            ["Harvester__Crawler__CounterFlushInterval"] = "00:00:00.500",
        };
        await using var demo = HarvesterProcess.Start(_home, demoEnv, "demo", "--neighbourhoods", "4", "--places", "8", "--photos", "8");
        await demo.WaitForOutputAsync("[demo site]", Long);
        var (dashboard, address) = await DashboardAsync(new() { ["Harvester__PostgreSQL__Database"] = "harvester_demo" });
        await using var _ = dashboard;

        var (playwright, browser, page) = await BrowserAsync();
        using var __ = playwright;
        await using var ___ = browser;
        // Loaded once: from here on the page refreshes itself in place; the test never reloads it.
        await page.GotoAsync(address.AbsoluteUri);

        var seen = new List<int>();
        var deadline = DateTime.UtcNow + Long;
        while (DateTime.UtcNow < deadline)
        {
            var job = await page.EvaluateAsync<string?>("""
                () => {
                  const row = [...document.querySelectorAll('tr')].find(r => r.querySelector('[data-field=stored]') && r.textContent.includes('demo: cafes'));
                  return row ? row.querySelector('[data-field=status]').textContent + ' ' + row.querySelector('[data-field=stored]').dataset.value : null;
                }
                """);
            if (job is not null && job.StartsWith("running ", StringComparison.Ordinal))
            {
                var stored = int.Parse(job["running ".Length..], CultureInfo.InvariantCulture);
                if (seen.Count == 0 || seen[^1] != stored)
                {
                    seen.Add(stored);
                }

                if (seen.Count(v => v > 0) >= 3)
                {
                    break;
                }
            }
            else if (job is not null && seen.Count > 0)
            {
                break; // the job ended while being watched
            }

            Assert.False(demo.HasExited, "the demo ended before the crawl was seen:\n" + demo.StandardError);
            await Task.Delay(300);
        }

        // Seen in the browser while the job was still running: its stored photos went up, more than once.
        Assert.True(seen.Count(v => v > 0) >= 2, "stored photos seen while running: " + string.Join(", ", seen));
        Assert.Equal(seen.Order(), seen);

        // The charts are drawn as inline SVG (no CDN), and the throughput chart has something in it by now.
        await page.WaitForFunctionAsync("() => +(document.querySelector('svg[data-chart=throughput]')?.dataset.total ?? 0) > 0",
            null, new PageWaitForFunctionOptions { Timeout = (float)Long.TotalMilliseconds });
        // Read in one evaluation: the page swaps its live part every second, so separate queries could straddle a swap.
        var charts = await page.EvaluateAsync<int[]>("""
            () => {
              const svg = document.querySelector('svg[data-chart=throughput]');
              const box = svg.getBoundingClientRect();
              return [document.querySelectorAll('figure.chart svg').length, svg.querySelectorAll('polyline.series').length,
                      Math.round(box.width), Math.round(box.height), document.querySelectorAll('script[src], link[href^=http]').length];
            }
            """);
        Assert.Equal(4, charts[0]);
        Assert.True(charts[1] >= 1, "no line in the throughput chart");
        Assert.True(charts[2] > 100 && charts[3] > 50, $"the chart is {charts[2]}x{charts[3]} px on the page");
        Assert.Equal(0, charts[4]);
        if (Environment.GetEnvironmentVariable("HARVESTER_DASHBOARD_SCREENSHOT") is { Length: > 0 } shot)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        }
    }

    [Fact]
    public async Task A_killed_worker_shows_as_gone_within_a_heartbeat_and_its_leases_as_orphaned()
    {
        var heartbeat = TimeSpan.FromSeconds(1);
        var (dashboard, address) = await DashboardAsync();
        await using var _ = dashboard;
        await using var worker = HarvesterProcess.Start(_home, new Dictionary<string, string>
        {
            ["Harvester__Worker__Stages__0"] = "curate",
            ["Harvester__Worker__HeartbeatInterval"] = "00:00:01",
        }, "worker");

        var (playwright, browser, page) = await BrowserAsync();
        using var __ = playwright;
        await using var ___ = browser;
        await page.GotoAsync(address.AbsoluteUri);
        var pidPart = ":" + worker.Id.ToString(CultureInfo.InvariantCulture) + ":";
        var stateOf = $$"""
            () => {
              const row = [...document.querySelectorAll('tr')].find(r => r.querySelector('[data-state]') && r.querySelector('code')?.textContent.includes('{{pidPart}}'));
              return row ? row.querySelector('[data-state]').dataset.state + ' ' + row.querySelector('code').textContent : null;
            }
            """;
        string? state = null;
        var deadline = DateTime.UtcNow + Long;
        while (state is null || !state.StartsWith("alive ", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline && !worker.HasExited, "the worker never showed as alive:\n" + worker.StandardError);
            await Task.Delay(200);
            state = await page.EvaluateAsync<string?>(stateOf);
        }

        // A lease the worker holds (as if mid-batch), then SIGKILL: no clean stop is recorded.
        var workerId = state["alive ".Length..];
        await using (var lease = _db.DataSource.CreateCommand(
                         "INSERT INTO work_leases (stage, item_id, claimed_by, lease_until, attempts) VALUES ('curate', 987654, $1, now() + interval '1 hour', 1)"))
        {
            lease.Parameters.Add(new Npgsql.NpgsqlParameter { Value = workerId });
            await lease.ExecuteNonQueryAsync();
        }

        worker.Kill();
        var clock = Stopwatch.StartNew();
        await worker.WaitAsync(Long);
        const string orphaned = """
            () => [...document.querySelectorAll('tr')].filter(r => r.querySelector('[data-field=stage]')?.textContent === 'curate')
                    .map(r => +r.querySelector('[data-field=orphaned]').dataset.value)[0] ?? -1
            """;
        while (!(await page.EvaluateAsync<string?>(stateOf) ?? "").StartsWith("gone ", StringComparison.Ordinal) || await page.EvaluateAsync<int>(orphaned) != 1)
        {
            Assert.True(clock.Elapsed < Long, "the killed worker never showed as gone with its lease orphaned");
            await Task.Delay(100);
        }

        // One heartbeat interval, plus the page's own 1 s refresh, plus a margin for a loaded machine.
        var bound = heartbeat + TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(5);
        Assert.True(clock.Elapsed <= bound, $"gone after {clock.Elapsed.TotalSeconds:F1} s, more than {bound.TotalSeconds} s");
    }

    [Fact]
    public async Task Curate_exports_spans_and_metrics_to_an_otlp_endpoint_and_writes_readable_progress_when_redirected()
    {
        await SeedAsync(24);
        using var receiver = new OtlpReceiver();

        await using var curate = await HarvesterProcess.RunAsync(_home, new Dictionary<string, string>
        {
            ["Harvester__Telemetry__OtlpEndpoint"] = receiver.Endpoint,
            ["Harvester__Telemetry__OtlpProtocol"] = "HttpProtobuf",
            ["Harvester__Telemetry__MetricExportInterval"] = "00:00:00.500",
            ["Harvester__Progress__Interval"] = "00:00:00.200",
        }, Long, "curate", "--batch", "4");

        Assert.True(curate.ExitCode == 0, curate.StandardError);
        Assert.Contains("Curated 24 images", curate.StandardOutput, StringComparison.Ordinal);

        // Spans: one per pass of the stage, under the service's name. Protobuf keeps strings as UTF-8, so they can be
        // found in the body without a decoder.
        var traces = receiver.Bodies("/v1/traces");
        Assert.NotEmpty(traces);
        Assert.Contains(traces, b => b.Contains("stage.pass curate", StringComparison.Ordinal) && b.Contains("harvester", StringComparison.Ordinal));
        var metrics = receiver.Bodies("/v1/metrics");
        Assert.Contains(metrics, b => b.Contains("harvester.stage.items", StringComparison.Ordinal));
        Assert.Contains(metrics, b => b.Contains("harvester.stage.pass.duration", StringComparison.Ordinal));
        Assert.All(receiver.ContentTypes, t => Assert.Equal("application/x-protobuf", t));

        // Progress went to stderr as plain, timestamped lines (the output is a pipe, not a terminal): no escape codes,
        // no carriage returns, and a last line with the total.
        var err = curate.StandardError;
        Assert.DoesNotContain('\x1b', err);
        Assert.DoesNotContain('\r', err);
        var lines = ProgressLine().Matches(err).Select(m => m.Value).ToList();
        Assert.NotEmpty(lines);
        Assert.Matches(@"\[curate\] 24/24 images \(100\.0%\), [0-9.]+ images/s, done, elapsed", lines[^1]);
        // Log records carry an ISO-8601 UTC stamp to the millisecond in the simple format…
        Assert.Matches(@"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info: ", err);

        // …and in the JSON one.
        await using var json = await HarvesterProcess.RunAsync(_home, new Dictionary<string, string> { ["Harvester__Logging__Console__FormatterName"] = "json" },
            Long, "curate", "--batch", "4");
        Assert.True(json.ExitCode == 0, json.StandardError);
        var records = json.StandardError.Split('\n').Where(l => l.StartsWith('{')).Select(l => System.Text.Json.JsonDocument.Parse(l)).ToList();
        Assert.NotEmpty(records);
        Assert.All(records, r => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r.RootElement.GetProperty("Timestamp").GetString()));
    }

    private async Task SeedAsync(int n)
    {
        var blobs = new BlobStore(Options.Create(new StorageOptions { Root = _home }));
        await using var ctx = _db.CreateDbContext();
        foreach (var photo in PhotoCorpus.Distinct(n))
        {
            var bytes = PhotoCorpus.RenderJpeg(photo, maxSide: 480);
            var sha = await blobs.PutAsync(bytes, CancellationToken.None);
            ctx.Images.Add(new Image { Sha256 = sha, SourceUrl = $"http://photos.test/{photo.Id}.jpg", Status = ImageStatus.Fetched, ByteSize = bytes.Length, Width = 352, Height = 264 });
        }

        await ctx.SaveChangesAsync();
    }

    [GeneratedRegex(@"Dashboard: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex DashboardAddress();

    [GeneratedRegex(@"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[curate\] .*$")]
    private static partial Regex ProgressLine();

    /// <summary>
    /// The smallest OTLP/HTTP collector: accepts POSTs to /v1/traces, /v1/metrics and /v1/logs, answers 200 with an
    /// empty protobuf message, and keeps each body (gunzipped when sent compressed) by path.
    /// </summary>
    private sealed class OtlpReceiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentQueue<(string Path, string Body)> _received = new();
        private readonly ConcurrentQueue<string> _types = new();
        private readonly Task _loop;

        public OtlpReceiver()
        {
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                Endpoint = $"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}";
            }

            _listener.Prefixes.Add(Endpoint + "/");
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Endpoint { get; }

        public IReadOnlyList<string> ContentTypes => [.. _types];

        public List<string> Bodies(string path) => [.. _received.Where(r => r.Path == path).Select(r => r.Body)];

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                using var body = new MemoryStream();
                var input = context.Request.Headers["Content-Encoding"] == "gzip"
                    ? new GZipStream(context.Request.InputStream, CompressionMode.Decompress)
                    : context.Request.InputStream;
                await input.CopyToAsync(body);
                _received.Enqueue((context.Request.Url!.AbsolutePath, Encoding.UTF8.GetString(body.ToArray())));
                _types.Enqueue(context.Request.ContentType ?? "");
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
