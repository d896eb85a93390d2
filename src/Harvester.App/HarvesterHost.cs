using Harvester.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Harvester.App;

/// <summary>Builds the generic host every command runs in: one configuration file, environment overrides, validated options.</summary>
internal static class HarvesterHost
{
    public static HostApplicationBuilder CreateBuilder(string? configPath)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            DisableDefaults = false,
        });

        var config = configPath ?? Environment.GetEnvironmentVariable("HARVESTER_CONFIG");
        if (!string.IsNullOrWhiteSpace(config))
        {
            var full = Path.GetFullPath(config);
            if (!File.Exists(full))
            {
                throw new Core.HarvesterException($"Configuration file {full} (--config / HARVESTER_CONFIG) does not exist.");
            }

            builder.Configuration.AddJsonFile(full, optional: false, reloadOnChange: false);
        }

        // Harvester__Section__Key overrides, in addition to the host's unprefixed Section__Key.
        builder.Configuration.AddEnvironmentVariables("Harvester__");
        builder.Services.AddHarvesterData(builder.Configuration);
        return builder;
    }
}
