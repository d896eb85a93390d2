using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using Harvester.Cluster;
using Harvester.Core;
using Harvester.DemoSite;
using Harvester.Embed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// Clustering quality on labelled data: the demo site's photos (faults off) are downloaded over HTTP, embedded with the
// default model through ModelHost/Embedder (the embed stage's classes), clustered with KMeans using the Clustering
// section's defaults, and scored with ClusterMetrics against ground-truth labels: the source corpus photo, plus
// ":mirrored" for odd editions; copies (verbatim or transformed) share their original's label; menu text images are left out.
//   dotnet build bench/Harvester.Bench.ClusterQuality -c Release
//   dotnet bench/Harvester.Bench.ClusterQuality/bin/Release/net10.0/Harvester.Bench.ClusterQuality.dll \
//     [--places 100] [--photos-per-place 14] [--shop-categories 1] [--products 10] [--reviews 12] [--site-seed 1]
//     [--concurrency 4] [--seeds 5] [--wide-step 50] [--no-auto]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
int Arg(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length
    ? int.Parse(args[i + 1], CultureInfo.InvariantCulture)
    : fallback;
var places = Arg("--places", 100);
var photosPerPlace = Arg("--photos-per-place", 14);
var shopCategories = Math.Clamp(Arg("--shop-categories", 1), 1, DemoSiteOptions.DefaultShopCategories.Count);
var products = Arg("--products", 10);
var reviews = Arg("--reviews", 12);
var siteSeed = Arg("--site-seed", 1);
var concurrency = Arg("--concurrency", 4);
var seedCount = Math.Max(1, Arg("--seeds", 5));
var wideStep = Arg("--wide-step", 50);
var runAuto = !args.Contains("--no-auto");

using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};
var ct = cts.Token;
var clustering = new ClusteringOptions();
var total = Stopwatch.StartNew();

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GB, " +
                  $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}; date {DateTime.UtcNow:yyyy-MM-dd}");
Console.WriteLine($"args: {string.Join(' ', args)}");

// 1. The demo site, faults off, one map query plus a small shop.
var clock = Stopwatch.StartNew();
await using var site = await DemoSiteServer.StartAsync(new DemoSiteOptions
{
    Faults = false,
    Seed = siteSeed,
    PlacesPerQuery = places,
    PhotosPerPlace = photosPerPlace,
    Neighbourhoods = [DemoSiteOptions.DefaultNeighbourhoods[0]],
    Categories = [DemoSiteOptions.DefaultCategories[0]],
    ShopCategories = [.. DemoSiteOptions.DefaultShopCategories.Take(shopCategories)],
    ProductsPerCategory = products,
    ReviewsPerProduct = reviews,
}, null, ct);
var siteSeconds = clock.Elapsed.TotalSeconds;

var listed = site.Truth.Places.SelectMany(p => p.Photos)
    .Concat(site.Truth.ShopCategories.SelectMany(c => c.Products).SelectMany(p => p.Reviews).SelectMany(r => r.Photos))
    .ToList();
var byId = new Dictionary<string, DemoPhotoTruth>(StringComparer.Ordinal);
foreach (var p in listed)
{
    byId.TryAdd(p.Id, p);
}

var items = new List<Item>();
var menus = 0;
foreach (var photo in byId.Values)
{
    var root = photo;
    for (var hops = 0; root.DuplicateOf is { } of && byId.TryGetValue(of, out var original) && hops < 32; hops++)
    {
        root = original;
    }

    if (root.CorpusLabel is null)
    {
        menus++;
        continue;
    }

    var label = root.CorpusLabel + (root.Edition % 2 == 1 ? ":mirrored" : "");
    var kind = photo.Variant is { } v ? "transformed copy: " + v
        : photo.DuplicateOf is not null ? "verbatim copy"
        : photo.Edition == 0 ? "edition 0"
        : photo.Edition % 2 == 1 ? "later edition, mirrored + re-encoded"
        : "later edition, re-encoded";
    items.Add(new Item(photo, label, kind));
}

