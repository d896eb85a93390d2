using System.Numerics.Tensors;

namespace Harvester.Cluster;

/// <summary>
/// Internal (inertia, silhouette, Davies-Bouldin) and external (ARI, NMI, purity) clustering quality, with the same
/// definitions as scikit-learn (checked against its values in the tests).
/// </summary>
public static class ClusterMetrics
{
    private const double MachineEpsilon = 2.220446049250313e-16;

    public static double Inertia(VectorMatrix x, int[] labels, VectorMatrix centroids)
    {
        var total = 0.0;
        for (var i = 0; i < x.Rows; i++)
        {
            var d = TensorPrimitives.Distance(x.Row(i), centroids.Row(labels[i]));
            total += (double)d * d;
        }

        return total;
    }

    /// <summary>
    /// Mean silhouette coefficient. With <paramref name="sampleSize"/> smaller than N it is computed on a seeded sample
    /// (as scikit-learn's sample_size): O(sample²·d) instead of O(N²·d).
    /// </summary>
    public static double Silhouette(VectorMatrix x, int[] labels, int sampleSize = 0, int seed = 0, CancellationToken ct = default)
    {
        var idx = Enumerable.Range(0, x.Rows).ToArray();
        if (sampleSize > 0 && sampleSize < x.Rows)
        {
            new Random(seed).Shuffle(idx);
            idx = idx[..sampleSize];
            Array.Sort(idx);
        }

        var n = idx.Length;
        var sample = new VectorMatrix(n, x.Dimension);
        var sl = new int[n];
        for (var i = 0; i < n; i++)
        {
            x.PaddedRow(idx[i]).CopyTo(sample.PaddedRow(i));
            sl[i] = labels[idx[i]];
        }

        var clusters = sl.Distinct().Order().ToArray();
        if (clusters.Length < 2 || clusters.Length > n - 1)
        {
            throw new ArgumentException($"Silhouette needs 2 <= number of clusters <= n - 1 (got {clusters.Length} clusters for {n} vectors).", nameof(labels));
        }

        var map = new Dictionary<int, int>();
        for (var c = 0; c < clusters.Length; c++)
        {
            map[clusters[c]] = c;
        }

        var dense = sl.Select(l => map[l]).ToArray();
        var sizes = new int[clusters.Length];
        foreach (var l in dense)
        {
            sizes[l]++;
        }

        var parallel = new ParallelOptions { CancellationToken = ct };
        var norms = KMeans.RowNorms(sample, parallel);
        var scores = new double[n];
        var m = clusters.Length;
        Parallel.For(0, (n + KMeans.ChunkSize - 1) / KMeans.ChunkSize, parallel, ch =>
        {
            var dots = new float[4 * n];
            var sums = new double[m];
            var end = Math.Min(n, (ch + 1) * KMeans.ChunkSize);
            for (var p = ch * KMeans.ChunkSize; p < end; p += 4)
            {
                var count = Math.Min(4, end - p);
                DotKernel.Strip(sample, p, count, sample, dots);
                for (var r = 0; r < count; r++)
                {
                    var i = p + r;
                    Array.Clear(sums);
                    for (var j = 0; j < n; j++)
                    {
                        if (j != i)
                        {
                            sums[dense[j]] += Math.Sqrt(Math.Max(0.0, (double)norms[i] + norms[j] - 2.0 * dots[r * n + j]));
                        }
                    }

                    var own = dense[i];
                    if (sizes[own] == 1)
                    {
                        scores[i] = 0;
                        continue;
                    }

                    var a = sums[own] / (sizes[own] - 1);
                    var b = double.PositiveInfinity;
                    for (var c = 0; c < m; c++)
                    {
                        if (c != own)
                        {
                            b = Math.Min(b, sums[c] / sizes[c]);
                        }
                    }

                    scores[i] = (b - a) / Math.Max(a, b);
                }
            }
        });

        return scores.Sum() / n;
    }

    public static double DaviesBouldin(VectorMatrix x, int[] labels)
    {
        var clusters = labels.Distinct().Order().ToArray();
        if (clusters.Length < 2)
        {
            throw new ArgumentException("Davies-Bouldin needs at least 2 clusters.", nameof(labels));
        }

        var map = clusters.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i);
        var m = clusters.Length;
        var d = x.Dimension;
        var centroids = new double[m * d];
        var sizes = new int[m];
        for (var i = 0; i < x.Rows; i++)
        {
            var c = map[labels[i]];
            sizes[c]++;
            var row = x.Row(i);
            for (var t = 0; t < d; t++)
            {
                centroids[c * d + t] += row[t];
            }
        }

        for (var c = 0; c < m; c++)
        {
            for (var t = 0; t < d; t++)
            {
                centroids[c * d + t] /= sizes[c];
            }
        }

