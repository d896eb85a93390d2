using Harvester.Core;
using Harvester.Crawl;
using Harvester.Data;
using Harvester.Data.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Harvester.App;

/// <summary>Builds the generic host every command runs in: one configuration file, environment overrides, validated options.</summary>
internal static class HarvesterHost
{
    /// <param name="configPath">Extra appsettings file (--config).</param>
    /// <param name="worker">True for `harvester worker`: the stages Worker:Stages selects run in their loops. One-shot
    /// commands call the stage services directly and get only the database's hosted service.</param>
    public static HostApplicationBuilder CreateBuilder(string? configPath, bool worker = false)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            DisableDefaults = false,
        });

        var config = configPath ?? Environment.GetEnvironmentVariable("HARVESTER_CONFIG");
        var extra = new List<string>();
        if (!string.IsNullOrWhiteSpace(config))
        {
            var full = Path.GetFullPath(config);
            if (!File.Exists(full))
            {
                throw new Core.HarvesterException($"Configuration file {full} (--config / HARVESTER_CONFIG) does not exist.");
            }

            extra.Add(full);
        }

        // A list in --config replaces the one in appsettings.json instead of overwriting it position by position.
        Core.ConfiguredLists.MergeJsonFiles(builder.Configuration, extra);

        // A command's failure is reported once, as one line, by Cli.Guard; the host's own "Hosting failed to start"
        // record would repeat it with a stack trace first (--verbose prints the trace).
        if (!Cli.Verbose)
        {
            builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        }

        // Harvester__Section__Key overrides, in addition to the host's unprefixed Section__Key.
        builder.Configuration.AddEnvironmentVariables("Harvester__");
        builder.Services.AddHarvesterData(builder.Configuration);
        builder.Services.AddHarvesterCrawl(builder.Configuration);
        Curate.CurateServiceCollectionExtensions.AddHarvesterCurate(builder.Services, builder.Configuration);
        Cluster.ClusterServiceCollectionExtensions.AddHarvesterCluster(builder.Services, builder.Configuration);
        Embed.EmbedServiceCollectionExtensions.AddHarvesterEmbed(builder.Services, builder.Configuration);
        Export.ExportServiceCollectionExtensions.AddHarvesterExport(builder.Services, builder.Configuration);
        if (worker)
        {
            builder.Services.AddHarvesterWorker();
        }

        builder.Services.AddOptions<Dashboard.DashboardOptions>().BindSection(Dashboard.DashboardOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<Dashboard.PipelineStatus>();
        builder.Services.AddSingleton<Dashboard.RatingEndpoints>();
        builder.Services.AddSingleton<Dashboard.DashboardServer>();
        if (worker)
        {
            builder.Services.AddHostedService<Dashboard.DashboardService>();
        }

        return builder;
    }
}
