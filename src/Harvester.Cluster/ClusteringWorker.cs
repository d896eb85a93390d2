using Cronos;
using Harvester.Data;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.Cluster;

/// <summary>
/// The periodic part of `harvester worker`: runs k-means when the cron schedule is due (UTC) or when enough new
/// embeddings arrived since the last completed run. A lease on stage "cluster" (item = model id) keeps two workers
/// from clustering the same model at once.
/// </summary>
public sealed class ClusteringWorker(
    HarvesterDatabase database,
    ModelStore models,
    ClusteringService clustering,
    SimilarityGrouper grouper,
    IOptions<ClusteringOptions> options,
    TimeProvider time,
    ILogger<ClusteringWorker> logger) : BackgroundService
{
    public const string Stage = "cluster";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var cron = string.IsNullOrWhiteSpace(o.Schedule) ? null : CronExpression.Parse(o.Schedule);
        if (cron is null && o.AfterNewEmbeddings <= 0)
        {
            Log.WorkerDisabled(logger);
            return;
        }

        Log.WorkerStarted(logger, o.Schedule, o.AfterNewEmbeddings);
        var nextDue = cron?.GetNextOccurrence(time.GetUtcNow().UtcDateTime);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(o.PollInterval, time, stoppingToken);
                var now = time.GetUtcNow().UtcDateTime;
                var due = nextDue is { } n && n <= now;
                if (!due && o.AfterNewEmbeddings > 0)
                {
                    due = await NewEmbeddingsSinceLastRunAsync(stoppingToken) >= o.AfterNewEmbeddings;
                }

                if (due)
                {
                    await RunOnceAsync(stoppingToken);
                    nextDue = cron?.GetNextOccurrence(time.GetUtcNow().UtcDateTime);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is Core.HarvesterException or NpgsqlException or InvalidOperationException)
            {
                Log.WorkerRunFailed(logger, e);
                nextDue = cron?.GetNextOccurrence(time.GetUtcNow().UtcDateTime);
            }
        }
    }

    /// <summary>One scheduled run under the model's lease; false when another worker holds it.</summary>
    public async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var o = options.Value;
        var model = await models.ResolveAsync(o.Model, ct);
        var claimed = await WorkLeases.ClaimAsync(database.DataSource, Stage, "SELECT $1::bigint", 1, TimeSpan.FromHours(6), ct, (long)model.Id);
        if (claimed.Count == 0)
        {
            return false;
        }

        try
        {
            await clustering.RunAsync(new ClusterRequest { Model = model.Label }, ct);
            if (o.SimilarityGroupsOnSchedule)
            {
                await grouper.RunAsync(model.Label, ImageScope.All, null, null, ct);
            }
        }
        finally
        {
            await using var conn = await database.DataSource.OpenConnectionAsync(CancellationToken.None);
            await WorkLeases.CompleteAsync(conn, null, Stage, claimed, CancellationToken.None);
        }

        return true;
    }

    private async Task<long> NewEmbeddingsSinceLastRunAsync(CancellationToken ct)
    {
        var model = await models.ResolveAsync(options.Value.Model, ct);
        await using var cmd = database.DataSource.CreateCommand("""
            SELECT count(*) FROM embeddings e WHERE e.model_id = $1 AND e.created_at >
                coalesce((SELECT max(started_at) FROM clustering_runs r WHERE r.model_id = $1 AND r.status = 'completed' AND r.parameters->>'method' = 'kmeans'), '-infinity')
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = model.Id });
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
