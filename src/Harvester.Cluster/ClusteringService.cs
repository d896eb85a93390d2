using System.Diagnostics;
using System.Numerics.Tensors;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Cluster;

/// <summary>What to cluster; unset values come from the Clustering options.</summary>
public sealed record ClusterRequest
{
    public string? Model { get; init; }

    /// <summary>Number of clusters; 0 chooses k by the sweep ("auto"); null uses Clustering:K.</summary>
    public int? K { get; init; }

    public ImageScope Scope { get; init; } = ImageScope.All;
    public int? PcaDimensions { get; init; }
    public int? Seed { get; init; }
    public int? MaxIterations { get; init; }
    public double? Tolerance { get; init; }
    public KMeansAlgorithm? Algorithm { get; init; }
    public bool? WarmStart { get; init; }
    public bool? WriteGallery { get; init; }
}

public sealed record ClusterRunResult(
    long RunId,
    RegisteredModel Model,
    ImageScope Scope,
    int K,
    int Images,
    double Inertia,
    double? Silhouette,
    double? DaviesBouldin,
    int Iterations,
    bool Converged,
    long? WarmStartedFrom,
    DriftReport? Drift,
    IReadOnlyList<KSweepPoint> Sweep,
    int[] Sizes,
    string? GalleryPath,
    TimeSpan Elapsed);

