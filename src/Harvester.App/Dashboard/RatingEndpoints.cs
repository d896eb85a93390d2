using System.Globalization;
using System.Net;
using System.Text;
using Harvester.App.Report;
using Harvester.Cluster;
using Harvester.Core;
using Harvester.Data;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Harvester.App.Dashboard;

/// <summary>A rating as the page posts it.</summary>
public sealed record RatingRequest(long Run, int Cluster, int Rating, string? Rater);

/// <summary>
/// Cluster rating on the dashboard, so runs, models and k can be compared the way people judge clusters: a page per
/// clustering run (/runs/{id}/rate) shows each cluster's photos and takes a 1–5 coherence rating with the rater's
/// name; /api/ratings stores it. Writes come only from the dashboard's own pages: a request whose Origin is another
/// site, or that is not JSON (what a cross-site form could send), is refused and nothing is stored.
/// </summary>
public sealed class RatingEndpoints(ClusterStore clusters, IBlobStore blobs, IOptions<StorageOptions> storage)
{
    private const int SamplePerCluster = 8;

    public void Map(WebApplication app)
    {
        var thumbs = new Thumbnails(blobs, Path.Combine(storage.Value.ResolveOutputRoot(), "thumbs"));
        app.MapGet("/thumbs/{prefix}/{file}", async (string prefix, string file, CancellationToken ct) =>
        {
            var sha = Path.GetFileNameWithoutExtension(file);
            if (!file.EndsWith(".jpg", StringComparison.Ordinal) || sha.Length != 64 || !sha.StartsWith(prefix, StringComparison.Ordinal)
                || await thumbs.GetAsync(sha, ct) is not { } relative)
            {
                return Results.NotFound();
            }

            return Results.File(Path.Combine(storage.Value.ResolveOutputRoot(), relative), "image/jpeg");
        });
        app.MapGet("/runs/{id:long}/rate", async (long id, CancellationToken ct) =>
        {
            RunInfo run;
            try
            {
                run = await clusters.RunAsync(id, ct);
            }
            catch (HarvesterException e)
            {
                return Results.Content($"<!doctype html><p>{WebUtility.HtmlEncode(e.Message)}</p>", "text/html; charset=utf-8", statusCode: 404);
            }

            var members = await clusters.MembersAsync(id, ct);
            var ratings = await clusters.RatingsAsync(id, ct);
            return Results.Content(Page(run, members, ratings), "text/html; charset=utf-8");
        });
        app.MapGet("/api/runs/{id:long}/ratings", async (long id, CancellationToken ct) =>
            Results.Json((await clusters.RatingsAsync(id, ct)).Select(r => new { cluster = r.Cluster, size = r.Size, mean = r.Mean, ratings = r.Ratings })));
        app.MapPost("/api/ratings", async (HttpContext http, CancellationToken ct) =>
        {
            if (!SameOrigin(http.Request))
            {
                return Results.Problem("Ratings are taken only from the dashboard's own pages.", statusCode: StatusCodes.Status403Forbidden);
            }

            if (!http.Request.HasJsonContentType())
            {
                return Results.Problem("Send the rating as JSON.", statusCode: StatusCodes.Status415UnsupportedMediaType);
            }

            RatingRequest? r;
            try
            {
                r = await http.Request.ReadFromJsonAsync<RatingRequest>(ct);
            }
            catch (System.Text.Json.JsonException)
            {
                return Results.Problem("The rating is not valid JSON.", statusCode: StatusCodes.Status400BadRequest);
            }

            var rater = r?.Rater?.Trim() ?? "";
            if (r is null || r.Rating is < 1 or > 5)
            {
                return Results.Problem("rating must be 1 to 5.", statusCode: StatusCodes.Status400BadRequest);
            }

            if (rater.Length is 0 or > 100)
            {
                return Results.Problem("rater must be a name of 1 to 100 characters.", statusCode: StatusCodes.Status400BadRequest);
            }

            if (!await clusters.RateAsync(r.Run, r.Cluster, rater, r.Rating, ct))
            {
                return Results.Problem($"Run {r.Run} has no cluster {r.Cluster}.", statusCode: StatusCodes.Status404NotFound);
            }

            var row = (await clusters.RatingsAsync(r.Run, ct)).Single(x => x.Cluster == r.Cluster);
            return Results.Json(new { cluster = row.Cluster, mean = row.Mean, ratings = row.Ratings });
        });
    }

