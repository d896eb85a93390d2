using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data.Stages;
using Harvester.Data;
using Harvester.Imaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Harvester.Embed;

public static class EmbedServiceCollectionExtensions
{
    /// <summary>Inference options, the model catalog and shared sessions, the embed stage and search.</summary>
    public static IServiceCollection AddHarvesterEmbed(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<InferenceOptions>().BindSection(InferenceOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        // The decode limits are the Curation section's keys: one setting for crawled, embedded and query images.
        services.AddOptions<DecodeLimitsOptions>().BindSection(DecodeLimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<ModelStore>();
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<ModelHost>();
        services.AddSingleton<ModelRegistry>();
        services.AddSingleton<EmbedStore>();
        services.AddStage<EmbedService>(EmbedService.Stage);
        services.AddSingleton<SimilarSearch>();
        services.AddOptions<NearCopyOptions>().BindSection(NearCopyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<DuplicateGroups>();
        services.AddSingleton<NearCopyStore>();
        services.AddStage<NearCopyService>(NearCopyService.Stage);
        return services;
    }
}
