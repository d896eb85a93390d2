using System.ComponentModel.DataAnnotations;

namespace Harvester.Core.Stages;

/// <summary>
/// What every stage's section configures the same way (Curation:ClaimBatch, Inference:PollInterval, …): how many
/// items one pass claims, how long a claim lasts, how long an idle worker waits before it looks again, and how many
/// times an item may be claimed before the stage gives up on it.
/// </summary>
public abstract class StageOptions
{
    /// <summary>Items one pass claims.</summary>
    [Range(1, 100_000)]
    public int ClaimBatch { get; set; } = 64;

    /// <summary>How long a claim lasts; a crashed worker's items are free again after it (at once when it ran on this machine).</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a worker waits when nothing is left to claim.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>An item claimed more often than this is given up, with its reason on record, and never claimed again.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;
}
