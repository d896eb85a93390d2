using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
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
        services.TryAddSingleton<ModelStore>();
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<ModelHost>();
        services.AddSingleton<ModelRegistry>();
        services.AddSingleton<EmbedStore>();
        services.AddSingleton<EmbedService>();
        services.AddSingleton<SimilarSearch>();
        services.AddSingleton<IStage>(sp => sp.GetRequiredService<EmbedService>());
        services.AddOptions<NearCopyOptions>().BindSection(NearCopyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<DuplicateGroups>();
        services.AddSingleton<NearCopyStore>();
        services.AddSingleton<NearCopyService>();
        services.AddSingleton<IStage>(sp => sp.GetRequiredService<NearCopyService>());
        return services;
    }
}
