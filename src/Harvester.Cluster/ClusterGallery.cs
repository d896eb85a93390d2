using System.Globalization;
using System.Net;
using System.Text;
using Harvester.Core;
using Harvester.Data;
using Harvester.Imaging.Rendering;
using Microsoft.Extensions.Options;
using OpenCvSharp;

namespace Harvester.Cluster;

/// <summary>
/// What a person looks at to judge a run, under &lt;output&gt;/clusters/run-&lt;id&gt;/: one contact sheet per cluster
/// (the members nearest the centroid, then seeded random members), index.html, a 2-D PCA map coloured by cluster
/// (pca.png), and the TensorFlow Embedding Projector pair vectors.tsv + metadata.tsv.
/// </summary>
public sealed class ClusterGallery(ClusterStore store, IBlobStore blobs, IOptions<StorageOptions> storage, IOptions<ClusteringOptions> options)
{
    public string DirectoryFor(long runId) => DirectoryFor(storage.Value.ResolveOutputRoot(), runId);

    /// <summary>Where run <paramref name="runId"/>'s gallery lives under an output folder.</summary>
    public static string DirectoryFor(string outputRoot, long runId) =>
        Path.Combine(outputRoot, "clusters", "run-" + runId.ToString(CultureInfo.InvariantCulture));

