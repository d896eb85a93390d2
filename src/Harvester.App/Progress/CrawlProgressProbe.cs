using Harvester.Core.Stages;
using Harvester.Data;
using Npgsql;

namespace Harvester.App.Progress;

/// <summary>
/// Progress of a running crawl job, read from its frontier, since the crawl stage reports none itself: pages (search,
/// place, category, product) and photo URLs finished of those known so far. Totals grow as pages find more work, so
/// the ETA is for the work known now. One small grouped query a second.
/// </summary>
internal static class CrawlProgressProbe
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(1);

    public static async Task RunAsync(HarvesterDatabase database, long jobId, IProgress<StageProgress> progress, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await ReportAsync(database, jobId, progress, ct);
                await Task.Delay(Every, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (NpgsqlException)
            {
                // The crawl itself reports a database that went away; the bar just waits.
                await Task.Delay(Every, CancellationToken.None);
            }
        }
    }

    public static async Task ReportAsync(HarvesterDatabase database, long jobId, IProgress<StageProgress> progress, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("""
            SELECT kind = 'photo', count(*), count(*) FILTER (WHERE state IN ('done', 'failed'))
            FROM frontier WHERE job_id = $1 GROUP BY 1
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        var (pages, pagesDone, photos, photosDone) = (0L, 0L, 0L, 0L);
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                if (r.GetBoolean(0))
                {
                    (photos, photosDone) = (r.GetInt64(1), r.GetInt64(2));
                }
                else
                {
                    (pages, pagesDone) = (r.GetInt64(1), r.GetInt64(2));
                }
            }
        }

        progress.Report(new StageProgress("crawl pages", pagesDone, pages, "pages"));
        if (photos > 0)
        {
            progress.Report(new StageProgress("crawl photos", photosDone, photos, "photos"));
        }
    }
}
