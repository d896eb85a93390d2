using Cronos;
using Harvester.Core;
using Microsoft.Extensions.Hosting;
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

/// <summary>For `harvester worker`: runs unfinished crawl jobs (resuming any a previous process left) and scheduled ones.</summary>
public sealed class CrawlWorker(CrawlService crawler, IOptions<CrawlScheduleOptions> schedules, ILogger<CrawlWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var next = schedules.Value.Schedules
            .Where(s => s.Job is not null && s.Cron.Length > 0)
            .ToDictionary(s => s, s => CronExpression.Parse(s.Cron).GetNextOccurrence(DateTime.UtcNow));
        while (!stoppingToken.IsCancellationRequested)
        {
            foreach (var (schedule, due) in next.ToList())
            {
                if (due is not null && due <= DateTime.UtcNow)
                {
                    await crawler.CreateJobAsync(schedule.Job! with { Name = schedule.Name }, stoppingToken);
                    next[schedule] = CronExpression.Parse(schedule.Cron).GetNextOccurrence(DateTime.UtcNow);
                }
            }

            foreach (var jobId in await crawler.UnfinishedJobsAsync(stoppingToken))
            {
                try
                {
                    await crawler.RunJobAsync(jobId, stoppingToken);
                }
                catch (HarvesterException e)
                {
                    Log.WorkerFailed(logger, e, jobId);
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken);
        }
    }
}
