using System.Collections.Concurrent;
using Cronos;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl;

/// <summary>
/// Creates the jobs of Crawler:Schedules, each due time once across every worker: a tick is a row keyed by (schedule,
/// due time) written in the transaction that creates its job, so of several workers that see the tick, one creates the
/// job. Missed ticks: when a worker looks, the latest due time within Crawler:ScheduleMissedTickWindow runs (once);
/// earlier ones, and ones older than the window, do not. It also ends jobs whose frontier emptied while no pass was
/// there to see it (a process stopped between its last item and the job's end).
/// </summary>
public sealed class CrawlScheduler(CrawlService crawler, IOptions<CrawlerOptions> options, TimeProvider time, ILogger<CrawlScheduler> logger)
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _handled = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _lastSweep;

    /// <summary>Creates the jobs of due schedule ticks not yet handled by any worker; returns how many this call created.</summary>
    public async Task<int> RunDueAsync(CancellationToken ct)
    {
        var o = options.Value;
        if (!await _gate.WaitAsync(0, ct))
        {
            return 0; // another loop of this process is at it
        }

        try
        {
            await SweepAsync(ct);
            var created = 0;
            var now = time.GetUtcNow();
            foreach (var schedule in o.Schedules)
            {
                var cron = CronExpression.Parse(schedule.Cron);
                var due = cron.GetOccurrences(now.UtcDateTime - o.ScheduleMissedTickWindow, now.UtcDateTime, fromInclusive: true, toInclusive: true).ToList();
                if (due.Count == 0)
                {
                    continue;
                }

                var latest = new DateTimeOffset(DateTime.SpecifyKind(due[^1], DateTimeKind.Utc));
                if (_handled.TryGetValue(schedule.Name, out var handled) && handled >= latest)
                {
                    continue;
                }

                var jobId = await crawler.CreateScheduledJobAsync(schedule, latest, ct);
                _handled[schedule.Name] = latest;
                if (jobId is long id)
                {
                    created++;
                    Log.ScheduleFired(logger, schedule.Name, latest, id, due.Count - 1);
                }
            }

            return created;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task SweepAsync(CancellationToken ct)
    {
        var now = time.GetTimestamp();
        if (_lastSweep != 0 && time.GetElapsedTime(_lastSweep, now) < options.Value.PollInterval)
        {
            return;
        }

        _lastSweep = now;
        foreach (var job in await crawler.UnfinishedJobsAsync(ct))
        {
            await crawler.FinishIfDoneAsync(job, ct);
        }
    }
}
