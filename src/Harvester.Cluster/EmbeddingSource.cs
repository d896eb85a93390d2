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
    /// dimension other than the model's. The batch's arrays are reused for the next batch: copy what must outlive it.
    /// </summary>
    public static async IAsyncEnumerable<(long[] Ids, VectorMatrix Vectors)> StreamAsync(
        ClusterStore store, RegisteredModel model, ImageScope scope, int batchSize, bool rejectZero, [EnumeratorCancellation] CancellationToken ct)
    {
        // Each row is copied into one reused batch matrix as it arrives, so the reader's per-row array dies young and a
        // pass over a million rows allocates no batch after the first (each was a 16 MB large-object garbage).
        var dimension = Math.Max(1, model.Dimension);
        var ids = new long[batchSize];
        var matrix = new VectorMatrix(batchSize, dimension);
        var count = 0;
        await foreach (var (id, v) in store.StreamVectorsAsync(model, scope, ct))
        {
            Check(model, id, v, rejectZero);
            ids[count] = id;
            v.CopyTo(matrix.Row(count));
            if (++count == batchSize)
            {
                yield return (ids, matrix);
                count = 0;
            }
        }

        if (count > 0)
        {
            yield return (ids[..count], matrix.Head(count));
        }
    }

    /// <summary>
    /// All vectors in scope when they fit in <paramref name="maxRows"/>; otherwise a seeded uniform sample of
    /// <paramref name="maxRows"/> of them (reservoir sampling over one streamed pass), in image-id order. Rows are
    /// written straight into one matrix of at most <paramref name="maxRows"/> rows (sized by <paramref name="expected"/>,
    /// the count in scope when the run began), so the budget is what the vectors take, not twice that.
    /// </summary>
    public static async Task<(long[] Ids, VectorMatrix Vectors, int Total)> LoadAsync(
        ClusterStore store, RegisteredModel model, ImageScope scope, int maxRows, long expected, int seed, bool rejectZero, CancellationToken ct)
    {
        var capacity = (int)Math.Clamp(expected, 1, maxRows);
        var matrix = new VectorMatrix(capacity, Math.Max(1, model.Dimension));
        var ids = new long[capacity];
        var rng = new Random(seed);
        var seen = 0;
        var filled = 0;
        var replaced = false;
        await foreach (var (id, v) in store.StreamVectorsAsync(model, scope, ct))
        {
            Check(model, id, v, rejectZero);
            seen++;
            if (filled == capacity && capacity < maxRows)
            {
                // Embedded since the count, and the budget has room: grow (rare, so a copy is fine).
                var grown = new VectorMatrix((int)Math.Min(maxRows, (capacity * 5L / 4) + 1024), matrix.Dimension);
                matrix.Data.AsSpan().CopyTo(grown.Data);
                Array.Resize(ref ids, grown.Rows);
                (matrix, capacity) = (grown, grown.Rows);
            }

            int slot;
            if (filled < capacity)
            {
                slot = filled++;
            }
            else
            {
                // More rows than the run counted (or than the budget holds): keep a uniform sample of them.
                var j = rng.NextInt64(seen);
                if (j >= capacity)
                {
                    continue;
                }

                slot = (int)j;
                replaced = true;
            }

            ids[slot] = id;
            v.CopyTo(matrix.Row(slot));
        }

        if (filled == 0)
        {
            return ([], new VectorMatrix(0, Math.Max(1, model.Dimension)), 0);
        }

        if (filled < capacity)
        {
            // Fewer rows than room (rows went away since the count, or the last growth overshot): a smaller copy. Rows
            // stream in image-id order and none was replaced, so no reordering.
            return (ids[..filled], matrix.Head(filled), seen);
        }

        if (replaced)
        {
            // Keep image-id order so results do not depend on which rows the reservoir replaced last: sort in place.
            SortRowsById(ids, matrix);
        }

        return (ids, matrix, seen);
    }

    /// <summary>Orders <paramref name="ids"/> ascending and moves the matrix rows with them, one spare row of memory.</summary>
    private static void SortRowsById(long[] ids, VectorMatrix matrix)
    {
        var order = Enumerable.Range(0, ids.Length).OrderBy(i => ids[i]).ToArray(); // order[k]: the row that belongs at k
        var spare = new float[matrix.Stride];
        var done = new bool[ids.Length];
        for (var start = 0; start < ids.Length; start++)
        {
            if (done[start] || order[start] == start)
            {
                continue;
            }

            // Follow the cycle start <- order[start] <- order[order[start]] ... holding the first row aside.
            var heldId = ids[start];
            matrix.PaddedRow(start).CopyTo(spare);
            var k = start;
            while (true)
            {
                done[k] = true;
                var from = order[k];
                if (from == start)
                {
                    ids[k] = heldId;
                    spare.CopyTo(matrix.PaddedRow(k));
                    break;
                }

                ids[k] = ids[from];
                matrix.PaddedRow(from).CopyTo(matrix.PaddedRow(k));
                k = from;
            }
        }
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
