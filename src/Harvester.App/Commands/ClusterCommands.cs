using Harvester.Data;
using System.CommandLine;
using System.Globalization;
using Harvester.Cluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Harvester.App.Commands;

internal static class ClusterCommands
{
    private static readonly Option<string?> Model = new("--model", "-m") { Description = "Embedding model (name or name:version); default: Clustering:Model, else the model with the most embeddings." };
    private static readonly Option<string?> K = new("--k", "-k") { Description = "Number of clusters, or 'auto' to sweep Clustering:KMin..KMax and pick by silhouette; default: Clustering:K." };
    private static readonly Option<string?> Scope = new("--scope") { Description = "Which accepted images: all, or site=..,category=..,neighbourhood=..,job=.. (comma-separated)." };
    private static readonly Option<int?> Pca = new("--pca") { Description = "Reduce to this many dimensions by PCA before k-means (0: off)." };
    private static readonly Option<int?> Seed = new("--seed") { Description = "Random seed (k-means++, sampling); same seed, same result." };
    private static readonly Option<int?> MaxIterations = new("--max-iterations") { Description = "Most Lloyd iterations (or mini-batch epochs)." };
    private static readonly Option<double?> Tolerance = new("--tolerance") { Description = "Relative centroid-shift tolerance (scikit-learn's tol)." };
    private static readonly Option<string?> Algorithm = new("--algorithm") { Description = "lloyd or minibatch." };
    private static readonly Option<bool> Cold = new("--cold") { Description = "Do not warm-start from the previous run's centroids." };
    private static readonly Option<bool> NoGallery = new("--no-gallery") { Description = "Skip contact sheets, PCA map and projector files." };
    private static readonly Option<double?> Threshold = new("--threshold") { Description = "Cosine similarity at or above which images are grouped (default Clustering:SimilarityThreshold, else the model's manifest threshold)." };
    private static readonly Option<bool> AsDuplicates = new("--as-duplicates") { Description = "Also write the groups as curation duplicate groups (kind 'embedding'): all but the kept image become duplicates." };
    private static readonly Option<long> Run = new("--run") { Description = "Clustering run id.", Required = true };
    private static readonly Option<string?> Labels = new("--labels") { Description = "Ground truth: a file of 'image_id,label' lines, or 'place' / 'product' (where each image came from)." };

