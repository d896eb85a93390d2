using Harvester.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Harvester.DemoSite;

public static class DemoSiteServiceCollectionExtensions
{
    /// <summary>Binds and validates <see cref="DemoSiteOptions"/> from the "DemoSite" section (used by <c>harvester demo-site</c> and the demo).</summary>
    public static IServiceCollection AddHarvesterDemoSiteOptions(this IServiceCollection services)
    {
        services.AddOptions<DemoSiteOptions>().BindSection(DemoSiteOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        return services;
    }
}