var n = items.Count;
var truth = items.Select(i => i.Label).ToArray();
var labelSizes = truth.GroupBy(l => l, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
var labelCount = labelSizes.Count;
var multi = Enumerable.Range(0, n).Where(i => labelSizes[truth[i]] >= 2).ToArray();
var multiLabels = labelSizes.Count(kv => kv.Value >= 2);

// Secondary, coarser truth: the source file a corpus tile was cut from ("<stem>-r<row>c<col>" -> "<stem>"), mirrored or not.
var sources = items.Select(i => SourceOf(i.Label)).ToArray();
var sourceSizes = sources.GroupBy(l => l, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
var multiSource = Enumerable.Range(0, n).Where(i => sourceSizes[sources[i]] >= 2).ToArray();
Console.WriteLine($"site: {site.Truth.Places.Count} places + {site.Truth.ShopCategories.Sum(c => c.Products.Count)} products, " +
                  $"{byId.Count} photos listed, {menus} menu text images left out, {n} photos scored; started in {siteSeconds:F1} s");

// 2. Download the full-size bytes over HTTP.
clock.Restart();
var bytes = new byte[n][];
using (var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }))
{
    await Parallel.ForAsync(0, n, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
        async (i, token) => bytes[i] = await http.GetByteArrayAsync(items[i].Photo.Url, token));
}

var downloadSeconds = clock.Elapsed.TotalSeconds;
Console.WriteLine($"download: {n} photos, {bytes.Sum(b => (long)b.Length) / 1e6:F1} MB in {downloadSeconds:F1} s (concurrency {concurrency})");

// Fingerprints of what was served, to tell whether two runs scored the same bytes (transformed copies apart).
string Fingerprint(IEnumerable<int> indices) => Convert.ToHexStringLower(SHA256.HashData(
    indices.SelectMany(i => SHA256.HashData(bytes[i])).ToArray()))[..16];
var transformed = Enumerable.Range(0, n).Where(i => items[i].Photo.Variant is not null).ToArray();
Console.WriteLine($"bytes fingerprint: all {Fingerprint(Enumerable.Range(0, n))}, without the {transformed.Length} transformed copies " +
                  $"{Fingerprint(Enumerable.Range(0, n).Except(transformed))}, transformed copies only {Fingerprint(transformed)}");

// 3. Embed with the default model through the inference services the embed stage uses.
var modelsRoot = Path.Combine(Path.GetTempPath(), "harvester-bench-cluster-quality");
var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
{
    ["Storage:Root"] = modelsRoot,
    ["Inference:ExecutionProvider"] = "cpu",
}).Build();
var services = new ServiceCollection();
services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
services.AddSingleton<IConfiguration>(configuration);
services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section);
services.AddHarvesterEmbed(configuration);
await using var provider = services.BuildServiceProvider();
var host = provider.GetRequiredService<ModelHost>();
clock.Restart();
var embedder = await host.GetAsync(null, ct);
var loadSeconds = clock.Elapsed.TotalSeconds;
clock.Restart();
var vectors = new float[n][];
var batchSize = host.Options.ModelBatch;
for (var start = 0; start < n; start += batchSize)
{
    var count = Math.Min(batchSize, n - start);
    var batch = new ReadOnlyMemory<byte>[count];
    for (var i = 0; i < count; i++)
    {
        batch[i] = bytes[start + i];
    }

    embedder.Embed(batch, ct).CopyTo(vectors, start);
}

var embedSeconds = clock.Elapsed.TotalSeconds;
Console.WriteLine($"embed: model {embedder.Manifest.Name} v{embedder.Manifest.Version} ({embedder.Dimension}-d, {embedder.Provider}), " +
                  $"loaded in {loadSeconds:F1} s, {n} photos in {embedSeconds:F1} s ({n / embedSeconds:F0} photos/s, batch {batchSize})");

var x = VectorMatrix.FromRows(vectors);
if (clustering.Normalize)
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

// 4. k-means with the Clustering section's defaults (Lloyd, k-means++, tolerance, iterations) and its seed.
var rows = new List<Row>();

KMeansResult Fit(VectorMatrix data, int k, int seed, int maxIterations) =>
    KMeans.Fit(data, new KMeansSettings
    {
        K = k,
        Seed = seed,
        MaxIterations = maxIterations,
        Tolerance = clustering.Tolerance,
        Algorithm = clustering.Algorithm,
        MiniBatchSize = clustering.MiniBatchSize,
    }, null, ct);

