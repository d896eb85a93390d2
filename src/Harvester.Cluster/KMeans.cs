using System.Buffers;
using System.Numerics.Tensors;

namespace Harvester.Cluster;

public enum KMeansAlgorithm
{
    /// <summary>Full passes over every vector per iteration.</summary>
    Lloyd = 0,

    /// <summary>Per iteration one pass over a seeded permutation in mini-batches with per-centroid learning rates.</summary>
    MiniBatch = 1,
}

public sealed record KMeansSettings
{
    public required int K { get; init; }
    public int MaxIterations { get; init; } = 100;

    /// <summary>Stop when the summed squared centroid shift is at most Tolerance x the mean per-dimension variance (scikit-learn's rule).</summary>
    public double Tolerance { get; init; } = 1e-4;

    public int Seed { get; init; }
    public KMeansAlgorithm Algorithm { get; init; } = KMeansAlgorithm.Lloyd;
    public int MiniBatchSize { get; init; } = 1024;

    /// <summary>0: all cores.</summary>
    public int Threads { get; init; }
}

public sealed class KMeansResult
{
    public required VectorMatrix Centroids { get; init; }
    public required int[] Labels { get; init; }

    /// <summary>Squared Euclidean distance of each vector to its centroid.</summary>
    public required float[] SquaredDistances { get; init; }

    public required double Inertia { get; init; }
    public required int Iterations { get; init; }
    public required bool Converged { get; init; }
    public int[] Sizes => Enumerable.Range(0, Centroids.Rows).Select(c => Labels.Count(l => l == c)).ToArray();
}

/// <summary>
/// k-means with k-means++ initialisation and Lloyd or mini-batch iterations. Work is split into fixed chunks of
/// vectors whatever the thread count; partial sums are reduced in chunk order, so a seed gives the same result on
/// any machine with the same SIMD width.
/// </summary>
public static class KMeans
{
    /// <summary>Vectors per work item; a multiple of 4 so the 4-row kernel sees the same rows whatever the thread count.</summary>
    internal const int ChunkSize = 1024;

    /// <summary>Chunks whose partial sums are held at once (bounds memory to Wave x k x d floats).</summary>
    private const int Wave = 16;

    public static KMeansResult Fit(VectorMatrix x, KMeansSettings settings, VectorMatrix? initialCentroids = null, CancellationToken ct = default)
    {
        Validate(x, settings);
        var parallel = Parallelism(settings, ct);
        var norms = RowNorms(x, parallel);
        VectorMatrix centroids;
        if (initialCentroids is not null)
        {
            if (initialCentroids.Rows != settings.K || initialCentroids.Dimension != x.Dimension)
            {
                throw new ArgumentException($"Initial centroids are {initialCentroids.Rows} x {initialCentroids.Dimension}; expected {settings.K} x {x.Dimension}.", nameof(initialCentroids));
            }

            centroids = initialCentroids.Clone();
        }
        else
        {
            centroids = InitPlusPlus(x, norms, settings.K, settings.Seed, parallel);
        }

        var tolerance = settings.Tolerance * MeanVariance(x);
        return settings.Algorithm == KMeansAlgorithm.MiniBatch
            ? MiniBatch(x, norms, centroids, settings, tolerance, parallel)
            : Lloyd(x, norms, centroids, settings, tolerance, parallel);
    }

    /// <summary>Greedy k-means++ (2 + ln k candidates per step, keep the one that lowers the potential most), as scikit-learn does.</summary>
    public static VectorMatrix InitPlusPlus(VectorMatrix x, int k, int seed, CancellationToken ct = default)
    {
        var parallel = Parallelism(new KMeansSettings { K = k }, ct);
        return InitPlusPlus(x, RowNorms(x, parallel), k, seed, parallel);
    }

