using System.Collections.Concurrent;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Embed;

/// <summary>
/// Registers the models this process embeds with (once per process and model version), through <see cref="ModelStore"/>.
/// Only a loaded <see cref="Embedder"/> is registered: loading checks the graph and runs it once, so a model that
/// cannot embed (not an image model, a missing output, a batch fixed inside the graph) stores nothing.
/// </summary>
public sealed class ModelRegistry(ModelStore store, IOptions<InferenceOptions> options, ILogger<ModelRegistry> logger)
{
    private readonly ConcurrentDictionary<(string, string), RegisteredModel> _known = new();

    public async Task<RegisteredModel> EnsureAsync(Embedder embedder, CancellationToken ct)
    {
        var model = embedder.Model;
        var m = model.Manifest;
        if (_known.TryGetValue((m.Name, m.Version), out var cached))
        {
            return cached;
        }

        var o = options.Value;
        var (registered, created) = await store.RegisterAsync(
            new ModelRegistration(m.Name, m.Version, model.ManifestSha256, m.Dimension, o.VectorType, o.HnswM, o.HnswEfConstruction,
                m.Thresholds is { } t ? new CosineThresholds(t.NearCopyCosine, t.SimilarityGroupCosine, t.NearDuplicateCosine) : null), ct);
        if (created)
        {
            Log.ModelRegistered(logger, registered.Name, registered.Version, registered.Id, registered.VectorType, registered.Dimension, registered.IndexName);
        }

        _known[(m.Name, m.Version)] = registered;
        return registered;
    }

    public Task<IReadOnlyList<(RegisteredModel Model, long Vectors)>> ListAsync(CancellationToken ct) => store.ListAsync(ct);
}
