using Harvester.Data;
using Harvester.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Harvester.Crawl.Tests;

/// <summary>harvester crawl check: a dry run that says what every key matched, and which step would fail.</summary>
[Collection(CrawlCollection.Name)]
public sealed class CrawlCheckTests(PostgresFixture postgres, DemoSiteFixture demo) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await postgres.CreateDatabaseAsync("check");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private async Task<CrawlCheckReport> CheckAsync(string site, string query, IDictionary<string, string?>? settings = null)
    {
        await using var sp = CrawlHarness.Build(_db, Path.Combine(postgres.StateRoot, "check"), settings);
        var report = await sp.GetRequiredService<CrawlCheck>().RunAsync(site, query, demo.Site.BaseUrl.ToString(), null, CancellationToken.None);
        await sp.GetRequiredService<BrowserHost>().DisposeAsync();
        return report;
    }

    [Fact]
    public async Task A_working_definition_reports_every_key_it_used_with_what_it_read()
    {
        var truth = demo.Site.TruthFor(DemoSite.DemoLayout.Paged);
        var query = truth.Queries[1].Query;
        var report = await CheckAsync("demo-paged-map", query);
        var text = string.Join("\n", report.Render());
        Assert.True(report.Ok, text);
        Assert.Contains(report.Entries, e => e.Key == "SearchSubmit" && e.Count == 1);
        var first = truth.PlacesOf(query).First();
        Assert.Contains(report.Entries, e => e.Key == "ResultItem" && e.Values.Contains(first.HomeUrl.AbsoluteUri));
        Assert.Contains(report.Entries, e => e.Key == "PlaceName" && e.Values.SequenceEqual([first.Name]));
        var photos = report.Entries.Single(e => e.Key == "PhotoItem" && e.Kind == "matched");
        Assert.Equal(first.Photos.First().Url.AbsoluteUri, photos.Values[0]);
        Assert.Contains(report.Entries, e => e.Kind == "skipped" && e.Spec.EndsWith("/static/icon-play.svg", StringComparison.Ordinal) && e.Note!.StartsWith("SkipUrlPatterns", StringComparison.Ordinal));
        Assert.Contains("result: every step worked", text);
        Assert.Equal(0, (await new CrawlChecks(_db, demo.Site).QueryAsync("SELECT count(*) FROM crawl_jobs", r => r.GetInt64(0)))[0]); // nothing stored
    }

    [Fact]
    public async Task A_broken_definition_reports_the_step_that_would_fail_and_why()
    {
        var query = demo.Site.TruthFor(DemoSite.DemoLayout.Paged).Queries[1].Query;
        var report = await CheckAsync("demo-paged-map", query, new Dictionary<string, string?> { ["Crawler:Sites:demo-paged-map:PhotoUrlAttributes:0"] = "data-bg" });
        Assert.False(report.Ok);
        Assert.Equal("place", report.FailedStep);
        Assert.Contains("PhotoItem ('.gallery .cell .ph') matched", report.Failure);
        Assert.Contains("none has a URL in PhotoUrlAttributes [data-bg]", report.Failure);
        Assert.StartsWith("result: step 'place' would fail", report.Render()[^1], StringComparison.Ordinal);
    }
}
