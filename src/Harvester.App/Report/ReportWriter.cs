using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Harvester.Core;
using Harvester.Data;
using Harvester.Export;

namespace Harvester.App.Report;

/// <summary>What `harvester report` wrote.</summary>
public sealed record ReportResult(string Path, int Images, int Thumbnails, int NewThumbnails, TimeSpan Elapsed)
{
    /// <summary>Images per status as the report counted them.</summary>
    public IReadOnlyDictionary<ImageStatus, long> Statuses { get; init; } = new Dictionary<ImageStatus, long>();
}

/// <summary>
/// The curation report: one static HTML page people open in a browser, offline. It shows the counts per stage, job,
/// site, neighbourhood and category; each reject reason with example photos and the measured value against the
/// threshold; duplicate groups side by side with the kept image; near-misses just outside the duplicate thresholds;
/// each clustering run's clusters, cohesion and outliers; and the latest export's splits and closest cross-split pair.
/// Thumbnails are made once and kept beside the page.
/// </summary>
public sealed class ReportWriter(HarvesterDatabase database, IBlobStore blobs)
{
    public const int ThumbnailSide = 200;

    private int _thumbnails;
    private Thumbnails? _thumbs;
    private string _root = "";

    public sealed record Settings(string OutputDirectory, string OutputRoot, int HammingRadius, double? NearCopyCosine, long? Run, string? DashboardUrl);

    public async Task<ReportResult> WriteAsync(Settings settings, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _root = Path.GetFullPath(settings.OutputDirectory);
        Directory.CreateDirectory(_root);
        _thumbs = new Thumbnails(blobs, Path.Combine(_root, "thumbs"));
        await using var store = await ReportStore.OpenAsync(database, ct);
        var statuses = await store.StatusCountsAsync(ct);
        var total = (int)statuses.Values.Sum();
        var h = new StringBuilder();
        Head(h, total);
        if (total == 0)
        {
            h.Append("<section><h2>Nothing yet</h2><p>The database holds no images. Crawl something first (<code>harvester crawl</code>), or run <code>./harvester demo</code>, then write the report again.</p></section>");
        }
        else
        {
            await OverviewAsync(h, store, statuses, ct);
            await RejectsAsync(h, store, settings, ct);
            await DuplicatesAsync(h, store, ct);
            await NearMissesAsync(h, store, settings, ct);
            await ClustersAsync(h, store, settings, ct);
            await ExportAsync(h, store, settings, ct);
        }

        h.Append(CultureInfo.InvariantCulture, $"<footer>Written {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC by harvester report.</footer></body></html>\n");
        var page = Path.Combine(_root, "index.html");
        var tmp = page + ".tmp";
        await File.WriteAllTextAsync(tmp, h.ToString(), Encoding.UTF8, ct);
        File.Move(tmp, page, overwrite: true);
        return new ReportResult(page, total, _thumbnails, _thumbs.Made, clock.Elapsed) { Statuses = statuses };
    }

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");

    private static string N(double v, string format = "G4") => v.ToString(format, CultureInfo.InvariantCulture);

    private static void Head(StringBuilder h, int total)
    {
        h.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Harvester report</title><style>");
        h.Append("body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}");
        h.Append("nav a{margin-right:1em}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}td.n{text-align:right}");
        h.Append(".grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:200px;font-size:12px}figure img{width:200px;height:150px;object-fit:contain;background:#f3f3f3;display:block}");
        h.Append("figure.kept img{outline:4px solid #2a8}figure figcaption{overflow-wrap:anywhere}.group{border:1px solid #ddd;padding:6px;margin:8px 0}.pair{display:inline-flex;gap:4px;border:1px solid #eee;padding:4px;margin:4px}");
        h.Append(".bar{fill:#4a7ab5}.acc{fill:#2a8}svg text{font-size:12px}footer{margin-top:3em;color:#777;font-size:12px}</style></head><body>");
        h.Append(CultureInfo.InvariantCulture, $"<h1>Harvester report</h1><p>{total} images.</p>");
        h.Append("<nav><a href=\"#overview\">Overview</a><a href=\"#rejects\">Rejects</a><a href=\"#duplicates\">Duplicates</a><a href=\"#near-misses\">Near-misses</a><a href=\"#clusters\">Clusters</a><a href=\"#export\">Export</a></nav>");
    }

