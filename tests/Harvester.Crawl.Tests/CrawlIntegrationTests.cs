using System.Diagnostics;
using Harvester.Core;
using Harvester.DemoSite;
using Harvester.Data;
using Harvester.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Harvester.Crawl.Tests;

/// <summary>End-to-end crawls of the demo site with real Chromium and real PostgreSQL, checked against the site's truth.</summary>
[Collection(CrawlCollection.Name)]
public sealed class CrawlIntegrationTests(PostgresFixture postgres, DemoSiteFixture demo) : IAsyncLifetime
{
    private static readonly string[] Unstorable = [DemoFault.Broken, DemoFault.HtmlAsJpeg, DemoFault.Oversize];
    private HarvesterDatabase _db = null!;
    private string _root = null!;

    private DemoSiteTruth Truth => demo.Site.Truth;
    private string BaseUrl => demo.Site.BaseUrl.ToString();

    public async Task InitializeAsync()
    {
        _db = await postgres.CreateDatabaseAsync("crawl");
        _root = Path.Combine(postgres.StateRoot, "crawl-" + Guid.NewGuid().ToString("N")[..8]);
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private async Task<(CrawlJobSummary Summary, long JobId)> CrawlAsync(CrawlJobSpec spec, IDictionary<string, string?>? settings = null)
    {
        await using var sp = CrawlHarness.Build(_db, _root, settings);
        var crawler = sp.GetRequiredService<CrawlService>();
        var job = await crawler.CreateJobAsync(spec with { BaseUrl = BaseUrl }, CancellationToken.None);
        var summary = await crawler.RunJobAsync(job, CancellationToken.None);
        await sp.GetRequiredService<BrowserHost>().DisposeAsync();
        return (summary, job);
    }

    private async Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> map, params object[] args)
    {
        await using var cmd = _db.DataSource.CreateCommand(sql);
        foreach (var a in args)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        var list = new List<T>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            list.Add(map(r));
        }

