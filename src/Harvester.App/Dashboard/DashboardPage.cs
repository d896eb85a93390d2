using System.Globalization;
using System.Net;
using System.Text;

namespace Harvester.App.Dashboard;

/// <summary>The dashboard's one HTML page and its Prometheus metrics, both rendered from a <see cref="StatusSnapshot"/>.</summary>
public static class DashboardPage
{
    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static string T(DateTimeOffset? t) => t?.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";

    private static string Duration(DateTimeOffset? start, DateTimeOffset? end, DateTimeOffset now)
    {
        if (start is null)
        {
            return "";
        }

        var d = (end ?? now) - start.Value;
        return d.TotalHours >= 1 ? $"{(int)d.TotalHours}h {d.Minutes:D2}m" : d.TotalMinutes >= 1 ? $"{(int)d.TotalMinutes}m {d.Seconds:D2}s" : $"{d.TotalSeconds:F0}s";
    }

    /// <summary>
    /// The page. It refreshes itself every <paramref name="refresh"/>: a few lines of inline script fetch the page again
    /// and swap its live part in place (scroll position kept); without script, a meta refresh reloads it.
    /// </summary>
    public static string Html(StatusSnapshot s, SeriesSnapshot? series, TimeSpan refresh)
    {
        var h = new StringBuilder();
        var seconds = (int)Math.Max(1, refresh.TotalSeconds);
        h.Append(CultureInfo.InvariantCulture, $$"""
            <!doctype html><html lang="en"><head><meta charset="utf-8"><noscript><meta http-equiv="refresh" content="{{seconds}}"></noscript>
            <title>Harvester — {{E(s.Database)}}</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:1.5em;color:#222} h1{font-size:1.3em} h2{font-size:1.05em;margin-top:1.6em}
            table{border-collapse:collapse;margin:.4em 0} td,th{border:1px solid #ddd;padding:3px 9px} th{background:#f4f4f4;text-align:left}
            td.n{text-align:right;font-variant-numeric:tabular-nums} .bad{color:#b00} .ok{color:#070} .muted{color:#888}
            .cards{display:flex;gap:1em;flex-wrap:wrap} .card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;min-width:8em}
            .card b{display:block;font-size:1.4em}
            .charts{display:flex;flex-wrap:wrap;gap:1.2em} figure.chart{margin:0} figcaption{font-weight:600;margin-bottom:.2em}
            .legend{font-size:.85em;display:flex;flex-wrap:wrap;gap:.2em 1em;max-width:560px} .legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:-1px}
            .alive{color:#070} .silent{color:#a60} .gone{color:#b00}
            </style>
            <script>
            // Refresh in place: fetch this page again and swap its live part; a failed fetch keeps the last view.
            setInterval(async () => {
              try {
                const r = await fetch(location.href, { credentials: 'same-origin', cache: 'no-store' });
                if (!r.ok) return;
                const next = new DOMParser().parseFromString(await r.text(), 'text/html').getElementById('live');
                if (next) document.getElementById('live').replaceWith(next);
              } catch (e) { }
            }, {{seconds * 1000}});
            </script></head><body><main id="live">
            <h1>Harvester pipeline — database {{E(s.Database)}}</h1>
            <p class="muted">As of <time datetime="{{s.At.ToUniversalTime():O}}">{{T(s.At)}}</time> UTC; refreshes every {{seconds}} s. JSON: <a href="api/status">api/status</a>, <a href="api/series">api/series</a>; Prometheus: <a href="metrics">metrics</a>.</p>
            """);

        // Counts per stage, in pipeline order.
        long Count(string status) => s.Images.FirstOrDefault(c => c.Key == status)?.Count ?? 0;
        h.Append("<div class=\"cards\">");
        foreach (var (label, value) in new[]
                 {
                     ("photos stored", s.Images.Sum(c => c.Count)),
                     ("waiting to curate", Count("fetched")),
                     ("accepted", Count("accepted")),
                     ("rejected", Count("rejected")),
                     ("duplicates", Count("duplicate")),
                 }.Concat(s.Models.Select(m => ($"vectors {m.Name}:{m.Version}", m.Vectors))))
        {
            h.Append(CultureInfo.InvariantCulture, $"<div class=\"card\" data-card=\"{E(label)}\"><b data-value=\"{value}\">{N(value)}</b>{E(label)}</div>");
        }

        h.Append("</div>");

        if (series is not null)
        {
            // Rates per minute whatever the bucket width, so the axes read the same for any window.
            var perMinute = 60 / series.Bucket.TotalSeconds;
            IReadOnlyList<Series> Scale(IEnumerable<Series> xs) => [.. xs.Select(x => x with { Values = [.. x.Values.Select(v => v * perMinute)] })];
            h.Append("<h2>Over the last ").Append(Window(series)).Append("</h2><div class=\"charts\">");
            h.Append(Charts.Lines("throughput", "Throughput per stage", series, Scale(series.Throughput), "items per minute"));
            h.Append(Charts.Stacked("verdicts", "Curation verdicts", series, series.Verdicts, "images"));
            h.Append(Charts.Stacked("reasons", "Reject reasons", series, series.RejectReasons, "rejections"));
            h.Append(Charts.Lines("queues", "Queue depth per stage", series, series.QueueDepth, "items waiting"));
            h.Append("</div>");
        }

        Section(h, "Workers", s.Workers, "No worker has registered (<code>harvester worker</code>); commands do not register.",
            ["worker", "state", "version", "stages", "started", "last beat", "interval", "items done", ""],
            w => $"<td><code>{E(w.Id)}</code></td><td class=\"{w.State.ToString().ToLowerInvariant()}\" data-state=\"{w.State.ToString().ToLowerInvariant()}\">{w.State.ToString().ToLowerInvariant()}</td>" +
                 $"<td>{E(w.Version)}</td><td>{E(string.Join(", ", w.Stages))}</td><td>{T(w.StartedAt)}</td><td>{T(w.LastBeatAt)}</td>" +
                 $"<td class=\"n\">{w.HeartbeatInterval.TotalSeconds:0.#} s</td><td class=\"n\">{N(w.ItemsDone)}</td><td class=\"muted\">{E(w.Why)}</td>",
            $"Alive: beat within one interval plus a margin. Silent: missed a beat. Gone: stopped, no longer running on this machine, or no beat for {Data.Stages.WorkerRegistry.GoneAfterBeats} intervals; its leases are orphaned and the next claim takes them back.");

        Section(h, "Crawl jobs", s.Jobs, "No crawl jobs yet (<code>harvester crawl</code>).",
            ["id", "site", "name", "status", "pages", "places", "products", "photos found", "stored", "failed items", "started", "took"],
            j => $"<td class=\"n\">{j.Id}</td><td>{E(j.Site)}</td><td>{E(j.Name)}</td>" +
                 $"<td class=\"{j.Status switch { "failed" => "bad", "completed" => "ok", _ => "" }}\" title=\"{E(j.Error)}\" data-field=\"status\">{E(j.Status)}</td>" +
                 // data-field/data-value let scripts and tests read a job's counters without parsing formatted numbers.
                 string.Concat(new (string Field, long Value)[] { ("pages", j.PagesVisited), ("places", j.Places), ("products", j.Products), ("photos-found", j.PhotosFound), ("stored", j.PhotosStored), ("failures", j.Failures) }
                     .Select(v => $"<td class=\"n\" data-field=\"{v.Field}\" data-value=\"{v.Value}\">{N(v.Value)}</td>")) +
                 $"<td>{T(j.StartedAt)}</td><td class=\"n\">{Duration(j.StartedAt, j.FinishedAt, s.At)}</td>");
        Section(h, "Crawl frontier", s.Frontier, "Empty.", ["state", "count"], c => $"<td>{E(c.Key)}</td><td class=\"n\">{N(c.Count)}</td>");
        Section(h, "Why photos were rejected", s.RejectReasons, "No rejections.", ["reason", "count"], c => $"<td>{E(c.Key)}</td><td class=\"n\">{N(c.Count)}</td>");
        Section(h, "Stage work in flight", s.Leases, "No leases held: every stage is idle or finished.",
            ["stage", "leased now", "of which orphaned", "lease expired", "most attempts"],
            l => $"<td data-field=\"stage\">{E(l.Stage)}</td><td class=\"n\">{N(l.InFlight)}</td><td class=\"n{(l.Orphaned > 0 ? " bad" : "")}\" data-field=\"orphaned\" data-value=\"{l.Orphaned}\">{N(l.Orphaned)}</td>" +
                 $"<td class=\"n{(l.Expired > 0 ? " bad" : "")}\">{N(l.Expired)}</td><td class=\"n\">{l.MaxAttempts}</td>",
            "Orphaned leases are held by a worker that is gone; the next claim of any worker takes them back. Expired leases belong to items whose worker died or failed them; they are retried until their attempts run out.");
        Section(h, "Clustering runs", s.Runs, "No runs yet (<code>harvester cluster</code>).",
            ["run", "model", "k", "status", "images", "silhouette", "started", "took", "gallery"],
            r => $"<td class=\"n\">{r.Id}</td><td>{E(r.Model)}</td><td class=\"n\">{r.K}</td>" +
                 $"<td class=\"{(r.Status == "failed" || r.OwnerGone ? "bad" : "")}\" title=\"{E(r.Error)}\">{E(r.Status)}{(r.OwnerGone ? " (its process is gone; the next run marks it failed)" : "")}</td>" +
                 $"<td class=\"n\">{(r.Images is { } n ? N(n) : "")}</td><td class=\"n\">{r.Silhouette?.ToString("F3", CultureInfo.InvariantCulture)}</td>" +
                 $"<td>{T(r.StartedAt)}</td><td class=\"n\">{Duration(r.StartedAt, r.FinishedAt, s.At)}</td>" +
                 $"<td>{(r.Gallery is null ? "" : $"<a href=\"out/{E(r.Gallery)}\">clusters</a>")}</td>");
        Section(h, "Exports", s.Exports, "No exports under the output folder (<code>harvester export</code>).",
            ["folder", "written", "images", "splits", ""],
            x => $"<td>{E(x.Path)}</td><td>{T(x.CreatedAt)}</td><td class=\"n\">{N(x.Images)}</td><td>{E(x.Splits)}</td>" +
                 $"<td><a href=\"out/{E(x.Path)}/export.json\">report</a> · <a href=\"out/{E(x.Path)}/manifest.csv\">manifest</a></td>");

