using Harvester.Imaging;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Harvester.Curate;

public static class CurateServiceCollectionExtensions
{
    /// <summary>Curation options (validated at start), the analyzer with its detector models, the curate stage and its store.</summary>
    public static IServiceCollection AddHarvesterCurate(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<CurationOptions>()
            .BindSection(CurationOptions.Section)
            .ValidateDataAnnotations()
            .Validate(o => !o.Profiles.Values.Any(p => p.MaxTextRatio is not null) || o.Text.Enabled,
                "Curation: a profile sets MaxTextRatio but Curation:Text:Enabled is false.")
            .Validate(o => !o.Profiles.Values.Any(p => p.MaxFaces is not null || p.MaxFaceAreaRatio is not null) || o.Faces.Enabled,
                "Curation: a profile sets MaxFaces/MaxFaceAreaRatio but Curation:Faces:Enabled is false.")
            .ValidateOnStart();
        services.AddSingleton<ImageAnalyzer>();
        services.AddSingleton<CurateStore>();
        services.AddStage<CurationService>(CurationService.Stage);
        return services;
    }
}