    /// <summary>Nearest centroid of every row; returns the inertia (sum of squared distances).</summary>
    public static double Assign(VectorMatrix x, VectorMatrix centroids, int[] labels, float[] squaredDistances, CancellationToken ct = default)
    {
        var parallel = Parallelism(new KMeansSettings { K = centroids.Rows }, ct);
        var norms = RowNorms(x, parallel);
        var step = new Step(x, norms, centroids, accumulate: false);
        step.Run(0, x.Rows, labels, squaredDistances, parallel);
        return step.Inertia;
    }

    private static void Validate(VectorMatrix x, KMeansSettings s)
    {
        if (s.K < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(s), $"k must be at least 1 (got {s.K}).");
        }

        if (s.K > x.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(s), $"k = {s.K} is larger than the number of vectors ({x.Rows}).");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(s.MaxIterations);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(s.MiniBatchSize);
    }

    private static ParallelOptions Parallelism(KMeansSettings s, CancellationToken ct) => new()
    {
        CancellationToken = ct,
        MaxDegreeOfParallelism = s.Threads > 0 ? s.Threads : Environment.ProcessorCount,
    };

    internal static float[] RowNorms(VectorMatrix x, ParallelOptions parallel)
    {
        var norms = new float[x.Rows];
        Parallel.For(0, ChunkCount(x.Rows), parallel, c =>
        {
            var end = Math.Min(x.Rows, (c + 1) * ChunkSize);
            for (var i = c * ChunkSize; i < end; i++)
            {
                var row = x.PaddedRow(i);
                norms[i] = TensorPrimitives.Dot(row, row);
            }
        });
        return norms;
    }

    private static int ChunkCount(int n) => (n + ChunkSize - 1) / ChunkSize;

    private static double MeanVariance(VectorMatrix x)
    {
        var d = x.Dimension;
        var mean = new double[d];
        var sq = new double[d];
        for (var i = 0; i < x.Rows; i++)
        {
            var row = x.Row(i);
            for (var t = 0; t < d; t++)
            {
                mean[t] += row[t];
                sq[t] += (double)row[t] * row[t];
            }
        }

        var total = 0.0;
        for (var t = 0; t < d; t++)
        {
            var m = mean[t] / x.Rows;
            total += Math.Max(0, sq[t] / x.Rows - m * m);
        }

        return total / d;
    }

    private static KMeansResult Lloyd(VectorMatrix x, float[] norms, VectorMatrix centroids, KMeansSettings s, double tolerance, ParallelOptions parallel)
    {
        var labels = new int[x.Rows];
        var previous = new int[x.Rows];
        Array.Fill(previous, -1);
        var sq = new float[x.Rows];
        var converged = false;
        var iterations = 0;
        for (var it = 0; it < s.MaxIterations; it++)
        {
            parallel.CancellationToken.ThrowIfCancellationRequested();
            var step = new Step(x, norms, centroids, accumulate: true);
            step.Run(0, x.Rows, labels, sq, parallel);
            var next = step.NewCentroids(centroids, sq, labels);
            iterations = it + 1;
            var same = labels.AsSpan().SequenceEqual(previous);
            var shift = SquaredShift(centroids, next);
            centroids = next;
            if (same || shift <= tolerance)
            {
                converged = true;
                break;
            }

            (labels, previous) = (previous, labels);
        }

        var final = new Step(x, norms, centroids, accumulate: false);
        final.Run(0, x.Rows, labels, sq, parallel);
        return new KMeansResult { Centroids = centroids, Labels = labels, SquaredDistances = sq, Inertia = final.Inertia, Iterations = iterations, Converged = converged };
    }

    private static KMeansResult MiniBatch(VectorMatrix x, float[] norms, VectorMatrix centroids, KMeansSettings s, double tolerance, ParallelOptions parallel)
    {
        var k = centroids.Rows;
        var stride = x.Stride;
        var rng = new Random(s.Seed ^ 0x5bd1e995);
        var order = Enumerable.Range(0, x.Rows).ToArray();
        var counts = new double[k];
        var batchSize = Math.Min(s.MiniBatchSize, x.Rows);
        var batch = new VectorMatrix(batchSize, x.Dimension);
        var batchNorms = new float[batchSize];
        var batchLabels = new int[batchSize];
        var batchSq = new float[batchSize];
        var converged = false;
        var iterations = 0;
        for (var epoch = 0; epoch < s.MaxIterations; epoch++)
        {
            parallel.CancellationToken.ThrowIfCancellationRequested();
            rng.Shuffle(order);
            var before = centroids.Clone();
            for (var start = 0; start < x.Rows; start += batchSize)
            {
                var m = Math.Min(batchSize, x.Rows - start);
                var view = m == batchSize ? batch : new VectorMatrix(m, x.Dimension);
                for (var i = 0; i < m; i++)
                {
                    x.Data.AsSpan(order[start + i] * stride, stride).CopyTo(view.Data.AsSpan(i * stride, stride));
                    batchNorms[i] = norms[order[start + i]];
                }

                var step = new Step(view, batchNorms, centroids, accumulate: true);
                step.Run(0, m, batchLabels, batchSq, parallel);
                for (var c = 0; c < k; c++)
                {
                    var n = step.Counts[c];
                    if (n == 0)
                    {
                        continue;
                    }

                    counts[c] += n;
                    var rate = n / counts[c];
                    var row = centroids.PaddedRow(c);
                    var sums = step.Sums.AsSpan(c * stride, stride);
                    for (var t = 0; t < stride; t++)
                    {
                        row[t] = (float)(row[t] * (1 - rate) + sums[t] / counts[c]);
                    }
                }
            }

            iterations = epoch + 1;
            if (SquaredShift(before, centroids) <= tolerance)
            {
                converged = true;
                break;
            }
        }

        var labels = new int[x.Rows];
        var sq = new float[x.Rows];
        var final = new Step(x, norms, centroids, accumulate: false);
        final.Run(0, x.Rows, labels, sq, parallel);
        return new KMeansResult { Centroids = centroids, Labels = labels, SquaredDistances = sq, Inertia = final.Inertia, Iterations = iterations, Converged = converged };
    }

    private static double SquaredShift(VectorMatrix a, VectorMatrix b)
    {
        var total = 0.0;
        for (var c = 0; c < a.Rows; c++)
        {
            total += TensorPrimitives.Distance(a.Row(c), b.Row(c)) is var d ? (double)d * d : 0;
        }

        return total;
    }

    private static VectorMatrix InitPlusPlus(VectorMatrix x, float[] norms, int k, int seed, ParallelOptions parallel)
    {
        var n = x.Rows;
        var rng = new Random(seed);
        var trials = 2 + (int)Math.Log(k);
        var centroids = new VectorMatrix(k, x.Dimension);
        var first = rng.Next(n);
        x.PaddedRow(first).CopyTo(centroids.PaddedRow(0));
        var closest = new double[n];
        var candidate = new VectorMatrix(1, x.Dimension);
        x.PaddedRow(first).CopyTo(candidate.PaddedRow(0));
        DistancesTo(x, norms, candidate, parallel, (i, _, d2) => closest[i] = d2);
        var cumulative = new double[n];
        for (var c = 1; c < k; c++)
        {
            parallel.CancellationToken.ThrowIfCancellationRequested();
            var pot = 0.0;
            for (var i = 0; i < n; i++)
            {
                pot += closest[i];
                cumulative[i] = pot;
            }

            var ids = new int[trials];
            for (var t = 0; t < trials; t++)
            {
                var target = rng.NextDouble() * pot;
                var idx = Array.BinarySearch(cumulative, target);
                idx = idx < 0 ? ~idx : idx;
                ids[t] = Math.Min(idx, n - 1);
            }

            candidate = new VectorMatrix(trials, x.Dimension);
            for (var t = 0; t < trials; t++)
            {
                x.PaddedRow(ids[t]).CopyTo(candidate.PaddedRow(t));
            }

            var chunks = ChunkCount(n);
            var partial = new double[chunks * trials];
            var candidateDistances = new float[(long)n * trials];
            DistancesTo(x, norms, candidate, parallel, (i, t, d2) => candidateDistances[(long)i * trials + t] = (float)d2);
            Parallel.For(0, chunks, parallel, ch =>
            {
                var end = Math.Min(n, (ch + 1) * ChunkSize);
                for (var t = 0; t < trials; t++)
                {
                    var sum = 0.0;
                    for (var i = ch * ChunkSize; i < end; i++)
                    {
                        sum += Math.Min(closest[i], candidateDistances[(long)i * trials + t]);
                    }

                    partial[ch * trials + t] = sum;
                }
            });

            var best = 0;
            var bestPot = double.PositiveInfinity;
            for (var t = 0; t < trials; t++)
            {
                var total = 0.0;
                for (var ch = 0; ch < chunks; ch++)
                {
                    total += partial[ch * trials + t];
                }

                if (total < bestPot)
                {
                    bestPot = total;
                    best = t;
                }
            }

            for (var i = 0; i < n; i++)
            {
                closest[i] = Math.Min(closest[i], candidateDistances[(long)i * trials + best]);
            }

            candidate.PaddedRow(best).CopyTo(centroids.PaddedRow(c));
        }

        return centroids;
    }

    /// <summary>Squared distances of every row to every row of <paramref name="targets"/>, reported through <paramref name="sink"/>.</summary>
    internal static void DistancesTo(VectorMatrix x, float[] norms, VectorMatrix targets, ParallelOptions parallel, Action<int, int, double> sink)
    {
        var m = targets.Rows;
        var targetNorms = new float[m];
        for (var t = 0; t < m; t++)
        {
            targetNorms[t] = TensorPrimitives.Dot(targets.PaddedRow(t), targets.PaddedRow(t));
        }

        Parallel.For(0, ChunkCount(x.Rows), parallel, ch =>
        {
            var dots = new float[4 * m];
            var end = Math.Min(x.Rows, (ch + 1) * ChunkSize);
            for (var p = ch * ChunkSize; p < end; p += 4)
            {
                var count = Math.Min(4, end - p);
                DotKernel.Strip(x, p, count, targets, dots);
                for (var r = 0; r < count; r++)
                {
                    for (var t = 0; t < m; t++)
                    {
                        sink(p + r, t, Math.Max(0.0, norms[p + r] - 2.0 * dots[r * m + t] + targetNorms[t]));
                    }
                }
            }
        });
    }

    /// <summary>One assignment pass (and, when accumulating, the per-cluster sums for the update).</summary>
    private sealed class Step(VectorMatrix x, float[] norms, VectorMatrix centroids, bool accumulate)
    {
        private readonly int _k = centroids.Rows;
        private readonly int _stride = x.Stride;

        public double[] Sums { get; } = accumulate ? new double[centroids.Rows * x.Stride] : [];
        public long[] Counts { get; } = new long[centroids.Rows];
        public double Inertia { get; private set; }

        public void Run(int start, int end, int[] labels, float[] squaredDistances, ParallelOptions parallel)
        {
            var centroidNorms = new float[_k];
            for (var c = 0; c < _k; c++)
            {
                centroidNorms[c] = TensorPrimitives.Dot(centroids.PaddedRow(c), centroids.PaddedRow(c));
            }

            var chunks = (end - start + ChunkSize - 1) / ChunkSize;
            var slots = Math.Min(Wave, chunks);
            var partialSums = accumulate ? new float[slots][] : [];
            for (var s = 0; s < partialSums.Length; s++)
            {
                partialSums[s] = new float[_k * _stride];
            }

            var partialCounts = new long[slots * _k];
            var partialInertia = new double[slots];
            for (var waveStart = 0; waveStart < chunks; waveStart += Wave)
            {
                var waveCount = Math.Min(Wave, chunks - waveStart);
                Parallel.For(0, waveCount, parallel, slot =>
                {
                    var from = start + (waveStart + slot) * ChunkSize;
                    var to = Math.Min(end, from + ChunkSize);
                    partialInertia[slot] = Chunk(from, to, centroidNorms, labels, squaredDistances,
                        accumulate ? partialSums[slot] : null, partialCounts.AsSpan(slot * _k, _k));
                });

                for (var slot = 0; slot < waveCount; slot++)
                {
                    Inertia += partialInertia[slot];
                    var counts = partialCounts.AsSpan(slot * _k, _k);
                    for (var c = 0; c < _k; c++)
                    {
                        if (counts[c] == 0)
                        {
                            continue;
                        }

                        Counts[c] += counts[c];
                        if (accumulate)
                        {
                            var src = partialSums[slot].AsSpan(c * _stride, _stride);
                            var dst = Sums.AsSpan(c * _stride, _stride);
                            for (var t = 0; t < _stride; t++)
                            {
                                dst[t] += src[t];
                            }
                        }
                    }
                }
            }
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private double Chunk(int from, int to, float[] centroidNorms, int[] labels, float[] squaredDistances, float[]? sums, Span<long> counts)
        {
            counts.Clear();
            sums?.AsSpan().Clear();
            var dots = ArrayPool<float>.Shared.Rent(4 * _k);
            var inertia = 0.0;
            try
            {
                for (var p = from; p < to; p += 4)
                {
                    var count = Math.Min(4, to - p);
                    DotKernel.Strip(x, p, count, centroids, dots);
                    for (var r = 0; r < count; r++)
                    {
                        var row = dots.AsSpan(r * _k, _k);
                        var best = 0;
                        var bestValue = float.PositiveInfinity;
                        for (var c = 0; c < _k; c++)
                        {
                            var v = centroidNorms[c] - 2f * row[c];
                            if (v < bestValue)
                            {
                                bestValue = v;
                                best = c;
                            }
                        }

                        var i = p + r;
                        var d2 = Math.Max(0f, norms[i] + bestValue);
                        labels[i] = best;
                        squaredDistances[i] = d2;
                        inertia += d2;
                        counts[best]++;
                        if (sums is not null)
                        {
                            var acc = sums.AsSpan(best * _stride, _stride);
                            TensorPrimitives.Add(acc, x.Data.AsSpan(i * _stride, _stride), acc);
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(dots);
            }

            return inertia;
        }

        /// <summary>Means of the accumulated sums; an empty cluster takes the vector farthest from its centroid (as scikit-learn relocates).</summary>
        public VectorMatrix NewCentroids(VectorMatrix old, float[] squaredDistances, int[] labels)
        {
            var next = new VectorMatrix(_k, old.Dimension);
            var empty = new List<int>();
            for (var c = 0; c < _k; c++)
            {
                if (Counts[c] == 0)
                {
                    empty.Add(c);
                    continue;
                }

                var row = next.PaddedRow(c);
                var sums = Sums.AsSpan(c * _stride, _stride);
                for (var t = 0; t < _stride; t++)
                {
                    row[t] = (float)(sums[t] / Counts[c]);
                }
            }

            if (empty.Count > 0)
            {
                var far = Enumerable.Range(0, squaredDistances.Length)
                    .OrderByDescending(i => squaredDistances[i]).ThenBy(i => i)
                    .Take(empty.Count).ToArray();
                for (var e = 0; e < empty.Count && e < far.Length; e++)
                {
                    x.PaddedRow(far[e]).CopyTo(next.PaddedRow(empty[e]));
                    labels[far[e]] = empty[e];
                }
            }

            return next;
        }
    }
}
