using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Harvester.App.Dashboard;
using Harvester.App.Report;
using Harvester.Cluster;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace Harvester.App.Tests;

/// <summary>The curation report and cluster rating, looked at the way people do: in a real browser.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ReportAndRatingTests(PostgresFixture fixture) : IAsyncLifetime
{
    private const string HostileName = "<script>window.pwned = 1</script>../../etc";
    private HarvesterDatabase _db = null!;
    private StorageOptions _storage = null!;
    private BlobStore _blobs = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _db = await fixture.CreateDatabaseAsync("report");
        _storage = new StorageOptions { Root = fixture.StateRoot, BlobRoot = Path.Combine(fixture.StateRoot, "report-blobs"), OutputRoot = Path.Combine(fixture.StateRoot, "out-" + Guid.NewGuid().ToString("N")[..8]) };
        _blobs = new BlobStore(Options.Create(_storage));
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _db.DisposeAsync();
    }

    /// <summary>12 real photos: accepted, rejected (blurry, with score and threshold), a duplicate group, a run of 2 clusters.</summary>
    private async Task<long> SeedAsync()
    {
        await using var ctx = _db.CreateDbContext();
        var site = new Site { Key = "demo-map", Adapter = "map" };
        ctx.Sites.Add(site);
        await ctx.SaveChangesAsync();
        var place = new Place { SiteId = site.Id, ExternalId = "p1", Name = HostileName, Category = "카페", Neighbourhood = HostileName };
        ctx.Places.Add(place);
        await ctx.SaveChangesAsync();
        var images = new List<Image>();
        foreach (var (photo, i) in PhotoCorpus.Distinct(12).Select((p, i) => (p, i)))
        {
            var bytes = PhotoCorpus.RenderJpeg(photo, 400);
            var status = i < 6 ? ImageStatus.Accepted : i < 10 ? ImageStatus.Rejected : ImageStatus.Duplicate;
            images.Add(new Image
            {
                Sha256 = await _blobs.PutAsync(bytes, CancellationToken.None), SourceUrl = $"http://map.test/{i}.jpg", Status = status, PlaceId = place.Id,
                Width = 400, Height = 300, Format = "jpeg", ByteSize = bytes.Length,
                RejectReasons = status == ImageStatus.Rejected ? JsonDocument.Parse($$"""[{"reason":"blurry","score":{{10 + i}},"threshold":40}]""") : null,
            });
        }

        ctx.Images.AddRange(images);
        await ctx.SaveChangesAsync();
        ctx.ImageSightings.AddRange(images.Select(i => new ImageSighting { ImageId = i.Id, SiteId = site.Id, PlaceId = place.Id, SourceUrl = i.SourceUrl }));
        var group = new DuplicateGroup { Kind = DuplicateKind.PerceptualHash, KeptImageId = images[0].Id, Size = 3 };
        ctx.DuplicateGroups.Add(group);
        await ctx.SaveChangesAsync();
        foreach (var i in new[] { images[0], images[10], images[11] })
        {
            i.DuplicateGroupId = group.Id;
        }

        await ctx.SaveChangesAsync();
        var (model, _) = await new ModelStore(_db).RegisterAsync(new ModelRegistration("test-model", "1", "sha", 4, "vector", 16, 64), CancellationToken.None);
        await using var cmd = _db.DataSource.CreateCommand($"""
            INSERT INTO clustering_runs (model_id, k, status, parameters, metrics, started_at) VALUES ({model.Id}, 2, 'completed', jsonb_build_object('method', 'kmeans'), jsonb_build_object('images', 6), now());
            INSERT INTO cluster_centroids (run_id, cluster_index, centroid, size) SELECT max(id), 0, '[1,0,0,0]'::vector, 3 FROM clustering_runs UNION ALL SELECT max(id), 1, '[0,1,0,0]'::vector, 3 FROM clustering_runs;
            INSERT INTO cluster_assignments (run_id, image_id, cluster_index, distance)
            SELECT (SELECT max(id) FROM clustering_runs), id, (row_number() OVER (ORDER BY id) - 1)::int % 2, 0.1 * row_number() OVER (ORDER BY id)
            FROM images WHERE status = 'accepted';
            """);
        await cmd.ExecuteNonQueryAsync();
        await using var run = _db.DataSource.CreateCommand("SELECT max(id) FROM clustering_runs");
        return (long)(await run.ExecuteScalarAsync())!;
    }

    private ReportWriter.Settings Settings(string dir) => new(dir, _storage.ResolveOutputRoot(), 6, 0.995, null, "http://127.0.0.1:5080");

    [Fact]
    public async Task The_report_opens_in_chromium_with_every_section_its_pictures_and_hostile_text_escaped()
    {
        await SeedAsync();
        var dir = Path.Combine(_storage.ResolveOutputRoot(), "report");
        var result = await new ReportWriter(_db, _blobs).WriteAsync(Settings(dir), CancellationToken.None);
        var again = await new ReportWriter(_db, _blobs).WriteAsync(Settings(dir), CancellationToken.None);

        Assert.True(result.NewThumbnails > 0);
        Assert.Equal(0, again.NewThumbnails); // thumbnails are made once and kept
        var page = await _browser.NewPageAsync();
        await page.GotoAsync(new Uri(result.Path).AbsoluteUri);
        foreach (var section in new[] { "overview", "rejects", "duplicates", "near-misses", "clusters", "export" })
        {
            Assert.True(await page.Locator($"section#{section}").CountAsync() == 1, $"no {section} section");
        }

        // The page loads pictures lazily (a report can show thousands); load them all to check every link.
        await page.EvaluateAsync("() => document.querySelectorAll('img').forEach(i => i.loading = 'eager')");
        await page.WaitForFunctionAsync("() => [...document.images].every(i => i.complete)");
        var broken = await page.EvaluateAsync<int>("() => [...document.images].filter(i => i.naturalWidth === 0).length");
        var shown = await page.EvaluateAsync<int>("() => document.images.length");
        Assert.Equal(0, broken);
        Assert.True(shown >= 10, $"only {shown} pictures");
        Assert.Null(await page.EvaluateAsync<int?>("() => window.pwned"));
        Assert.Contains(HostileName[..20], await page.InnerTextAsync("section#overview"), StringComparison.Ordinal); // shown as text, not run
        Assert.Contains("sharpness 16 < 40", await page.InnerTextAsync("section#rejects"), StringComparison.Ordinal);
        Assert.Equal(1, await page.Locator("section#duplicates figure.kept").CountAsync());
    }

    [Fact]
    public async Task A_report_of_an_empty_database_says_so_on_a_valid_page()
    {
        var result = await new ReportWriter(_db, _blobs).WriteAsync(Settings(Path.Combine(_storage.ResolveOutputRoot(), "empty")), CancellationToken.None);

        var page = await _browser.NewPageAsync();
        await page.GotoAsync(new Uri(result.Path).AbsoluteUri);
        Assert.Equal(0, result.Images);
        Assert.Contains("Nothing yet", await page.InnerTextAsync("body"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rating_given_in_the_browser_is_stored_and_bad_or_cross_site_ratings_are_refused()
    {
        var run = await SeedAsync();
        var clusters = new ClusterStore(_db, new DuplicateGroups(_blobs));
        await using var server = new DashboardServer(new PipelineStatus(_db, Options.Create(_storage)), Options.Create(new DashboardOptions { Urls = "http://127.0.0.1:0" }),
            Options.Create(_storage), new RatingEndpoints(clusters, _blobs, Options.Create(_storage)));
        await server.StartAsync(CancellationToken.None);
        var origin = server.Addresses[0];

        var page = await _browser.NewPageAsync();
        await page.GotoAsync($"{origin}/runs/{run}/rate");
        await page.WaitForFunctionAsync("() => [...document.images].length > 0 && [...document.images].every(i => i.complete && i.naturalWidth > 0)");
        await page.FillAsync("#rater", "tester");
        await page.CheckAsync("input[name=r0][value='4']");
        await page.ClickAsync("button[data-cluster='0']");
        await page.WaitForSelectorAsync("#s0.saved");

        var rated = (await clusters.RatingsAsync(run, CancellationToken.None)).Single(r => r.Cluster == 0);
        Assert.Equal((4.0, 1), (rated.Mean!.Value, rated.Ratings));

        using var http = new HttpClient { BaseAddress = new Uri(origin) };
        async Task<HttpStatusCode> Post(object body, string? from, string contentType = "application/json")
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/ratings")
            {
                Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, contentType),
            };
            if (from is not null)
            {
                request.Headers.Add("Origin", from);
            }

            using var response = await http.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Forbidden, await Post(new { run, cluster = 1, rating = 5, rater = "evil" }, "http://evil.test"));
        Assert.Equal(HttpStatusCode.Forbidden, await Post(new { run, cluster = 1, rating = 5, rater = "evil" }, null));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await Post(new { run, cluster = 1, rating = 5, rater = "form" }, origin, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.BadRequest, await Post(new { run, cluster = 1, rating = 7, rater = "x" }, origin));
        Assert.Equal(HttpStatusCode.BadRequest, await Post(new { run, cluster = 1, rating = 3, rater = "" }, origin));
        Assert.Equal(HttpStatusCode.NotFound, await Post(new { run, cluster = 9, rating = 3, rater = "x" }, origin));
        Assert.Equal(HttpStatusCode.NotFound, await Post(new { run = 999_999L, cluster = 0, rating = 3, rater = "x" }, origin));
        Assert.Equal(0, (await clusters.RatingsAsync(run, CancellationToken.None)).Single(r => r.Cluster == 1).Ratings);
        Assert.Equal(HttpStatusCode.OK, await Post(new { run, cluster = 1, rating = 2, rater = "second" }, origin));
        Assert.Equal(2.0, (await clusters.RatingsAsync(run, CancellationToken.None)).Single(r => r.Cluster == 1).Mean);
    }
}
