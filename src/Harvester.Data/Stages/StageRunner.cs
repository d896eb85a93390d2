using Harvester.Core.Stages;

namespace Harvester.Data.Stages;

/// <summary>Runs a stage from a command: passes until one claims nothing, adding up what they did.</summary>
public static class StageRunner
{
    /// <summary>
    /// Runs <paramref name="pass"/> until it claims nothing (items leased by other live workers are theirs to finish)
    /// and returns the totals; <paramref name="progress"/> sees each pass that did something.
    /// </summary>
    public static async Task<TResult> DrainAsync<TResult>(Func<CancellationToken, Task<TResult>> pass, CancellationToken ct, Action<TResult>? progress = null)
        where TResult : IStageResult<TResult>
    {
        ArgumentNullException.ThrowIfNull(pass);
        var total = TResult.Empty;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var batch = await pass(ct);
            if (batch.Claimed == 0)
            {
                return total;
            }

            progress?.Invoke(batch);
            total = total.Add(batch);
        }
    }
}