    /// <summary>A browser sends Origin on every POST; it must name this very host (scheme, host and port).</summary>
    private static bool SameOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0 || !Uri.TryCreate(origin, UriKind.Absolute, out var o))
        {
            return false;
        }

        var site = request.Headers["Sec-Fetch-Site"].ToString();
        return (site.Length == 0 || site == "same-origin")
            && string.Equals(o.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(o.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    private static string Page(RunInfo run, Dictionary<int, List<(long ImageId, double Distance, string Sha256)>> members, List<(int Cluster, int Size, double? Mean, int Ratings)> ratings)
    {
        static string E(string? s) => WebUtility.HtmlEncode(s ?? "");
        var inv = CultureInfo.InvariantCulture;
        var rated = ratings.Where(r => r.Mean is not null).ToList();
        var h = new StringBuilder();
        h.Append(inv, $"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Rate run {run.Id}</title><style>");
        h.Append("body{font-family:system-ui,sans-serif;margin:1.5em}.cluster{border:1px solid #ddd;padding:8px;margin:10px 0}.strip img{width:150px;height:112px;object-fit:contain;background:#f3f3f3;margin:2px}");
        h.Append("label{margin-right:.6em}.saved{color:#2a8}.error{color:#b33}</style></head><body>");
        h.Append(inv, $"<h1>Rate the clusters of run {run.Id}</h1><p>{E(run.Model)}, k = {run.K}, {run.Metrics.Images} images. How coherent does each cluster look? 1 = a mix of unrelated photos, 5 = clearly one kind of photo.</p>");
        h.Append(inv, $"<p id=\"summary\">Run mean: {(rated.Count == 0 ? "not rated yet" : rated.Average(r => r.Mean!.Value).ToString("F2", inv) + $" over {rated.Count} rated clusters")}.</p>");
        h.Append("<p><label>Your name <input id=\"rater\" maxlength=\"100\" autocomplete=\"name\"></label></p>");
        foreach (var (cluster, size, mean, count) in ratings)
        {
            h.Append(inv, $"<div class=\"cluster\" id=\"c{cluster}\"><h3>Cluster {cluster} ({size} images)</h3><div class=\"strip\">");
            foreach (var m in members.GetValueOrDefault(cluster, []).Take(SamplePerCluster))
            {
                h.Append(inv, $"<img loading=\"lazy\" src=\"/thumbs/{m.Sha256[..2]}/{m.Sha256}.jpg\" alt=\"image {m.ImageId}\">");
            }

            h.Append("</div><div>");
            for (var score = 1; score <= 5; score++)
            {
                h.Append(inv, $"<label><input type=\"radio\" name=\"r{cluster}\" value=\"{score}\"> {score}</label>");
            }

            h.Append(inv, $"<button data-cluster=\"{cluster}\">Save</button> <span class=\"status\" id=\"s{cluster}\">{(count == 0 ? "no ratings yet" : $"mean {mean!.Value.ToString("F2", inv)} from {count}")}</span></div></div>");
        }

        h.Append(inv, $$"""
            <script>
            const run = {{run.Id}};
            const rater = document.getElementById('rater');
            rater.value = localStorage.getItem('harvester.rater') || '';
            rater.addEventListener('change', () => localStorage.setItem('harvester.rater', rater.value));
            for (const button of document.querySelectorAll('button[data-cluster]')) {
              button.addEventListener('click', async () => {
                const cluster = Number(button.dataset.cluster);
                const status = document.getElementById('s' + cluster);
                const picked = document.querySelector(`input[name="r${cluster}"]:checked`);
                if (!picked || !rater.value.trim()) { status.textContent = 'pick a rating and give your name'; status.className = 'status error'; return; }
                const response = await fetch('/api/ratings', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                  body: JSON.stringify({ run, cluster, rating: Number(picked.value), rater: rater.value.trim() }) });
                if (response.ok) {
                  const r = await response.json();
                  status.textContent = `saved; mean ${r.mean.toFixed(2)} from ${r.ratings}`; status.className = 'status saved';
                } else {
                  status.textContent = (await response.json()).detail || response.statusText; status.className = 'status error';
                }
              });
            }
            </script></body></html>
            """);
        return h.ToString();
    }
}