/// <summary>
/// One k-means run over a model's embeddings in a scope, recorded in PostgreSQL: the run row (running → completed |
/// failed) with parameters and metrics, centroids as vectors and one assignment per image, the last two written with
/// binary COPY in the same transaction that marks the run completed, so a failed run leaves no assignments.
/// </summary>
public sealed class ClusteringService(
    ClusterStore store,
    ModelStore models,
    IOptions<ClusteringOptions> options,
    ClusterGallery gallery,
    ILogger<ClusteringService> logger)
{
    /// <summary>The name this service's progress is reported under.</summary>
    private const string Stage = "cluster";

    /// <param name="progress">Gets each step (load, k sweep, k-means, gallery) with its counts.</param>
    public async Task<ClusterRunResult> RunAsync(ClusterRequest request, CancellationToken ct, IProgress<StageProgress>? progress = null)
    {
        var o = options.Value;
        var stopwatch = Stopwatch.StartNew();
        await store.SweepAbandonedRunsAsync(ct);
        var scope = request.Scope;
        var requestedK = request.K ?? o.K;
        var seed = request.Seed ?? o.Seed;
        var pcaDims = request.PcaDimensions ?? o.PcaDimensions;
        var model = await models.ResolveAsync(request.Model ?? o.Model, ct);
        var total = await store.CountAsync(model, scope, ct);
        if (total == 0)
        {
            throw new HarvesterException(
                $"Scope '{scope}' has no accepted images with {model.Label} embeddings: embed them first (harvester embed) or widen --scope.");
        }

        if (requestedK < 0)
        {
            throw new HarvesterException($"k must be a positive number or 'auto' (got {requestedK}).");
        }

        if (requestedK > total)
        {
            throw new HarvesterException(
                $"k = {requestedK} is larger than the number of images in scope '{scope}' ({total}): choose k <= {total} or --k auto.");
        }

        if (requestedK == 0 && total < 3)
        {
            throw new HarvesterException($"--k auto needs at least 3 images to compare clusterings; scope '{scope}' has {total}.");
        }

        if (pcaDims < 0 || pcaDims > model.Dimension)
        {
            throw new HarvesterException($"PCA to {pcaDims} dimensions is not possible for {model.Dimension}-dimensional {model.Label} embeddings.");
        }

        var budgetRows = (int)Math.Clamp((long)o.MemoryBudgetMegabytes * 1024 * 1024 / ((long)VectorMatrix.PadTo16(model.Dimension) * 4), 16, int.MaxValue);
        progress?.Report(new StageProgress(Stage, 0, total, "vectors", "load"));
        var (ids, original, seen) = await EmbeddingSource.LoadAsync(store, model, scope, budgetRows, total, seed, o.Normalize, ct);
        var sampled = seen > ids.Length;
        progress?.Report(new StageProgress(Stage, seen, seen, "vectors", "load"));
        if (sampled)
        {
            Log.Sampling(logger, seen, ids.Length);
        }

        if (o.Normalize)
        {
            NormalizeRows(original);
        }

        var pca = pcaDims > 0 && pcaDims < model.Dimension ? Pca.Fit(original, pcaDims, seed, ct: ct) : null;
        var x = pca?.Transform(original) ?? original;
        var sweep = new List<KSweepPoint>();
        var k = requestedK;
        int? elbow = null;
        if (k == 0)
        {
            (k, elbow) = ChooseK(x, o, seed, sweep, ct, progress);
        }

        var parameters = new RunParameters
        {
            Method = RunParameters.KMeans,
            K = requestedK == 0 ? null : requestedK,
            Algorithm = (request.Algorithm ?? o.Algorithm).ToString().ToLowerInvariant(),
            Seed = seed,
            MaxIterations = request.MaxIterations ?? o.MaxIterations,
            Tolerance = request.Tolerance ?? o.Tolerance,
            PcaDimensions = pca is null ? 0 : pcaDims,
            Normalize = o.Normalize,
            MiniBatchSize = o.MiniBatchSize,
            MemoryBudgetMegabytes = o.MemoryBudgetMegabytes,
        };
        var previous = await store.PreviousKMeansRunAsync(model, scope, ct);
        var runId = await store.StartRunAsync(model, scope, k, parameters, previous?.Id, ct);
        Log.RunStarted(logger, runId, model.Label, scope.ToString(), seen, k);
        try
        {
            VectorMatrix? init = null;
            long? warmFrom = null;
            if ((request.WarmStart ?? o.WarmStart) && previous is { } prev && prev.K == k && SameSpace(prev.Parameters, parameters))
            {
                var centroids = await store.CentroidsAsync(prev.Id, model.Dimension, ct);
                if (centroids.Rows == k)
                {
                    init = pca?.Transform(centroids) ?? centroids;
                    warmFrom = prev.Id;
                    Log.WarmStart(logger, prev.Id);
                }
            }

            var settings = new KMeansSettings
            {
                K = k,
                Seed = seed,
                MaxIterations = request.MaxIterations ?? o.MaxIterations,
                Tolerance = request.Tolerance ?? o.Tolerance,
                Algorithm = request.Algorithm ?? o.Algorithm,
                MiniBatchSize = o.MiniBatchSize,
            };
            progress?.Report(new StageProgress(Stage, 0, 1, "fits", $"k-means k={k}"));
            var fit = KMeans.Fit(x, settings, init, ct);
            progress?.Report(new StageProgress(Stage, 1, 1, "fits", $"k-means k={k}"));

            // Vectors outside the in-memory sample are assigned to the fitted centroids while streaming.
            long[] allIds = ids;
            int[] labels = fit.Labels;
            float[] squared = fit.SquaredDistances;
            var inertia = fit.Inertia;
            if (sampled)
            {
                (allIds, labels, squared, inertia) = await AssignAllAsync(store, model, scope, o, pca, fit.Centroids, ct);
            }

            double? silhouette = k >= 2 && k < x.Rows ? ClusterMetrics.Silhouette(x, fit.Labels, o.SilhouetteSampleSize, seed, ct) : null;
            double? daviesBouldin = k >= 2 && fit.Labels.Distinct().Count() >= 2 ? ClusterMetrics.DaviesBouldin(x, fit.Labels) : null;
            var stored = pca is null ? fit.Centroids : MeansInOriginalSpace(original, fit.Labels, k, pca, fit.Centroids);
            var sizes = new int[k];
            foreach (var l in labels)
            {
                sizes[l]++;
            }

            DriftReport? drift = null;
            if (previous is { } before)
            {
                drift = Drift(before.Id, await store.AssignmentsAsync(before.Id, ct), allIds, labels);
            }

            var metrics = new RunMetrics
            {
                Images = allIds.Length,
                Inertia = inertia,
                Silhouette = silhouette,
                SilhouetteSample = Math.Min(o.SilhouetteSampleSize, x.Rows),
                DaviesBouldin = daviesBouldin,
                Iterations = fit.Iterations,
                Converged = fit.Converged,
                Sizes = sizes,
                KChosenBy = requestedK == 0 ? "max-silhouette" : "given",
                ElbowK = elbow,
                Sweep = sweep,
                WarmStartFrom = warmFrom,
                Drift = drift,
                Memory = new MemoryUse(sampled ? "sampled" : "in-memory", ids.Length, budgetRows),
                Pca = pca is null ? null : new PcaInfo(pcaDims, pca.ExplainedVarianceRatio),
                Seconds = stopwatch.Elapsed.TotalSeconds,
            };

            await store.CompleteRunAsync(runId, k, stored, sizes, allIds, labels, squared, metrics, ct);
            Log.RunCompleted(logger, runId, k, inertia, fit.Iterations, stopwatch.Elapsed.TotalSeconds);
            string? galleryPath = null;
            if (request.WriteGallery ?? o.WriteGalleries)
            {
                try
                {
                    progress?.Report(new StageProgress(Stage, 0, 1, "galleries", "gallery"));
                    galleryPath = await gallery.WriteAsync(runId, ct);
                    progress?.Report(new StageProgress(Stage, 1, 1, "galleries", "gallery"));
                    Log.GalleryWritten(logger, galleryPath);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or OpenCvSharp.OpenCVException or HarvesterException)
                {
                    Log.GalleryFailed(logger, e, runId);
                }
            }

            return new ClusterRunResult(runId, model, scope, k, allIds.Length, inertia, silhouette, daviesBouldin, fit.Iterations, fit.Converged,
                warmFrom, drift, sweep, sizes, galleryPath, stopwatch.Elapsed);
        }
        catch (Exception e)
        {
            Log.RunFailed(logger, e, runId);
            await store.FailRunAsync(runId, e is OperationCanceledException ? "cancelled" : e.Message);
            throw;
        }
    }

    /// <summary>
    /// The k sweep: each candidate k runs on the same seeded sample; the chosen k is the one with the highest mean
    /// silhouette (ties go to the smaller k). The elbow (largest distance below the chord of the normalised inertia
    /// curve) is recorded beside it for people who read the curve.
    /// </summary>
    internal static (int K, int? Elbow) ChooseK(VectorMatrix x, ClusteringOptions o, int seed, List<KSweepPoint> sweep, CancellationToken ct, IProgress<StageProgress>? progress = null)
    {
        var sample = Sample(x, o.SweepSampleSize, seed);
        var kMax = Math.Min(o.KMax, sample.Rows - 1);
        var kMin = Math.Min(o.KMin, kMax);
        var candidates = kMax < Math.Max(2, kMin) ? 0 : ((kMax - Math.Max(2, kMin)) / o.KStep) + 1;
        for (var k = Math.Max(2, kMin); k <= kMax; k += o.KStep)
        {
            progress?.Report(new StageProgress(Stage, sweep.Count, candidates, "k values", "k sweep"));
            var fit = KMeans.Fit(sample, new KMeansSettings { K = k, Seed = seed, MaxIterations = o.SweepMaxIterations, Tolerance = o.Tolerance }, null, ct);
            var silhouette = fit.Labels.Distinct().Count() >= 2 ? ClusterMetrics.Silhouette(sample, fit.Labels, o.SilhouetteSampleSize, seed, ct) : -1;
            sweep.Add(new KSweepPoint(k, fit.Inertia, silhouette));
        }

        progress?.Report(new StageProgress(Stage, sweep.Count, candidates, "k values", "k sweep"));

        if (sweep.Count == 0)
        {
            throw new HarvesterException($"No k in [{o.KMin}, {o.KMax}] fits {x.Rows} images: lower Clustering:KMin or give --k.");
        }

        var best = sweep.OrderByDescending(p => p.Silhouette).ThenBy(p => p.K).First();
        return (best.K, Elbow(sweep));
    }

    internal static int? Elbow(IReadOnlyList<KSweepPoint> sweep)
    {
        if (sweep.Count < 3)
        {
            return null;
        }

        double k0 = sweep[0].K, k1 = sweep[^1].K, i0 = sweep[0].Inertia, i1 = sweep[^1].Inertia;
        if (k1 == k0 || i0 == i1)
        {
            return null;
        }

        var best = sweep[0].K;
        var bestGap = double.NegativeInfinity;
        foreach (var p in sweep)
        {
            var xk = (p.K - k0) / (k1 - k0);
            var yk = (p.Inertia - i1) / (i0 - i1);
            var gap = 1 - xk - yk;
            if (gap > bestGap)
            {
                bestGap = gap;
                best = p.K;
            }
        }

        return best;
    }

    internal static void NormalizeRows(VectorMatrix x)
    {
        for (var i = 0; i < x.Rows; i++)
        {
            var row = x.Row(i);
            var norm = TensorPrimitives.Norm<float>(row);
            if (norm > 0)
            {
                TensorPrimitives.Divide(row, norm, row);
            }
        }
    }

    private static VectorMatrix Sample(VectorMatrix x, int size, int seed)
    {
        if (x.Rows <= size)
        {
            return x;
        }

        var idx = Enumerable.Range(0, x.Rows).ToArray();
        new Random(seed).Shuffle(idx);
        var pick = idx[..size];
        Array.Sort(pick);
        var m = new VectorMatrix(size, x.Dimension);
        for (var i = 0; i < size; i++)
        {
            x.PaddedRow(pick[i]).CopyTo(m.PaddedRow(i));
        }

        return m;
    }

    private static VectorMatrix MeansInOriginalSpace(VectorMatrix original, int[] labels, int k, Pca pca, VectorMatrix reducedCentroids)
    {
        var sums = new double[k * original.Dimension];
        var counts = new int[k];
        for (var i = 0; i < original.Rows; i++)
        {
            counts[labels[i]]++;
            var row = original.Row(i);
            for (var t = 0; t < row.Length; t++)
            {
                sums[labels[i] * original.Dimension + t] += row[t];
            }
        }

        var fallback = pca.InverseTransform(reducedCentroids);
        var result = new VectorMatrix(k, original.Dimension);
        for (var c = 0; c < k; c++)
        {
            var row = result.Row(c);
            if (counts[c] == 0)
            {
                fallback.Row(c).CopyTo(row);
                continue;
            }

            for (var t = 0; t < row.Length; t++)
            {
                row[t] = (float)(sums[c * original.Dimension + t] / counts[c]);
            }
        }

        return result;
    }

    private static async Task<(long[] Ids, int[] Labels, float[] Squared, double Inertia)> AssignAllAsync(
        ClusterStore store, RegisteredModel model, ImageScope scope, ClusteringOptions o, Pca? pca, VectorMatrix centroids, CancellationToken ct)
    {
        var ids = new List<long>();
        var labels = new List<int>();
        var squared = new List<float>();
        var inertia = 0.0;
        await foreach (var (batchIds, batch) in EmbeddingSource.StreamAsync(store, model, scope, o.StreamBatchSize, o.Normalize, ct))
        {
            if (o.Normalize)
            {
                NormalizeRows(batch);
            }

            var x = pca?.Transform(batch) ?? batch;
            var l = new int[x.Rows];
            var s = new float[x.Rows];
            inertia += KMeans.Assign(x, centroids, l, s, ct);
            ids.AddRange(batchIds);
            labels.AddRange(l);
            squared.AddRange(s);
        }

        return ([.. ids], [.. labels], [.. squared], inertia);
    }

    private static bool SameSpace(RunParameters previous, RunParameters current) =>
        previous.PcaDimensions == current.PcaDimensions && previous.Normalize == current.Normalize;

    private static DriftReport Drift(long previousRunId, Dictionary<long, int> before, long[] ids, int[] labels)
    {
        var a = new List<int>();
        var b = new List<int>();
        var moved = 0;
        for (var i = 0; i < ids.Length; i++)
        {
            if (before.TryGetValue(ids[i], out var old))
            {
                a.Add(old);
                b.Add(labels[i]);
                if (old != labels[i])
                {
                    moved++;
                }
            }
        }

        var ari = a.Count == 0 ? 0 : ClusterMetrics.AdjustedRandIndex(a, b);
        return new DriftReport(previousRunId, a.Count, moved, ids.Length - a.Count, before.Count - a.Count, ari);
    }
}
