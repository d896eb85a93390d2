using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Embed;

public static class EmbedServiceCollectionExtensions
{
    /// <summary>Inference options, the model catalog and shared sessions, the embed stage, search, and the embed worker.</summary>
    public static IServiceCollection AddHarvesterEmbed(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<InferenceOptions>().BindSection(InferenceOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<ModelStore>();
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<ModelHost>();
        services.AddSingleton<ModelRegistry>();
        services.AddSingleton<EmbedService>();
        services.AddSingleton<SimilarSearch>();
        services.AddHostedService<EmbedWorker>();
        return services;
    }
}

/// <summary>The embed stage inside <c>harvester worker</c>: passes until nothing is left, then polls.</summary>
public sealed class EmbedWorker(EmbedService service, IOptions<InferenceOptions> options, ILogger<EmbedWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.WorkerEnabled)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                var result = await service.RunOnceAsync(o.ClaimBatch, stoppingToken);
                delay = result.Claimed == 0 ? o.PollInterval : TimeSpan.Zero;
            }
            catch (Exception e) when (e is HarvesterException or Npgsql.NpgsqlException or IOException)
            {
                delay = o.PollInterval;
                Log.WorkerPassFailed(logger, e, delay);
            }

            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, stoppingToken);
            }
        }
    }
}