Row Score(string name, int k, int[] predicted, double inertia, int iterations, double seconds) =>
    new(name, k, predicted, Scores.Of(truth, multi, predicted), Scores.Of(sources, multiSource, predicted), inertia, iterations, seconds);

Row RunKMeans(string name, int k, int seed)
{
    var watch = Stopwatch.StartNew();
    var fit = Fit(x, k, seed, clustering.MaxIterations);
    return Score(name, k, fit.Labels, fit.Inertia, fit.Iterations, watch.Elapsed.TotalSeconds);
}

var headline = RunKMeans($"k-means, k = distinct labels, seed {clustering.Seed}", labelCount, clustering.Seed);
rows.Add(headline);

var seedAris = new List<double> { headline.Photo.Ari };
for (var s = 1; s < seedCount; s++)
{
    seedAris.Add(RunKMeans("", labelCount, clustering.Seed + s).Photo.Ari);
}

seedAris.Sort();
rows.Add(RunKMeans($"k-means, k = distinct source files, seed {clustering.Seed}", sourceSizes.Count, clustering.Seed));

// The k that `--k auto` picks: Clustering defaults (KMin..KMax, highest mean silhouette, ties to the smaller k),
// on the same seeded sample rule (all vectors here: fewer than SweepSampleSize).
var sweepLines = new List<string>();

(int BestK, List<(int K, int Used, double Silhouette, double Ari)> Points) Sweep(IEnumerable<int> ks)
{
    var sample = x;
    var points = new List<(int K, int Used, double Silhouette, double Ari)>();
    foreach (var k in ks)
    {
        var fit = Fit(sample, k, clustering.Seed, clustering.SweepMaxIterations);
        var silhouette = fit.Labels.Distinct().Count() >= 2
            ? ClusterMetrics.Silhouette(sample, fit.Labels, clustering.SilhouetteSampleSize, clustering.Seed, ct)
            : -1;
        points.Add((k, fit.Labels.Distinct().Count(), silhouette, ClusterMetrics.AdjustedRandIndex(truth, fit.Labels)));
    }

    var best = points.OrderByDescending(p => p.Silhouette).ThenBy(p => p.K).First().K;
    return (best, points);
}

if (runAuto && n >= 3 && n <= clustering.SweepSampleSize)
{
    clock.Restart();
    var kMax = Math.Min(clustering.KMax, n - 1);
    var kMin = Math.Min(clustering.KMin, kMax);
    var (autoK, points) = Sweep(Enumerable.Range(0, ((kMax - Math.Max(2, kMin)) / clustering.KStep) + 1).Select(j => Math.Max(2, kMin) + (j * clustering.KStep)));
    var sweepSeconds = clock.Elapsed.TotalSeconds;
    rows.Add(RunKMeans($"k-means, k = `--k auto` (silhouette over {clustering.KMin}..{clustering.KMax}; sweep {sweepSeconds:F1} s)", autoK, clustering.Seed));
    sweepLines.Add($"default sweep k = {clustering.KMin}..{clustering.KMax}: " +
                   string.Join(", ", points.OrderByDescending(p => p.Silhouette).Take(5).Select(p => $"k={p.K} silhouette {p.Silhouette:F3}")) + " (top 5)");

    if (wideStep > 0)
    {
        // Not what the product does: the same rule over a range wide enough to contain the true number of labels.
        clock.Restart();
        var wideKs = Enumerable.Range(1, Math.Max(1, (n - 1) / wideStep)).Select(j => j * wideStep).Where(k => k < n).ToList();
        var (wideK, widePoints) = Sweep(wideKs);
        var wideSeconds = clock.Elapsed.TotalSeconds;
        rows.Add(RunKMeans($"k-means, k = best silhouette over {wideStep}..{wideKs[^1]} step {wideStep} (sweep {wideSeconds:F1} s)", wideK, clustering.Seed));
        sweepLines.Add($"wide sweep (k: non-empty clusters, silhouette, ARI at sweep iterations): " +
                       string.Join("; ", widePoints.Select(p => $"{p.K}: {p.Used}, {p.Silhouette:F3}, {p.Ari:F3}")));
    }
}

