using System.Text.Json;

namespace Harvester.Cluster.Tests;

/// <summary>Values scikit-learn computed on the same data (Fixtures/make_reference.py writes Fixtures/reference.json).</summary>
public sealed class ReferenceTests
{
    private static readonly JsonElement Ref = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "reference.json"))).RootElement;

    private static VectorMatrix X => VectorMatrix.FromRows(Rows(Ref.GetProperty("x")));
    private static int[] Truth => Ints(Ref.GetProperty("truth"));
    private static int[] Pred => Ints(Ref.GetProperty("kmeans").GetProperty("labels"));

    [Fact]
    public void Kmeans_from_the_same_initial_centroids_matches_scikit_learn()
    {
        var km = Ref.GetProperty("kmeans");
        var init = VectorMatrix.FromRows(Rows(km.GetProperty("init")));
        var result = KMeans.Fit(X, new KMeansSettings { K = km.GetProperty("k").GetInt32(), Tolerance = km.GetProperty("tol").GetDouble(), MaxIterations = 300 }, init);
        Assert.Equal(Pred, result.Labels);
        Assert.Equal(km.GetProperty("inertia").GetDouble(), result.Inertia, 5e-5 * result.Inertia);
        var expected = Rows(km.GetProperty("centroids"));
        for (var c = 0; c < expected.Length; c++)
        {
            for (var t = 0; t < expected[c].Length; t++)
            {
                Assert.Equal(expected[c][t], result.Centroids.Row(c)[t], 1e-4);
            }
        }
    }

    [Fact]
    public void Silhouette_matches_scikit_learn()
    {
        Assert.Equal(Ref.GetProperty("silhouette_pred").GetDouble(), ClusterMetrics.Silhouette(X, Pred), 1e-5);
        Assert.Equal(Ref.GetProperty("silhouette_truth").GetDouble(), ClusterMetrics.Silhouette(X, Truth), 1e-5);
    }

    [Fact]
    public void Davies_bouldin_matches_scikit_learn()
    {
        Assert.Equal(Ref.GetProperty("davies_bouldin_pred").GetDouble(), ClusterMetrics.DaviesBouldin(X, Pred), 1e-5);
        Assert.Equal(Ref.GetProperty("davies_bouldin_truth").GetDouble(), ClusterMetrics.DaviesBouldin(X, Truth), 1e-5);
    }

    [Fact]
    public void Ari_nmi_and_purity_match_scikit_learn()
    {
        Assert.Equal(Ref.GetProperty("ari").GetDouble(), ClusterMetrics.AdjustedRandIndex(Truth, Pred), 1e-9);
        Assert.Equal(Ref.GetProperty("nmi").GetDouble(), ClusterMetrics.NormalizedMutualInformation(Truth, Pred), 1e-9);
        Assert.Equal(Ref.GetProperty("purity").GetDouble(), ClusterMetrics.Purity(Truth, Pred), 1e-12);
        foreach (var p in Ref.GetProperty("pairs").EnumerateArray())
        {
            var t = Ints(p.GetProperty("truth"));
            var q = Ints(p.GetProperty("pred"));
            Assert.Equal(p.GetProperty("ari").GetDouble(), ClusterMetrics.AdjustedRandIndex(t, q), 1e-9);
            Assert.Equal(p.GetProperty("nmi").GetDouble(), ClusterMetrics.NormalizedMutualInformation(t, q), 1e-9);
            Assert.Equal(p.GetProperty("purity").GetDouble(), ClusterMetrics.Purity(t, q), 1e-12);
        }
    }

    [Fact]
    public void External_metrics_do_not_depend_on_label_names()
    {
        var named = Truth.Select(t => "place-" + (char)('a' + t)).ToArray();
        Assert.Equal(ClusterMetrics.AdjustedRandIndex(Truth, Pred), ClusterMetrics.AdjustedRandIndex(named, Pred), 1e-12);
        Assert.Equal(ClusterMetrics.NormalizedMutualInformation(Truth, Pred), ClusterMetrics.NormalizedMutualInformation(named, Pred), 1e-12);
    }

    [Fact]
    public void Pca_explained_variance_and_components_match_scikit_learn()
    {
        var pca = Pca.Fit(X, 3);
        var r = Ref.GetProperty("pca");
        var variance = r.GetProperty("explained_variance").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var ratio = r.GetProperty("explained_variance_ratio").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var components = Rows(r.GetProperty("components"));
        for (var c = 0; c < 3; c++)
        {
            Assert.Equal(variance[c], pca.ExplainedVariance[c], 1e-4 * variance[c]);
            // Components are defined up to sign.
            var dot = Math.Abs(System.Numerics.Tensors.TensorPrimitives.Dot(components[c], pca.Components.Row(c)));
            Assert.True(dot > 0.9999, $"component {c}: |cos| = {dot}");
        }

        Assert.Equal(ratio.Sum(), pca.ExplainedVarianceRatio, 1e-5);
    }

    private static float[][] Rows(JsonElement e) =>
        [.. e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray())];

    private static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(v => v.GetInt32())];
}
