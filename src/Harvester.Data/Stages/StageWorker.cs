using Harvester.Core.Stages;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Harvester.Data.Stages;

/// <summary>Whether a worker process stopped because a stage could not go on (its exit code is then non-zero).</summary>
public sealed class WorkerHealth
{
    private string? _failure;

    public string? Failure => _failure;

    public void Fail(string reason) => Interlocked.CompareExchange(ref _failure, reason, null);

    private long _itemsDone;

    /// <summary>Items every stage loop of this process claimed and finished so far (what its heartbeat reports).</summary>
    public long ItemsDone => Interlocked.Read(ref _itemsDone);

    public void AddItems(int n) => Interlocked.Add(ref _itemsDone, n);
}

/// <summary>
/// The one worker loop every stage runs in inside <c>harvester worker</c>: passes back to back while there is work,
/// <see cref="StageOptions.PollInterval"/> apart when there is none. A database that goes away (restart, failover) is
/// weather: the loop logs it, backs off and carries on when PostgreSQL is back; claims already taken keep their
/// leases and come back when those end. Anything else stops the worker with a non-zero exit code, so a service
/// manager restarts or reports it instead of seeing a clean exit.
/// </summary>
public sealed class StageWorker(IStage stage, HarvesterDatabase database, TimeProvider time, WorkerHealth health, IHostApplicationLifetime lifetime, ILogger<StageWorker> logger)
    : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    public IStage Stage => stage;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Log.StageWorkerStarted(logger, stage.Name, stage.Concurrency, stage.Options.ClaimBatch, stage.Options.PollInterval);
        await Task.WhenAll(Enumerable.Range(0, Math.Max(1, stage.Concurrency)).Select(_ => Task.Run(() => LoopAsync(stoppingToken), CancellationToken.None)));
    }

    private async Task LoopAsync(CancellationToken ct)
    {
        var outage = 0;
        var abandoned = false;
        while (!ct.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                if (abandoned && stage.Concurrency == 1)
                {
                    // The pass the outage broke claimed items it never finished: give them back now, not when the lease ends.
                    // (A stage that runs passes side by side gives back its broken passes' claims itself: releasing
                    // every claim of this process would free the other passes' live ones.)
                    await StageLeases.ReleaseOwnAsync(database.DataSource, stage.Name, ct);
                }

                abandoned = false;
                var result = await StageRunner.TracedPassAsync(stage.Name, stage.RunOnceAsync, ct);
                health.AddItems(result.Claimed);
                if (outage > 0)
                {
                    Log.DatabaseBack(logger, stage.Name, outage);
                    outage = 0;
                }

                delay = result.Claimed == 0 ? stage.Options.PollInterval : TimeSpan.Zero;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (TransientDatabaseErrors.Is(e))
            {
                outage++;
                abandoned = true;
                delay = Backoff(outage);
                Log.DatabaseUnavailable(logger, stage.Name, TransientDatabaseErrors.Describe(e), delay);
            }
            catch (Exception e)
            {
                Log.StageStopped(logger, e, stage.Name, e.Message.Split('\n')[0]);
                health.Fail($"stage {stage.Name}: {e.Message.Split('\n')[0]}");
                lifetime.StopApplication();
                return;
            }

            if (delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(delay, time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>1 s, 2 s, 4 s … up to 30 s, with a little jitter so several workers do not knock at the same instant.</summary>
    public static TimeSpan Backoff(int outage) =>
        TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, 1000 * Math.Pow(2, Math.Min(outage - 1, 10))) * (0.8 + (0.4 * Random.Shared.NextDouble())));
}