// Reference: a seeded random assignment with as many clusters as labels (ARI about 0).
var random = new Random(clustering.Seed);
rows.Add(Score("reference: random assignment, k = distinct labels", labelCount, [.. Enumerable.Range(0, n).Select(_ => random.Next(labelCount))], double.NaN, 0, 0));

// 5. Retrieval view and the similarity-group rule, from the exact cosine similarity matrix.
clock.Restart();
var gram = new float[(long)n * n];
Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, i =>
{
    var a = x.Row(i);
    for (var j = 0; j < n; j++)
    {
        gram[((long)i * n) + j] = TensorPrimitives.Dot(a, x.Row(j));
    }
});

var nearest = new int[n];
for (var i = 0; i < n; i++)
{
    var best = -1;
    var bestSim = float.NegativeInfinity;
    for (var j = 0; j < n; j++)
    {
        if (j != i && gram[((long)i * n) + j] > bestSim)
        {
            bestSim = gram[((long)i * n) + j];
            best = j;
        }
    }

    nearest[i] = best;
}

var hits = multi.Count(i => truth[nearest[i]] == truth[i]);
var byKind = multi.GroupBy(i => items[i].Kind).OrderBy(g => g.Key, StringComparer.Ordinal)
    .Select(g => (Kind: g.Key, Count: g.Count(), Hits: g.Count(i => truth[nearest[i]] == truth[i])))
    .ToList();

var sameLabelSims = new List<float>();
var nearestOtherSims = new List<float>();
foreach (var i in multi)
{
    var bestOther = float.NegativeInfinity;
    for (var j = 0; j < n; j++)
    {
        if (j == i)
        {
            continue;
        }

        var s = gram[((long)i * n) + j];
        if (truth[j] == truth[i])
        {
            if (j > i)
            {
                sameLabelSims.Add(s);
            }
        }
        else if (s > bestOther)
        {
            bestOther = s;
        }
    }

    nearestOtherSims.Add(bestOther);
}

// Similarity groups: union-find over pairs with cosine >= threshold (exact here; the product uses pgvector k-NN with
// SimilarityNeighbours per image), ungrouped photos as singletons. The default threshold first, then stricter ones.
int[] SimilarityGroups(double threshold)
{
    var parent = Enumerable.Range(0, n).ToArray();
    int FindRoot(int v)
    {
        while (parent[v] != v)
        {
            parent[v] = parent[parent[v]];
            v = parent[v];
        }

        return v;
    }

    for (var i = 0; i < n; i++)
    {
        for (var j = i + 1; j < n; j++)
        {
            if (gram[((long)i * n) + j] >= threshold)
            {
                parent[FindRoot(i)] = FindRoot(j);
            }
        }
    }

    return [.. Enumerable.Range(0, n).Select(FindRoot)];
}

var retrievalSeconds = clock.Elapsed.TotalSeconds;
foreach (var threshold in new[] { clustering.SimilarityThreshold ?? ClusteringOptions.FallbackSimilarityThreshold, 0.98, 0.99, 0.995, 0.999 }.Distinct())
{
    clock.Restart();
    var groups = SimilarityGroups(threshold);
    rows.Add(Score($"similarity groups, cosine >= {threshold:0.000}{(threshold == (clustering.SimilarityThreshold ?? ClusteringOptions.FallbackSimilarityThreshold) ? " (default)" : "")}", 0, groups, double.NaN, 0, clock.Elapsed.TotalSeconds));
}

// 6. Report.
Console.WriteLine();
Console.WriteLine($"photos scored: {n}; distinct labels: {labelCount}; labels with >= 2 members: {multiLabels} " +
                  $"({multi.Length} photos); largest label: {labelSizes.Values.Max()} photos");
