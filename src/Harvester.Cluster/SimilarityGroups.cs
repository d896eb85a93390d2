using System.Numerics.Tensors;
using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Cluster;

public sealed record SimilarityGroupsResult(long RunId, RegisteredModel Model, int Images, int Groups, int GroupedImages, int DuplicateGroupsWritten, IReadOnlyList<long[]> Members);

/// <summary>
/// Groups images whose embeddings have cosine similarity ≥ a threshold: k nearest neighbours per image through the
/// model's HNSW index, then union-find over the qualifying pairs (so groups are the connected components).
/// Recorded as a clustering run with method "similarity" (cluster = group, distance = cosine distance to the group
/// mean); optionally also as curation's duplicate groups of kind 'embedding'.
/// </summary>
public sealed class SimilarityGrouper(HarvesterDatabase database, ClusterStore store, ModelStore models, IOptions<ClusteringOptions> options, ILogger<SimilarityGrouper> logger)
{
    public async Task<SimilarityGroupsResult> RunAsync(string? model, ImageScope scope, double? threshold, bool? asDuplicates, CancellationToken ct)
    {
        var o = options.Value;
        var chosen = threshold ?? o.SimilarityThreshold;
        if (chosen is { } given && (given is < 0 or > 1 || double.IsNaN(given)))
        {
            throw new HarvesterException($"Similarity threshold {given} is outside [0, 1] (cosine similarity).");
        }

        var db = database.DataSource;
        var m = await models.ResolveAsync(model ?? o.Model, ct);
        var t = chosen ?? m.Cosine.SimilarityGroup ?? ClusteringOptions.FallbackSimilarityThreshold;
        var inScope = await store.ScopeIdsAsync(m, scope, ct);
        if (inScope.Count == 0)
        {
            throw new HarvesterException($"Scope '{scope}' has no accepted images with {m.Label} embeddings: embed them first or widen --scope.");
        }

        var pairs = await VectorNeighbours.PairsAsync(db, m, scope, 1 - t, o.SimilarityNeighbours, ct);
        var index = inScope.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        var sets = new UnionFind(inScope.Count);
        foreach (var (a, b, _) in pairs)
        {
            if (index.TryGetValue(a, out var ia) && index.TryGetValue(b, out var ib))
            {
                sets.Union(ia, ib);
            }
        }

        var groups = Enumerable.Range(0, inScope.Count)
            .GroupBy(sets.Find)
            .Where(g => g.Count() > 1)
            .Select(g => g.Select(i => inScope[i]).Order().ToArray())
            .OrderBy(g => g[0])
            .ToList();

        var vectors = await store.VectorsAsync(m, groups.SelectMany(g => g).ToArray(), ct);
        var centroids = new VectorMatrix(Math.Max(1, groups.Count), m.Dimension);
        var ids = new List<long>();
        var labels = new List<int>();
        var squared = new List<float>();
        for (var g = 0; g < groups.Count; g++)
        {
            var c = centroids.Row(g);
            foreach (var id in groups[g])
            {
                var v = vectors[id];
                var norm = TensorPrimitives.Norm<float>(v);
                for (var d = 0; d < c.Length; d++)
                {
                    c[d] += norm > 0 ? v[d] / norm : 0;
                }
            }

            var cn = TensorPrimitives.Norm<float>(c);
            if (cn > 0)
            {
                TensorPrimitives.Divide(c, cn, c);
            }

            foreach (var id in groups[g])
            {
                // Stored as a distance; for groups it is the cosine distance, so the square root is undone below.
                var dist = 1 - TensorPrimitives.CosineSimilarity(vectors[id], c);
                ids.Add(id);
                labels.Add(g);
                squared.Add(Math.Max(0, dist) * Math.Max(0, dist));
            }
        }

        var parameters = new RunParameters
        {
            Method = RunParameters.Similarity,
            Threshold = t,
            Neighbours = o.SimilarityNeighbours,
            AsDuplicates = asDuplicates ?? o.SimilarityAsDuplicates,
        };
        var runId = await store.StartRunAsync(m, scope, groups.Count, parameters, null, ct);
        var duplicateGroups = 0;
        try
        {
            var sizes = groups.Select(g => g.Length).ToArray();
            var metrics = new RunMetrics
            {
                Images = inScope.Count,
                Groups = groups.Count,
                GroupedImages = ids.Count,
                Pairs = pairs.Count,
                LargestGroup = sizes.Length == 0 ? 0 : sizes.Max(),
                Sizes = sizes,
            };
            await store.CompleteRunAsync(runId, groups.Count, centroids, sizes, [.. ids], [.. labels], [.. squared], metrics, ct);
            if (asDuplicates ?? o.SimilarityAsDuplicates)
            {
                duplicateGroups = await store.WriteEmbeddingDuplicateGroupsAsync(groups, ct);
            }
        }
        catch (Exception e)
        {
            Log.RunFailed(logger, e, runId);
            await store.FailRunAsync(runId, e is OperationCanceledException ? "cancelled" : e.Message);
            throw;
        }

        Log.GroupsWritten(logger, runId, groups.Count, ids.Count, t);
        return new SimilarityGroupsResult(runId, m, inScope.Count, groups.Count, ids.Count, duplicateGroups, groups);
    }
}
