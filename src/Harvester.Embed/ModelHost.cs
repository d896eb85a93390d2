using Harvester.Imaging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Embed;

/// <summary>Loads each model once per process and shares its <see cref="Embedder"/> (one InferenceSession per model).</summary>
public sealed class ModelHost(ModelCatalog catalog, IOptions<InferenceOptions> options, IOptions<DecodeLimitsOptions> limits, ILogger<Embedder> logger) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Embedder> _loaded = new(StringComparer.Ordinal);

    public InferenceOptions Options => options.Value;

    /// <summary>The decode limits (Curation:MaxFileBytes, Curation:MaxPixels) every image embedded from bytes is held to.</summary>
    public DecodeLimits Limits => limits.Value.Limits;

    public async Task<Embedder> GetAsync(string? name, CancellationToken ct)
    {
        name ??= options.Value.Model;
        await _gate.WaitAsync(ct);
        try
        {
            if (_loaded.TryGetValue(name, out var existing))
            {
                return existing;
            }

            var resolved = await catalog.ResolveAsync(name, ct);
            var embedder = Embedder.Load(resolved, options.Value, logger, limits.Value.Limits);
            _loaded[name] = embedder;
            return embedder;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        foreach (var e in _loaded.Values)
        {
            e.Dispose();
        }

        _loaded.Clear();
        _gate.Dispose();
    }
}