        var scatter = new double[m];
        for (var i = 0; i < x.Rows; i++)
        {
            var c = map[labels[i]];
            var row = x.Row(i);
            var s = 0.0;
            for (var t = 0; t < d; t++)
            {
                var diff = row[t] - centroids[c * d + t];
                s += diff * diff;
            }

            scatter[c] += Math.Sqrt(s);
        }

        for (var c = 0; c < m; c++)
        {
            scatter[c] /= sizes[c];
        }

        var total = 0.0;
        for (var a = 0; a < m; a++)
        {
            var worst = 0.0;
            for (var b = 0; b < m; b++)
            {
                if (a == b)
                {
                    continue;
                }

                var s = 0.0;
                for (var t = 0; t < d; t++)
                {
                    var diff = centroids[a * d + t] - centroids[b * d + t];
                    s += diff * diff;
                }

                var sep = Math.Sqrt(s);
                var ratio = sep == 0 ? double.PositiveInfinity : (scatter[a] + scatter[b]) / sep;
                if (scatter[a] + scatter[b] == 0)
                {
                    ratio = 0;
                }

                worst = Math.Max(worst, ratio);
            }

            total += worst;
        }

        return total / m;
    }

    public static double AdjustedRandIndex<TTrue, TPred>(IReadOnlyList<TTrue> truth, IReadOnlyList<TPred> predicted)
        where TTrue : notnull
        where TPred : notnull
    {
        var (table, rows, cols, n) = Contingency(truth, predicted);
        if (n < 2)
        {
            return 1.0;
        }

        static double Comb2(double v) => v * (v - 1) / 2;
        var sumCells = table.Values.Sum(v => Comb2(v));
        var sumRows = rows.Sum(v => Comb2(v));
        var sumCols = cols.Sum(v => Comb2(v));
        var total = Comb2(n);
        var expected = sumRows * sumCols / total;
        var max = (sumRows + sumCols) / 2;
        if (max == expected)
        {
            // Both partitions trivial (one cluster, or all singletons) and identical in shape: scikit-learn returns 1.
            return 1.0;
        }

        return (sumCells - expected) / (max - expected);
    }

    /// <summary>Normalised mutual information with the arithmetic mean of the entropies (scikit-learn's default).</summary>
    public static double NormalizedMutualInformation<TTrue, TPred>(IReadOnlyList<TTrue> truth, IReadOnlyList<TPred> predicted)
        where TTrue : notnull
        where TPred : notnull
    {
        var (table, rows, cols, n) = Contingency(truth, predicted);
        if (rows.Length == 1 && cols.Length == 1)
        {
            return 1.0;
        }

        var mi = 0.0;
        foreach (var ((r, c), v) in table)
        {
            mi += v / (double)n * Math.Log(v * (double)n / ((double)rows[r] * cols[c]));
        }

        if (Math.Abs(mi) < MachineEpsilon)
        {
            return 0.0;
        }

        return mi / ((Entropy(rows, n) + Entropy(cols, n)) / 2);
    }

    /// <summary>Share of vectors that belong to the majority true label of their cluster.</summary>
    public static double Purity<TTrue, TPred>(IReadOnlyList<TTrue> truth, IReadOnlyList<TPred> predicted)
        where TTrue : notnull
        where TPred : notnull
    {
        var (table, _, cols, n) = Contingency(truth, predicted);
        var best = new long[cols.Length];
        foreach (var ((_, c), v) in table)
        {
            best[c] = Math.Max(best[c], v);
        }

        return n == 0 ? 0 : best.Sum() / (double)n;
    }

    private static double Entropy(long[] counts, long n) =>
        -counts.Where(c => c > 0).Sum(c => c / (double)n * Math.Log(c / (double)n));

    private static (Dictionary<(int, int), long> Table, long[] Rows, long[] Cols, long N) Contingency<TTrue, TPred>(
        IReadOnlyList<TTrue> truth, IReadOnlyList<TPred> predicted)
        where TTrue : notnull
        where TPred : notnull
    {
        if (truth.Count != predicted.Count)
        {
            throw new ArgumentException($"{truth.Count} true labels but {predicted.Count} predicted ones.", nameof(predicted));
        }

        var tIndex = new Dictionary<TTrue, int>();
        var pIndex = new Dictionary<TPred, int>();
        var table = new Dictionary<(int, int), long>();
        for (var i = 0; i < truth.Count; i++)
        {
            if (!tIndex.TryGetValue(truth[i], out var t))
            {
                tIndex[truth[i]] = t = tIndex.Count;
            }

            if (!pIndex.TryGetValue(predicted[i], out var p))
            {
                pIndex[predicted[i]] = p = pIndex.Count;
            }

            table[(t, p)] = table.GetValueOrDefault((t, p)) + 1;
        }

        var rows = new long[tIndex.Count];
        var cols = new long[pIndex.Count];
        foreach (var ((t, p), v) in table)
        {
            rows[t] += v;
            cols[p] += v;
        }

        return (table, rows, cols, truth.Count);
    }
}
