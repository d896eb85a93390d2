using Harvester.Core;
using Harvester.Data;
using Harvester.DemoSite;
using Harvester.Testing;

namespace Harvester.Crawl.Tests;

/// <summary>The defects a crawl of a map site not built alongside Harvester found, each pinned by a crawl of the demo site.</summary>
[Collection(CrawlCollection.Name)]
public sealed class CrawlDefectTests(PostgresFixture postgres, DemoSiteFixture demo) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;
    private string _root = null!;

    private DemoSiteTruth Truth => demo.Site.Truth;

    public async Task InitializeAsync()
    {
        _db = await postgres.CreateDatabaseAsync("defects");
        _root = Path.Combine(postgres.StateRoot, "defects-" + Guid.NewGuid().ToString("N")[..8]);
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task A_photo_url_shown_by_two_places_keeps_a_sighting_for_each()
    {
        // The frontier used to queue a photo URL once per job (ON CONFLICT DO NOTHING), so the second place lost it.
        var query = Truth.Queries[1].Query;
        var places = Truth.PlacesOf(query).Take(8).ToList();
        var shared = places.SelectMany(p => p.Photos.Select(ph => (Photo: ph, Place: p.Id))).GroupBy(x => x.Photo.Url.AbsoluteUri).Single(g => g.Count() == 2);
        var path = new Uri(shared.Key).PathAndQuery;
        var before = demo.Site.RequestCount(path);
        var (_, job) = await CrawlChecks.CrawlAsync(_db, _root, new CrawlJobSpec
        {
            Site = "demo-map", Queries = [query], PlacesPerQuery = 8, PhotosPerPlace = DemoSiteFixture.Options().PhotosPerPlace, BaseUrl = demo.Site.BaseUrl.ToString(),
        });

        var checks = new CrawlChecks(_db, demo.Site);
        var sightings = await checks.QueryAsync("""
            SELECT p.external_id, s.image_id FROM image_sightings s JOIN places p ON p.id = s.place_id WHERE s.job_id = $1 AND s.source_url = $2
            """, r => (Place: r.GetString(0), Image: r.GetInt64(1)), job, shared.Key);
        Assert.Equal(shared.Select(x => x.Place).Order(), sightings.Select(s => s.Place).Order());
        Assert.Single(sightings.Select(s => s.Image).Distinct()); // one image, seen twice
        // The second sighting needs no second download once the first is stored (both may race to it, at most).
        Assert.InRange(demo.Site.RequestCount(path) - before, 1, 2);
    }

    [Fact]
    public async Task A_job_in_which_every_item_failed_ends_failed_with_its_reason()
    {
        var (summary, job) = await CrawlChecks.CrawlAsync(_db, _root, new CrawlJobSpec
        {
            Site = "demo-map", Queries = [Truth.Queries[0].Query], PlacesPerQuery = 3, PhotosPerPlace = 1, BaseUrl = demo.Site.BaseUrl.ToString(),
        }, new Dictionary<string, string?>
        {
            ["Crawler:Sites:demo-map:ResultItem"] = "li.result-that-is-not-there",
            ["Crawler:NavigationTimeout"] = "00:00:02",
        });

        Assert.Equal(JobStatus.Failed, summary.Status);
        Assert.Equal(1, summary.Failures);
        Assert.NotNull(summary.Error);
        Assert.StartsWith("nothing stored: 1 item failed", summary.Error, StringComparison.Ordinal);
        Assert.Contains("ResultItem", summary.Error, StringComparison.Ordinal);
        var row = await new CrawlChecks(_db, demo.Site).QueryAsync("SELECT status::text, error FROM crawl_jobs WHERE id = $1", r => (r.GetString(0), r.GetString(1)), job);
        Assert.Equal(("failed", summary.Error), row.Single());
    }

    [Fact]
    public async Task Elements_without_a_url_say_so_and_a_configured_attribute_list_replaces_the_default()
    {
        // An overlay (as --config) that lists only data-bg: were it appended to the defaults, data-src would still find
        // the photos. Replaced, the grid's images have no URL where the definition looks, and every place says so.
        var overlay = Path.Combine(postgres.StateRoot, "overlay-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        await File.WriteAllTextAsync(overlay, """{ "Crawler": { "Sites": { "demo-map": { "PhotoUrlAttributes": ["data-bg"] } } } }""");
        var query = Truth.Queries[1].Query;
        var (summary, job) = await CrawlChecks.CrawlAsync(_db, _root, new CrawlJobSpec
        {
            Site = "demo-map", Queries = [query], PlacesPerQuery = 1, PhotosPerPlace = 3, BaseUrl = demo.Site.BaseUrl.ToString(),
        }, overlays: [overlay]);

        Assert.Equal(JobStatus.Failed, summary.Status);
        var reason = (await new CrawlChecks(_db, demo.Site).QueryAsync("SELECT last_error FROM frontier WHERE job_id = $1 AND kind = 'place'", r => r.GetString(0), job)).Single();
        Assert.Contains("PhotoItem ('#photo-grid .photo-item img') matched", reason, StringComparison.Ordinal);
        Assert.Contains("but none has a URL in PhotoUrlAttributes [data-bg]", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("matched nothing", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Urls_that_are_all_skipped_say_which_pattern_skipped_them()
    {
        var query = Truth.Queries[1].Query;
        var (_, job) = await CrawlChecks.CrawlAsync(_db, _root, new CrawlJobSpec
        {
            Site = "demo-map", Queries = [query], PlacesPerQuery = 1, PhotosPerPlace = 3, BaseUrl = demo.Site.BaseUrl.ToString(),
        }, new Dictionary<string, string?> { ["Crawler:Sites:demo-map:SkipUrlPatterns:0"] = "/photos/" });

        var reason = (await new CrawlChecks(_db, demo.Site).QueryAsync("SELECT last_error FROM frontier WHERE job_id = $1 AND kind = 'place'", r => r.GetString(0), job)).Single();
        Assert.Contains("every URL read from them was skipped", reason, StringComparison.Ordinal);
        Assert.Contains("by SkipUrlPatterns '/photos/'", reason, StringComparison.Ordinal);
    }
}
