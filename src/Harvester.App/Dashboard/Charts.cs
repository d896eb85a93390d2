using System.Globalization;
using System.Net;
using System.Text;

namespace Harvester.App.Dashboard;

/// <summary>
/// Self-contained SVG charts for the dashboard: no script and no CDN, so the page works offline and behind any proxy,
/// and what a chart shows is fixed by the server (testable as markup). Lines for rates and depths, stacked areas for
/// shares of a whole (verdicts, reject reasons).
/// </summary>
public static class Charts
{
    private const int Width = 560, Height = 190, Left = 46, Right = 10, Top = 10, Bottom = 24;

    /// <summary>Colour-blind-safe palette (Okabe–Ito), in order.</summary>
    private static readonly string[] Palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#999999"];

    private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    public static string Lines(string id, string title, SeriesSnapshot s, IReadOnlyList<Series> series, string unit) =>
        Chart(id, title, s, series, unit, stacked: false);

    public static string Stacked(string id, string title, SeriesSnapshot s, IReadOnlyList<Series> series, string unit) =>
        Chart(id, title, s, series, unit, stacked: true);

    private static string Chart(string id, string title, SeriesSnapshot s, IReadOnlyList<Series> series, string unit, bool stacked)
    {
        var n = s.Buckets.Count;
        var tops = new double[n];
        for (var i = 0; i < n; i++)
        {
            tops[i] = stacked ? series.Sum(x => x.Values[i]) : series.Select(x => x.Values[i]).DefaultIfEmpty(0).Max();
        }

        var max = Nice(tops.DefaultIfEmpty(0).Max());
        double X(int i) => Left + ((Width - Left - Right) * (n <= 1 ? 0 : (double)i / (n - 1)));
        double Y(double v) => Top + ((Height - Top - Bottom) * (1 - (v / max)));

        var h = new StringBuilder();
        var total = series.Sum(x => x.Values.Sum());
        h.Append(CultureInfo.InvariantCulture,
            $"<figure class=\"chart\"><figcaption>{WebUtility.HtmlEncode(title)}</figcaption><svg class=\"chart\" data-chart=\"{id}\" data-total=\"{F(total)}\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" role=\"img\" aria-label=\"{WebUtility.HtmlEncode(title)}\" xmlns=\"http://www.w3.org/2000/svg\">");

        // Grid and axes: four horizontal lines with their values, time labels at the ends and the middle (UTC).
        for (var g = 0; g <= 4; g++)
        {
            var v = max * g / 4;
            h.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{F(Y(v))}\" y2=\"{F(Y(v))}\" stroke=\"#e5e5e5\"/>");
            h.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 4}\" y=\"{F(Y(v) + 4)}\" text-anchor=\"end\" font-size=\"10\" fill=\"#666\">{Short(v)}</text>");
        }

        foreach (var i in new[] { 0, n / 2, n - 1 }.Distinct().Where(i => i >= 0 && i < n))
        {
            var anchor = i == 0 ? "start" : i == n - 1 ? "end" : "middle";
            h.Append(CultureInfo.InvariantCulture,
                $"<text x=\"{F(X(i))}\" y=\"{Height - 8}\" text-anchor=\"{anchor}\" font-size=\"10\" fill=\"#666\">{s.Buckets[i].UtcDateTime:HH:mm}</text>");
        }

        var below = new double[n];
        for (var k = 0; k < series.Count; k++)
        {
            var colour = Palette[k % Palette.Length];
            var values = series[k].Values;
            var name = WebUtility.HtmlEncode(series[k].Name);
            if (stacked)
            {
                var upper = Enumerable.Range(0, n).Select(i => below[i] + values[i]).ToArray();
                var path = new StringBuilder("M");
                for (var i = 0; i < n; i++)
                {
                    path.Append(CultureInfo.InvariantCulture, $"{F(X(i))},{F(Y(upper[i]))} L");
                }

                for (var i = n - 1; i >= 0; i--)
                {
                    path.Append(CultureInfo.InvariantCulture, $"{F(X(i))},{F(Y(below[i]))}{(i > 0 ? " L" : " Z")}");
                }

                h.Append(CultureInfo.InvariantCulture, $"<path class=\"series\" data-series=\"{name}\" d=\"{path}\" fill=\"{colour}\" fill-opacity=\"0.75\" stroke=\"none\"><title>{name}: {F(values.Sum())} {WebUtility.HtmlEncode(unit)}</title></path>");
                below = upper;
            }
            else
            {
                var points = string.Join(' ', Enumerable.Range(0, n).Select(i => $"{F(X(i))},{F(Y(values[i]))}"));
                h.Append(CultureInfo.InvariantCulture, $"<polyline class=\"series\" data-series=\"{name}\" points=\"{points}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\"><title>{name}</title></polyline>");
            }
        }

        h.Append("</svg><div class=\"legend\">");
        for (var k = 0; k < series.Count; k++)
        {
            // Stacked charts count things in the window; line charts show where each line stands now.
            var sum = stacked ? F(series[k].Values.Sum()) : F(series[k].Values.LastOrDefault());
            h.Append(CultureInfo.InvariantCulture,
                $"<span><i style=\"background:{Palette[k % Palette.Length]}\"></i>{WebUtility.HtmlEncode(series[k].Name)} <b>{sum}</b></span>");
        }

        h.Append(CultureInfo.InvariantCulture, $"<span class=\"muted\">{WebUtility.HtmlEncode(unit)}; {(stacked ? "totals in the window" : "latest value")}; {F(s.Bucket.TotalSeconds)} s buckets, UTC</span></div></figure>");
        return h.ToString();
    }

    /// <summary>The axis top: 1, 2 or 5 times a power of ten at or above <paramref name="v"/> (at least 1).</summary>
    internal static double Nice(double v)
    {
        if (v <= 1)
        {
            return 1;
        }

        var p = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var m in new[] { 1.0, 2, 5, 10 })
        {
            if (m * p >= v)
            {
                return m * p;
            }
        }

        return 10 * p;
    }

    private static string Short(double v) =>
        v >= 1_000_000 ? F(v / 1_000_000) + "M" : v >= 10_000 ? F(v / 1000) + "k" : F(v);
}
