using System.Numerics.Tensors;

namespace Harvester.Cluster;

/// <summary>
/// Principal components by randomised subspace iteration (no d x d covariance is formed): a few passes of
/// Q ← orth(Xcᵀ Xc Q), then the exact eigenvectors of the small projected matrix. Components are sorted by variance.
/// </summary>
public sealed class Pca
{
    private Pca(float[] mean, VectorMatrix components, double[] variance, double totalVariance)
    {
        Mean = mean;
        Components = components;
        ExplainedVariance = variance;
        TotalVariance = totalVariance;
    }

    public float[] Mean { get; }

    /// <summary>One unit-length component per row.</summary>
    public VectorMatrix Components { get; }

    public double[] ExplainedVariance { get; }
    public double TotalVariance { get; }
    public double ExplainedVarianceRatio => TotalVariance <= 0 ? 0 : ExplainedVariance.Sum() / TotalVariance;

    public static Pca Fit(VectorMatrix x, int components, int seed = 0, int powerIterations = 6, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(components);
        if (components > x.Dimension)
        {
            throw new ArgumentOutOfRangeException(nameof(components), $"Cannot keep {components} components of {x.Dimension}-dimensional vectors.");
        }

        var d = x.Dimension;
        var n = x.Rows;
        var mean = new double[d];
        for (var i = 0; i < n; i++)
        {
            var row = x.Row(i);
            for (var t = 0; t < d; t++)
            {
                mean[t] += row[t];
            }
        }

        for (var t = 0; t < d; t++)
        {
            mean[t] /= n;
        }

        var totalVariance = 0.0;
        for (var i = 0; i < n; i++)
        {
            var row = x.Row(i);
            for (var t = 0; t < d; t++)
            {
                var diff = row[t] - mean[t];
                totalVariance += diff * diff;
            }
        }

        totalVariance /= Math.Max(1, n - 1);
        var m = Math.Min(d, components + 8);
        var rng = new Random(seed);
        var q = new double[m][];
        for (var r = 0; r < m; r++)
        {
            q[r] = new double[d];
            for (var t = 0; t < d; t++)
            {
                q[r][t] = rng.NextDouble() * 2 - 1;
            }
        }

        Orthonormalise(q);
        for (var it = 0; it < powerIterations; it++)
        {
            ct.ThrowIfCancellationRequested();
            q = MultiplyCovariance(x, mean, q);
            Orthonormalise(q);
        }

        // Rayleigh-Ritz: B = Qᵀ C Q is m x m; its eigenvectors rotate Q onto the principal axes.
        var cq = MultiplyCovariance(x, mean, q);
        var b = new double[m, m];
        for (var r = 0; r < m; r++)
        {
            for (var c = 0; c < m; c++)
            {
                var s = 0.0;
                for (var t = 0; t < d; t++)
                {
                    s += q[r][t] * cq[c][t];
                }

                b[r, c] = s;
            }
        }

        var (values, vectors) = SymmetricEigen.Jacobi(b);
        var order = Enumerable.Range(0, m).OrderByDescending(i => values[i]).ToArray();
        var result = new VectorMatrix(components, d);
        var variance = new double[components];
        for (var c = 0; c < components; c++)
        {
            var e = order[c];
            variance[c] = Math.Max(0, values[e]);
            var row = result.Row(c);
            for (var t = 0; t < d; t++)
            {
                var s = 0.0;
                for (var r = 0; r < m; r++)
                {
                    s += vectors[r, e] * q[r][t];
                }

                row[t] = (float)s;
            }

            // Fix the sign so the same data always gives the same picture.
            var maxIndex = TensorPrimitives.IndexOfMaxMagnitude<float>(row);
            if (row[maxIndex] < 0)
            {
                TensorPrimitives.Negate<float>(row, row);
            }
        }

        return new Pca(mean.Select(v => (float)v).ToArray(), result, variance, totalVariance);
    }

    public VectorMatrix Transform(VectorMatrix x)
    {
        var result = new VectorMatrix(x.Rows, Components.Rows);
        var centred = new float[x.Dimension];
        for (var i = 0; i < x.Rows; i++)
        {
            TensorPrimitives.Subtract(x.Row(i), Mean, centred);
            var target = result.Row(i);
            for (var c = 0; c < Components.Rows; c++)
            {
                target[c] = TensorPrimitives.Dot(centred, Components.Row(c));
            }
        }

        return result;
    }

    /// <summary>Maps points of the reduced space back to the original space (mean + Σ coordinate · component).</summary>
    public VectorMatrix InverseTransform(VectorMatrix reduced)
    {
        var result = new VectorMatrix(reduced.Rows, Mean.Length);
        for (var i = 0; i < reduced.Rows; i++)
        {
            var target = result.Row(i);
            Mean.CopyTo(target);
            var coords = reduced.Row(i);
            for (var c = 0; c < Components.Rows; c++)
            {
                TensorPrimitives.MultiplyAdd(Components.Row(c), coords[c], target, target);
            }
        }

        return result;
    }

