using Harvester.Imaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Curate;

/// <summary>The curate stage inside `harvester worker`: batches while work is waiting, then polls.</summary>
public sealed class CurationWorker(
    CurationService curation,
    IOptions<CurationOptions> options,
    ILogger<CurationWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.WorkerEnabled)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            CurationBatchResult result;
            try
            {
                result = await curation.RunOnceAsync(o.BatchSize, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or IOException or TimeoutException)
            {
                // The batch's leases expire and a later pass (here or in another worker) takes it again.
                Log.BatchFailed(logger, e);
                result = CurationBatchResult.Empty;
            }

            if (result.Claimed == 0)
            {
                await Task.Delay(o.IdleDelay, stoppingToken);
            }
        }
    }
}
