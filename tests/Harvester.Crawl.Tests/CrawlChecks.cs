using System.Security.Cryptography;
using Harvester.Core;
using Harvester.Data;
using Harvester.DemoSite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Harvester.Crawl.Tests;

/// <summary>What a finished crawl stored, read back from PostgreSQL, and how it compares with the demo site's truth.</summary>
internal sealed class CrawlChecks(HarvesterDatabase db, DemoSiteServer site)
{
    /// <summary>Faults whose bytes can never be stored: not an image, or over the size cap.</summary>
    public static readonly string[] Unstorable = [DemoFault.Broken, DemoFault.HtmlAsJpeg, DemoFault.Oversize];

    public static async Task<(CrawlJobSummary Summary, long JobId)> CrawlAsync(
        HarvesterDatabase db, string root, CrawlJobSpec spec, IDictionary<string, string?>? settings = null, IReadOnlyList<string>? overlays = null)
    {
        await using var sp = CrawlHarness.Build(db, root, settings, overlays);
        var crawler = sp.GetRequiredService<CrawlService>();
        var job = await crawler.CreateJobAsync(spec, CancellationToken.None);
        var summary = await crawler.RunJobAsync(job, CancellationToken.None);
        await sp.GetRequiredService<BrowserHost>().DisposeAsync();
        return (summary, job);
    }

