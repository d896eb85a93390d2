using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Embed;

/// <summary>Restricts a nearest-image search; every set field must hold (AND).</summary>
public sealed record SearchFilter
{
    /// <summary>Seen on this site (sites.key).</summary>
    public string? Site { get; init; }

    /// <summary>Seen at this place (places.id).</summary>
    public long? PlaceId { get; init; }

    /// <summary>Seen at a place or product of this category.</summary>
    public string? Category { get; init; }

    /// <summary>Seen at a place in this neighbourhood.</summary>
    public string? Neighbourhood { get; init; }

    /// <summary>Assigned in this clustering run (optionally to <see cref="ClusterIndex"/>).</summary>
    public long? ClusterRunId { get; init; }

    public int? ClusterIndex { get; init; }

    /// <summary>Seen by this crawl job.</summary>
    public long? JobId { get; init; }

    /// <summary>Only images whose status is accepted (an image can be marked duplicate after it was embedded).</summary>
    public bool AcceptedOnly { get; init; }

    public bool IsEmpty => this == new SearchFilter();
}

public sealed record Neighbour(long ImageId, double Distance, string Sha256, string SourceUrl, string Status, string? Place, string? Category, string? Neighbourhood);

public sealed record SearchResult(RegisteredModel Model, IReadOnlyList<Neighbour> Neighbours, bool ExactFallback);

/// <summary>
/// k nearest images by cosine distance through the model's HNSW index. Filters use pgvector 0.8 iterative index scans
/// (relaxed order, re-sorted); if the index still yields fewer than k rows the query is re-run exactly, so a filter
/// never silently returns fewer rows than exist.
/// </summary>
public sealed class SimilarSearch(
    EmbedStore store,
    ModelHost models,
    ModelRegistry registry,
    IOptions<InferenceOptions> options,
    ILogger<SimilarSearch> logger)
{
    public const int MaxK = 1000;

    public async Task<SearchResult> NearestToImageAsync(long imageId, int k, SearchFilter filter, string? model, CancellationToken ct)
    {
        var registered = await RegisteredAsync(model, ct);
        var stored = await store.VectorAsync(imageId, registered.Id, ct)
            ?? throw new HarvesterException($"There is no image with id {imageId}.");
        if (stored.Vector is null)
        {
            throw new HarvesterException(
                $"Image {imageId} (status {stored.Status}) has no '{registered.Name}' vector yet: only accepted images are embedded; run 'harvester embed --model {registered.Name}'.");
        }

        return await NearestToVectorAsync(stored.Vector, k, filter, registered, imageId, ct);
    }

    /// <summary>Embeds an encoded image on the fly and searches with it.</summary>
    public async Task<SearchResult> NearestToBytesAsync(byte[] image, int k, SearchFilter filter, string? model, CancellationToken ct)
    {
        var embedder = await models.GetAsync(model, ct);
        var registered = await registry.EnsureAsync(embedder, ct);
        var vector = embedder.Embed([image], ct)[0];
        return await NearestToVectorAsync(vector, k, filter, registered, null, ct);
    }

    public async Task<SearchResult> NearestToFileAsync(string path, int k, SearchFilter filter, string? model, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            throw new HarvesterException($"Query image {Path.GetFullPath(path)} does not exist.");
        }

        return await NearestToBytesAsync(await File.ReadAllBytesAsync(path, ct), k, filter, model, ct);
    }

    public async Task<SearchResult> NearestToUrlAsync(Uri url, int k, SearchFilter filter, string? model, CancellationToken ct) =>
        await NearestToBytesAsync(await FetchAsync(url, ct), k, filter, model, ct);

    /// <summary>Downloads a query image (bounded size and time).</summary>
    public async Task<byte[]> FetchAsync(Uri url, CancellationToken ct)
    {
        if (url.Scheme is not ("http" or "https"))
        {
            throw new HarvesterException($"Query URL {url} must be http or https.");
        }

        var o = options.Value;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(o.DownloadTimeout);
        try
        {
            using var response = await ModelCatalog.Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                throw new HarvesterException($"Query URL {url} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            if (response.Content.Headers.ContentLength > o.MaxQueryImageBytes)
            {
                throw new HarvesterException($"Query URL {url} is {response.Content.Headers.ContentLength} bytes; the limit is Inference:MaxQueryImageBytes = {o.MaxQueryImageBytes}.");
            }

            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            using var ms = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = await body.ReadAsync(chunk, timeout.Token)) > 0)
            {
                if (ms.Length + read > o.MaxQueryImageBytes)
                {
                    throw new HarvesterException($"Query URL {url} is larger than Inference:MaxQueryImageBytes = {o.MaxQueryImageBytes}.");
                }

                ms.Write(chunk, 0, read);
            }

            return ms.ToArray();
        }
        catch (HttpRequestException e)
        {
            throw new HarvesterException($"Cannot fetch query URL {url}: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new HarvesterException($"Fetching query URL {url} timed out after {o.DownloadTimeout}.", e);
        }
    }

    public async Task<SearchResult> NearestToVectorAsync(float[] vector, int k, SearchFilter filter, RegisteredModel registered, long? excludeImageId, CancellationToken ct)
    {
        if (k is < 1 or > MaxK)
        {
            throw new HarvesterException($"k must be between 1 and {MaxK} (was {k}).");
        }

        if (vector.Length != registered.Dimension)
        {
            throw new HarvesterException($"The query vector has {vector.Length} dimensions; model '{registered.Name}' stores {registered.Dimension}.");
        }

        if (filter.ClusterIndex is not null && filter.ClusterRunId is null)
        {
            throw new HarvesterException("A cluster index filter needs the clustering run it belongs to.");
        }

        var o = options.Value;
        var (rows, exact) = await store.NearestAsync(registered, vector, filter, excludeImageId, k, Math.Max(o.EfSearch, k), o.MaxScanTuples, ct);
        if (exact)
        {
            Log.ExactFallback(logger, k);
        }

        var neighbours = rows.Select(x => new Neighbour(
            x.Id, x.Distance, x.Details.Sha256, x.Details.SourceUrl, x.Details.Status, x.Details.Place, x.Details.Category, x.Details.Neighbourhood)).ToList();
        return new SearchResult(registered, neighbours, exact);
    }

    private async Task<RegisteredModel> RegisteredAsync(string? model, CancellationToken ct)
    {
        var embedder = await models.GetAsync(model, ct);
        return await registry.EnsureAsync(embedder, ct);
    }
}
