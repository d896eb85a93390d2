using System.Text.RegularExpressions;
using Harvester.App.Progress;
using Harvester.Core.Stages;

namespace Harvester.App.Tests;

/// <summary>How progress is measured and written when nobody watches a terminal (a log file, CI).</summary>
public sealed partial class ProgressTests
{
    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero).AddTicks(_ticks);

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    [Fact]
    public void Rate_and_eta_come_from_the_recent_window_and_a_finished_stage_shows_its_average()
    {
        var time = new ManualTime();
        var meter = new ProgressMeter("curate", time);
        meter.Update(new StageProgress("curate", 0, 100, "images"));
        Assert.Null(meter.Rate);
        Assert.Null(meter.Eta);

        time.Advance(TimeSpan.FromSeconds(10));
        meter.Update(new StageProgress("curate", 50, 100, "images"));
        Assert.Equal(5.0, meter.Rate!.Value, 3);
        Assert.Equal(TimeSpan.FromSeconds(10), meter.Eta);
        Assert.StartsWith("[curate] 50/100 images (50.0%), 5.00 images/s, ETA 10s, elapsed 10s", meter.Line(), StringComparison.Ordinal);

        // A slow stretch (10 images in 40 s), then a fast one (20 in 10 s): once the slow stretch has left the 30 s
        // window, the rate is that of the fast one alone, not the run's average (80 in 60 s).
        time.Advance(TimeSpan.FromSeconds(40));
        meter.Update(new StageProgress("curate", 60, 100, "images"));
        Assert.Equal(10 / 40.0, meter.Rate!.Value, 3);
        time.Advance(TimeSpan.FromSeconds(10));
        meter.Update(new StageProgress("curate", 80, 100, "images"));
        Assert.Equal(2.0, meter.Rate!.Value, 3);
        Assert.Equal(TimeSpan.FromSeconds(10), meter.Eta);

        time.Advance(TimeSpan.FromSeconds(10));
        meter.Update(new StageProgress("curate", 100, 100, "images"));
        Assert.Equal(100 / 70.0, meter.Rate!.Value, 3);
        Assert.Contains("100/100 images (100.0%)", meter.Line(), StringComparison.Ordinal);
        Assert.Contains(", done,", meter.Line(), StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_totals_and_phases_are_written_as_such()
    {
        var time = new ManualTime();
        var meter = new ProgressMeter("cluster", time);
        meter.Update(new StageProgress("cluster", 3, null, "vectors", "load"));
        Assert.StartsWith("[cluster: load] 3 vectors", meter.Line(), StringComparison.Ordinal);
        Assert.DoesNotContain("ETA", meter.Line(), StringComparison.Ordinal);

        // A new phase counts other things: its rate starts afresh.
        time.Advance(TimeSpan.FromSeconds(5));
        meter.Update(new StageProgress("cluster", 1, 10, "k values", "k sweep"));
        Assert.Null(meter.Rate);
        time.Advance(TimeSpan.FromSeconds(5));
        meter.Update(new StageProgress("cluster", 3, 10, "k values", "k sweep"));
        Assert.Equal(0.4, meter.Rate!.Value, 3);
        Assert.Contains("[cluster: k sweep] 3/10 k values (30.0%), 0.40 k values/s, ETA 18s", meter.Line(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_lines_are_timestamped_free_of_control_characters_and_written_only_when_a_stage_moved()
    {
        var output = new StringWriter();
        var progress = ConsoleProgress.Start(new ProgressOptions { Mode = ProgressMode.Lines, Interval = TimeSpan.FromMilliseconds(50) }, output);
        Assert.Equal(ProgressMode.Lines, progress.Mode);
        progress.Report(new StageProgress("embed", 0, 40, "images"));
        await Task.Delay(300);
        progress.Report(new StageProgress("embed", 0, 40, "images")); // no change: no new line
        await Task.Delay(300);
        progress.Report(new StageProgress("embed", 40, 40, "images"));
        await progress.DisposeAsync();

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.Matches(Stamped(), l));
        Assert.Contains("[embed] 0/40 images (0.0%)", lines[0], StringComparison.Ordinal);
        Assert.Contains("[embed] 40/40 images (100.0%)", lines[1], StringComparison.Ordinal);
        Assert.Contains("done", lines[1], StringComparison.Ordinal);
        Assert.DoesNotContain('\x1b', output.ToString());
        Assert.DoesNotContain('\r', output.ToString());
    }

    [Fact]
    public void A_counter_reports_each_step_with_its_total_from_parallel_loops()
    {
        var seen = new System.Collections.Concurrent.ConcurrentBag<StageProgress>();
        var counter = new ProgressCounter(new SyncProgress(seen.Add), "export", 1000, "images");
        Parallel.For(0, 1000, _ => counter.Add());
        Assert.Equal(1000, counter.Done);
        Assert.Equal(1000, seen.Count);
        Assert.Contains(seen, p => p.Done == 1000 && p.Total == 1000 && p.Finished);
        Assert.All(seen, p => Assert.Equal("images", p.Unit));
    }

    private sealed class SyncProgress(Action<StageProgress> report) : IProgress<StageProgress>
    {
        public void Report(StageProgress value) => report(value);
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[[a-z :-]+\] ")]
    private static partial Regex Stamped();
}
