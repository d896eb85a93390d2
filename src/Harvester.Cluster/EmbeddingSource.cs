using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Harvester.Core;
using Harvester.Data;

namespace Harvester.Cluster;

/// <summary>Embeddings of one model and scope (from <see cref="ClusterStore"/>) in batches or a sample, each vector checked on the way in.</summary>
public static class EmbeddingSource
{
    /// <summary>
    /// Every vector in scope in image-id order, in batches of <paramref name="batchSize"/> rows (one open cursor,
    /// at most one batch in memory). Throws on NaN/infinite values, zero vectors (when they must be normalised) or a
    /// dimension other than the model's.
    /// </summary>
    public static async IAsyncEnumerable<(long[] Ids, VectorMatrix Vectors)> StreamAsync(
        ClusterStore store, RegisteredModel model, ImageScope scope, int batchSize, bool rejectZero, [EnumeratorCancellation] CancellationToken ct)
    {
        var ids = new List<long>(batchSize);
        var rows = new List<float[]>(batchSize);
        await foreach (var (id, v) in store.StreamVectorsAsync(model, scope, ct))
        {
            Check(model, id, v, rejectZero);
            ids.Add(id);
            rows.Add(v);
            if (ids.Count == batchSize)
            {
                yield return ([.. ids], VectorMatrix.FromRows(rows));
                ids.Clear();
                rows.Clear();
            }
        }

        if (ids.Count > 0)
        {
            yield return ([.. ids], VectorMatrix.FromRows(rows));
        }
    }

    /// <summary>
    /// All vectors in scope when they fit in <paramref name="maxRows"/>; otherwise a seeded uniform sample of
    /// <paramref name="maxRows"/> of them (reservoir sampling over one streamed pass).
    /// </summary>
    public static async Task<(long[] Ids, VectorMatrix Vectors, int Total)> LoadAsync(
        ClusterStore store, RegisteredModel model, ImageScope scope, int maxRows, int seed, int batchSize, bool rejectZero, CancellationToken ct)
    {
        var ids = new List<long>();
        var rows = new List<float[]>();
        var rng = new Random(seed);
        var seen = 0;
        await foreach (var (batchIds, batch) in StreamAsync(store, model, scope, batchSize, rejectZero, ct))
        {
            for (var i = 0; i < batchIds.Length; i++)
            {
                seen++;
                if (ids.Count < maxRows)
                {
                    ids.Add(batchIds[i]);
                    rows.Add(batch.Row(i).ToArray());
                }
                else
                {
                    var j = rng.NextInt64(seen);
                    if (j < maxRows)
                    {
                        ids[(int)j] = batchIds[i];
                        rows[(int)j] = batch.Row(i).ToArray();
                    }
                }
            }
        }

        if (ids.Count == 0)
        {
            return ([], new VectorMatrix(0, Math.Max(1, model.Dimension)), 0);
        }

        // Keep image-id order so results do not depend on which rows the reservoir replaced last.
        var order = Enumerable.Range(0, ids.Count).OrderBy(i => ids[i]).ToArray();
        return ([.. order.Select(i => ids[i])], VectorMatrix.FromRows([.. order.Select(i => rows[i])]), seen);
    }

    internal static void Check(RegisteredModel model, long imageId, float[] v, bool rejectZero)
    {
        if (v.Length != model.Dimension)
        {
            throw new HarvesterException(
                $"Image {imageId} has a {v.Length}-dimensional embedding but model {model.Label} declares {model.Dimension}: re-embed it (harvester embed --model {model.Name}).");
        }

        foreach (var f in v)
        {
            if (!float.IsFinite(f))
            {
                throw new HarvesterException(
                    $"Image {imageId} has a NaN or infinite value in its {model.Label} embedding: delete that embedding row and re-embed the image.");
            }
        }

        if (rejectZero && TensorPrimitives.Norm(v) == 0)
        {
            throw new HarvesterException(
                $"Image {imageId} has an all-zero {model.Label} embedding, which has no direction to cluster by: re-embed it, or delete the row.");
        }
    }

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
