using Cronos;
using Harvester.Core;
using Harvester.Core.Stages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl;

/// <summary>A crawl job the worker creates on a cron schedule (section Crawler:Schedules).</summary>
public sealed class CrawlSchedule
{
    public string Name { get; set; } = "";
    /// <summary>Cron expression (5 fields, UTC), e.g. "0 3 * * *".</summary>
    public string Cron { get; set; } = "";
    public CrawlJobSpec? Job { get; set; }
}

public sealed class CrawlScheduleOptions
{
    public List<CrawlSchedule> Schedules { get; set; } = [];
}

/// <summary>What one pass of the crawl stage did: how many jobs it worked on.</summary>
public sealed record CrawlPassResult(int Claimed) : IStageResult<CrawlPassResult>
{
    public static CrawlPassResult Empty { get; } = new(0);

    public CrawlPassResult Add(CrawlPassResult other) => new(Claimed + other.Claimed);
}

/// <summary>
/// The crawl stage as the worker runs it: creates the jobs whose cron schedule is due, then works every unfinished
/// job (resuming any a previous process left) until its frontier is empty. Inside a job, pages and photos are claimed
/// from the frontier with leases (<see cref="FrontierStore"/>), so several workers share one job.
/// </summary>
public sealed class CrawlStage(CrawlService crawler, IOptions<CrawlerOptions> options, IOptions<CrawlScheduleOptions> schedules, TimeProvider time, ILogger<CrawlStage> logger) : IStage
{
    public const string Stage = "crawl";

    private Dictionary<CrawlSchedule, DateTime?>? _next;

    string IStage.Name => Stage;

    StageOptions IStage.Options => options.Value;

    async Task<IStageResult> IStage.RunOnceAsync(CancellationToken ct) => await RunOnceAsync(ct);

    public async Task<CrawlPassResult> RunOnceAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        _next ??= schedules.Value.Schedules
            .Where(s => s.Job is not null && s.Cron.Length > 0)
            .ToDictionary(s => s, s => CronExpression.Parse(s.Cron).GetNextOccurrence(now));
        foreach (var (schedule, due) in _next.ToList())
        {
            if (due is not null && due <= now)
            {
                await crawler.CreateJobAsync(schedule.Job! with { Name = schedule.Name }, ct);
                _next[schedule] = CronExpression.Parse(schedule.Cron).GetNextOccurrence(now);
            }
        }

        var worked = 0;
        foreach (var jobId in await crawler.UnfinishedJobsAsync(ct))
        {
            try
            {
                await crawler.RunJobAsync(jobId, ct);
            }
            catch (HarvesterException e)
            {
                Log.WorkerFailed(logger, e, jobId);
            }

            worked++;
        }

        return new CrawlPassResult(worked);
    }
}
