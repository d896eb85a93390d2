using Harvester.Core.Stages;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl;

/// <summary>
/// The crawl stage as <c>harvester worker</c> runs it in the generic <c>StageWorker</c> loop: Crawler:PageConcurrency +
/// Crawler:DownloadConcurrency loops side by side (<see cref="IStage.Concurrency"/>), each pass taking a page lane or a
/// photo lane and working the frontier of every unfinished job (<see cref="CrawlService.RunPassAsync"/>), the same
/// passes <c>harvester crawl</c> runs over one job. Before a pass, schedules whose time has come create their jobs.
/// </summary>
public sealed class CrawlStage : IStage, IDisposable
{
    public const string Stage = "crawl";

    private readonly CrawlService _crawler;
    private readonly CrawlScheduler _scheduler;
    private readonly IOptions<CrawlerOptions> _options;
    private readonly SemaphoreSlim _pageLanes;
    private readonly SemaphoreSlim _photoLanes;

    public CrawlStage(CrawlService crawler, CrawlScheduler scheduler, IOptions<CrawlerOptions> options)
    {
        _crawler = crawler;
        _scheduler = scheduler;
        _options = options;
        _pageLanes = new SemaphoreSlim(options.Value.PageConcurrency);
        _photoLanes = new SemaphoreSlim(options.Value.DownloadConcurrency);
    }

    public string Name => Stage;

    public StageOptions Options => _options.Value;

    public int Concurrency => _options.Value.PageConcurrency + _options.Value.DownloadConcurrency;

    async Task<IStageResult> IStage.RunOnceAsync(CancellationToken ct) => await RunOnceAsync(ct);

    public async Task<CrawlPassResult> RunOnceAsync(CancellationToken ct)
    {
        await _scheduler.RunDueAsync(ct);

        // As many loops run as there are lanes, so a loop always finds a free one: page lanes first.
        var lane = _pageLanes.Wait(0, CancellationToken.None) ? CrawlLane.Pages : _photoLanes.Wait(0, CancellationToken.None) ? CrawlLane.Photos : (CrawlLane?)null;
        if (lane is null)
        {
            await _photoLanes.WaitAsync(ct);
            lane = CrawlLane.Photos;
        }

        try
        {
            return await _crawler.RunPassAsync(lane.Value, null, ct);
        }
        finally
        {
            (lane == CrawlLane.Pages ? _pageLanes : _photoLanes).Release();
        }
    }

    public void Dispose()
    {
        _pageLanes.Dispose();
        _photoLanes.Dispose();
    }
}
