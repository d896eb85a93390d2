using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data.Stages;
using Harvester.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Harvester.Cluster;

public static class ClusterServiceCollectionExtensions
{
    /// <summary>Clustering options, the run / group / evaluation services, galleries and the periodic cluster stage.</summary>
    public static IServiceCollection AddHarvesterCluster(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ClusteringOptions>().BindSection(ClusteringOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<ModelStore>();
        services.TryAddSingleton<DuplicateGroups>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ClusterStore>();
        services.AddSingleton<ClusterGallery>();
        services.AddSingleton<ClusteringService>();
        services.AddSingleton<SimilarityGrouper>();
        services.AddSingleton<ClusterEvaluator>();
        services.AddStage<ClusterStage>(ClusterStage.Stage);
        return services;
    }
}
