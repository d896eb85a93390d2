using Harvester.Core.Stages;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl;

/// <summary>
/// The crawl stage as <c>harvester worker</c> runs it in the generic <c>StageWorker</c> loop: as many loops side by
/// side as the crawler has lanes (<see cref="IStage.Concurrency"/> = Crawler:PageConcurrency +
/// Crawler:DownloadConcurrency), each pass working a page or a few photos of any unfinished job
/// (<see cref="CrawlService.RunPassAsync"/>), the same passes <c>harvester crawl</c> drains over one job. Before a
/// pass, schedules whose time has come create their jobs, once across all workers.
/// </summary>
public sealed class CrawlStage(CrawlService crawler, CrawlScheduler scheduler, IOptions<CrawlerOptions> options) : IStage
{
    public const string Stage = "crawl";

    public string Name => Stage;

    public StageOptions Options => options.Value;

    public int Concurrency => crawler.Concurrency;

    async Task<IStageResult> IStage.RunOnceAsync(CancellationToken ct) => await RunOnceAsync(ct);

    public async Task<CrawlPassResult> RunOnceAsync(CancellationToken ct)
    {
        await scheduler.RunDueAsync(ct);
        return await crawler.RunPassAsync(null, ct);
    }
}