    /// <summary>A horizontal bar chart: one bar per row, the accepted part in green when known.</summary>
    private static void Bars(StringBuilder h, IReadOnlyList<(string Label, long Total, long? Accepted)> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        const int labelWidth = 180, barWidth = 420, rowHeight = 20;
        var max = Math.Max(1, rows.Max(r => r.Total));
        h.Append(CultureInfo.InvariantCulture, $"<svg width=\"{labelWidth + barWidth + 220}\" height=\"{rows.Count * rowHeight + 4}\" role=\"img\">");
        for (var i = 0; i < rows.Count; i++)
        {
            var (label, count, accepted) = rows[i];
            var y = (i * rowHeight) + 2;
            var w = (int)Math.Round(barWidth * (double)count / max);
            h.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y + 14}\"><title>{E(label)}</title>{E(label.Length > 28 ? label[..27] + "…" : label)}</text>");
            h.Append(CultureInfo.InvariantCulture, $"<rect class=\"bar\" x=\"{labelWidth}\" y=\"{y}\" width=\"{Math.Max(1, w)}\" height=\"{rowHeight - 4}\"/>");
            if (accepted is { } a && count > 0)
            {
                h.Append(CultureInfo.InvariantCulture, $"<rect class=\"acc\" x=\"{labelWidth}\" y=\"{y}\" width=\"{(int)Math.Round(w * (double)a / count)}\" height=\"{rowHeight - 4}\"/>");
            }

