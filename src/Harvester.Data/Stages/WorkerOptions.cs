using Harvester.Core;
using Harvester.Core.Stages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Data.Stages;

/// <summary>The <c>Worker</c> section: which stages <c>harvester worker</c> runs.</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>Stage names (crawl, curate, embed, cluster); empty: every stage the app has.</summary>
    public List<string> Stages { get; set; } = [];
}

public static class WorkerServiceCollectionExtensions
{
    /// <summary>
    /// The worker host: one <see cref="StageWorker"/> per stage that Worker:Stages selects (all when empty). An
    /// unknown name stops the worker at start with the key's name and the stages there are.
    /// </summary>
    public static IServiceCollection AddHarvesterWorker(this IServiceCollection services)
    {
        services.AddOptions<WorkerOptions>().BindSection(WorkerOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WorkerOptions>, WorkerStagesValidation>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<WorkerHealth>();
        services.AddSingleton<IHostedService>(sp => new StageWorkers(sp));
        return services;
    }

    private sealed class WorkerStagesValidation(IEnumerable<IStage> stages) : IValidateOptions<WorkerOptions>
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

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            var selected = services.GetRequiredService<IOptions<WorkerOptions>>().Value.Stages;
            foreach (var stage in services.GetServices<IStage>().Where(s => selected.Count == 0 || selected.Contains(s.Name)))
            {
                _workers.Add(new StageWorker(
                    stage, services.GetRequiredService<HarvesterDatabase>(), services.GetRequiredService<TimeProvider>(), services.GetRequiredService<WorkerHealth>(),
                    services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<ILogger<StageWorker>>()));
            }

            foreach (var w in _workers)
            {
                await w.StartAsync(cancellationToken);
            }

            // Temp files of downloads a killed process left: swept once per worker start, off the start path.
            var blobs = services.GetRequiredService<BlobStore>();
            var logger = services.GetRequiredService<ILogger<BlobStore>>();
            _janitor = Task.Run(() =>
            {
                try
                {
                    var removed = blobs.RemoveOrphanedTempFiles(TimeSpan.FromHours(1), _stopping.Token);
                    if (removed > 0)
                    {
                        Log.OrphanedTempFilesRemoved(logger, removed, blobs.Root);
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
            await Task.WhenAll(_workers.Select(w => w.StopAsync(cancellationToken)).Append(_janitor));
            _stopping.Dispose();
        }
    }
}
