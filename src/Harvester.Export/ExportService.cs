using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Export;

/// <summary>What to export; unset values come from the "Export" options.</summary>
public sealed record ExportRequest
{
    /// <summary>Target folder; default &lt;OutputRoot&gt;/exports/&lt;UTC timestamp&gt;.</summary>
    public string? OutputDirectory { get; init; }

    public ImageScope Scope { get; init; } = ImageScope.All;

    public string? Splits { get; init; }

    public ExportGrouping? GroupBy { get; init; }

    public ExportLabel? Label { get; init; }

    /// <summary>Clustering run whose assignments name the classes (with <see cref="ExportLabel.Cluster"/>).</summary>
    public long? ClusterRun { get; init; }

    public string? Model { get; init; }

    public double? NearDuplicateCosine { get; init; }

    public int? Seed { get; init; }

    /// <summary>Replace an existing export in <see cref="OutputDirectory"/>.</summary>
    public bool Force { get; init; }

    public ExportFormats? Formats { get; init; }

    /// <summary>Samples per WebDataset shard.</summary>
    public int? ShardSize { get; init; }

    public ParquetImages? ParquetImages { get; init; }

    public ExportFiles? Files { get; init; }

    public int? MaxPerLabel { get; init; }

    public int? MaxPerSource { get; init; }

    /// <summary>Fail, writing nothing, when a label cannot be in every split (default: warn and list it).</summary>
    public bool? RequireEveryLabel { get; init; }
}

public sealed record SplitSummary(string Name, double Target, int Images, int Groups, IReadOnlyDictionary<string, int> Labels)
{
    public double Share { get; init; }
}

/// <summary>A label that is not in every split: its groups and images, the splits that hold it, and why.</summary>
public sealed record LabelCoverage(string Label, int Groups, int Images, IReadOnlyList<string> Splits, string Reason);

public sealed record ExportResult(
    string Directory,
    string Manifest,
    int Images,
    int Groups,
    int MissingBlobs,
    string? Model,
    double NearDuplicateCosine,
    int NearDuplicatePairs,
    IReadOnlyList<SplitSummary> Splits,
    LeakageReport Leakage,
    TimeSpan Elapsed)
{
    /// <summary>The class index: label by index, as in classes.json.</summary>
    public IReadOnlyList<string> Classes { get; init; } = [];

    public IReadOnlyList<LabelCoverage> LabelsNotInEverySplit { get; init; } = [];

    public CapReport Caps { get; init; } = CapReport.None;

    public ExportFormats Formats { get; init; }

    /// <summary>How the ImageFolder files were placed (hard links or copies).</summary>
    public FilePlacement Files { get; init; } = new(0, 0);

    /// <summary>WebDataset shards and Parquet files, relative to <see cref="Directory"/>.</summary>
    public IReadOnlyList<string> Outputs { get; init; } = [];

    /// <summary>Time per phase: query, blobs (which exist), group, plan, each format written, manifest.</summary>
    public IReadOnlyDictionary<string, TimeSpan> Timings { get; init; } = new Dictionary<string, TimeSpan>();

    public long ParquetImageBytes { get; init; }
}

