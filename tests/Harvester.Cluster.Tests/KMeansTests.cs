namespace Harvester.Cluster.Tests;

public sealed class KMeansTests
{
    /// <summary>k well-separated Gaussian blobs in d dimensions, rows shuffled.</summary>
    internal static (VectorMatrix X, int[] Truth) Blobs(int n, int d, int k, double spread, int seed)
    {
        var rng = new Random(seed);
        var centres = Enumerable.Range(0, k).Select(_ => Enumerable.Range(0, d).Select(_ => rng.NextDouble() * 20 - 10).ToArray()).ToArray();
        var x = new VectorMatrix(n, d);
        var truth = new int[n];
        for (var i = 0; i < n; i++)
        {
            truth[i] = rng.Next(k);
            var row = x.Row(i);
            for (var t = 0; t < d; t++)
            {
                row[t] = (float)(centres[truth[i]][t] + spread * Gaussian(rng));
            }
        }

        return (x, truth);
    }

    internal static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    [Theory]
    [InlineData(KMeansAlgorithm.Lloyd, 37)]
    [InlineData(KMeansAlgorithm.Lloyd, 64)]
    [InlineData(KMeansAlgorithm.MiniBatch, 24)]
    public void Separable_blobs_are_recovered_exactly(KMeansAlgorithm algorithm, int d)
    {
        var (x, truth) = Blobs(3001, d, 5, 0.5, seed: 3);
        var r = KMeans.Fit(x, new KMeansSettings { K = 5, Seed = 1, Algorithm = algorithm, MiniBatchSize = 256 });
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex(truth, r.Labels), 12);
        Assert.Equal(ClusterMetrics.Inertia(x, r.Labels, r.Centroids), r.Inertia, 1e-3 * r.Inertia);
        Assert.True(r.Converged);
    }

    [Fact]
    public void Same_seed_gives_bit_identical_results_whatever_the_thread_count()
    {
        var (x, _) = Blobs(5000, 40, 8, 3.0, seed: 5);
        var one = KMeans.Fit(x, new KMeansSettings { K = 8, Seed = 9, Threads = 1 });
        var two = KMeans.Fit(x, new KMeansSettings { K = 8, Seed = 9, Threads = 2 });
        var again = KMeans.Fit(x, new KMeansSettings { K = 8, Seed = 9 });
        Assert.Equal(one.Labels, two.Labels);
        Assert.Equal(one.Centroids.Data, two.Centroids.Data);
        Assert.Equal(one.Inertia, two.Inertia);
        Assert.Equal(one.Centroids.Data, again.Centroids.Data);
        var other = KMeans.Fit(x, new KMeansSettings { K = 8, Seed = 10 });
        Assert.NotEqual(one.Centroids.Data, other.Centroids.Data);
    }

    [Fact]
    public void Warm_start_from_converged_centroids_stops_after_one_iteration_with_the_same_labels()
    {
        var (x, _) = Blobs(2000, 16, 4, 1.0, seed: 8);
        var cold = KMeans.Fit(x, new KMeansSettings { K = 4, Seed = 2, Tolerance = 0 });
        var warm = KMeans.Fit(x, new KMeansSettings { K = 4, Seed = 2, Tolerance = 0 }, cold.Centroids);
        Assert.True(cold.Iterations > 1);
        Assert.Equal(1, warm.Iterations);
        Assert.Equal(cold.Labels, warm.Labels);
    }

    [Fact]
    public void Kmeans_plus_plus_picks_one_seed_per_separated_blob()
    {
        var (x, truth) = Blobs(1000, 8, 6, 0.1, seed: 4);
        var init = KMeans.InitPlusPlus(x, 6, seed: 0);
        var labels = new int[x.Rows];
        KMeans.Assign(x, init, labels, new float[x.Rows]);
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex(truth, labels), 12);
    }

    [Fact]
    public void Blocked_dot_kernel_matches_plain_dot_products_for_ragged_shapes()
    {
        var rng = new Random(1);
        foreach (var (rows, cols, d) in new[] { (7, 5, 3), (9, 13, 37), (4, 4, 16), (1, 2, 513) })
        {
            var a = new VectorMatrix(rows, d);
            var b = new VectorMatrix(cols, d);
            foreach (var m in new[] { a, b })
            {
                for (var i = 0; i < m.Rows; i++)
                {
                    for (var t = 0; t < d; t++)
                    {
                        m.Row(i)[t] = (float)(rng.NextDouble() * 2 - 1);
                    }
                }
            }

            var output = new float[rows * cols];
            DotKernel.Strip(a, 0, rows, b, output);
            for (var i = 0; i < rows; i++)
            {
                for (var j = 0; j < cols; j++)
                {
                    var expected = 0.0;
                    for (var t = 0; t < d; t++)
                    {
                        expected += (double)a.Row(i)[t] * b.Row(j)[t];
                    }

                    Assert.Equal(expected, output[i * cols + j], 1e-3);
                }
            }
        }
    }

    [Fact]
    public void K_larger_than_the_number_of_vectors_is_refused()
    {
        var (x, _) = Blobs(5, 4, 2, 1, seed: 1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => KMeans.Fit(x, new KMeansSettings { K = 6 }));
        Assert.Contains("larger than the number of vectors (5)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_k_sweep_picks_the_number_of_blobs_by_silhouette()
    {
        var (x, _) = Blobs(1200, 10, 4, 0.8, seed: 12);
        var sweep = new List<KSweepPoint>();
        var (k, elbow) = ClusteringService.ChooseK(x, new ClusteringOptions { KMin = 2, KMax = 8 }, 42, sweep, CancellationToken.None);
        Assert.Equal(4, k);
        Assert.Equal(Enumerable.Range(2, 7), sweep.Select(p => p.K));
        Assert.Equal(sweep.Max(p => p.Silhouette), sweep.Single(p => p.K == 4).Silhouette);
        Assert.True(sweep.Zip(sweep.Skip(1)).All(p => p.Second.Inertia <= p.First.Inertia * 1.0001), "inertia falls as k grows");
        Assert.Equal(4, elbow);
    }

    [Fact]
    public void Pca_keeps_the_blob_structure_in_fewer_dimensions()
    {
        var (x, truth) = Blobs(1500, 64, 3, 0.5, seed: 21);
        var pca = Pca.Fit(x, 2);
        var reduced = pca.Transform(x);
        Assert.Equal(2, reduced.Dimension);
        Assert.True(pca.ExplainedVarianceRatio > 0.9, $"explained {pca.ExplainedVarianceRatio}");
        var r = KMeans.Fit(reduced, new KMeansSettings { K = 3, Seed = 1 });
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex(truth, r.Labels), 12);
    }
}
