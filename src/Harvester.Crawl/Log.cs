using Microsoft.Extensions.Logging;

namespace Harvester.Crawl;

internal static partial class Log
{
    [LoggerMessage(5001, LogLevel.Information, "Launched browser {Executable} ({Version})")]
    public static partial void BrowserLaunched(ILogger logger, string executable, string version);

    [LoggerMessage(5002, LogLevel.Information, "Crawl job {JobId} ({Site}) started: {Queries} queries")]
    public static partial void JobStarted(ILogger logger, long jobId, string site, int queries);

    [LoggerMessage(5003, LogLevel.Information, "Crawl job {JobId} finished: {Status}; pages {Pages}, places {Places}, products {Products}, photos stored {Photos}, failures {Failures}")]
    public static partial void JobFinished(ILogger logger, long jobId, string status, int pages, int places, int products, int photos, int failures);

    [LoggerMessage(5004, LogLevel.Warning, "{Kind} {Url} failed (attempt {Attempt}): {Reason}")]
    public static partial void ItemFailed(ILogger logger, string kind, string url, int attempt, string reason);

    [LoggerMessage(5005, LogLevel.Information, "Reclaimed {Count} frontier items left claimed by a process that no longer runs (job {JobId})")]
    public static partial void ReclaimedOrphans(ILogger logger, int count, long jobId);

    [LoggerMessage(5006, LogLevel.Debug, "{Kind} {Url}: {Found} found")]
    public static partial void PageProcessed(ILogger logger, string kind, string url, int found);

    [LoggerMessage(5007, LogLevel.Information, "robots.txt of {Host} disallows {Url}")]
    public static partial void RobotsDisallowed(ILogger logger, string host, string url);

    [LoggerMessage(5030, LogLevel.Warning, "Crawl job {JobId}: its live counters were not written ({Reason}); trying again at the next interval")]
    public static partial void CountersNotWritten(ILogger logger, long jobId, string reason);

    [LoggerMessage(5009, LogLevel.Error, "Crawl job {JobId} cannot run: {Reason}")]
    public static partial void JobCannotRun(ILogger logger, long jobId, string reason);

    [LoggerMessage(5010, LogLevel.Information, "Schedule {Schedule}: tick {Due:u} created crawl job {JobId} ({Skipped} earlier missed ticks not run)")]
    public static partial void ScheduleFired(ILogger logger, string schedule, DateTimeOffset due, long jobId, int skipped);

    [LoggerMessage(5011, LogLevel.Information, "Gave back {Count} frontier items that passes broken by a database outage had claimed")]
    public static partial void AbandonedReleased(ILogger logger, int count);
}