/// <summary>
/// Writes a training dataset from the accepted images: ImageFolder trees, WebDataset shards and/or Parquet files, all
/// with one class index (classes.json), one manifest.csv with every image's provenance, and export.json with the
/// parameters, counts and a leakage report. Images that must not be separated (the same place or product, near-copies
/// by embedding, curation duplicate groups) are joined into groups first and whole groups are assigned to splits,
/// stratified by label. The export is built in a sibling folder and renamed into place, so a failed export leaves
/// nothing half-written. This service decides; <see cref="ExportStore"/> reads the database.
/// </summary>
public sealed class ExportService(
    ExportStore store,
    IBlobStore blobs,
    IOptions<StorageOptions> storage,
    IOptions<ExportOptions> options,
    ModelStore models,
    IConfiguration configuration,
    ILogger<ExportService> logger)
{
    public const string ManifestFile = Manifest.FileName;
    public const string SummaryFile = "export.json";

    /// <summary>The validated parameters of one export.</summary>
    private sealed record Plan(
        string Output,
        IReadOnlyList<SplitSpec> Splits,
        ExportGrouping GroupBy,
        ExportLabel Label,
        double? Cosine,
        int Seed,
        ExportFormats Formats,
        int ShardSize,
        ParquetImages ParquetImages,
        ExportFiles Files,
        int? MaxPerLabel,
        int? MaxPerSource,
        bool RequireEveryLabel)
    {
        /// <summary>ImageFolder files are written for the ImageFolder format, and for Parquet rows that point at them.</summary>
        public bool WritesFiles => Formats.HasFlag(ExportFormats.ImageFolder) || (Formats.HasFlag(ExportFormats.Parquet) && ParquetImages == ParquetImages.Path);
    }

    /// <param name="progress">Gets images written of all to write.</param>
    public async Task<ExportResult> ExportAsync(ExportRequest request, CancellationToken ct, IProgress<StageProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var plan = Validate(request);
        CheckOutput(plan.Output, request.Force);

        var timings = new Dictionary<string, TimeSpan>();
        var phase = Stopwatch.StartNew();
        void Phase(string name)
        {
            timings[name] = phase.Elapsed;
            phase.Restart();
        }

        var clusters = plan.Label == ExportLabel.Cluster ? await ClusterLabelsAsync(request.ClusterRun!.Value, ct) : null;
        var all = await store.ImagesAsync(request.Scope, ct);
        Phase("query");

        // One stat per image; spread over the cores, in input order.
        var present = all.AsParallel().AsOrdered().WithCancellation(ct).Where(r => blobs.Exists(r.Sha256)).ToList();
        var missing = all.Count - present.Count;
        if (missing > 0)
        {
            Log.MissingBlobs(logger, missing);
        }

        var presentLabels = present.Select(r => Label(r, plan.Label, clusters)).ToList();
        var (kept, caps) = ExportCaps.Apply(present, presentLabels, plan.MaxPerSource, plan.MaxPerLabel, plan.Seed);
        var rows = kept.Select(i => present[i]).ToList();
        var labels = kept.Select(i => presentLabels[i]).ToArray();
        if (caps.Dropped > 0)
        {
            Log.Capped(logger, caps.DroppedBySource, caps.SourcesCapped, caps.DroppedByLabel, caps.LabelsCapped);
        }

        if (rows.Count == 0)
        {
            throw new HarvesterException($"Scope '{request.Scope}' has no accepted images to export{(missing > 0 ? $" ({missing} have no blob in the store)" : "")}: crawl and curate first, or widen --scope.");
        }

        Phase("blobs");
        var index = rows.Select((r, i) => (r.Id, i)).ToDictionary(p => p.Id, p => p.i);
        var sets = new UnionFind(rows.Count);
        await JoinBySourceAndDuplicatesAsync(rows, index, sets, plan.GroupBy, ct);

        // Near-copies by embedding: each image's nearest neighbours; the pairs also feed the leakage report.
        var (model, pairs, withVector, modelCosine) = await NeighbourPairsAsync(request, index, ct);
        var cosine = plan.Cosine ?? modelCosine ?? ExportOptions.FallbackNearDuplicateCosine;
        plan = plan with { Cosine = cosine };
        var nearPairs = 0;
        foreach (var (a, b, distance) in pairs)
        {
            if (distance <= 1 - cosine)
            {
                sets.Union(index[a], index[b]);
                nearPairs++;
            }
        }

        // Groups numbered by their smallest SHA-256, so group ids depend on the data and not on database ids.
        var classes = new ClassIndex(labels);
        var members = Enumerable.Range(0, rows.Count).GroupBy(sets.Find).Select(g => g.ToList()).ToList();
        var keys = members.Select(m => m.Select(i => rows[i].Sha256).Min(StringComparer.Ordinal)!).ToList();
        var byKey = Enumerable.Range(0, members.Count).OrderBy(g => keys[g], StringComparer.Ordinal).ToArray();
        var groupOf = new int[rows.Count];
        var groups = new List<SplitGroup>(members.Count);
        foreach (var g in byKey)
        {
            foreach (var i in members[g])
            {
                groupOf[i] = groups.Count;
            }

            var histogram = members[g].GroupBy(i => classes[labels[i]]).Select(x => (x.Key, x.Count())).OrderBy(x => x.Key).ToList();
            groups.Add(new SplitGroup(members[g].Count, keys[g], histogram));
        }

        Phase("group");
        var split = SplitPlanner.Plan(groups, classes.Count, plan.Splits, plan.Seed);
        var splitOf = groupOf.Select(g => split.SplitOfGroup[g]).ToArray();
        var shortfalls = split.Shortfalls.Select(s => Coverage(s, classes, plan.Splits)).ToList();
        if (shortfalls.Count > 0)
        {
            var list = string.Join("; ", shortfalls.Select(s => $"{s.Label} ({s.Reason})"));
            if (plan.RequireEveryLabel)
            {
                throw new HarvesterException($"{shortfalls.Count} label(s) cannot be in every split, and every label is required (--require-every-label): {list}. Nothing was exported.");
            }

            Log.LabelsNotInEverySplit(logger, shortfalls.Count, list);
        }

        var leakage = LeakageAudit.Run(rows, splitOf, index, pairs, cosine, rows.Count - withVector, options.Value.HashAuditLimit);
        if (leakage.CrossSplitNearDuplicates > 0)
        {
            throw new HarvesterException($"Internal error: {leakage.CrossSplitNearDuplicates} near-duplicate pairs ended up in different splits; nothing was exported.");
        }

        var summaries = plan.Splits.Select((s, si) =>
        {
            var inSplit = Enumerable.Range(0, rows.Count).Where(i => splitOf[i] == si).ToList();
            var byLabel = inSplit.GroupBy(i => labels[i]).OrderBy(g => g.Key, ClassIndex.CodePointComparer.Instance).ToDictionary(g => g.Key, g => g.Count());
            return new SplitSummary(s.Name, s.Fraction, inSplit.Count, inSplit.Select(i => groupOf[i]).Distinct().Count(), byLabel)
            {
                Share = (double)inSplit.Count / rows.Count,
            };
        }).ToList();

        var manifest = BuildRows(plan, rows, labels, classes, splitOf, groupOf);
        Phase("plan");
        var createdAt = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        if (DatasetWriter.RemoveAbandonedStaging(plan.Output) is > 0 and var abandoned)
        {
            Log.RemovedAbandonedStaging(logger, abandoned, plan.Output);
        }

        var written = await new DatasetWriter(plan.Output, request.Force, blobs, plan.Files, CheckOutput).WriteAsync(
            manifest, classes, plan.Splits.Select(s => s.Name).ToList(), plan.Formats, plan.WritesFiles, plan.ParquetImages, createdAt,
            w => Summary(plan, request, createdAt, model, rows.Count, groups.Count, missing, nearPairs, summaries, leakage, classes, shortfalls, caps, w),
            ct, progress);

        Log.Exported(logger, rows.Count, groups.Count, plan.Output);
        return new ExportResult(plan.Output, Path.Combine(plan.Output, ManifestFile), rows.Count, groups.Count, missing, model, cosine, nearPairs, summaries, leakage, clock.Elapsed)
        {
            Classes = classes.Labels,
            LabelsNotInEverySplit = shortfalls,
            Caps = caps,
            Formats = plan.Formats,
            Files = written.Files,
            Outputs = written.Outputs,
            Timings = timings.Concat(written.Times).ToDictionary(),
            ParquetImageBytes = written.ParquetImageBytes,
        };
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>export.json: parameters, counts per split and label, the class index, coverage, caps, outputs and the leakage report.</summary>
    private string Summary(
        Plan plan, ExportRequest request, DateTimeOffset createdAt, string? model, int images, int groups, int missing, int nearPairs,
        List<SplitSummary> summaries, LeakageReport leakage, ClassIndex classes, List<LabelCoverage> shortfalls, CapReport caps, WrittenDataset written)
    {
        static JsonObject Counts(IEnumerable<KeyValuePair<string, int>> counts) => new(counts.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value)));
        var parameters = new JsonObject
        {
            ["scope"] = request.Scope.ToString(),
            ["splits"] = new JsonObject(plan.Splits.Select(s => KeyValuePair.Create(s.Name, (JsonNode?)s.Fraction))),
            ["groupBy"] = plan.GroupBy.ToString().ToLowerInvariant(),
            ["label"] = plan.Label.ToString().ToLowerInvariant(),
            ["clusterRun"] = request.ClusterRun,
            ["model"] = model,
            ["nearDuplicateCosine"] = plan.Cosine,
            ["neighbours"] = options.Value.Neighbours,
            ["seed"] = plan.Seed,
            ["formats"] = new JsonArray([.. ExportFormatNames.Names(plan.Formats).Select(n => (JsonNode)n)]),
            ["shardSize"] = plan.Formats.HasFlag(ExportFormats.WebDataset) ? plan.ShardSize : null,
            ["parquetImages"] = plan.Formats.HasFlag(ExportFormats.Parquet) ? plan.ParquetImages.ToString().ToLowerInvariant() : null,
            ["files"] = plan.Files.ToString().ToLowerInvariant(),
            ["maxPerLabel"] = plan.MaxPerLabel,
            ["maxPerSource"] = plan.MaxPerSource,
            ["requireEveryLabel"] = plan.RequireEveryLabel,
        };
        var summary = new JsonObject
        {
            ["createdAt"] = createdAt.ToString("O", CultureInfo.InvariantCulture),
            ["parameters"] = parameters,
            ["images"] = images,
            ["groups"] = groups,
            ["missingBlobs"] = missing,
            ["nearDuplicatePairs"] = nearPairs,
            ["classes"] = new JsonArray([.. classes.Labels.Select(l => (JsonNode)l)]),
            ["splits"] = new JsonArray([.. summaries.Select(s => (JsonNode)new JsonObject
            {
                ["name"] = s.Name,
                ["target"] = s.Target,
                ["share"] = Math.Round(s.Share, 4),
                ["images"] = s.Images,
                ["groups"] = s.Groups,
                ["labels"] = Counts(s.Labels),
            })]),
            ["labelsNotInEverySplit"] = new JsonArray([.. shortfalls.Select(s => (JsonNode)new JsonObject
            {
                ["label"] = s.Label,
                ["groups"] = s.Groups,
                ["images"] = s.Images,
                ["splits"] = new JsonArray([.. s.Splits.Select(x => (JsonNode)x)]),
                ["reason"] = s.Reason,
            })]),
            ["capped"] = new JsonObject
            {
                ["bySource"] = caps.DroppedBySource,
                ["sourcesCapped"] = caps.SourcesCapped,
                ["byLabel"] = caps.DroppedByLabel,
                ["labelsCapped"] = caps.LabelsCapped,
                ["perLabel"] = Counts(caps.DroppedPerLabel),
            },
            ["files"] = new JsonObject { ["hardLinks"] = written.Files.HardLinks, ["copies"] = written.Files.Copies },
            ["outputs"] = new JsonArray([.. written.Outputs.Select(x => (JsonNode)x)]),
            ["leakage"] = JsonSerializer.SerializeToNode(leakage, JsonOptions),
        };
        return summary.ToJsonString(JsonOptions) + "\n";
    }

    private Plan Validate(ExportRequest request)
    {
        var o = options.Value;
        var splits = SplitPlanner.ParseSplits(request.Splits ?? o.Splits);
        var cosine = request.NearDuplicateCosine ?? o.NearDuplicateCosine;
        if (cosine is { } c && (c is < 0 or > 1 || double.IsNaN(c)))
        {
            throw new HarvesterException($"Near-duplicate cosine {cosine} is outside [0, 1].");
        }

        var label = request.Label ?? o.Label;
        if (label == ExportLabel.Cluster && request.ClusterRun is null)
        {
            throw new HarvesterException("Cluster labels need a clustering run: pass --run <id> (see 'harvester cluster').");
        }

        var formats = request.Formats ?? ExportFormatNames.Parse(o.Formats, "Export:Formats");
        if (formats == ExportFormats.None || (formats & ~(ExportFormats.ImageFolder | ExportFormats.WebDataset | ExportFormats.Parquet)) != 0)
        {
            throw new HarvesterException("--format must name one or more of: imagefolder, webdataset, parquet.");
        }

        var shardSize = request.ShardSize ?? o.ShardSize;
        if (shardSize <= 0)
        {
            throw new HarvesterException($"--shard-size must be a positive number of samples per shard, got {shardSize}.");
        }

        var maxPerLabel = request.MaxPerLabel ?? o.MaxPerLabel;
        if (maxPerLabel <= 0)
        {
            throw new HarvesterException($"--max-per-label must be a positive number of images, got {maxPerLabel}.");
        }

        var maxPerSource = request.MaxPerSource ?? o.MaxPerSource;
        if (maxPerSource <= 0)
        {
            throw new HarvesterException($"--max-per-source must be a positive number of images, got {maxPerSource}.");
        }

        var output = OutputPath(request.OutputDirectory
            ?? Path.Combine(storage.Value.ResolveOutputRoot(), "exports", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
        return new Plan(output, splits, request.GroupBy ?? o.GroupBy, label, cosine, request.Seed ?? o.Seed, formats, shardSize,
            request.ParquetImages ?? o.ParquetImages, request.Files ?? o.Files, maxPerLabel, maxPerSource, request.RequireEveryLabel ?? o.RequireEveryLabel);
    }

    /// <summary>The absolute target folder, without a trailing separator (so "out/" and "out" are the same export).</summary>
    private static string OutputPath(string requested)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(requested));
        return Path.GetDirectoryName(full) is null
            ? throw new HarvesterException($"Export target {requested} is the filesystem root; choose a folder inside it.")
            : full;
    }

    private static void CheckOutput(string output, bool force)
    {
        if (File.Exists(output))
        {
            throw new HarvesterException($"Export target {output} is a file, not a folder.");
        }

        for (var up = Path.GetDirectoryName(output); up is not null; up = Path.GetDirectoryName(up))
        {
            if (File.Exists(up))
            {
                throw new HarvesterException($"Export target {output} cannot be created: {up} is a file, not a folder.");
            }

            if (Directory.Exists(up))
            {
                break;
            }
        }

        if (!Directory.Exists(output) || !Directory.EnumerateFileSystemEntries(output).Any())
        {
            return;
        }

        if (!File.Exists(Path.Combine(output, SummaryFile)))
        {
            throw new HarvesterException($"Export target {output} exists and is not a Harvester export (no {SummaryFile}); choose an empty or new folder.");
        }

        if (!force)
        {
            throw new HarvesterException($"Export target {output} already holds an export; pass --force to replace it.");
        }
    }

    /// <summary>
    /// Every image's manifest row. WebDataset and Parquet get each split's samples in a seeded shuffled order (a
    /// training reader's shuffle buffer only mixes nearby samples, so shards sorted by label would train badly); the
    /// manifest lists them by split, label and SHA-256.
    /// </summary>
    private static List<ManifestRow> BuildRows(Plan plan, List<ExportImage> rows, string[] labels, ClassIndex classes, int[] splitOf, int[] groupOf)
    {
        var result = new List<ManifestRow>(rows.Count);
        var webDataset = plan.Formats.HasFlag(ExportFormats.WebDataset);
        for (var s = 0; s < plan.Splits.Count; s++)
        {
            var name = plan.Splits[s].Name;
            var position = 0;
            foreach (var i in Enumerable.Range(0, rows.Count).Where(i => splitOf[i] == s).OrderBy(i => Rank(plan.Seed, rows[i].Sha256)).ThenBy(i => rows[i].Sha256, StringComparer.Ordinal))
            {
                var row = rows[i];
                var path = plan.WritesFiles ? name + "/" + labels[i] + "/" + row.Sha256 + Manifest.Extension(row.Format) : null;
                var shard = webDataset ? WebDatasetWriter.ShardName(name, position, plan.ShardSize) : null;
                result.Add(new ManifestRow(path, shard, name, labels[i], classes[labels[i]], groupOf[i], row));
                position++;
            }
        }

        return result;
    }

    private static LabelCoverage Coverage(LabelShortfall s, ClassIndex classes, IReadOnlyList<SplitSpec> splits) => new(
        classes.Labels[s.Label],
        s.Groups,
        s.Images,
        [.. s.Splits.Select(i => splits[i].Name)],
        s.Groups < splits.Count
            ? $"{s.Groups} group{(s.Groups == 1 ? "" : "s")} for {splits.Count} splits; in {(s.Splits.Count == 0 ? "none" : string.Join(", ", s.Splits.Select(i => splits[i].Name)))}"
            : $"its {s.Groups} groups are joined with other labels' groups and cannot be spread without taking another label out of a split; in {string.Join(", ", s.Splits.Select(i => splits[i].Name))}");

    /// <summary>
    /// Joins images that share a key: the same place / product (including places and products an image was also seen
    /// at), and the same curation duplicate group.
    /// </summary>
    private async Task JoinBySourceAndDuplicatesAsync(List<ExportImage> rows, Dictionary<long, int> index, UnionFind sets, ExportGrouping groupBy, CancellationToken ct)
    {
        var byPlace = groupBy is ExportGrouping.Source or ExportGrouping.Place;
        var byProduct = groupBy is ExportGrouping.Source or ExportGrouping.Product;
        var first = new Dictionary<(char Kind, long Key), int>();
        void Join(int i, char kind, long? key)
        {
            if (key is not { } k)
            {
                return;
            }

            if (first.TryGetValue((kind, k), out var j))
            {
                sets.Union(i, j);
            }
            else
            {
                first[(kind, k)] = i;
            }
        }

        for (var i = 0; i < rows.Count; i++)
        {
            Join(i, 'd', rows[i].DuplicateGroup);
            Join(i, 'p', byPlace ? rows[i].PlaceId : null);
            Join(i, 'r', byProduct ? rows[i].ProductId : null);
        }

        if (!byPlace && !byProduct)
        {
            return;
        }

        foreach (var s in await store.SightingsAsync(index.Keys, ct))
        {
            var i = index[s.ImageId];
            Join(i, 'p', byPlace ? s.PlaceId : null);
            Join(i, 'r', byProduct ? s.ProductId : null);
        }
    }

    /// <summary>The model's nearest-neighbour pairs among the exported images (no distance cut), or none without vectors.</summary>
    private async Task<(string? Model, List<(long A, long B, double Distance)> Pairs, int WithVector, double? Cosine)> NeighbourPairsAsync(
        ExportRequest request, Dictionary<long, int> index, CancellationToken ct)
    {
        var requested = request.Model ?? (options.Value.Model is { Length: > 0 } m ? m : configuration["Clustering:Model"]);
        RegisteredModel model;
        try
        {
            model = await models.ResolveAsync(requested, ct);
        }
        catch (HarvesterException) when (string.IsNullOrEmpty(requested))
        {
            // Nothing embedded yet: groups come from sources and duplicate groups only.
            Log.NoVectors(logger);
            return (null, [], 0, null);
        }

        var withVector = await store.CountVectorsAsync(model, index.Keys, ct);
        var pairs = await store.NeighbourPairsAsync(model, request.Scope, options.Value.Neighbours, ct);
        pairs.RemoveAll(p => !index.ContainsKey(p.A) || !index.ContainsKey(p.B));
        return (model.Label, pairs, withVector, model.Cosine.NearDuplicate);
    }

    private async Task<Dictionary<long, int>> ClusterLabelsAsync(long run, CancellationToken ct)
    {
        var status = await store.ClusteringRunStatusAsync(run, ct)
            ?? throw new HarvesterException($"Clustering run {run} does not exist (see 'harvester cluster').");
        if (status != RunStatus.Completed)
        {
            throw new HarvesterException($"Clustering run {run} is {status.ToString().ToLowerInvariant()}, not completed; its assignments cannot label an export.");
        }

        return await store.ClusterAssignmentsAsync(run, ct);
    }

    private static string Label(ExportImage row, ExportLabel label, Dictionary<long, int>? clusters) => label switch
    {
        ExportLabel.Category => FolderName(row.Category),
        ExportLabel.Cluster => clusters!.TryGetValue(row.Id, out var c) ? "cluster-" + c.ToString("D3", CultureInfo.InvariantCulture) : "unassigned",
        _ => "unlabelled",
    };

    /// <summary>A label as a safe folder name: no separators, control characters or dot-only names; Unicode kept.</summary>
    public static string FolderName(string? label)
    {
        if (string.IsNullOrWhiteSpace(label))
        {
            return "unlabelled";
        }

        var sb = new StringBuilder(label.Length);
        foreach (var c in label.Trim().Normalize(NormalizationForm.FormC))
        {
            sb.Append(c is '/' or '\\' or ':' or '*' or '?' or '"' or '<' or '>' or '|' || char.IsControl(c) ? '_' : c);
        }

        var name = sb.ToString();
        if (name.Length > 80)
        {
            name = name[..(char.IsHighSurrogate(name[79]) ? 79 : 80)];
        }

        return name.Trim('.').Length == 0 ? "_" + name : name;
    }

    private static ulong Rank(int seed, string key)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(seed.ToString(CultureInfo.InvariantCulture) + "\norder\n" + key), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }
}