    public static IEnumerable<Command> Create()
    {
        var cluster = new Command("cluster", "Run k-means now over a model's embeddings (recorded in clustering_runs with centroids and assignments) and write its gallery.");
        foreach (var o in new Option[] { Model, K, Scope, Pca, Seed, MaxIterations, Tolerance, Algorithm, Cold, NoGallery })
        {
            cluster.Options.Add(o);
        }

        cluster.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var request = new ClusterRequest
            {
                Model = pr.GetValue(Model),
                K = ParseK(pr.GetValue(K)),
                Scope = ImageScope.Parse(pr.GetValue(Scope)),
                PcaDimensions = pr.GetValue(Pca),
                Seed = pr.GetValue(Seed),
                MaxIterations = pr.GetValue(MaxIterations),
                Tolerance = pr.GetValue(Tolerance),
                Algorithm = ParseAlgorithm(pr.GetValue(Algorithm)),
                WarmStart = pr.GetValue(Cold) ? false : null,
                WriteGallery = pr.GetValue(NoGallery) ? false : null,
            };
            var result = await services.GetRequiredService<ClusteringService>().RunAsync(request, ct);
            PrintRun(result);
            return 0;
        }));

        var groups = new Command("groups", "Group images whose embeddings are at least --threshold cosine-similar (pgvector k-NN + union-find); recorded as a run.");
        foreach (var o in new Option[] { Model, Scope, Threshold, AsDuplicates })
        {
            groups.Options.Add(o);
        }

        groups.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var result = await services.GetRequiredService<SimilarityGrouper>().RunAsync(
                pr.GetValue(Model), ImageScope.Parse(pr.GetValue(Scope)), pr.GetValue(Threshold), pr.GetValue(AsDuplicates) ? true : null, ct);
            PrintGroups(result);
            return 0;
        }));

        var ratings = new Command("ratings", "People's 1–5 coherence ratings of a run's clusters (given on the dashboard at /runs/<id>/rate): mean and count per cluster and for the run.");
        ratings.Options.Add(Run);
        ratings.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var store = services.GetRequiredService<ClusterStore>();
            var run = await store.RunAsync(pr.GetValue(Run), ct);
            var rows = await store.RatingsAsync(run.Id, ct);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv, $"Run {run.Id} ({run.Model}, k = {run.K}): ratings of cluster coherence, 1–5"));
            Console.WriteLine("  cluster   size    mean  ratings");
            foreach (var (cluster, size, mean, count) in rows)
            {
                Console.WriteLine(string.Create(inv, $"  {cluster,7} {size,6} {(mean is { } m ? m.ToString("F2", inv) : "-"),7} {count,8}"));
            }

            var rated = rows.Where(r => r.Mean is not null).ToList();
            Console.WriteLine(rated.Count == 0
                ? "  nobody has rated this run yet: open /runs/" + run.Id.ToString(inv) + "/rate on the dashboard"
                : string.Create(inv, $"  run mean {rated.Average(r => r.Mean!.Value):F2} over {rated.Count} of {rows.Count} clusters, {rated.Sum(r => r.Ratings)} ratings"));
            return 0;
        }));

        var gallery = new Command("gallery", "(Re)write a run's contact sheets, index.html, PCA map and projector files.");
        gallery.Options.Add(Run);
        gallery.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var dir = await services.GetRequiredService<ClusterGallery>().WriteAsync(pr.GetValue(Run), ct);
            Console.WriteLine($"Gallery: {Path.Combine(dir, "index.html")}");
            return 0;
        }));

        cluster.Subcommands.Add(groups);
        cluster.Subcommands.Add(gallery);
        cluster.Subcommands.Add(ratings);

        var evaluate = new Command("evaluate", "Print a clustering run's metrics (inertia, silhouette, Davies-Bouldin, k sweep, drift) and, with --labels, ARI, NMI and purity.");
        evaluate.Options.Add(Run);
        evaluate.Options.Add(Labels);
        evaluate.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var report = await services.GetRequiredService<ClusterEvaluator>().EvaluateAsync(pr.GetValue(Run), pr.GetValue(Labels), ct);
            PrintEvaluation(report);
            return 0;
        }));

        return [cluster, evaluate];
    }

    public static void PrintRun(ClusterRunResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"Clustering run {r.RunId}: {r.Images} images, model {r.Model.Label}, scope {r.Scope}, k = {r.K}"));
        if (r.Sweep.Count > 0)
        {
            PrintSweep(r.Sweep.Select(p => (p.K, p.Inertia, p.Silhouette)), r.K);
        }

        Console.WriteLine(string.Create(inv, $"  inertia {r.Inertia:F4}, silhouette {Fmt(r.Silhouette)}, Davies-Bouldin {Fmt(r.DaviesBouldin)}, {r.Iterations} iterations{(r.Converged ? " (converged)" : "")}, {r.Elapsed.TotalSeconds:F1} s"));
        Console.WriteLine("  sizes: " + string.Join(' ', r.Sizes));
        if (r.WarmStartedFrom is long w)
        {
            Console.WriteLine(string.Create(inv, $"  warm start from run {w}"));
        }

        if (r.Drift is { } d)
        {
            Console.WriteLine(string.Create(inv, $"  drift since run {d.PreviousRunId}: {d.Moved} of {d.Common} images changed cluster, {d.Added} new, {d.Removed} gone; ARI between runs {d.AdjustedRandIndex:F4}"));
        }

        if (r.GalleryPath is not null)
        {
            Console.WriteLine($"  gallery: {Path.Combine(r.GalleryPath, "index.html")}");
        }
    }

    public static void PrintGroups(SimilarityGroupsResult r)
    {
        var duplicates = r.DuplicateGroupsWritten > 0 ? $"; {r.DuplicateGroupsWritten} written as duplicate groups" : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Similarity groups (run {r.RunId}, model {r.Model.Label}): {r.Groups} groups covering {r.GroupedImages} of {r.Images} images{duplicates}"));
        foreach (var g in r.Members.Take(20))
        {
            Console.WriteLine("  " + string.Join(' ', g));
        }

        if (r.Members.Count > 20)
        {
            Console.WriteLine($"  … {r.Members.Count - 20} more (SELECT * FROM cluster_assignments WHERE run_id = {r.RunId})");
        }
    }

    public static void PrintEvaluation(EvaluationReport r)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"Clustering run {r.RunId} ({r.Status.ToString().ToLowerInvariant()}): model {r.Model}, scope {r.Scope}, k = {r.K}, method {r.Parameters.Method}"));
        foreach (var (key, value) in r.Metrics.Figures())
        {
            Console.WriteLine($"  {key,-18} {value}");
        }

        if (r.Metrics.Sweep.Count > 0)
        {
            PrintSweep(r.Metrics.Sweep.Select(p => (p.K, p.Inertia, p.Silhouette)), r.K);
        }

        if (r.Metrics.Drift is { } d)
        {
            Console.WriteLine(string.Create(inv, $"  drift              since run {d.PreviousRunId}: {d.Moved} of {d.Common} moved, {d.Added} new, {d.Removed} gone, ARI {d.AdjustedRandIndex:F4}"));
        }

        if (r.External is { } e)
        {
            Console.WriteLine(string.Create(inv, $"  against {e.Source}: {e.Labelled} labelled images in {e.Labels} labels ({e.NotInRun} labelled images not in this run)"));
            Console.WriteLine(string.Create(inv, $"    ARI    {e.AdjustedRandIndex:F4}"));
            Console.WriteLine(string.Create(inv, $"    NMI    {e.NormalizedMutualInformation:F4}"));
            Console.WriteLine(string.Create(inv, $"    purity {e.Purity:F4}"));
        }
    }

    private static void PrintSweep(IEnumerable<(int K, double Inertia, double Silhouette)> sweep, int chosen)
    {
        Console.WriteLine("  k sweep:     k      inertia  silhouette");
        foreach (var (k, inertia, silhouette) in sweep)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"           {k,5} {inertia,12:F3} {silhouette,10:F4}{(k == chosen ? "  <- chosen" : "")}"));
        }
    }

    private static string Fmt(double? v) => v is double d ? d.ToString("F4", CultureInfo.InvariantCulture) : "n/a";

    private static int? ParseK(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (text.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            return 0;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k > 0
            ? k
            : throw new Core.HarvesterException($"--k must be a positive number or 'auto' (got '{text}').");
    }

    private static KMeansAlgorithm? ParseAlgorithm(string? text) => text?.ToLowerInvariant() switch
    {
        null or "" => null,
        "lloyd" => KMeansAlgorithm.Lloyd,
        "minibatch" or "mini-batch" => KMeansAlgorithm.MiniBatch,
        _ => throw new Core.HarvesterException($"--algorithm must be lloyd or minibatch (got '{text}')."),
    };
}
