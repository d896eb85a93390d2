using Cronos;
using Harvester.Core.Stages;
using Harvester.Data;
using Harvester.Data.Stages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Cluster;

/// <summary>What one pass of the periodic cluster stage did: 1 when it ran k-means, 0 when nothing was due.</summary>
public sealed record ClusterPassResult(int Claimed) : IStageResult<ClusterPassResult>
{
    public static ClusterPassResult Empty { get; } = new(0);

    public ClusterPassResult Add(ClusterPassResult other) => new(Claimed + other.Claimed);
}

/// <summary>
/// The periodic part of the pipeline: runs k-means when the cron schedule is due (UTC) or when enough new embeddings
/// arrived since the last completed run. Its claim is a lease on stage "cluster" for the model (item = model id), so
/// two workers never cluster the same model at once.
/// </summary>
public sealed class ClusterStage(
    HarvesterDatabase database,
    ClusterStore store,
    ModelStore models,
    ClusteringService clustering,
    SimilarityGrouper grouper,
    IOptions<ClusteringOptions> options,
    TimeProvider time,
    ILogger<ClusterStage> logger) : IStage
{
    public const string Stage = "cluster";

    private readonly CronExpression? _cron = string.IsNullOrWhiteSpace(options.Value.Schedule) ? null : CronExpression.Parse(options.Value.Schedule);
    private DateTime? _nextDue;
    private bool _announced;

    string IStage.Name => Stage;

    StageOptions IStage.Options => options.Value;

    async Task<IStageResult> IStage.RunOnceAsync(CancellationToken ct) => await RunIfDueAsync(ct);

    /// <summary>Runs when the schedule or the new-embedding count says so; otherwise claims nothing.</summary>
    public async Task<ClusterPassResult> RunIfDueAsync(CancellationToken ct)
    {
        var o = options.Value;
        if (!_announced)
        {
            _announced = true;
            if (_cron is null && o.AfterNewEmbeddings <= 0)
            {
                Log.WorkerDisabled(logger);
            }
            else
            {
                Log.WorkerStarted(logger, o.Schedule, o.AfterNewEmbeddings);
            }

            _nextDue = _cron?.GetNextOccurrence(time.GetUtcNow().UtcDateTime);
        }

        // A run a killed process left 'running' is recorded as failed, whoever looks first.
        await store.SweepAbandonedRunsAsync(ct);
        var due = _nextDue is { } n && n <= time.GetUtcNow().UtcDateTime;
        if (!due && o.AfterNewEmbeddings > 0)
        {
            due = await NewEmbeddingsSinceLastRunAsync(ct) >= o.AfterNewEmbeddings;
        }

        if (!due)
        {
            return ClusterPassResult.Empty;
        }

        try
        {
            return new ClusterPassResult(await RunOnceAsync(ct) ? 1 : 0);
        }
        finally
        {
            _nextDue = _cron?.GetNextOccurrence(time.GetUtcNow().UtcDateTime);
        }
    }

    /// <summary>One run now under the model's lease; false when another worker holds it.</summary>
    public async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var o = options.Value;
        var model = await models.ResolveAsync(o.Model, ct);
        var claim = await StageLeases.ClaimAsync(database.DataSource, Stage, "SELECT $1::bigint", 1, o.Lease, int.MaxValue, ct, (long)model.Id);
        if (claim.Count == 0)
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
            await StageLeases.CompleteAsync(conn, null, Stage, claim.All, CancellationToken.None);
        }

        return true;
    }

    private async Task<long> NewEmbeddingsSinceLastRunAsync(CancellationToken ct) =>
        await store.NewEmbeddingsSinceLastRunAsync(await models.ResolveAsync(options.Value.Model, ct), ct);
}