    /// <summary>(Xc ᵀ Xc / (n − 1)) applied to each row of <paramref name="q"/>, in chunks summed in a fixed order.</summary>
    private static double[][] MultiplyCovariance(VectorMatrix x, double[] mean, double[][] q)
    {
        var m = q.Length;
        var d = x.Dimension;
        var n = x.Rows;
        var qf = new VectorMatrix(m, d);
        var qMean = new double[m];
        for (var r = 0; r < m; r++)
        {
            for (var t = 0; t < d; t++)
            {
                qf.Row(r)[t] = (float)q[r][t];
                qMean[r] += q[r][t] * mean[t];
            }
        }

        var chunks = (n + KMeans.ChunkSize - 1) / KMeans.ChunkSize;
        var partial = new double[chunks][];
        Parallel.For(0, chunks, ch =>
        {
            var acc = new float[m * d];
            var coeff = new float[4 * m];
            var end = Math.Min(n, (ch + 1) * KMeans.ChunkSize);
            for (var p = ch * KMeans.ChunkSize; p < end; p += 4)
            {
                var count = Math.Min(4, end - p);
                DotKernel.Strip(x, p, count, qf, coeff);
                for (var rr = 0; rr < count; rr++)
                {
                    var row = x.Row(p + rr);
                    for (var r = 0; r < m; r++)
                    {
                        var z = (float)(coeff[rr * m + r] - qMean[r]);
                        var a = acc.AsSpan(r * d, d);
                        TensorPrimitives.MultiplyAdd(row, z, a, a);
                    }
                }
            }

            var result = new double[m * d];
            for (var i = 0; i < result.Length; i++)
            {
                result[i] = acc[i];
            }

            partial[ch] = result;
        });

        var sums = new double[m * d];
        var zSum = new double[m];
        foreach (var part in partial)
        {
            for (var i = 0; i < sums.Length; i++)
            {
                sums[i] += part[i];
            }
        }

        // Σ z (x − μ) = Σ z x − μ Σ z, and Σ z = Σ (x − μ)·q = 0 up to rounding: subtract it exactly anyway.
        for (var ch = 0; ch < n; ch++)
        {
            var row = x.Row(ch);
            for (var r = 0; r < m; r++)
            {
                zSum[r] += TensorPrimitives.Dot(row, qf.Row(r)) - qMean[r];
            }
        }

        var output = new double[m][];
        for (var r = 0; r < m; r++)
        {
            output[r] = new double[d];
            for (var t = 0; t < d; t++)
            {
                output[r][t] = (sums[r * d + t] - mean[t] * zSum[r]) / Math.Max(1, n - 1);
            }
        }

        return output;
    }

    private static void Orthonormalise(double[][] q)
    {
        for (var r = 0; r < q.Length; r++)
        {
            for (var pass = 0; pass < 2; pass++)
            {
                for (var p = 0; p < r; p++)
                {
                    var dot = 0.0;
                    for (var t = 0; t < q[r].Length; t++)
                    {
                        dot += q[r][t] * q[p][t];
                    }

                    for (var t = 0; t < q[r].Length; t++)
                    {
                        q[r][t] -= dot * q[p][t];
                    }
                }
            }

            var norm = Math.Sqrt(q[r].Sum(v => v * v));
            for (var t = 0; t < q[r].Length; t++)
            {
                q[r][t] = norm > 1e-300 ? q[r][t] / norm : 0;
            }
        }
    }
}

/// <summary>Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations.</summary>
internal static class SymmetricEigen
{
    public static (double[] Values, double[,] Vectors) Jacobi(double[,] input)
    {
        var n = input.GetLength(0);
        var a = (double[,])input.Clone();
        var v = new double[n, n];
        for (var i = 0; i < n; i++)
        {
            v[i, i] = 1;
        }

        for (var sweep = 0; sweep < 100; sweep++)
        {
            var off = 0.0;
            for (var p = 0; p < n; p++)
            {
                for (var q = p + 1; q < n; q++)
                {
                    off += a[p, q] * a[p, q];
                }
            }

            if (off < 1e-30)
            {
                break;
            }

            for (var p = 0; p < n; p++)
            {
                for (var q = p + 1; q < n; q++)
                {
                    if (Math.Abs(a[p, q]) < 1e-300)
                    {
                        continue;
                    }

                    var theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    var t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0)
                    {
                        t = 1;
                    }

                    var c = 1 / Math.Sqrt(t * t + 1);
                    var s = t * c;
                    for (var k = 0; k < n; k++)
                    {
                        var akp = a[k, p];
                        var akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }

                    for (var k = 0; k < n; k++)
                    {
                        var apk = a[p, k];
                        var aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }

                    for (var k = 0; k < n; k++)
                    {
                        var vkp = v[k, p];
                        var vkq = v[k, q];
                        v[k, p] = c * vkp - s * vkq;
                        v[k, q] = s * vkp + c * vkq;
                    }
                }
            }
        }

        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = a[i, i];
        }

        return (values, v);
    }
}
