using Harvester.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Harvester.Export;

public static class ExportServiceCollectionExtensions
{
    /// <summary>Export options and the dataset exporter.</summary>
    public static IServiceCollection AddHarvesterExport(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ExportOptions>().BindSection(ExportOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ExportService>();
        return services;
    }
}
