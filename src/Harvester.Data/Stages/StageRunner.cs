using System.Diagnostics;
using Harvester.Core.Stages;
using Harvester.Core.Telemetry;

namespace Harvester.Data.Stages;

/// <summary>
/// What a drain reports progress as: the stage's name, how to count what is still claimable (asked before the first
/// pass and after each one, so work that turns up meanwhile raises the total) and where to report.
/// </summary>
public sealed record DrainProgress(string Stage, Func<CancellationToken, Task<long>> Remaining, IProgress<StageProgress> Sink, string Unit = "items");

/// <summary>Runs a stage from a command: passes until one claims nothing, adding up what they did.</summary>
public static class StageRunner
{
    /// <summary>
    /// Runs <paramref name="pass"/> until it claims nothing (items leased by other live workers are theirs to finish)
    /// and returns the totals; <paramref name="progress"/> sees each pass that did something, and
    /// <paramref name="totals"/>, when given, gets done / total after each pass, with a span and metrics per pass.
    /// </summary>
    public static Task<TResult> DrainAsync<TResult>(
        Func<CancellationToken, Task<TResult>> pass, CancellationToken ct, Action<TResult>? progress = null, DrainProgress? totals = null)
        where TResult : IStageResult<TResult> =>
        DrainAsync(pass, 1, ct, progress, totals);

    /// <summary>
    /// The same with <paramref name="concurrency"/> passes side by side, as the worker runs a stage whose
    /// <see cref="IStage.Concurrency"/> is above one (each pass claims its own batch, so one pass's work overlaps another's
    /// database writes). Each loop ends when its pass claims nothing; the totals add up every pass of every loop.
    /// </summary>
    public static async Task<TResult> DrainAsync<TResult>(
        Func<CancellationToken, Task<TResult>> pass, int concurrency, CancellationToken ct, Action<TResult>? progress = null, DrainProgress? totals = null)
        where TResult : IStageResult<TResult>
    {
        ArgumentNullException.ThrowIfNull(pass);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(concurrency);
        var total = TResult.Empty;
        long done = 0;
        var gate = new SemaphoreSlim(1, 1);
        if (totals is not null)
        {
            totals.Sink.Report(new StageProgress(totals.Stage, 0, await totals.Remaining(ct), totals.Unit));
        }

        async Task LoopAsync()
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                var batch = totals is null ? await pass(ct) : await TracedPassAsync(totals.Stage, pass, ct);
                if (batch.Claimed == 0)
                {
                    return;
                }

                // Results and progress are added up one pass at a time, in the order passes finish.
                await gate.WaitAsync(ct);
                try
                {
                    progress?.Invoke(batch);
                    total = total.Add(batch);
                    done += batch.Claimed;
                    if (totals is not null)
                    {
                        totals.Sink.Report(new StageProgress(totals.Stage, done, done + await totals.Remaining(ct), totals.Unit));
                    }
                }
                finally
                {
                    gate.Release();
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => LoopAsync()));
        if (totals is not null)
        {
            totals.Sink.Report(new StageProgress(totals.Stage, done, done, totals.Unit));
        }

        return total;
    }

    /// <summary>One pass inside a span (<see cref="HarvesterTelemetry.StartBatch"/>), recorded in the stage metrics.</summary>
    public static async Task<TResult> TracedPassAsync<TResult>(string stage, Func<CancellationToken, Task<TResult>> pass, CancellationToken ct)
        where TResult : IStageResult
    {
        using var scope = HarvesterTelemetry.EnterStage(stage);
        using var span = HarvesterTelemetry.StartBatch(stage);
        var clock = Stopwatch.StartNew();
        try
        {
            var result = await pass(ct);
            span?.SetTag("harvester.claimed", result.Claimed);
            HarvesterTelemetry.RecordPass(stage, result.Claimed, clock.Elapsed);
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message.Split('\n')[0]);
            span?.AddException(e);
            HarvesterTelemetry.RecordPass(stage, 0, clock.Elapsed, e);
            throw;
        }
    }
}
