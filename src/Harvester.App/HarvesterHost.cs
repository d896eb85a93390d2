using Harvester.Core;
using Harvester.Crawl;
using Harvester.Data;
using Harvester.Data.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Harvester.App;

/// <summary>Builds the generic host every command runs in: one configuration file, environment overrides, validated options.</summary>
internal static class HarvesterHost
{
    /// <param name="configPath">Extra appsettings file (--config).</param>
    /// <param name="worker">True for `harvester worker`: the stages Worker:Stages selects run in their loops. One-shot
    /// commands call the stage services directly and get only the database's hosted service.</param>
    /// <param name="command">The command's name, recorded on exported telemetry.</param>
    public static HostApplicationBuilder CreateBuilder(string? configPath, bool worker = false, string command = "harvester")
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
        UtcTimestamps(builder.Services);
        builder.Services.AddHarvesterTelemetry(builder.Configuration, worker ? "worker" : command);
        builder.Services.AddOptions<Progress.ProgressOptions>().BindSection(Progress.ProgressOptions.Section).ValidateDataAnnotations().ValidateOnStart();
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
        builder.Services.AddSingleton<Dashboard.PipelineSeries>();
        builder.Services.AddSingleton<Dashboard.RatingEndpoints>();
        builder.Services.AddSingleton<Dashboard.DashboardServer>();
        if (worker)
        {
            builder.Services.AddHostedService<Dashboard.DashboardService>();
        }

        return builder;
    }

    /// <summary>ISO-8601 UTC to the millisecond, in every console format, e.g. 2026-11-30T19:30:01.250Z.</summary>
    public const string TimestampFormat = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'";

    /// <summary>
    /// Every console log format (simple, json, systemd) stamps records in ISO-8601 UTC unless Logging:Console:
    /// FormatterOptions:TimestampFormat names another format; the simple format separates it from the level by a space.
    /// </summary>
    private static void UtcTimestamps(IServiceCollection services)
    {
        services.PostConfigure<SimpleConsoleFormatterOptions>(o => Stamp(o, " "));
        services.PostConfigure<JsonConsoleFormatterOptions>(o => Stamp(o, ""));
        services.PostConfigure<ConsoleFormatterOptions>(o => Stamp(o, " "));

        static void Stamp(ConsoleFormatterOptions o, string separator)
        {
            if (string.IsNullOrEmpty(o.TimestampFormat))
            {
                o.TimestampFormat = TimestampFormat + separator;
                o.UseUtcTimestamp = true;
            }
        }
    }
}
