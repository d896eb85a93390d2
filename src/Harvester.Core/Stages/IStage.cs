namespace Harvester.Core.Stages;

/// <summary>What one pass of a stage did; <see cref="Claimed"/> 0 means nothing was claimable.</summary>
public interface IStageResult
{
    int Claimed { get; }
}

/// <summary>A pass result that adds up, so draining a stage reports totals of the same shape as one pass.</summary>
public interface IStageResult<TSelf> : IStageResult
    where TSelf : IStageResult<TSelf>
{
    static abstract TSelf Empty { get; }

    TSelf Add(TSelf other);
}

/// <summary>
/// A pipeline stage: one pass claims a batch of the items in the state the stage consumes, works on them outside any
/// transaction, then writes the results and releases the claims in one transaction. The worker runs passes in a loop
/// (<c>StageWorker</c>); a command runs them until nothing is left (<c>StageRunner.DrainAsync</c>).
/// </summary>
public interface IStage
{
    /// <summary>The name Worker:Stages selects it by and its leases are recorded under: crawl, curate, embed, cluster.</summary>
    string Name { get; }

    StageOptions Options { get; }

    /// <summary>How many passes one worker process runs side by side (each claims its own batch).</summary>
    int Concurrency => 1;

    /// <summary>One pass with the configured defaults, as the worker runs it.</summary>
    Task<IStageResult> RunOnceAsync(CancellationToken ct);
}
