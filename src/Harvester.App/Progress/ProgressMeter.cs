using System.Globalization;
using Harvester.Core.Stages;

namespace Harvester.App.Progress;

/// <summary>
/// The latest report of one stage with its rate and ETA. The rate is measured over the last
/// <see cref="Window"/> of reports (the whole run while it is younger), so a stage that slows down shows it soon,
/// and one slow batch does not swing the ETA.
/// </summary>
internal sealed class ProgressMeter(string stage, TimeProvider time)
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(30);

    private readonly Queue<(long At, long Done)> _samples = new();
    private readonly long _started = time.GetTimestamp();

    public string Stage => stage;

    public StageProgress Last { get; private set; } = new(stage, 0, null);

    /// <summary>Bumped on every report; the plain-line renderer prints a stage again only when it moved.</summary>
    public long Version { get; private set; }

    public void Update(StageProgress p)
    {
        var now = time.GetTimestamp();
        if (p.Phase != Last.Phase)
        {
            // A new step counts other things: its rate starts afresh.
            _samples.Clear();
        }

        if (p != Last)
        {
            Version++;
        }

        Last = p;
        _samples.Enqueue((now, p.Done));
        while (_samples.Count > 2 && time.GetElapsedTime(_samples.Peek().At, now) > Window)
        {
            _samples.Dequeue();
        }
    }

    public TimeSpan Elapsed => time.GetElapsedTime(_started);

    /// <summary>Units per second over the window, null until there are two reports a moment apart.</summary>
    public double? Rate
    {
        get
        {
            if (Last.Finished)
            {
                // A finished stage: its average over the run, rather than a window that has gone quiet.
                var all = Elapsed.TotalSeconds;
                return all < 0.2 ? null : Last.Done / all;
            }

            if (_samples.Count < 2)
            {
                return null;
            }

            var (firstAt, firstDone) = _samples.Peek();
            var span = time.GetElapsedTime(firstAt, time.GetTimestamp()).TotalSeconds;
            return span < 0.2 ? null : (Last.Done - firstDone) / span;
        }
    }

    /// <summary>Time left at the current rate; null when the total or the rate is unknown, or nothing moves.</summary>
    public TimeSpan? Eta => Last.Total is { } total && Rate is > 0 and var rate
        ? TimeSpan.FromSeconds(Math.Max(0, total - Last.Done) / rate)
        : null;

    /// <summary>One line for logs and redirected output: no control characters, every figure labelled.</summary>
    public string Line()
    {
        var p = Last;
        var inv = CultureInfo.InvariantCulture;
        var name = p.Phase is null ? p.Stage : $"{p.Stage}: {p.Phase}";
        var counts = p.Total is { } t
            ? string.Create(inv, $"{p.Done:N0}/{t:N0} {p.Unit} ({(t == 0 ? 100 : 100.0 * p.Done / t):F1}%)")
            : string.Create(inv, $"{p.Done:N0} {p.Unit}");
        var rate = Rate is { } r ? string.Create(inv, $", {FormatRate(r)} {p.Unit}/s") : "";
        var eta = p.Finished ? ", done" : Eta is { } e ? ", ETA " + FormatDuration(e) : "";
        return $"[{name}] {counts}{rate}{eta}, elapsed {FormatDuration(Elapsed)}";
    }

    public static string FormatRate(double r) => r.ToString(r >= 100 ? "F0" : r >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);

    public static string FormatDuration(TimeSpan d) =>
        d.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)d.TotalHours}h{d.Minutes:D2}m")
        : d.TotalMinutes >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)d.TotalMinutes}m{d.Seconds:D2}s")
        : string.Create(CultureInfo.InvariantCulture, $"{d.TotalSeconds:F0}s");
}
