using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Harvester.App.Dashboard;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Harvester.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.App.Tests;

/// <summary>The dashboard against a real database: what it reads, and what it serves over HTTP.</summary>
[Collection(PostgresCollection.Name)]
public sealed class DashboardTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;
    private StorageOptions _storage = null!;

    public async Task InitializeAsync()
    {
        _db = await fixture.CreateDatabaseAsync("dash");
        _storage = new StorageOptions { Root = fixture.StateRoot, OutputRoot = Path.Combine(fixture.StateRoot, "out-" + Guid.NewGuid().ToString("N")[..8]) };
        await SeedAsync();
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private PipelineStatus Status => new(_db, Options.Create(_storage));

    private DashboardServer Server(string urls) => new(Status, Options.Create(new DashboardOptions { Urls = urls }), Options.Create(_storage));

    private async Task SeedAsync()
    {
        await using var ctx = _db.CreateDbContext();
        var site = new Site { Key = "test-map", Adapter = "map" };
        ctx.Sites.Add(site);
        await ctx.SaveChangesAsync();
        ctx.CrawlJobs.Add(new CrawlJob { SiteId = site.Id, Name = "망원동 카페 crawl", Status = JobStatus.Completed, PagesVisited = 7, PlacesFound = 3, PhotosFound = 12, PhotosStored = 10, Failures = 2, StartedAt = DateTimeOffset.UtcNow.AddMinutes(-3), FinishedAt = DateTimeOffset.UtcNow });
        ctx.CrawlJobs.Add(new CrawlJob { SiteId = site.Id, Name = "second", Status = JobStatus.Failed, Error = "the site changed", StartedAt = DateTimeOffset.UtcNow });
        var n = 0;
        Image Add(ImageStatus status, string? reasons = null) => new()
        {
            Sha256 = (n++).ToString("x64", CultureInfo.InvariantCulture),
            SourceUrl = "http://map.test/" + n,
            Status = status,
            RejectReasons = reasons is null ? null : JsonDocument.Parse(reasons),
        };
        ctx.Images.AddRange(
            Add(ImageStatus.Accepted), Add(ImageStatus.Accepted), Add(ImageStatus.Fetched),
            Add(ImageStatus.Rejected, """[{"reason":"blurry","detail":"variance 3"}]"""),
            Add(ImageStatus.Rejected, """[{"reason":"blurry","detail":"variance 9"},{"reason":"too-dark","detail":"mean 20"}]"""),
            Add(ImageStatus.Duplicate));
        await ctx.SaveChangesAsync();

        await using var cmd = _db.DataSource.CreateCommand("""
            INSERT INTO work_leases (stage, item_id, claimed_by, lease_until, attempts) VALUES
              ('curate', 1, 'host:1', now() + interval '1 hour', 1),
              ('curate', 2, 'host:2', now() - interval '1 hour', 3),
              ('embed:harvester-gist', 1, 'host:1', now() + interval '1 hour', 1)
            """);
        await cmd.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Status_counts_images_reasons_jobs_and_leases_from_the_database()
    {
        var s = await Status.ReadAsync(CancellationToken.None);

        Assert.Equal(2, s.Images.Single(c => c.Key == "accepted").Count);
        Assert.Equal(1, s.Images.Single(c => c.Key == "fetched").Count);
        Assert.Equal(2, s.Images.Single(c => c.Key == "rejected").Count);
        Assert.Equal([("blurry", 2L), ("too-dark", 1L)], s.RejectReasons.Select(r => (r.Key, r.Count)));
        Assert.Equal(["second", "망원동 카페 crawl"], s.Jobs.Select(j => j.Name));
        Assert.Equal("failed", s.Jobs[0].Status);
        Assert.Equal("the site changed", s.Jobs[0].Error);
        var curate = s.Leases.Single(l => l.Stage == "curate");
        Assert.Equal((1L, 1L, 3), (curate.InFlight, curate.Expired, curate.MaxAttempts));
        Assert.Equal(1, s.Leases.Single(l => l.Stage == "embed:harvester-gist").InFlight);
        Assert.Empty(s.Runs);
        Assert.Empty(s.Exports);
    }

    [Fact]
    public async Task Dashboard_serves_the_page_json_metrics_and_output_files_but_nothing_outside_them()
    {
        // An export and a gallery as the other stages write them under the output folder.
        var export = Path.Combine(_storage.OutputRoot, "exports", "v1");
        Directory.CreateDirectory(export);
        await File.WriteAllTextAsync(Path.Combine(export, "export.json"), """{"createdAt":"2026-11-23T10:00:00+00:00","images":40,"splits":[{"name":"train","images":32},{"name":"test","images":8}]}""");
        await File.WriteAllTextAsync(Path.Combine(export, "manifest.csv"), "path,split\n");
        await File.WriteAllTextAsync(Path.Combine(fixture.StateRoot, "secret.txt"), "not for the web");

        await using var server = Server("http://127.0.0.1:0");
        await server.StartAsync(CancellationToken.None);
        using var http = new HttpClient { BaseAddress = new Uri(server.Addresses.Single()) };

        var page = await http.GetStringAsync(new Uri("/", UriKind.Relative));
        Assert.Contains("망원동 카페 crawl", page, StringComparison.Ordinal);
        Assert.Contains("too-dark", page, StringComparison.Ordinal);
        Assert.Contains("train 32, test 8", page, StringComparison.Ordinal);
        Assert.Contains("href=\"out/exports/v1/export.json\"", page, StringComparison.Ordinal);

        using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/status", UriKind.Relative)));
        var images = json.RootElement.GetProperty("images").EnumerateArray().ToDictionary(e => e.GetProperty("key").GetString()!, e => e.GetProperty("count").GetInt64());
        Assert.Equal(2, images["accepted"]);
        Assert.Equal(40, json.RootElement.GetProperty("exports")[0].GetProperty("images").GetInt32());

        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("harvester_images{status=\"accepted\"} 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("harvester_reject_reasons{reason=\"blurry\"} 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("harvester_stage_leases{stage=\"curate\",state=\"expired\"} 1\n", metrics, StringComparison.Ordinal);

        Assert.Equal("path,split\n", await http.GetStringAsync(new Uri("/out/exports/v1/manifest.csv", UriKind.Relative)));
        using var escape = await http.GetAsync(new Uri("/out/%2e%2e/secret.txt", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, escape.StatusCode);
    }

    [Fact]
    public async Task A_busy_port_is_one_clear_error_for_the_command_and_a_logged_one_for_the_worker()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var urls = $"http://127.0.0.1:{((IPEndPoint)busy.LocalEndpoint).Port}";

        await using var server = Server(urls);
        var e = await Assert.ThrowsAsync<HarvesterException>(() => server.StartAsync(CancellationToken.None));
        Assert.Contains("cannot listen on " + urls, e.Message, StringComparison.Ordinal);

        // In the worker the same failure must not stop the stages.
        var service = new DashboardService(Server(urls), Options.Create(new DashboardOptions { Urls = urls }), NullLogger<DashboardService>.Instance);
        await service.StartAsync(CancellationToken.None);
        await service.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task With_a_token_every_page_and_api_call_without_it_gets_401_and_the_browser_keeps_it_in_a_cookie()
    {
        const string token = "s3cret-for-the-test";
        await using var server = new DashboardServer(Status, Options.Create(new DashboardOptions { Urls = "http://127.0.0.1:0", Token = token }), Options.Create(_storage),
            series: new PipelineSeries(_db));
        await server.StartAsync(CancellationToken.None);
        var address = new Uri(server.Addresses.Single());
        using var bare = new HttpClient { BaseAddress = address };

        foreach (var path in new[] { "/", "/api/status", "/api/series", "/metrics", "/out/none.csv" })
        {
            using var refused = await bare.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.DoesNotContain("망원동", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/status", UriKind.Relative)))
        {
            wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token + "x");
            using var r = await bare.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        using (var right = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/status", UriKind.Relative)))
        {
            right.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            using var r = await bare.SendAsync(right);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }

        // A browser opens ?token= once; the cookie then carries it to the page's own refreshes and links.
        var cookies = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = address };
        using (var first = await browser.GetAsync(new Uri("/?token=" + token, UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Contains("망원동 카페 crawl", await first.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(token, cookies.GetCookies(address)[DashboardServer.TokenCookie]?.Value);
        using var later = await browser.GetAsync(new Uri("/api/series", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, later.StatusCode);
        using var series = JsonDocument.Parse(await later.Content.ReadAsStringAsync());
        Assert.Equal(PipelineSeries.Buckets, series.RootElement.GetProperty("buckets").GetArrayLength());
    }

    [Fact]
    public async Task Listening_beyond_loopback_warns_without_a_token_and_warns_of_plain_http_with_one()
    {
        async Task<List<(LogLevel Level, string Message)>> StartAsync(string urls, string token)
        {
            var capture = new CapturingLoggerProvider();
            using var factory = LoggerFactory.Create(b => b.AddProvider(capture));
            await using var server = new DashboardServer(Status, Options.Create(new DashboardOptions { Urls = urls, Token = token }), Options.Create(_storage),
                logger: factory.CreateLogger<DashboardServer>());
            await server.StartAsync(CancellationToken.None);
            await server.StopAsync(CancellationToken.None);
            return [.. capture.Entries.Select(e => (e.Level, e.Message))];
        }

        Assert.DoesNotContain(await StartAsync("http://127.0.0.1:0", ""), e => e.Level >= LogLevel.Warning);

        var open = await StartAsync("http://0.0.0.0:0", "");
        Assert.Contains(open, e => e.Level == LogLevel.Warning && e.Message.Contains("no access token", StringComparison.Ordinal) && e.Message.Contains("http://0.0.0.0:0", StringComparison.Ordinal));

        var guarded = await StartAsync("http://0.0.0.0:0", "t0ken");
        Assert.DoesNotContain(guarded, e => e.Message.Contains("no access token", StringComparison.Ordinal));
        Assert.Contains(guarded, e => e.Level == LogLevel.Warning && e.Message.Contains("plain HTTP", StringComparison.Ordinal));

        Assert.Equal(["http://0.0.0.0:1", "http://[::]:2", "http://example.org:3"],
            DashboardServer.BeyondLoopback("http://127.0.0.1:0;http://0.0.0.0:1;http://[::]:2;http://[::1]:4;http://localhost:5;http://example.org:3"));
    }
}