        return list;
    }

    [Fact]
    public async Task Map_crawl_stores_every_listed_photo_once_and_records_every_fault()
    {
        var queries = Truth.Queries.Select(q => q.Query).ToList();
        var photoCap = DemoSiteFixture.Options().PhotosPerPlace; // every photo: the verbatim copy is a place's last
        var (summary, job) = await CrawlAsync(new CrawlJobSpec
        {
            Site = "demo-map",
            Queries = [.. queries, "없는동 카페"],
            PlacesPerQuery = 11,
            PhotosPerPlace = photoCap,
        });
        Assert.Equal(JobStatus.CompletedWithFailures, summary.Status); // the faults below are failures, and photos were stored

        var crawlable = queries.SelectMany(Truth.PlacesOf).Where(p => !p.Private).ToList();
        var places = await QueryAsync("SELECT external_id FROM places", r => r.GetString(0));
        Assert.Equal(crawlable.Select(p => p.Id).Order(), places.Order());

        // Every photo of a crawlable place is stored, except the ones that are not images or are too big.
        var listed = crawlable.Where(p => p.Fault is null).SelectMany(p => p.Photos.Take(photoCap)).ToList();
        var expectedStored = listed.Where(p => !Unstorable.Contains(p.Fault)).Select(p => p.Url.AbsoluteUri).ToHashSet();
        var sightings = await QueryAsync("SELECT source_url, image_id FROM image_sightings WHERE job_id = $1", r => (Url: r.GetString(0), Image: r.GetInt64(1)), job);
        await AssertSameUrlsAsync(job, expectedStored, sightings.Select(s => s.Url).Distinct());
        Assert.Contains(listed, p => p.Fault is DemoFault.TooManyRequests or DemoFault.ServerError);
        Assert.Contains(listed, p => p.Fault == DemoFault.Redirect);

        // The same bytes posted by two places are one image seen twice.
        var verbatim = listed.Where(p => p.DuplicateOf is not null && p.Variant is null && !Unstorable.Contains(p.Fault)).ToList();
        Assert.NotEmpty(verbatim);
        var imageOf = sightings.GroupBy(s => s.Url).ToDictionary(g => g.Key, g => Assert.Single(g.Select(s => s.Image).Distinct()));
        foreach (var dup in verbatim)
        {
            var original = listed.FirstOrDefault(p => p.Id == dup.DuplicateOf);
            if (original is not null && imageOf.ContainsKey(original.Url.AbsoluteUri))
            {
                Assert.Equal(imageOf[original.Url.AbsoluteUri], imageOf[dup.Url.AbsoluteUri]);
            }
        }

        var distinctImages = await QueryAsync("SELECT count(*) FROM images WHERE job_id = $1", r => r.GetInt64(0), job);
        Assert.True(distinctImages[0] < sightings.Count);
        var blobs = Directory.GetFiles(Path.Combine(_root, "blobs"), "*", SearchOption.AllDirectories);
        Assert.Equal(distinctImages[0], blobs.Length);
        Assert.DoesNotContain(blobs, b => b.EndsWith(".tmp", StringComparison.Ordinal));

        // Each fault is on the record with its reason, and the job went on.
        var failures = await QueryAsync("SELECT url, kind, last_error FROM frontier WHERE job_id = $1 AND state = 'failed'",
            r => (Url: r.GetString(0), Kind: r.GetString(1), Reason: r.GetString(2)), job);
        string ReasonFor(string url) => failures.Single(f => f.Url == url).Reason;
        foreach (var p in listed.Where(p => Unstorable.Contains(p.Fault)))
        {
            Assert.Contains(p.Fault == DemoFault.Oversize ? "over the size cap" : "not an image", ReasonFor(p.Url.AbsoluteUri));
        }

        Assert.Contains(listed, p => p.Fault == DemoFault.HtmlAsJpeg);
        Assert.Contains("body is html", ReasonFor(listed.First(p => p.Fault == DemoFault.HtmlAsJpeg).Url.AbsoluteUri));
        var hanging = crawlable.Where(p => p.Fault == DemoFault.PhotoGridHangs).ToList();
        Assert.NotEmpty(hanging);
        var placeRows = await QueryAsync("SELECT url, state, coalesce(last_error, '') FROM frontier WHERE job_id = $1 AND kind = 'place'",
            r => (Url: r.GetString(0), State: r.GetString(1), Reason: r.GetString(2)), job);
        foreach (var h in hanging)
        {
            var row = placeRows.Single(f => f.Url.Contains($"/place/{h.Id}/", StringComparison.Ordinal));
            Assert.True(row.State == "failed" && row.Reason.Contains("PhotoItem", StringComparison.Ordinal), $"hanging place {h.Id}: {row}");
        }

        var privatePlaces = queries.SelectMany(Truth.PlacesOf).Where(p => p.Private).ToList();
        Assert.NotEmpty(privatePlaces);
        foreach (var p in privatePlaces)
        {
            var row = placeRows.SingleOrDefault(f => f.Url.Contains($"/place/{p.Id}/", StringComparison.Ordinal));
            Assert.True(row.State == "failed" && row.Reason.Contains("robots.txt", StringComparison.Ordinal), $"private place {p.Id} ({p.HomeUrl}): {row}; places: {string.Join(", ", placeRows.Select(x => x.Url))}");
        }

        var noResults = await QueryAsync("SELECT state, last_error FROM frontier WHERE job_id = $1 AND kind = 'search' AND url LIKE '%' || $2", r => (r.GetString(0), r.GetString(1)), job, Uri.EscapeDataString("없는동 카페"));
        Assert.Equal(("done", "no results"), noResults.Single());

        // Metadata travels with the photos: place, query, type, page URL.
        var meta = await QueryAsync("""
            SELECT p.external_id, s.query, s.photo_type, s.page_url, p.name, p.latitude FROM image_sightings s JOIN places p ON p.id = s.place_id WHERE s.job_id = $1
            """, r => (Place: r.GetString(0), Query: r.GetString(1), Type: r.GetString(2), Page: r.GetString(3), Name: r.GetString(4), Lat: r.GetDouble(5)), job);
        var truthPlace = Truth.Place(meta[0].Place);
        Assert.Equal(truthPlace.Query, meta[0].Query);
        Assert.Equal(truthPlace.Name, meta[0].Name);
        Assert.Equal(truthPlace.Lat, meta[0].Lat, 6);
        Assert.All(meta, m => Assert.Contains(m.Type, DemoPhotoType.MapTypes));
        Assert.All(meta, m => Assert.Contains("/photo", m.Page, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_running_job_writes_its_counters_as_it_goes_and_its_summary_at_the_end()
    {
        // The spans the crawl makes, as an OpenTelemetry exporter would receive them.
        var spans = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == Core.Telemetry.HarvesterTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var sp = CrawlHarness.Build(_db, _root, new Dictionary<string, string?> { ["Crawler:CounterFlushInterval"] = "00:00:00.200" });
        var crawler = sp.GetRequiredService<CrawlService>();
        var job = await crawler.CreateJobAsync(
            new CrawlJobSpec { Site = "demo-map", Queries = [Truth.Queries[0].Query], PlacesPerQuery = 11, PhotosPerPlace = 6, BaseUrl = BaseUrl }, CancellationToken.None);
        var run = crawler.RunJobAsync(job, CancellationToken.None);

        // What an operator's dashboard reads while the job runs: crawl_jobs alone, nothing derived from the frontier.
        var seen = new List<(int Pages, int Stored)>();
        while (!run.IsCompleted)
        {
            var row = await QueryAsync("SELECT status::text, pages_visited, photos_stored FROM crawl_jobs WHERE id = $1",
                r => (Status: r.GetString(0), Pages: r.GetInt32(1), Stored: r.GetInt32(2)), job);
            if (row[0].Status == "running" && !run.IsCompleted)
            {
                seen.Add((row[0].Pages, row[0].Stored));
            }

            await Task.Delay(100);
        }

        var summary = await run;
        await sp.GetRequiredService<BrowserHost>().DisposeAsync();

        // The demo query's broken photos are failures on record, so the job ends completed with failures.
        Assert.Equal(summary.Failures == 0 ? JobStatus.Completed : JobStatus.CompletedWithFailures, summary.Status);
        Assert.True(summary.PhotosStored > 0);
        // The counters moved while the job ran: some photos were on record before the end, and never more than at the end.
        Assert.Contains(seen, c => c.Stored > 0 && c.Stored < summary.PhotosStored);
        Assert.True(seen.Select(c => c.Stored).Distinct().Count() >= 3, "photos_stored took fewer than 3 values while running: " + string.Join(", ", seen.Select(c => c.Stored).Distinct()));
        Assert.All(seen, c => Assert.InRange(c.Stored, 0, summary.PhotosStored));
        Assert.All(seen, c => Assert.InRange(c.Pages, 0, summary.Pages));
        Assert.Equal(seen.Select(c => c.Stored), seen.Select(c => c.Stored).Order());

        // A span per page visit and per download, each with its outcome; as many stored downloads as photos stored.
        var mine = spans.Where(a => a.GetTagItem("url.full") is string u && u.StartsWith(BaseUrl.TrimEnd('/'), StringComparison.Ordinal)).ToList();
        Assert.Contains(mine, a => a.DisplayName == "crawl.page search" && (string?)a.GetTagItem("harvester.outcome") == "visited");
        Assert.Contains(mine, a => a.DisplayName == "crawl.page place" && (string?)a.GetTagItem("harvester.outcome") == "visited");
        var downloads = mine.Where(a => a.DisplayName == "crawl.download").ToList();
        Assert.Equal(summary.PhotosStored, downloads.Count(a => (string?)a.GetTagItem("harvester.outcome") == "stored"));
        Assert.All(downloads.Where(a => (string?)a.GetTagItem("harvester.outcome") == "failed"), a => Assert.Equal(ActivityStatusCode.Error, a.Status));
    }

    [Fact]
    public async Task A_photo_type_filter_keeps_only_that_type()
    {
        var query = Truth.Queries[1].Query;
        var (summary, job) = await CrawlAsync(new CrawlJobSpec { Site = "demo-map", Queries = [query], PlacesPerQuery = 3, PhotosPerPlace = 20, PhotoType = "interior" });
        var types = await QueryAsync("SELECT DISTINCT photo_type FROM image_sightings WHERE job_id = $1", r => r.GetString(0), job);
        Assert.Equal(["interior"], types);
        var expected = Truth.PlacesOf(query).Take(3).Where(p => p.Fault is null && !p.Private)
            .SelectMany(p => p.Photos.Where(ph => ph.Type == "interior" && !Unstorable.Contains(ph.Fault))).Select(p => p.Url.AbsoluteUri).Order();
        await AssertSameUrlsAsync(job, expected, await QueryAsync("SELECT source_url FROM image_sightings WHERE job_id = $1", r => r.GetString(0), job));
        Assert.True(summary.PhotosStored > 0);
    }

    [Fact]
    public async Task Shop_crawl_follows_the_ranking_and_review_pages()
    {
        var category = Truth.ShopCategories[0];
        var (summary, job) = await CrawlAsync(new CrawlJobSpec { Site = "demo-shop", Categories = [category.Slug], ProductsPerCategory = 4, ReviewsPerProduct = 6 });
        Assert.Equal(JobStatus.Completed, summary.Status);
        var top = category.Products.OrderBy(p => p.Rank).Take(4).ToList();
        var products = await QueryAsync("SELECT external_id, rank, name FROM products ORDER BY rank", r => (Id: r.GetString(0), Rank: r.GetInt32(1), Name: r.GetString(2)));
        Assert.Equal(top.Select(p => (p.Id, p.Rank, p.Name)), products);

        var reviews = top.SelectMany(p => p.Reviews.Take(6)).ToList();
        Assert.Contains(reviews, r => r.Page > 1); // the cap needs the second review page
        var storedReviews = await QueryAsync("SELECT external_id, text FROM reviews", r => (r.GetString(0), r.GetString(1)));
        Assert.Equal(reviews.Select(r => (r.Id, r.Text)).Order(), storedReviews.Order());

        var photos = reviews.SelectMany(r => r.Photos).Where(p => !Unstorable.Contains(p.Fault)).Select(p => p.Url.AbsoluteUri).Distinct().Order();
        var sightings = await QueryAsync("""
            SELECT s.source_url, r.external_id, p.external_id FROM image_sightings s
            JOIN reviews r ON r.id = s.review_id JOIN products p ON p.id = s.product_id WHERE s.job_id = $1
            """, r => (Url: r.GetString(0), Review: r.GetString(1), Product: r.GetString(2)), job);
        Assert.Equal(photos, sightings.Select(s => s.Url).Distinct().Order());
        foreach (var s in sightings)
        {
            var review = reviews.Single(r => r.Id == s.Review);
            Assert.Contains(review.Photos, p => p.Url.AbsoluteUri == s.Url);
        }
    }

    [Fact]
    public async Task A_site_defined_only_in_configuration_is_crawled_through_its_search_box()
    {
        // A site the code has never seen: the map, reached by typing into the search box instead of a search URL.
        const string prefix = "Crawler:Sites:typed-map:";
        var settings = new Dictionary<string, string?>
        {
            [prefix + "Kind"] = "Map",
            [prefix + "BaseUrl"] = BaseUrl,
            [prefix + "SearchPageUrl"] = "{base}/map",
            [prefix + "SearchInput"] = "#search-input",
            [prefix + "ResultsFrame"] = "iframe[name=searchIframe]",
            [prefix + "ResultItem"] = "#list-scroll li",
            [prefix + "ResultLink"] = "a",
            [prefix + "ResultsScrollContainer"] = "#list-scroll",
            [prefix + "ResultsEnd"] = ".list-end",
            [prefix + "PlaceIdPattern"] = "/place/(?<id>[^/?#]+)/",
            [prefix + "PlaceName"] = "h1",
            [prefix + "PhotoTab"] = "a[href$='/photo']",
            [prefix + "PhotoItem"] = "#photo-grid img",
            [prefix + "WrappedUrlParameters:0"] = "src",
        };
        var query = Truth.Queries[1].Query;
        var (summary, job) = await CrawlAsync(new CrawlJobSpec { Site = "typed-map", Queries = [query], PlacesPerQuery = 2, PhotosPerPlace = 2 }, settings);
        Assert.Equal(JobStatus.CompletedWithFailures, summary.Status); // the second place's second photo is broken
        var expected = Truth.PlacesOf(query).Take(2).ToList();
        Assert.Equal(expected.Select(p => p.Name).Order(), (await QueryAsync("SELECT name FROM places", r => r.GetString(0))).Order());
        var urls = expected.Where(p => p.Fault is null).SelectMany(p => p.Photos.Take(2)).Where(p => !Unstorable.Contains(p.Fault)).Select(p => p.Url.AbsoluteUri).Order();
        await AssertSameUrlsAsync(job, urls, await QueryAsync("SELECT source_url FROM image_sightings WHERE job_id = $1", r => r.GetString(0), job));
    }

    [Fact]
    public async Task Robots_txt_can_be_turned_off_per_job()
    {
        var query = Truth.Queries.First(q => Truth.PlacesOf(q.Query).Any(p => p.Private));
        var priv = Truth.PlacesOf(query.Query).First(p => p.Private);
        var (_, job) = await CrawlAsync(new CrawlJobSpec { Site = "demo-map", Queries = [query.Query], PlacesPerQuery = priv.Rank, PhotosPerPlace = 1, RespectRobotsTxt = false });
        Assert.Contains(priv.Id, await QueryAsync("SELECT external_id FROM places", r => r.GetString(0)));
        Assert.DoesNotContain(await QueryAsync("SELECT last_error FROM frontier WHERE job_id = $1 AND state = 'failed'", r => r.GetString(0), job), e => e.Contains("robots", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_crawl_worker_gives_back_what_a_database_restart_interrupted_and_finishes_the_job()
    {
        var queries = Truth.Queries.Select(q => q.Query).Take(2).ToArray();
        long job;
        await using (var sp = CrawlHarness.Build(_db, _root))
        {
            job = await sp.GetRequiredService<CrawlService>().CreateJobAsync(
                new CrawlJobSpec { Site = "demo-map", Queries = queries, PlacesPerQuery = 6, PhotosPerPlace = 6, BaseUrl = BaseUrl }, CancellationToken.None);
        }

        // A real worker whose claims outlast the test: only giving them back lets the job finish in time.
        var app = Path.Combine(CrawlHarness.RepoRoot(), "src", "Harvester.App", "bin", BuildConfiguration, "net10.0", "harvester.dll");
        var psi = new ProcessStartInfo("dotnet", [app, "worker"]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["ConnectionStrings__Harvester"] = _db.ConnectionString;
        foreach (var (k, v) in CrawlHarness.TestSettings(_root))
        {
            psi.Environment["Harvester__" + k.Replace(":", "__", StringComparison.Ordinal)] = v;
        }

        // No models under this storage root: a crawl-only worker needs neither the curate detectors nor an embedding model.
        psi.Environment["Harvester__Worker__Stages__0"] = "crawl";
        psi.Environment["Harvester__Crawler__Lease"] = "00:30:00";
        psi.Environment["Harvester__Crawler__MaxAttempts"] = "5";
        psi.Environment["Harvester__Crawler__PollInterval"] = "00:00:01";
        psi.Environment["Harvester__Dashboard__Enabled"] = "false";
        var log = new System.Text.StringBuilder();
        using var worker = Process.Start(psi)!;
        worker.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        worker.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        worker.BeginOutputReadLine();
        worker.BeginErrorReadLine();
        try
        {
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while ((await QueryAsync("SELECT count(*) FROM frontier WHERE job_id = $1 AND state = 'claimed'", r => r.GetInt64(0), job))[0] == 0
                   || (await QueryAsync("SELECT count(*) FROM frontier WHERE job_id = $1 AND state = 'done'", r => r.GetInt64(0), job))[0] < 3)
            {
                Assert.True(DateTime.UtcNow < deadline && !worker.HasExited, "the worker did not start on the job:\n" + log);
                await Task.Delay(50);
            }

            await PgCtl.StopAsync(postgres.Cluster);
            await Task.Delay(TimeSpan.FromSeconds(3));
            await PgCtl.StartAsync(postgres.Cluster);
            NpgsqlConnection.ClearAllPools();

            deadline = DateTime.UtcNow.AddMinutes(4);
            string status;
            while ((status = (await QueryWhenBackAsync("SELECT status::text FROM crawl_jobs WHERE id = $1", r => r.GetString(0), job))[0]) is "pending" or "running")
            {
                Assert.True(DateTime.UtcNow < deadline, $"the job is still {status}: interrupted claims were not given back\n" + log);
                Assert.False(worker.HasExited, "the worker exited when the database went away:\n" + log);
                await Task.Delay(250);
            }
        }
        finally
        {
            if (!worker.HasExited)
            {
                worker.Kill(entireProcessTree: true);
            }

            await worker.WaitForExitAsync();
        }

        var crawlable = queries.SelectMany(q => Truth.PlacesOf(q).Take(6)).Where(p => !p.Private && p.Fault is null).ToList();
        var expected = crawlable.SelectMany(p => p.Photos.Take(6)).Where(p => !Unstorable.Contains(p.Fault)).Select(p => p.Url.AbsoluteUri).Order().ToList();
        var sightings = await QueryAsync("SELECT source_url FROM image_sightings WHERE job_id = $1", r => r.GetString(0), job);
        await new CrawlChecks(_db, demo.Site).AssertSameAsync(job, expected, sightings);
        Assert.Equal(0L, (await QueryAsync("SELECT count(*) FROM frontier WHERE job_id = $1 AND state IN ('pending', 'claimed')", r => r.GetInt64(0), job))[0]);
    }

    /// <summary>A query that waits out the first failures of a database that was just restarted.</summary>
    private async Task<List<T>> QueryWhenBackAsync<T>(string sql, Func<NpgsqlDataReader, T> map, params object[] args)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await QueryAsync(sql, map, args);
            }
            catch (NpgsqlException) when (attempt < 30)
            {
                await Task.Delay(1000);
            }
        }
    }

    [Fact]
    public async Task Resume_after_a_kill_mid_job_loses_nothing_and_stores_nothing_twice()
    {
        var queries = Truth.Queries.Select(q => q.Query).ToArray();
        var spec = new CrawlJobSpec { Site = "demo-map", Queries = queries, PlacesPerQuery = 8, PhotosPerPlace = 6, BaseUrl = BaseUrl };
        long job;
        await using (var sp = CrawlHarness.Build(_db, _root))
        {
            job = await sp.GetRequiredService<CrawlService>().CreateJobAsync(spec, CancellationToken.None);
        }

        // A real process, killed with SIGKILL while it is storing photos.
        var app = Path.Combine(CrawlHarness.RepoRoot(), "src", "Harvester.App", "bin", BuildConfiguration, "net10.0", "harvester.dll");
        Assert.True(File.Exists(app), "build the app first: " + app);
        var psi = new ProcessStartInfo("dotnet", [app, "crawl", "--resume", job.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["ConnectionStrings__Harvester"] = _db.ConnectionString;
        foreach (var (k, v) in CrawlHarness.TestSettings(_root))
        {
            psi.Environment["Harvester__" + k.Replace(":", "__", StringComparison.Ordinal)] = v;
        }

        using (var child = Process.Start(psi)!)
        {
            child.OutputDataReceived += (_, _) => { };
            child.ErrorDataReceived += (_, _) => { };
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (DateTime.UtcNow < deadline && !child.HasExited)
            {
                var stored = (await QueryAsync("SELECT count(*) FROM image_sightings WHERE job_id = $1", r => r.GetInt64(0), job))[0];
                if (stored >= 12)
                {
                    break;
                }

                await Task.Delay(100);
            }

            Assert.False(child.HasExited, "the crawl finished before it could be killed");
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
        }

        var before = (await QueryAsync("SELECT count(*) FROM frontier WHERE job_id = $1 AND state <> 'done'", r => r.GetInt64(0), job))[0];
        Assert.True(before > 0, "the kill should leave work undone");

        await using (var sp = CrawlHarness.Build(_db, _root))
        {
            var summary = await sp.GetRequiredService<CrawlService>().RunJobAsync(job, CancellationToken.None);
            await sp.GetRequiredService<BrowserHost>().DisposeAsync();
            Assert.Equal(JobStatus.CompletedWithFailures, summary.Status);
        }

        var crawlable = queries.SelectMany(q => Truth.PlacesOf(q).Take(8)).Where(p => !p.Private && p.Fault is null).ToList();
        var expected = crawlable.SelectMany(p => p.Photos.Take(6)).Where(p => !Unstorable.Contains(p.Fault)).Select(p => p.Url.AbsoluteUri).Order().ToList();
        var sightings = await QueryAsync("SELECT source_url FROM image_sightings WHERE job_id = $1", r => r.GetString(0), job);
        await new CrawlChecks(_db, demo.Site).AssertSameAsync(job, expected, sightings); // nothing lost, nothing twice (a shared URL: once per place)
        var images = (await QueryAsync("SELECT count(*) FROM images", r => r.GetInt64(0)))[0];
        Assert.Equal(images, Directory.GetFiles(Path.Combine(_root, "blobs"), "*", SearchOption.AllDirectories).Count(f => !f.EndsWith(".tmp", StringComparison.Ordinal)));
        Assert.Equal(0, (await QueryAsync("SELECT count(*) FROM frontier WHERE job_id = $1 AND state IN ('pending', 'claimed')", r => r.GetInt64(0), job))[0]);
    }

    /// <summary>Compares photo URL sets and, when they differ, says what the frontier recorded for each difference.</summary>
    private async Task AssertSameUrlsAsync(long job, IEnumerable<string> expected, IEnumerable<string> actual)
    {
        var e = expected.ToHashSet();
        var a = actual.ToList();
        var missing = e.Except(a).ToList();
        var extra = a.Except(e).ToList();
        if (missing.Count == 0 && extra.Count == 0 && a.Count == a.Distinct().Count())
        {
            return;
        }

        var lines = new List<string>();
        foreach (var url in missing.Concat(extra))
        {
            var photo = Truth.Places.SelectMany(p => p.Photos).Concat(Truth.ShopCategories.SelectMany(c => c.Products).SelectMany(p => p.Reviews).SelectMany(r => r.Photos))
                .FirstOrDefault(p => p.Url.AbsoluteUri == url);
            var rows = await QueryAsync("SELECT state, coalesce(last_error, '') FROM frontier WHERE job_id = $1 AND url = $2", r => r.GetString(0) + " " + r.GetString(1), job, url);
            lines.Add($"{(missing.Contains(url) ? "missing" : "extra")} {url} fault={photo?.Fault} type={photo?.Type} frontier=[{string.Join("; ", rows)}]");
        }

        Assert.Fail($"{missing.Count} missing, {extra.Count} extra, {a.Count - a.Distinct().Count()} twice:\n" + string.Join("\n", lines));
    }

    private static string BuildConfiguration =>
        typeof(CrawlIntegrationTests).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyConfigurationAttribute), false)
            .Cast<System.Reflection.AssemblyConfigurationAttribute>().FirstOrDefault()?.Configuration ?? "Release";
}