    public async Task<string> WriteAsync(long runId, CancellationToken ct)
    {
        var o = options.Value;
        var run = await store.RunAsync(runId, ct);
        var dir = DirectoryFor(runId);
        Directory.CreateDirectory(dir);

        var members = (await store.MembersAsync(runId, ct)).ToDictionary(kv => kv.Key, kv => kv.Value.Select(m => new Member(m.ImageId, m.Distance, m.Sha256)).ToList());
        var sheets = new List<(int Cluster, int Size, string File)>();
        for (var c = 0; c < run.K; c++)
        {
            var all = members.GetValueOrDefault(c) ?? [];
            if (all.Count == 0)
            {
                continue;
            }

            var nearest = all.OrderBy(m => m.Distance).ThenBy(m => m.ImageId).Take(o.GalleryNearest).ToList();
            var rest = all.Except(nearest).ToArray();
            new Random(HashCode.Combine(runId, c)).Shuffle(rest);
            var random = rest.Take(o.GalleryRandom).OrderBy(m => m.ImageId).ToList();
            var tiles = new List<(byte[] Image, string Caption)>();
            foreach (var (m, kind) in nearest.Select(m => (m, "near")).Concat(random.Select(m => (m, "rand"))))
            {
                var bytes = blobs.Exists(m.Sha256) ? await blobs.ReadAsync(m.Sha256, ct) : [];
                tiles.Add((bytes, string.Create(CultureInfo.InvariantCulture, $"{kind} #{m.ImageId} d={m.Distance:F3}")));
            }

            var file = $"cluster-{c:D3}.png";
            var title = string.Create(CultureInfo.InvariantCulture, $"run {runId} cluster {c}: {all.Count} images ({nearest.Count} nearest the centroid, {random.Count} random)");
            var png = ContactSheet.Render(tiles, Math.Min(o.GalleryColumns, tiles.Count), o.GalleryTileSize, title);
            await File.WriteAllBytesAsync(Path.Combine(dir, file), png, ct);
            sheets.Add((c, all.Count, file));
        }

        var (ids, vectors, labels, distances) = await ProjectorVectorsAsync(store, run, o.ProjectorMaxPoints, ct);
        await WriteProjectorAsync(dir, ids, vectors, labels, distances, members, ct);
        double[]? variance = null;
        if (vectors.Rows >= 2)
        {
            if (run.Parameters.Normalize == true)
            {
                ClusteringService.NormalizeRows(vectors);
            }

            var pca = Pca.Fit(vectors, Math.Min(2, vectors.Dimension), seed: 0, ct: ct);
            var points = pca.Transform(vectors);
            variance = pca.ExplainedVariance.Select(v => pca.TotalVariance > 0 ? v / pca.TotalVariance : 0).ToArray();
            await File.WriteAllBytesAsync(Path.Combine(dir, "pca.png"), Scatter(points, labels, run.K, runId, variance), ct);
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "index.html"), Html(run, sheets, variance), Encoding.UTF8, ct);
        return dir;
    }

    internal sealed record Member(long ImageId, double Distance, string Sha256);

    private static async Task<(long[] Ids, VectorMatrix Vectors, int[] Labels, double[] Distances)> ProjectorVectorsAsync(
        ClusterStore store, RunInfo run, int max, CancellationToken ct)
    {
        var rows = (await store.ProjectorRowsAsync(run, max, ct)).Select(r => (r.Id, V: r.Vector, L: r.Cluster, D: r.Distance)).ToList();
        rows.Sort((a, b) => a.Id.CompareTo(b.Id));
        if (rows.Count == 0)
        {
            return ([], new VectorMatrix(0, 1), [], []);
        }

        return ([.. rows.Select(x => x.Id)], VectorMatrix.FromRows([.. rows.Select(x => x.V)]), [.. rows.Select(x => x.L)], [.. rows.Select(x => x.D)]);
    }

    private static async Task WriteProjectorAsync(string dir, long[] ids, VectorMatrix vectors, int[] labels, double[] distances,
        Dictionary<int, List<Member>> members, CancellationToken ct)
    {
        var sha = members.Values.SelectMany(m => m).ToDictionary(m => m.ImageId, m => m.Sha256);
        var v = new StringBuilder();
        var meta = new StringBuilder("image_id\tcluster\tdistance\tsha256\n");
        for (var i = 0; i < ids.Length; i++)
        {
            DelimitedText.AppendTsvRow(v, [.. vectors.Row(i).ToArray().Select(x => x.ToString("R", CultureInfo.InvariantCulture))]);
            DelimitedText.AppendTsvRow(meta, ids[i].ToString(CultureInfo.InvariantCulture), labels[i].ToString(CultureInfo.InvariantCulture),
                distances[i].ToString("F6", CultureInfo.InvariantCulture), sha.GetValueOrDefault(ids[i], ""));
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "vectors.tsv"), v.ToString(), ct);
        await File.WriteAllTextAsync(Path.Combine(dir, "metadata.tsv"), meta.ToString(), ct);
    }

    internal static Scalar Colour(int cluster, int k)
    {
        // Evenly spaced hues (golden-ratio stepping keeps neighbours apart when k is large).
        var hue = (int)(cluster * 0.618033988749895 % 1.0 * 180);
        using var hsv = new Mat(1, 1, MatType.CV_8UC3, new Scalar(hue, 200, k > 0 ? 210 : 0));
        using var bgr = new Mat();
        Cv2.CvtColor(hsv, bgr, ColorConversionCodes.HSV2BGR);
        var px = bgr.At<Vec3b>(0, 0);
        return new Scalar(px.Item0, px.Item1, px.Item2);
    }

    private static byte[] Scatter(VectorMatrix points, int[] labels, int k, long runId, double[] variance)
    {
        const int size = 900, pad = 50;
        using var img = new Mat(size, size, MatType.CV_8UC3, Scalar.White);
        float minX = float.MaxValue, maxX = float.MinValue, minY = float.MaxValue, maxY = float.MinValue;
        for (var i = 0; i < points.Rows; i++)
        {
            var p = points.Row(i);
            var y = p.Length > 1 ? p[1] : 0;
            minX = Math.Min(minX, p[0]);
            maxX = Math.Max(maxX, p[0]);
            minY = Math.Min(minY, y);
            maxY = Math.Max(maxY, y);
        }

        var spanX = Math.Max(1e-9f, maxX - minX);
        var spanY = Math.Max(1e-9f, maxY - minY);
        var radius = points.Rows > 5000 ? 2 : 4;
        for (var i = 0; i < points.Rows; i++)
        {
            var p = points.Row(i);
            var y = p.Length > 1 ? p[1] : 0;
            var px = pad + (int)((p[0] - minX) / spanX * (size - 2 * pad));
            var py = size - pad - (int)((y - minY) / spanY * (size - 2 * pad));
            Cv2.Circle(img, new Point(px, py), radius, Colour(labels[i], k), -1, LineTypes.AntiAlias);
        }

        Cv2.Rectangle(img, new Rect(pad, pad, size - 2 * pad, size - 2 * pad), new Scalar(160, 160, 160), 1);
        var title = string.Create(CultureInfo.InvariantCulture, $"run {runId}: {points.Rows} images, k = {k}, PCA");
        TextPainter.Draw(img, title, new Point(pad, 32), 20f, size - 2 * pad, Scalar.Black);
        var axes = string.Create(CultureInfo.InvariantCulture, $"PC1 {variance.ElementAtOrDefault(0):P1} of variance, PC2 {variance.ElementAtOrDefault(1):P1}");
        TextPainter.Draw(img, axes, new Point(pad, size - 15), 16f, size - 2 * pad, Scalar.Black);
        Cv2.ImEncode(".png", img, out var png);
        return png;
    }

    private static string Html(RunInfo run, List<(int Cluster, int Size, string File)> sheets, double[]? variance)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var h = new StringBuilder();
        h.Append(CultureInfo.InvariantCulture, $"<!doctype html><html><head><meta charset=\"utf-8\"><title>Clustering run {run.Id}</title>");
        h.Append("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:100%}</style></head><body>");
        h.Append(CultureInfo.InvariantCulture, $"<h1>Clustering run {run.Id}</h1><p>model {E(run.Model)}, scope {E(run.Scope)}, k = {run.K}</p>");
        h.Append("<h2>Metrics</h2><table>");
        foreach (var (key, value) in run.Metrics.Figures())
        {
            h.Append(CultureInfo.InvariantCulture, $"<tr><th>{key}</th><td>{E(value)}</td></tr>");
        }

        h.Append("</table>");
        if (run.Metrics.Drift is { } drift)
        {
            h.Append(CultureInfo.InvariantCulture, $"<p>Drift since run {drift.PreviousRunId}: {drift.Moved} of {drift.Common} images changed cluster, {drift.Added} new, {drift.Removed} gone, ARI {drift.AdjustedRandIndex:F4}</p>");
        }

        if (run.Metrics.Sweep.Count > 0)
        {
            h.Append("<h2>k sweep</h2><table><tr><th>k</th><th>inertia</th><th>silhouette</th></tr>");
            foreach (var p in run.Metrics.Sweep)
            {
                h.Append(CultureInfo.InvariantCulture, $"<tr><td>{p.K}</td><td>{p.Inertia:F3}</td><td>{p.Silhouette:F4}</td></tr>");
            }

            h.Append("</table>");
        }

        if (variance is not null)
        {
            h.Append("<h2>Map (PCA)</h2><img src=\"pca.png\" alt=\"PCA map coloured by cluster\">");
        }

        h.Append("<p>Embedding Projector files: <a href=\"vectors.tsv\">vectors.tsv</a>, <a href=\"metadata.tsv\">metadata.tsv</a> (load both at projector.tensorflow.org).</p>");
        h.Append("<h2>Clusters</h2>");
        foreach (var (c, size, file) in sheets)
        {
            h.Append(CultureInfo.InvariantCulture, $"<h3 id=\"c{c}\">Cluster {c} ({size} images)</h3><img src=\"{file}\" alt=\"cluster {c}\">");
        }

        h.Append("</body></html>\n");
        return h.ToString();
    }
}