Console.WriteLine("photos by kind: " + string.Join(", ", items.GroupBy(i => i.Kind).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}")));
Console.WriteLine();
Console.WriteLine("Against photo labels (same corpus photo and mirroring; copies share their original's label):");
PrintTable(rows, r => r.Photo);
Console.WriteLine();
Console.WriteLine($"Against source files ({sourceSizes.Count} distinct; {multiSource.Length} photos in sources with >= 2 members), coarser: different tiles of one photograph share a label:");
PrintTable(rows, r => r.Source);

Console.WriteLine();
Console.WriteLine($"ARI at k = {labelCount} over seeds {clustering.Seed}..{clustering.Seed + seedCount - 1}: " +
                  $"min {seedAris[0]:F3}, median {seedAris[seedAris.Count / 2]:F3}, max {seedAris[^1]:F3}");
foreach (var line in sweepLines)
{
    Console.WriteLine(line);
}

Console.WriteLine();
Console.WriteLine($"retrieval: nearest neighbour (cosine) is a same-label photo for {hits} of {multi.Length} photos whose label has >= 2 members: " +
                  $"precision@1 = {(double)hits / Math.Max(1, multi.Length):F3}");
Console.WriteLine("| photo kind | photos | precision@1 |");
Console.WriteLine("|---|---:|---:|");
foreach (var (kind, count, kindHits) in byKind)
{
    Console.WriteLine($"| {kind} | {count} | {(double)kindHits / count:F3} |");
}

Console.WriteLine();
Console.WriteLine($"cosine similarity of same-label pairs: {Describe(sameLabelSims)}");
Console.WriteLine($"cosine similarity to the nearest other-label photo: {Describe(nearestOtherSims)}");
Console.WriteLine($"nearest-neighbour matrix: {retrievalSeconds:F1} s; total: {total.Elapsed.TotalSeconds:F1} s");
return 0;

static string SourceOf(string label)
{
    var bare = label.EndsWith(":mirrored", StringComparison.Ordinal) ? label[..^":mirrored".Length] : label;
    var dash = bare.LastIndexOf("-r", StringComparison.Ordinal);
    return dash > 0 && bare[(dash + 2)..] is var rc && rc.Contains('c', StringComparison.Ordinal) && rc.Replace("c", "", StringComparison.Ordinal).All(char.IsAsciiDigit)
        ? bare[..dash]
        : bare;
}

static void PrintTable(List<Row> rows, Func<Row, Scores> pick)
{
    Console.WriteLine("| method | k | clusters | ARI | ARI (labels with >= 2 members) | NMI | purity | inertia | iterations | seconds |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var r in rows)
    {
        var s = pick(r);
        Console.WriteLine($"| {r.Name} | {(r.K > 0 ? r.K.ToString(CultureInfo.InvariantCulture) : "-")} | {r.Predicted.Distinct().Count()} | {s.Ari:F3} | {s.AriMulti:F3} | {s.Nmi:F3} | {s.Purity:F3} | " +
                          $"{(double.IsNaN(r.Inertia) ? "-" : r.Inertia.ToString("F3", CultureInfo.InvariantCulture))} | {(r.Iterations > 0 ? r.Iterations.ToString(CultureInfo.InvariantCulture) : "-")} | {r.Seconds:F1} |");
    }
}

static string Describe(List<float> values)
{
    if (values.Count == 0)
    {
        return "none";
    }

    values.Sort();
    float At(double q) => values[(int)Math.Round(q * (values.Count - 1))];
    return $"n {values.Count}, min {At(0):F3}, p10 {At(0.1):F3}, median {At(0.5):F3}, p90 {At(0.9):F3}, max {At(1):F3}";
}

internal sealed record Item(DemoPhotoTruth Photo, string Label, string Kind);

internal sealed record Row(string Name, int K, int[] Predicted, Scores Photo, Scores Source, double Inertia, int Iterations, double Seconds);

internal sealed record Scores(double Ari, double AriMulti, double Nmi, double Purity)
{
    /// <summary>ARI, NMI and purity against <paramref name="truth"/>, and ARI on the photos (<paramref name="multi"/>) whose label has >= 2 members.</summary>
    public static Scores Of(string[] truth, int[] multi, int[] predicted) => new(
        ClusterMetrics.AdjustedRandIndex(truth, predicted),
        multi.Length >= 2 ? ClusterMetrics.AdjustedRandIndex(multi.Select(i => truth[i]).ToArray(), multi.Select(i => predicted[i]).ToArray()) : double.NaN,
        ClusterMetrics.NormalizedMutualInformation(truth, predicted),
        ClusterMetrics.Purity(truth, predicted));
}