        h.Append("</main></body></html>");
        return h.ToString();
    }

    private static string Window(SeriesSnapshot s)
    {
        var w = s.Bucket * s.Buckets.Count;
        return w.TotalHours >= 1 ? $"{w.TotalHours:0.#} h" : $"{w.TotalMinutes:0} min";
    }

    /// <summary>A titled table, or a note when there are no rows. <paramref name="empty"/> is trusted HTML.</summary>
    private static void Section<T>(StringBuilder h, string title, IReadOnlyList<T> rows, string empty, string[] headers, Func<T, string> cells, string? note = null)
    {
        h.Append("<h2>").Append(E(title)).Append("</h2>");
        if (rows.Count == 0)
        {
            h.Append("<p class=\"muted\">").Append(empty).Append("</p>");
            return;
        }

        h.Append("<table><tr>").AppendJoin("", headers.Select(x => $"<th>{E(x)}</th>")).Append("</tr>");
        foreach (var row in rows)
        {
            h.Append("<tr>").Append(cells(row)).Append("</tr>");
        }

        h.Append("</table>");
        if (note is not null)
        {
            h.Append("<p class=\"muted\">").Append(E(note)).Append("</p>");
        }
    }

    /// <summary>Prometheus text exposition (version 0.0.4): gauges read from the snapshot.</summary>
    public static string Metrics(StatusSnapshot s)
    {
        var m = new StringBuilder();
        void Family(string name, string help, IEnumerable<(string Labels, long Value)> samples)
        {
            m.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            m.Append("# TYPE ").Append(name).Append(" gauge\n");
            foreach (var (labels, value) in samples)
            {
                m.Append(name).Append('{').Append(labels).Append("} ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        Family("harvester_images", "Images by pipeline status.", s.Images.Select(c => ($"status=\"{Label(c.Key)}\"", c.Count)));
        Family("harvester_reject_reasons", "Rejected images by reason (top 15).", s.RejectReasons.Select(c => ($"reason=\"{Label(c.Key)}\"", c.Count)));
        Family("harvester_frontier_items", "Crawl frontier items by state.", s.Frontier.Select(c => ($"state=\"{Label(c.Key)}\"", c.Count)));
        Family("harvester_stage_leases", "Stage work leases by stage and state.", s.Leases.SelectMany(l => new[]
        {
            ($"stage=\"{Label(l.Stage)}\",state=\"in_flight\"", l.InFlight),
            ($"stage=\"{Label(l.Stage)}\",state=\"expired\"", l.Expired),
        }));
        Family("harvester_embeddings", "Stored vectors per model.", s.Models.Select(x => ($"model=\"{Label(x.Name + ":" + x.Version)}\"", x.Vectors)));
        Family("harvester_stage_leases_orphaned", "Live stage leases held by gone workers.", s.Leases.Select(l => ($"stage=\"{Label(l.Stage)}\"", l.Orphaned)));
        Family("harvester_workers", "Registered workers by heartbeat state.", Enum.GetValues<Data.Stages.WorkerState>()
            .Select(st => ($"state=\"{st.ToString().ToLowerInvariant()}\"", (long)s.Workers.Count(w => w.State == st))));
        Family("harvester_crawl_jobs", "Recent crawl jobs by status.", s.Jobs.GroupBy(j => j.Status).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => ($"status=\"{Label(g.Key)}\"", (long)g.Count())));
        return m.ToString();
    }

    /// <summary>Escapes a Prometheus label value: backslash, double quote and newline.</summary>
    private static string Label(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