    public async Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> map, params object[] args)
    {
        await using var cmd = db.DataSource.CreateCommand(sql);
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

    /// <summary>
    /// Checks a map crawl of every place of <paramref name="queries"/> with all their photos against the truth: the
    /// places a robots-respecting crawler may visit, every storable photo with one sighting per place that shows it
    /// (shared URLs included), each stored as the original's bytes, and every failure accounted for by an injected
    /// fault. Returns the counts, for comparing runs.
    /// </summary>
    public async Task<string> MapIsCompleteAsync(DemoSiteTruth truth, long job, IReadOnlyList<string> queries, CrawlJobSummary summary)
    {
        var all = queries.SelectMany(truth.PlacesOf).ToList();
        var crawlable = all.Where(p => !p.Private).ToList();
        Assert.Contains(all, p => p.Private);
        var places = await QueryAsync("SELECT external_id FROM places", r => r.GetString(0));
        Assert.Equal(crawlable.Select(p => p.Id).Order(), places.Order());

        var expected = crawlable.Where(p => p.Fault is null)
            .SelectMany(p => p.Photos.Where(ph => !Unstorable.Contains(ph.Fault)).Select(ph => (Url: ph.Url.AbsoluteUri, Place: p.Id))).ToList();
        Assert.Contains(expected.GroupBy(e => e.Url), g => g.Count() > 1); // the site shows a photo URL at two places
        var sightings = await QueryAsync("""
            SELECT s.source_url, p.external_id, i.sha256, coalesce(s.page_url, '') FROM image_sightings s
            JOIN places p ON p.id = s.place_id JOIN images i ON i.id = s.image_id WHERE s.job_id = $1
            """, r => (Url: r.GetString(0), Place: r.GetString(1), Sha: r.GetString(2), Page: r.GetString(3)), job);
        await AssertSameAsync(job, expected.Select(e => $"{e.Url} @ {e.Place}"), sightings.Select(s => $"{s.Url} @ {s.Place}"));
        await OriginalsStoredAsync(truth, sightings.Select(s => (s.Url, s.Sha)));
        Assert.DoesNotContain(sightings, s => s.Url.Contains("/private/", StringComparison.Ordinal) || s.Page.Contains("/private/", StringComparison.Ordinal));

        // Every failure is an injected fault: private places (robots.txt), hanging grids, photos that are not images.
        var failed = await QueryAsync("SELECT kind::text, url, coalesce(last_error, '') FROM frontier WHERE job_id = $1 AND state = 'failed'",
            r => (Kind: r.GetString(0), Url: r.GetString(1), Reason: r.GetString(2)), job);
        foreach (var p in all.Where(p => p.Private))
        {
            Assert.Contains(failed, f => f.Kind == "place" && f.Url.Contains(p.Id, StringComparison.Ordinal) && f.Reason.Contains("robots.txt", StringComparison.Ordinal));
        }

        foreach (var p in crawlable.Where(p => p.Fault == DemoFault.PhotoGridHangs))
        {
            Assert.Contains(failed, f => f.Kind == "place" && f.Url.Contains(p.Id, StringComparison.Ordinal) && f.Reason.Contains("PhotoItem", StringComparison.Ordinal));
        }

        var unstorable = crawlable.Where(p => p.Fault is null).SelectMany(p => p.Photos).Where(ph => Unstorable.Contains(ph.Fault)).ToList();
        Assert.NotEmpty(unstorable);
        var expectedFailures = all.Count(p => p.Private) + crawlable.Count(p => p.Fault == DemoFault.PhotoGridHangs) + unstorable.Count;
        Assert.True(failed.Count == expectedFailures, $"{failed.Count} failed items, {expectedFailures} expected:\n" + string.Join("\n", failed));
        Assert.Equal(JobStatus.CompletedWithFailures, summary.Status);
        Assert.Equal("completed with failures", summary.StatusText);
        var images = (await QueryAsync("SELECT count(*) FROM images WHERE job_id = $1", r => r.GetInt64(0), job))[0];
        return $"places {places.Count}, sightings {sightings.Count}, images {images}, failed {failed.Count}, status {summary.Status}";
    }

    /// <summary>
    /// Checks a shop crawl of every product of <paramref name="categories"/> with all their reviews: the products a
    /// robots-respecting crawler may visit, every review, one sighting per product and photo URL with the review it
    /// came from, originals stored. Returns the counts.
    /// </summary>
    public async Task<string> ShopIsCompleteAsync(DemoSiteTruth truth, long job, IReadOnlyList<string> categories, CrawlJobSummary summary)
    {
        var all = truth.ShopCategories.Where(c => categories.Contains(c.Slug)).SelectMany(c => c.Products).ToList();
        var crawlable = all.Where(p => !p.Private).ToList();
        var products = await QueryAsync("SELECT external_id, rank, name FROM products", r => (Id: r.GetString(0), Rank: r.GetInt32(1), Name: r.GetString(2)));
        Assert.Equal(crawlable.Select(p => (p.Id, p.Rank, p.Name)).Order(), products.Order());
        var reviews = crawlable.SelectMany(p => p.Reviews).ToList();
        var storedReviews = await QueryAsync("SELECT external_id, coalesce(text, ''), coalesce(rating, 0) FROM reviews", r => (Id: r.GetString(0), Text: r.GetString(1), Rating: r.GetDouble(2)));
        Assert.Equal(reviews.Select(r => (r.Id, r.Text, (double)r.Rating)).Order(), storedReviews.Order());

        var expected = crawlable.SelectMany(p => p.Reviews.SelectMany(r => r.Photos).Where(ph => !Unstorable.Contains(ph.Fault)).Select(ph => $"{ph.Url.AbsoluteUri} @ {p.Id}")).Distinct().ToList();
        Assert.Contains(crawlable.SelectMany(p => p.Reviews.SelectMany(r => r.Photos).Select(ph => (ph.Id, p.Id))).Distinct().GroupBy(x => x.Item1), g => g.Count() > 1);
        var sightings = await QueryAsync("""
            SELECT s.source_url, p.external_id, r.external_id, i.sha256 FROM image_sightings s
            JOIN products p ON p.id = s.product_id JOIN reviews r ON r.id = s.review_id JOIN images i ON i.id = s.image_id WHERE s.job_id = $1
            """, r => (Url: r.GetString(0), Product: r.GetString(1), Review: r.GetString(2), Sha: r.GetString(3)), job);
        await AssertSameAsync(job, expected, sightings.Select(s => $"{s.Url} @ {s.Product}"));
        foreach (var s in sightings)
        {
            Assert.Contains(reviews.Single(r => r.Id == s.Review).Photos, ph => ph.Url.AbsoluteUri == s.Url);
        }

        await OriginalsStoredAsync(truth, sightings.Select(s => (s.Url, s.Sha)));
        var failed = await QueryAsync("SELECT kind::text, url, coalesce(last_error, '') FROM frontier WHERE job_id = $1 AND state = 'failed'",
            r => (Kind: r.GetString(0), Url: r.GetString(1), Reason: r.GetString(2)), job);
        Assert.True(failed.Count == all.Count(p => p.Private), $"{failed.Count} failed items, {all.Count(p => p.Private)} expected:\n" + string.Join("\n", failed));
        Assert.All(failed, f => Assert.Contains("robots.txt", f.Reason, StringComparison.Ordinal));
        Assert.Equal(all.Any(p => p.Private) ? JobStatus.CompletedWithFailures : JobStatus.Completed, summary.Status);
        var images = (await QueryAsync("SELECT count(*) FROM images WHERE job_id = $1", r => r.GetInt64(0), job))[0];
        return $"products {products.Count}, reviews {storedReviews.Count}, sightings {sightings.Count}, images {images}, failed {failed.Count}, status {summary.Status}";
    }

    /// <summary>Each stored photo is the original's bytes, not a thumbnail of it.</summary>
    private async Task OriginalsStoredAsync(DemoSiteTruth truth, IEnumerable<(string Url, string Sha)> stored)
    {
        var photos = truth.Places.SelectMany(p => p.Photos).Concat(truth.ShopCategories.SelectMany(c => c.Products).SelectMany(p => p.Reviews).SelectMany(r => r.Photos))
            .GroupBy(p => p.Url.AbsoluteUri).ToDictionary(g => g.Key, g => g.First());
        foreach (var (url, sha) in stored)
        {
            var original = Convert.ToHexStringLower(SHA256.HashData(site.PhotoBytes(photos[url].Id)));
            Assert.True(original == sha, $"{url}: the stored bytes are not the original's");
        }

        await Task.CompletedTask;
    }

    /// <summary>Compares multisets of "url @ owner" and, when they differ, says what the frontier recorded for each difference.</summary>
    public async Task AssertSameAsync(long job, IEnumerable<string> expected, IEnumerable<string> actual)
    {
        var e = expected.Order().ToList();
        var a = actual.Order().ToList();
        if (e.SequenceEqual(a))
        {
            return;
        }

        var missing = e.ToList();
        foreach (var x in a)
        {
            missing.Remove(x);
        }

        var extra = a.ToList();
        foreach (var x in e)
        {
            extra.Remove(x);
        }

        var lines = new List<string>();
        foreach (var item in missing.Select(m => ("missing", m)).Concat(extra.Select(x => ("extra", x))))
        {
            var url = item.Item2.Split(" @ ")[0];
            var rows = await QueryAsync("SELECT state::text, owner, coalesce(last_error, '') FROM frontier WHERE job_id = $1 AND url = $2",
                r => $"{r.GetString(0)} {r.GetString(1)} {r.GetString(2)}", job, url);
            lines.Add($"{item.Item1} {item.Item2} frontier=[{string.Join("; ", rows)}]");
        }

        Assert.Fail($"{missing.Count} missing, {extra.Count} extra:\n" + string.Join("\n", lines));
    }
}
