using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
using Harvester.Data.Stages;
using Harvester.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Harvester.Crawl.Tests;

/// <summary>A clock tests set by hand; timers and stopwatches stay real.</summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>Crawler:Schedules fire once per due time however many workers see the tick, and the crawl stage's passes finish the job.</summary>
[Collection(CrawlCollection.Name)]
public sealed class CrawlScheduleTests(PostgresFixture postgres, DemoSiteFixture demo) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;
    private string _root = null!;

    public async Task InitializeAsync()
    {
        _db = await postgres.CreateDatabaseAsync("schedules");
        _root = Path.Combine(postgres.StateRoot, "schedules-" + Guid.NewGuid().ToString("N")[..8]);
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private Dictionary<string, string?> Schedule(string cron, int places = 1) => new()
    {
        ["Crawler:Schedules:0:Name"] = "daily-mangwon",
        ["Crawler:Schedules:0:Cron"] = cron,
        ["Crawler:Schedules:0:Job:Site"] = "demo-map",
        ["Crawler:Schedules:0:Job:Queries:0"] = demo.Site.Truth.Queries[1].Query,
        ["Crawler:Schedules:0:Job:PlacesPerQuery"] = places.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Crawler:Schedules:0:Job:PhotosPerPlace"] = "1",
        ["Crawler:Schedules:0:Job:BaseUrl"] = demo.Site.BaseUrl.ToString(),
    };

    private async Task<long> JobsAsync() => (await new CrawlChecks(_db, demo.Site).QueryAsync("SELECT count(*) FROM crawl_jobs", r => r.GetInt64(0)))[0];

    [Fact]
    public async Task Two_workers_create_one_job_per_tick_and_run_only_the_latest_missed_one()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 12, 1, 3, 0, 20, TimeSpan.Zero));
        await using var a = CrawlHarness.Build(_db, _root, Schedule("0 3 * * *"), time: clock);
        await using var b = CrawlHarness.Build(_db, _root, Schedule("0 3 * * *"), time: clock);
        var workers = new[] { a.GetRequiredService<CrawlScheduler>(), b.GetRequiredService<CrawlScheduler>() };
        async Task<int> BothAsync() => (await Task.WhenAll(workers.Select(w => w.RunDueAsync(CancellationToken.None)))).Sum();

        Assert.Equal(1, await BothAsync());
        Assert.Equal(0, await BothAsync()); // the same tick, seen again by both
        Assert.Equal(1, await JobsAsync());

        clock.Now = clock.Now.AddDays(1);
        Assert.Equal(1, await BothAsync());

        // Down for three days: of the missed ticks, only the latest runs (it is within the missed-tick window).
        clock.Now = clock.Now.AddDays(3).AddMinutes(20);
        Assert.Equal(1, await BothAsync());

        // Back two hours after a tick: older than Crawler:ScheduleMissedTickWindow (1 h), so it is not run.
        clock.Now = clock.Now.AddDays(1).AddHours(2);
        Assert.Equal(0, await BothAsync());

        var ticks = await a.GetRequiredService<CrawlJobStore>().TicksAsync("daily-mangwon", CancellationToken.None);
        Assert.Equal(
            [new DateTimeOffset(2026, 12, 5, 3, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 2, 3, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero)],
            ticks.Select(t => t.Due));
        Assert.All(ticks, t => Assert.NotNull(t.JobId));
        Assert.Equal(3, await JobsAsync());
    }

    [Fact]
    public async Task Two_workers_stage_loops_start_one_job_for_a_due_tick_and_finish_it_together()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var settings = Schedule("* * * * *", places: 3);
        await using var a = CrawlHarness.Build(_db, _root, settings, time: clock);
        await using var b = CrawlHarness.Build(_db, _root, settings, time: clock);
        var stages = new[] { a.GetRequiredService<CrawlStage>(), b.GetRequiredService<CrawlStage>() };

        // Each worker runs its stage the way StageWorker does: Concurrency loops side by side, here drained.
        await Task.WhenAll(stages.SelectMany(stage => Enumerable.Range(0, ((IStage)stage).Concurrency)
            .Select(_ => StageRunner.DrainAsync(stage.RunOnceAsync, CancellationToken.None))));
        await a.GetRequiredService<BrowserHost>().DisposeAsync();
        await b.GetRequiredService<BrowserHost>().DisposeAsync();

        var jobs = await new CrawlChecks(_db, demo.Site).QueryAsync("SELECT id, status::text, places_found FROM crawl_jobs", r => (Id: r.GetInt64(0), Status: r.GetString(1), Places: r.GetInt32(2)));
        var job = Assert.Single(jobs);
        Assert.Equal(3, job.Places);
        Assert.Contains(job.Status, new[] { "completed", "completed_with_failures" });
        var claimedBy = await new CrawlChecks(_db, demo.Site).QueryAsync("SELECT count(*) FROM frontier WHERE job_id = $1 AND state IN ('pending', 'claimed')", r => r.GetInt64(0), job.Id);
        Assert.Equal(0, claimedBy[0]);
    }
}
