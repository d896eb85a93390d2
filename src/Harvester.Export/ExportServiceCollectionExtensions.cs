using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Harvester.Export;

public static class ExportServiceCollectionExtensions
{
    /// <summary>Export options and the dataset exporter.</summary>
    public static IServiceCollection AddHarvesterExport(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ExportOptions>().BindSection(ExportOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<ModelStore>();
        services.AddSingleton<ExportStore>();
        services.AddSingleton<ExportService>();
        return services;
    }
}