            h.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth + w + 6}\" y=\"{y + 14}\">{count}{(accepted is { } acc ? $" ({acc} accepted)" : "")}</text>");
        }

        h.Append("</svg>");
    }

    private static async Task OverviewAsync(StringBuilder h, ReportStore store, Dictionary<ImageStatus, long> statuses, CancellationToken ct)
    {
        h.Append("<section id=\"overview\"><h2>Overview</h2><h3>Images by status</h3>");
        Bars(h, [.. Enum.GetValues<ImageStatus>().Select(s => (s.ToString().ToLowerInvariant(), statuses.GetValueOrDefault(s), (long?)null))]);
        var jobs = await store.JobsAsync(ct);
        if (jobs.Count > 0)
        {
            h.Append("<h3>Crawl jobs</h3><table><tr><th>job</th><th>site</th><th>name</th><th>status</th><th>pages</th><th>places</th><th>products</th><th>photos stored</th><th>failed items</th></tr>");
            foreach (var j in jobs)
            {
                h.Append(CultureInfo.InvariantCulture, $"<tr><td class=\"n\">{j.Id}</td><td>{E(j.Site)}</td><td>{E(j.Name)}</td><td>{E(j.Status.ToString().ToLowerInvariant())}</td><td class=\"n\">{j.Pages}</td><td class=\"n\">{j.Places}</td><td class=\"n\">{j.Products}</td><td class=\"n\">{j.PhotosStored}</td><td class=\"n\">{j.Failures}</td></tr>");
            }

            h.Append("</table>");
        }

        foreach (var (column, title) in new[] { ("site", "By site"), ("neighbourhood", "By neighbourhood"), ("category", "By category") })
        {
            var rows = await store.CountsByAsync(column, ct);
            h.Append(CultureInfo.InvariantCulture, $"<h3>{title}</h3>");
            Bars(h, [.. rows.Select(r => (r.Label, r.Total, (long?)r.Accepted))]);
        }

        h.Append("</section>");
    }

    /// <summary>How a reject reason compares its measured value with its threshold (the checks of Curation:Profiles).</summary>
    private static readonly Dictionary<string, (string Measure, string Op)> Checks = new(StringComparer.Ordinal)
    {
        ["too-small"] = ("shorter side", "<"),
        ["odd-aspect"] = ("aspect ratio", ">"),
        ["blurry"] = ("sharpness", "<"),
        ["too-dark"] = ("dark fraction", ">"),
        ["too-bright"] = ("bright fraction", ">"),
        ["low-entropy"] = ("entropy", "<"),
        ["grayscale"] = ("colourfulness", "<"),
        ["text-heavy"] = ("text area", ">"),
        ["too-many-faces"] = ("faces", ">"),
        ["face-dominated"] = ("face area", ">"),
        ["subject-too-small"] = ("subject coverage", "<"),
        ["too-few-subjects"] = ("subjects", "<"),
        ["too-many-subjects"] = ("subjects", ">"),
    };

    private async Task RejectsAsync(StringBuilder h, ReportStore store, Settings settings, CancellationToken ct)
    {
        h.Append("<section id=\"rejects\"><h2>Rejects</h2>");
        var all = await store.RejectsAsync(ct);
        if (all.Count == 0)
        {
            h.Append("<p>No image was rejected.</p></section>");
            return;
        }

        h.Append("<p>For each reason: how many, then the photos closest to the threshold (where a different threshold would change the verdict) and a few others. Each caption gives the measured value against the threshold.</p>");
        foreach (var g in all.GroupBy(r => r.Reason.Split(':')[0]).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            h.Append(CultureInfo.InvariantCulture, $"<h3 id=\"reject-{E(g.Key)}\">{E(g.Key)}: {g.Count()}</h3><div class=\"grid\">");
            var borderline = g.Where(r => r.Score is not null && r.Threshold is not null)
                .OrderBy(r => Math.Abs(r.Score!.Value - r.Threshold!.Value) / Math.Max(1e-9, Math.Abs(r.Threshold!.Value))).ThenBy(r => r.Image.Id).Take(8).ToList();
            var others = g.Except(borderline).OrderBy(r => (r.Image.Id * 2654435761L) % 1000003).Take(12 - borderline.Count);
            foreach (var r in borderline.Concat(others))
            {
                var caption = r.Score is { } s && r.Threshold is { } t
                    ? $"{(Checks.TryGetValue(g.Key, out var c) ? c.Measure : g.Key)} {N(s)} {(Checks.TryGetValue(g.Key, out var c2) ? c2.Op : "vs")} {N(t)}"
                    : r.Reason;
                await FigureAsync(h, r.Image, caption, false, ct);
            }

            h.Append("</div>");
        }

        h.Append("</section>");
        _ = settings;
    }

    private async Task DuplicatesAsync(StringBuilder h, ReportStore store, CancellationToken ct)
    {
        h.Append("<section id=\"duplicates\"><h2>Duplicates</h2>");
        var groups = await store.DuplicateGroupsAsync(24, ct);
        if (groups.Count == 0)
        {
            h.Append("<p>No duplicate groups.</p></section>");
            return;
        }

        h.Append("<p>The largest groups. The kept image is outlined and first; each copy shows its pHash distance to it. The kept image wins by the keep rule (see docs/curation.md): what it has over each copy is in its caption.</p>");
        foreach (var g in groups)
        {
            var kept = g.Members.First(m => m.Image.Id == g.KeptId).Image;
            h.Append(CultureInfo.InvariantCulture, $"<div class=\"group\"><b>group {g.Id}</b> ({E(g.Kind.ToString())}, {g.Members.Count} images)<div class=\"grid\">");
            foreach (var (image, bits) in g.Members)
            {
                var isKept = image.Id == g.KeptId;
                var caption = isKept
                    ? $"kept #{image.Id}: {Describe(image)}"
                    : $"#{image.Id}: {Describe(image)}, {(bits is { } b ? b + " bits" : "exact")}{Why(kept, image)}";
                await FigureAsync(h, image, caption, isKept, ct);
            }

            h.Append("</div></div>");
        }

        h.Append("</section>");
    }

    private static string Describe(ReportImage i) =>
        $"{i.Width}×{i.Height} {i.Format}{(i.Quality is { } q ? $", quality {N(q, "F2")}" : "")}";

    private static string Why(ReportImage kept, ReportImage copy)
    {
        var reasons = new List<string>();
        if ((long)(kept.Width ?? 0) * (kept.Height ?? 0) > (long)(copy.Width ?? 0) * (copy.Height ?? 0))
        {
            reasons.Add("kept is larger");
        }

        if (kept.Status == ImageStatus.Accepted && copy.Status != ImageStatus.Accepted && copy.Status != ImageStatus.Duplicate)
        {
            reasons.Add("kept was accepted");
        }

        if ((kept.Quality ?? 0) > (copy.Quality ?? 0))
        {
            reasons.Add("kept scores higher");
        }

        return reasons.Count == 0 ? "; kept was seen first" : "; " + string.Join(", ", reasons);
    }

    private async Task NearMissesAsync(StringBuilder h, ReportStore store, Settings settings, CancellationToken ct)
    {
        h.Append("<section id=\"near-misses\"><h2>Near-misses</h2>");
        var hash = await store.HashNearMissesAsync(settings.HammingRadius, 4, 4000, 16, ct);
        h.Append(CultureInfo.InvariantCulture, $"<h3>Just outside the pHash radius ({settings.HammingRadius} bits)</h3>");
        await PairsAsync(h, hash, ct);
        if (await store.MainModelAsync(ct) is { } model)
        {
            // The configured cosine if one is set, else the model's own near-copy threshold (each model spreads its vectors differently).
            var cosine = settings.NearCopyCosine ?? model.Cosine.NearCopy ?? ExportOptions.FallbackNearDuplicateCosine;
            var vector = await store.VectorNearMissesAsync(model, cosine, 0.05, 16, ct);
            h.Append(CultureInfo.InvariantCulture, $"<h3>Just below the near-copy cosine ({N(cosine)}, {E(model.Label)})</h3>");
            await PairsAsync(h, vector, ct);
        }

        h.Append("</section>");
    }

    private async Task PairsAsync(StringBuilder h, List<NearMiss> pairs, CancellationToken ct)
    {
        if (pairs.Count == 0)
        {
            h.Append("<p>None.</p>");
            return;
        }

        h.Append("<p>Pairs a looser threshold would fold into one group: if they are copies, the threshold is too strict; if they are distinct photos, it is right.</p>");
        foreach (var p in pairs)
        {
            h.Append("<div class=\"pair\">");
            await FigureAsync(h, p.A, $"#{p.A.Id}", false, ct);
            await FigureAsync(h, p.B, $"#{p.B.Id}: {p.Measure} {N(p.Value, p.Measure == "cosine" ? "F4" : "G4")}", false, ct);
            h.Append("</div>");
        }
    }

    private async Task ClustersAsync(StringBuilder h, ReportStore store, Settings settings, CancellationToken ct)
    {
        h.Append("<section id=\"clusters\"><h2>Clusters</h2>");
        var runs = await store.KMeansRunsAsync(settings.Run, settings.Run is null ? 3 : 1, ct);
        if (runs.Count == 0)
        {
            h.Append("<p>No completed clustering run yet (<code>harvester cluster</code> makes one).</p></section>");
            return;
        }

        foreach (var info in runs)
        {
            var run = await store.RunAsync(info, 6, 12, ct);
            h.Append(CultureInfo.InvariantCulture, $"<h3 id=\"run-{run.Id}\">Run {run.Id}: {E(run.Model)}, k = {run.K}, {run.Images} images{(run.Silhouette is { } s ? $", silhouette {N(s, "F3")}" : "")}</h3>");
            var map = Path.Combine(settings.OutputRoot, "clusters", "run-" + run.Id.ToString(CultureInfo.InvariantCulture), "pca.png");
            if (File.Exists(map))
            {
                var local = Path.Combine(_root, $"run-{run.Id}-pca.png");
                File.Copy(map, local, overwrite: true);
                h.Append(CultureInfo.InvariantCulture, $"<p><img src=\"run-{run.Id}-pca.png\" alt=\"PCA map of run {run.Id}\" width=\"450\"></p>");
            }

            if (settings.DashboardUrl is { } dashboard)
            {
                h.Append(CultureInfo.InvariantCulture, $"<p>Rate these clusters: <a href=\"{E(dashboard)}/runs/{run.Id}/rate\">{E(dashboard)}/runs/{run.Id}/rate</a></p>");
            }

            h.Append("<table><tr><th>cluster</th><th>size</th><th>cohesion (mean distance to centroid)</th></tr>");
            foreach (var c in run.Clusters)
            {
                h.Append(CultureInfo.InvariantCulture, $"<tr><td class=\"n\"><a href=\"#run-{run.Id}-c{c.Index}\">{c.Index}</a></td><td class=\"n\">{c.Size}</td><td class=\"n\">{N(c.Cohesion, "F4")}</td></tr>");
            }

            h.Append("</table>");
            foreach (var c in run.Clusters)
            {
                h.Append(CultureInfo.InvariantCulture, $"<h4 id=\"run-{run.Id}-c{c.Index}\">Cluster {c.Index} ({c.Size} images)</h4><div class=\"grid\">");
                foreach (var (image, d) in c.Nearest)
                {
                    await FigureAsync(h, image, $"#{image.Id} d={N(d, "F3")}", false, ct);
                }

                foreach (var (image, d) in c.Farthest)
                {
                    await FigureAsync(h, image, $"farthest #{image.Id} d={N(d, "F3")}", false, ct);
                }

                h.Append("</div>");
            }

            h.Append("<h4>Outliers (farthest from their centroid)</h4><div class=\"grid\">");
            foreach (var (image, cluster, d) in run.Outliers)
            {
                await FigureAsync(h, image, $"#{image.Id} in {cluster}, d={N(d, "F3")}", false, ct);
            }

            h.Append("</div>");
        }

        h.Append("</section>");
    }

    private async Task ExportAsync(StringBuilder h, ReportStore store, Settings settings, CancellationToken ct)
    {
        h.Append("<section id=\"export\"><h2>Export</h2>");
        var summary = Directory.Exists(settings.OutputRoot)
            ? Directory.EnumerateFiles(settings.OutputRoot, "export.json", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 3 })
                .Select(f => new FileInfo(f)).OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault()
            : null;
        if (summary is null)
        {
            h.Append("<p>No export under the output folder yet (<code>harvester export</code> writes one).</p></section>");
            return;
        }

        var json = JsonNode.Parse(await File.ReadAllTextAsync(summary.FullName, ct))?.AsObject();
        h.Append(CultureInfo.InvariantCulture, $"<p>{E(Path.GetRelativePath(settings.OutputRoot, summary.DirectoryName!))}, written {summary.LastWriteTimeUtc:yyyy-MM-dd HH:mm} UTC.</p>");
        if (json?["splits"] is JsonArray splits)
        {
            h.Append("<table><tr><th>split</th><th>images</th><th>groups</th><th>labels</th></tr>");
            foreach (var s in splits.OfType<JsonObject>())
            {
                var labels = s["labels"] is JsonObject l ? string.Join(", ", l.Select(kv => $"{kv.Key} {kv.Value}")) : "";
                h.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(s["name"]?.ToString())}</td><td class=\"n\">{E(s["images"]?.ToString())}</td><td class=\"n\">{E(s["groups"]?.ToString())}</td><td>{E(labels)}</td></tr>");
            }

            h.Append("</table>");
        }

        if (json?["leakage"] is JsonObject leak)
        {
            h.Append(CultureInfo.InvariantCulture, $"<p>Near-copies across splits: {E(leak["crossSplitNearDuplicates"]?.ToString())}. Closest cross-split pair: cosine {E(leak["closestCrossSplitCosine"]?.ToString())}.</p>");
            if (leak["closestPairA"]?.GetValue<long>() is long a && leak["closestPairB"]?.GetValue<long>() is long b)
            {
                var images = await store.ImagesAsync([a, b], ct);
                if (images.Count == 2)
                {
                    h.Append("<div class=\"pair\">");
                    await FigureAsync(h, images[a], $"#{a}", false, ct);
                    await FigureAsync(h, images[b], $"#{b}", false, ct);
                    h.Append("</div>");
                }
            }
        }

        h.Append("</section>");
    }

    private async Task FigureAsync(StringBuilder h, ReportImage image, string caption, bool kept, CancellationToken ct)
    {
        var src = await ThumbnailAsync(image.Sha256, ct);
        h.Append(CultureInfo.InvariantCulture, $"<figure{(kept ? " class=\"kept\"" : "")}>");
        h.Append(src is null ? "<div style=\"width:200px;height:150px;background:#eee\">(no blob)</div>" : $"<img loading=\"lazy\" src=\"{E(src)}\" alt=\"image {image.Id}\">");
        h.Append(CultureInfo.InvariantCulture, $"<figcaption>{E(caption)}</figcaption></figure>");
    }

    /// <summary>The thumbnail's path relative to the page, made once per image and kept for later reports.</summary>
    private async Task<string?> ThumbnailAsync(string sha256, CancellationToken ct)
    {
        _thumbnails++;
        return await _thumbs!.GetAsync(sha256, ct);
    }
}
