using System.ComponentModel.DataAnnotations;
using Harvester.Core;
using Harvester.Core.Stages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.Data.Stages;

/// <summary>The <c>Worker</c> section: which stages <c>harvester worker</c> runs.</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>Stage names (crawl, curate, embed, cluster); empty: every stage the app has.</summary>
    public List<string> Stages { get; set; } = [];

    /// <summary>
    /// How often the worker writes its heartbeat to the workers table. Silent after one interval plus a margin, gone
    /// (and its claims reclaimable at once) after <see cref="WorkerRegistry.GoneAfterBeats"/> intervals.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.200", "00:10:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);
}

public static class WorkerServiceCollectionExtensions
{
    /// <summary>
    /// The worker host: one <see cref="StageWorker"/> per stage that Worker:Stages selects (all when empty). An
    /// unknown name stops the worker at start with the key's name and the stages there are.
    /// </summary>
    public static IServiceCollection AddHarvesterWorker(this IServiceCollection services)
    {
        services.AddOptions<WorkerOptions>().BindSection(WorkerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<WorkerOptions>, WorkerStagesValidation>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<WorkerHealth>();
        services.Replace(ServiceDescriptor.Singleton(DatabaseStartPolicy.Wait));
        services.AddSingleton<IHostedService>(sp => new StageWorkers(sp));
        return services;
    }

    private sealed class WorkerStagesValidation(IEnumerable<StageRegistration> stages) : IValidateOptions<WorkerOptions>
    {
        public ValidateOptionsResult Validate(string? name, WorkerOptions options)
        {
            var known = stages.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            var unknown = options.Stages.Where(s => !known.Contains(s)).ToList();
            return unknown.Count == 0
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail($"Worker:Stages names {string.Join(", ", unknown.Select(u => $"'{u}'"))}, which is not a stage; the stages are {string.Join(", ", known.Order(StringComparer.Ordinal))}.");
        }
    }

    /// <summary>Starts the selected stages' loops together and stops them together.</summary>
    private sealed class StageWorkers(IServiceProvider services) : IHostedService
    {
        private readonly List<StageWorker> _workers = [];
        private readonly CancellationTokenSource _stopping = new();
        private Task _janitor = Task.CompletedTask;
        private Task _heartbeat = Task.CompletedTask;

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            var options = services.GetRequiredService<IOptions<WorkerOptions>>().Value;
            var selected = options.Stages;
            foreach (var stage in services.GetServices<StageRegistration>().Where(s => selected.Count == 0 || selected.Contains(s.Name)).Select(s => s.Create(services)))
            {
                _workers.Add(new StageWorker(
                    stage, services.GetRequiredService<HarvesterDatabase>(), services.GetRequiredService<TimeProvider>(), services.GetRequiredService<WorkerHealth>(),
                    services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<ILogger<StageWorker>>()));
            }

            // Registered before any claim, so a claim this worker holds always has a heartbeat to be judged by.
            var database = services.GetRequiredService<HarvesterDatabase>();
            var health = services.GetRequiredService<WorkerHealth>();
            var heartbeatLogger = services.GetRequiredService<ILogger<StageWorker>>();
            var names = _workers.Select(w => w.Stage.Name).ToList();
            await WorkerRegistry.RegisterAsync(database.DataSource, names, options.HeartbeatInterval, cancellationToken);
            Log.WorkerRegistered(heartbeatLogger, ProcessIdentity.Current, string.Join(", ", names), options.HeartbeatInterval);
            _heartbeat = Task.Run(() => BeatAsync(database, health, options.HeartbeatInterval, services.GetRequiredService<TimeProvider>(), heartbeatLogger, _stopping.Token), CancellationToken.None);

            foreach (var w in _workers)
            {
                await w.StartAsync(cancellationToken);
            }

            // Temp files of downloads a killed process left: swept once per worker start, off the start path.
            var blobs = services.GetRequiredService<IBlobStore>();
            var logger = services.GetRequiredService<ILogger<IBlobStore>>();
            _janitor = Task.Run(() =>
            {
                try
                {
                    var removed = blobs.RemoveOrphanedTempFiles(TimeSpan.FromHours(1), _stopping.Token);
                    if (removed > 0)
                    {
                        Log.OrphanedTempFilesRemoved(logger, removed, blobs.Location);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
                {
                    Log.OrphanedTempFilesFailed(logger, e.Message);
                }
            }, CancellationToken.None);
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await _stopping.CancelAsync();
            await Task.WhenAll(_workers.Select(w => w.StopAsync(cancellationToken)).Append(_janitor).Append(_heartbeat));
            try
            {
                // A clean exit says so at once: the dashboard shows it gone, and what it still held is free to claim.
                var database = services.GetRequiredService<HarvesterDatabase>();
                await WorkerRegistry.StopAsync(database.DataSource, services.GetRequiredService<WorkerHealth>().ItemsDone, cancellationToken);
            }
            catch (Exception e) when (TransientDatabaseErrors.Is(e) || e is OperationCanceledException)
            {
                // The database is gone too: the heartbeat stops, and the worker turns gone by age instead.
            }

            _stopping.Dispose();
        }

        /// <summary>Beats every <paramref name="interval"/>; a database that is away is retried at the next beat.</summary>
        private static async Task BeatAsync(HarvesterDatabase database, WorkerHealth health, TimeSpan interval, TimeProvider time, ILogger logger, CancellationToken ct)
        {
            var failing = false;
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(interval, time, ct);
                    await WorkerRegistry.BeatAsync(database.DataSource, health.ItemsDone, ct);
                    failing = false;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
                {
                    // Logged once per outage: the stage loops already report the database's absence.
                    if (!failing)
                    {
                        Log.HeartbeatFailed(logger, TransientDatabaseErrors.Describe(e), interval);
                        failing = true;
                    }
                }
            }
        }
    }
}

/// <summary>
/// A stage as the worker host knows it before choosing: its name and how to build it. Only the stages Worker:Stages
/// selects are built, so a crawl-only worker loads neither the curate detectors nor an embedding model.
/// </summary>
public sealed record StageRegistration(string Name, Func<IServiceProvider, IStage> Create);

public static class StageServiceCollectionExtensions
{
    /// <summary>Registers <typeparamref name="TStage"/> (a singleton) as the stage <paramref name="name"/>.</summary>
    public static IServiceCollection AddStage<TStage>(this IServiceCollection services, string name)
        where TStage : class, IStage
    {
        services.TryAddSingleton<TStage>();
        services.AddSingleton(new StageRegistration(name, sp => sp.GetRequiredService<TStage>()));
        return services;
    }
}
