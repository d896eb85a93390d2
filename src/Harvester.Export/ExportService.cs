using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

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
}

public sealed record SplitSummary(string Name, double Target, int Images, int Groups, IReadOnlyDictionary<string, int> Labels)
{
    public double Share { get; init; }
}

/// <summary>
/// How far apart the splits are: near-copies (by the model's cosine similarity) that ended up in different splits
/// (zero unless a bug broke grouping), the closest cross-split pair seen among each image's nearest neighbours, and the
/// smallest pHash distance between any two images of different splits.
/// </summary>
public sealed record LeakageReport(
    int CrossSplitNearDuplicates,
    double? ClosestCrossSplitCosine,
    long? ClosestPairA,
    long? ClosestPairB,
    int? ClosestCrossSplitHamming,
    int ImagesWithoutVector,
    bool HashAuditSkipped);

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
    TimeSpan Elapsed);

/// <summary>
/// Writes a training dataset from the accepted images: an ImageFolder tree (&lt;split&gt;/&lt;label&gt;/&lt;sha256&gt;.&lt;ext&gt;),
/// manifest.csv with every image's provenance, and export.json with the parameters, counts and a leakage report.
/// Images that must not be separated (the same place or product, near-copies by embedding, curation duplicate groups)
/// are joined into groups first and whole groups are assigned to splits, so no split learns from another's near-copies.
/// The export is built in a sibling folder and renamed into place, so a failed export leaves nothing half-written.
/// </summary>
public sealed class ExportService(
    HarvesterDatabase database,
    BlobStore blobs,
    IOptions<StorageOptions> storage,
    IOptions<ExportOptions> options,
    ModelStore models,
    IConfiguration configuration,
    ILogger<ExportService> logger)
{
    public const string ManifestFile = "manifest.csv";
    public const string SummaryFile = "export.json";

    private sealed record Row(
        long Id,
        string Sha256,
        int? Width,
        int? Height,
        string? Format,
        double? Quality,
        string SourceUrl,
        long? DuplicateGroup,
        long? PlaceId,
        long? ProductId,
        string? Site,
        string? PlaceName,
        string? ProductName,
        string? Category,
        string? Neighbourhood,
        ulong? PHash);

    /// <param name="progress">Gets images written of all to write.</param>
    public async Task<ExportResult> ExportAsync(ExportRequest request, CancellationToken ct, IProgress<StageProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var o = options.Value;
        var clock = Stopwatch.StartNew();
        var splits = SplitPlanner.ParseSplits(request.Splits ?? o.Splits);
        var groupBy = request.GroupBy ?? o.GroupBy;
        var label = request.Label ?? o.Label;
        var cosine = request.NearDuplicateCosine ?? o.NearDuplicateCosine;
        var seed = request.Seed ?? o.Seed;
        if (cosine is < 0 or > 1 || double.IsNaN(cosine))
        {
            throw new HarvesterException($"Near-duplicate cosine {cosine} is outside [0, 1].");
        }

        if (label == ExportLabel.Cluster && request.ClusterRun is null)
        {
            throw new HarvesterException("Cluster labels need a clustering run: pass --run <id> (see 'harvester cluster').");
        }

        var output = Path.GetFullPath(request.OutputDirectory
            ?? Path.Combine(storage.Value.ResolveOutputRoot(), "exports", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
        CheckOutput(output, request.Force);

        var db = database.DataSource;
        var clusters = label == ExportLabel.Cluster ? await ClusterLabelsAsync(db, request.ClusterRun!.Value, ct) : null;
        var all = await LoadAsync(db, request.Scope, ct);
        var rows = all.Where(r => blobs.Exists(r.Sha256)).ToList();
        var missing = all.Count - rows.Count;
        if (missing > 0)
        {
            Log.MissingBlobs(logger, missing);
        }

        if (rows.Count == 0)
        {
            throw new HarvesterException($"Scope '{request.Scope}' has no accepted images to export{(missing > 0 ? $" ({missing} have no blob in the store)" : "")}: crawl and curate first, or widen --scope.");
        }

        var index = rows.Select((r, i) => (r.Id, i)).ToDictionary(p => p.Id, p => p.i);
        var sets = new UnionFind(rows.Count);
        await JoinBySourceAndDuplicatesAsync(db, rows, index, sets, groupBy, ct);

        // Near-copies by embedding: each image's nearest neighbours; the pairs also feed the leakage report.
        var (model, pairs, withVector) = await NeighbourPairsAsync(db, request, index, ct);
        var nearPairs = 0;
        foreach (var (a, b, distance) in pairs)
        {
            if (distance <= 1 - cosine)
            {
                sets.Union(index[a], index[b]);
                nearPairs++;
            }
        }

        // Whole groups into splits.
        var groupOf = new int[rows.Count];
        var groups = new Dictionary<int, int>();
        for (var i = 0; i < rows.Count; i++)
        {
            var root = sets.Find(i);
            if (!groups.TryGetValue(root, out var g))
            {
                g = groups.Count;
                groups[root] = g;
            }

            groupOf[i] = g;
        }

        var sizes = new int[groups.Count];
        var keys = new string[groups.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            var g = groupOf[i];
            sizes[g]++;
            if (keys[g] is null || string.CompareOrdinal(rows[i].Sha256, keys[g]) < 0)
            {
                keys[g] = rows[i].Sha256;
            }
        }

        var splitOfGroup = SplitPlanner.Assign(sizes, keys, splits, seed);
        var splitOf = groupOf.Select(g => splitOfGroup[g]).ToArray();
        var leakage = Audit(rows, splitOf, index, pairs, cosine, rows.Count - withVector, o.HashAuditLimit);
        if (leakage.CrossSplitNearDuplicates > 0)
        {
            throw new HarvesterException($"Internal error: {leakage.CrossSplitNearDuplicates} near-duplicate pairs ended up in different splits; nothing was exported.");
        }

        var labels = rows.Select(r => Label(r, label, clusters)).ToArray();
        var summaries = splits.Select((s, si) =>
        {
            var members = Enumerable.Range(0, rows.Count).Where(i => splitOf[i] == si).ToList();
            var byLabel = members.GroupBy(i => labels[i]).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
            return new SplitSummary(s.Name, s.Fraction, members.Count, members.Select(i => groupOf[i]).Distinct().Count(), byLabel)
            {
                Share = (double)members.Count / rows.Count,
            };
        }).ToList();

        await WriteAsync(output, request.Force, rows, splitOf, groupOf, labels, splits, async staging =>
        {
            var parameters = new JsonObject
            {
                ["scope"] = request.Scope.ToString(),
                ["splits"] = new JsonObject(splits.Select(s => KeyValuePair.Create(s.Name, (JsonNode?)s.Fraction))),
                ["groupBy"] = groupBy.ToString().ToLowerInvariant(),
                ["label"] = label.ToString().ToLowerInvariant(),
                ["clusterRun"] = request.ClusterRun,
                ["model"] = model,
                ["nearDuplicateCosine"] = cosine,
                ["neighbours"] = o.Neighbours,
                ["seed"] = seed,
            };
            var summary = new JsonObject
            {
                ["createdAt"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["parameters"] = parameters,
                ["images"] = rows.Count,
                ["groups"] = groups.Count,
                ["missingBlobs"] = missing,
                ["nearDuplicatePairs"] = nearPairs,
                ["splits"] = new JsonArray([.. summaries.Select(s => (JsonNode)new JsonObject
                {
                    ["name"] = s.Name,
                    ["target"] = s.Target,
                    ["share"] = Math.Round(s.Share, 4),
                    ["images"] = s.Images,
                    ["groups"] = s.Groups,
                    ["labels"] = new JsonObject(s.Labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))),
                })]),
                ["leakage"] = JsonSerializer.SerializeToNode(leakage, JsonOptions),
            };
            await File.WriteAllTextAsync(Path.Combine(staging, SummaryFile), summary.ToJsonString(JsonOptions), ct);
        }, ct, progress);

        Log.Exported(logger, rows.Count, groups.Count, output);
        return new ExportResult(output, Path.Combine(output, ManifestFile), rows.Count, groups.Count, missing, model, cosine, nearPairs, summaries, leakage, clock.Elapsed);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static void CheckOutput(string output, bool force)
    {
        if (File.Exists(output))
        {
            throw new HarvesterException($"Export target {output} is a file, not a folder.");
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

    private static async Task<List<Row>> LoadAsync(NpgsqlDataSource db, ImageScope scope, CancellationToken ct)
    {
        var p = new List<object>();
        var where = scope.Predicate("i", p);
        await using var cmd = db.CreateCommand($"""
            SELECT i.id, i.sha256, i.width, i.height, i.format, i.quality_score, i.source_url, i.duplicate_group_id,
                   i.place_id, i.product_id, t.key, pl.name, pr.name, COALESCE(pl.category, pr.category), pl.neighbourhood, i.phash
            FROM images i
            LEFT JOIN places pl ON pl.id = i.place_id
            LEFT JOIN products pr ON pr.id = i.product_id
            LEFT JOIN sites t ON t.id = COALESCE(pl.site_id, pr.site_id,
                (SELECT s.site_id FROM image_sightings s WHERE s.image_id = i.id ORDER BY s.id LIMIT 1))
            WHERE {where}
            ORDER BY i.id
            """);
        foreach (var a in p)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        var rows = new List<Row>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            T? Get<T>(int i) => r.IsDBNull(i) ? default : r.GetFieldValue<T>(i);
            rows.Add(new Row(
                r.GetInt64(0), r.GetString(1), Get<int?>(2), Get<int?>(3), Get<string>(4), Get<double?>(5), r.GetString(6),
                Get<long?>(7), Get<long?>(8), Get<long?>(9), Get<string>(10), Get<string>(11), Get<string>(12), Get<string>(13), Get<string>(14),
                r.IsDBNull(15) ? null : Imaging.PerceptualHash.FromBits(r.GetFieldValue<BitArray>(15))));
        }

        return rows;
    }

    /// <summary>
    /// Joins images that share a key: the same place / product (including places and products an image was also seen
    /// at), and the same curation duplicate group.
    /// </summary>
    private static async Task JoinBySourceAndDuplicatesAsync(NpgsqlDataSource db, List<Row> rows, Dictionary<long, int> index, UnionFind sets, ExportGrouping groupBy, CancellationToken ct)
    {
        var byPlace = groupBy is ExportGrouping.Source or ExportGrouping.Place;
        var byProduct = groupBy is ExportGrouping.Source or ExportGrouping.Product;
        var first = new Dictionary<string, int>();
        void Join(int i, string kind, long? key)
        {
            if (key is not { } k)
            {
                return;
            }

            var name = kind + ":" + k.ToString(CultureInfo.InvariantCulture);
            if (first.TryGetValue(name, out var j))
            {
                sets.Union(i, j);
            }
            else
            {
                first[name] = i;
            }
        }

        for (var i = 0; i < rows.Count; i++)
        {
            Join(i, "duplicates", rows[i].DuplicateGroup);
            Join(i, "place", byPlace ? rows[i].PlaceId : null);
            Join(i, "product", byProduct ? rows[i].ProductId : null);
        }

        if (!byPlace && !byProduct)
        {
            return;
        }

        await using var cmd = db.CreateCommand("SELECT image_id, place_id, product_id FROM image_sightings WHERE image_id = ANY($1)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Id).ToArray() });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var i = index[r.GetInt64(0)];
            Join(i, "place", byPlace && !r.IsDBNull(1) ? r.GetInt64(1) : null);
            Join(i, "product", byProduct && !r.IsDBNull(2) ? r.GetInt64(2) : null);
        }
    }

    /// <summary>The model's nearest-neighbour pairs among the exported images (no distance cut), or none without vectors.</summary>
    private async Task<(string? Model, List<(long A, long B, double Distance)> Pairs, int WithVector)> NeighbourPairsAsync(
        NpgsqlDataSource db, ExportRequest request, Dictionary<long, int> index, CancellationToken ct)
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
            return (null, [], 0);
        }

        await using var count = db.CreateCommand("SELECT count(*) FROM embeddings WHERE model_id = $1 AND image_id = ANY($2)");
        count.Parameters.Add(new NpgsqlParameter { Value = model.Id });
        count.Parameters.Add(new NpgsqlParameter { Value = index.Keys.ToArray() });
        var withVector = (int)(long)(await count.ExecuteScalarAsync(ct))!;
        var pairs = await VectorNeighbours.PairsAsync(db, model, request.Scope, 2.0, options.Value.Neighbours, ct);
        pairs.RemoveAll(p => !index.ContainsKey(p.A) || !index.ContainsKey(p.B));
        return (model.Label, pairs, withVector);
    }

    private static LeakageReport Audit(List<Row> rows, int[] splitOf, Dictionary<long, int> index, List<(long A, long B, double Distance)> pairs, double cosine, int withoutVector, int hashLimit)
    {
        var crossNear = 0;
        (long A, long B, double Distance)? closest = null;
        foreach (var p in pairs)
        {
            if (splitOf[index[p.A]] == splitOf[index[p.B]])
            {
                continue;
            }

            if (p.Distance <= 1 - cosine)
            {
                crossNear++;
            }

            if (closest is null || p.Distance < closest.Value.Distance)
            {
                closest = p;
            }
        }

        int? hamming = null;
        var skipped = rows.Count > hashLimit;
        if (!skipped)
        {
            var hashes = rows.Select(r => r.PHash).ToArray();
            for (var i = 0; i < rows.Count; i++)
            {
                if (hashes[i] is not { } hi)
                {
                    continue;
                }

                for (var j = i + 1; j < rows.Count; j++)
                {
                    if (splitOf[i] != splitOf[j] && hashes[j] is { } hj)
                    {
                        var d = BitOperations.PopCount(hi ^ hj);
                        if (hamming is null || d < hamming)
                        {
                            hamming = d;
                        }
                    }
                }
            }
        }

        return new LeakageReport(
            crossNear,
            closest is null ? null : Math.Round(1 - closest.Value.Distance, 6),
            closest?.A,
            closest?.B,
            hamming,
            withoutVector,
            skipped);
    }

    private static async Task<Dictionary<long, int>> ClusterLabelsAsync(NpgsqlDataSource db, long run, CancellationToken ct)
    {
        await using (var check = db.CreateCommand("SELECT status FROM clustering_runs WHERE id = $1"))
        {
            check.Parameters.Add(new NpgsqlParameter { Value = run });
            if (await check.ExecuteScalarAsync(ct) is not RunStatus status)
            {
                throw new HarvesterException($"Clustering run {run} does not exist (see 'harvester cluster').");
            }

            if (status != RunStatus.Completed)
            {
                throw new HarvesterException($"Clustering run {run} is {status.ToString().ToLowerInvariant()}, not completed; its assignments cannot label an export.");
            }
        }

        await using var cmd = db.CreateCommand("SELECT image_id, cluster_index FROM cluster_assignments WHERE run_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = run });
        var labels = new Dictionary<long, int>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            labels[r.GetInt64(0)] = r.GetInt32(1);
        }

        return labels;
    }

    private static string Label(Row row, ExportLabel label, Dictionary<long, int>? clusters) => label switch
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
            name = name[..80];
        }

        return name.Trim('.').Length == 0 ? "_" + name : name;
    }

    private static string Extension(string? format) => format?.ToLowerInvariant() switch
    {
        "jpeg" or "jpg" => ".jpg",
        "png" => ".png",
        "webp" => ".webp",
        "gif" => ".gif",
        "bmp" => ".bmp",
        _ => ".bin",
    };

    private async Task WriteAsync(
        string output, bool force, List<Row> rows, int[] splitOf, int[] groupOf, string[] labels, IReadOnlyList<SplitSpec> splits,
        Func<string, Task> writeSummary, CancellationToken ct, IProgress<StageProgress>? progress = null)
    {
        var written = new ProgressCounter(progress, "export", rows.Count, "images");
        var parent = Path.GetDirectoryName(output) ?? ".";
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, "." + Path.GetFileName(output) + ".partial-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(staging);
        try
        {
            var manifest = new StringBuilder();
            manifest.AppendLine("path,split,label,group,image_id,sha256,width,height,format,quality,site,place,product,category,neighbourhood,source_url");
            foreach (var i in Enumerable.Range(0, rows.Count).OrderBy(i => splitOf[i]).ThenBy(i => labels[i], StringComparer.Ordinal).ThenBy(i => rows[i].Sha256, StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                var row = rows[i];
                var relative = Path.Combine(splits[splitOf[i]].Name, labels[i], row.Sha256 + Extension(row.Format));
                var target = Path.Combine(staging, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(blobs.PathFor(row.Sha256), target);
                written.Add();
                Csv(manifest, relative.Replace(Path.DirectorySeparatorChar, '/'), splits[splitOf[i]].Name, labels[i], groupOf[i].ToString(CultureInfo.InvariantCulture),
                    row.Id.ToString(CultureInfo.InvariantCulture), row.Sha256, Num(row.Width), Num(row.Height), row.Format, row.Quality?.ToString("0.####", CultureInfo.InvariantCulture),
                    row.Site, row.PlaceName, row.ProductName, row.Category, row.Neighbourhood, row.SourceUrl);
            }

            await File.WriteAllTextAsync(Path.Combine(staging, ManifestFile), manifest.ToString(), new UTF8Encoding(false), ct);
            await writeSummary(staging);

            // Swap in: an older export is moved aside first and removed only once the new one is in place.
            string? old = null;
            if (Directory.Exists(output))
            {
                if (Directory.EnumerateFileSystemEntries(output).Any())
                {
                    CheckOutput(output, force);
                    old = Path.Combine(parent, "." + Path.GetFileName(output) + ".old-" + Guid.NewGuid().ToString("N")[..8]);
                    Directory.Move(output, old);
                }
                else
                {
                    Directory.Delete(output);
                }
            }

            Directory.Move(staging, output);
            if (old is not null)
            {
                Directory.Delete(old, recursive: true);
            }
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }
    }

    private static string? Num(int? v) => v?.ToString(CultureInfo.InvariantCulture);

    private static void Csv(StringBuilder sb, params string?[] fields)
    {
        for (var f = 0; f < fields.Length; f++)
        {
            if (f > 0)
            {
                sb.Append(',');
            }

            var v = fields[f] ?? "";
            if (v.AsSpan().IndexOfAny(",\"\n\r") >= 0)
            {
                sb.Append('"').Append(v.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            }
            else
            {
                sb.Append(v);
            }
        }

        sb.Append('\n');
    }
}
