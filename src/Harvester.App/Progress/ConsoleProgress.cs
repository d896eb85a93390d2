using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Harvester.Core.Stages;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Harvester.App.Progress;

/// <summary>
/// Renders the <see cref="StageProgress"/> reports of a command: on an interactive terminal, one Spectre.Console bar
/// per stage with done/total, rate and ETA; when output is redirected or CI=true, one plain line per stage that moved,
/// every <see cref="ProgressOptions.Interval"/>, and a last line when it ends — readable in a log file. Progress goes
/// to stderr, so stdout keeps only a command's results.
/// </summary>
internal sealed partial class ConsoleProgress : IProgress<StageProgress>, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ProgressMeter> _meters = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];
    private readonly TimeProvider _time;
    private readonly ProgressMode _mode;
    private readonly TimeSpan _interval;
    private readonly TextWriter _lines;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, long> _printed = new(StringComparer.Ordinal);
    private readonly Task _loop;

    private ConsoleProgress(ProgressMode mode, TimeSpan interval, TextWriter lines, TimeProvider time)
    {
        _mode = mode;
        _interval = interval;
        _lines = lines;
        _time = time;
        _loop = mode switch
        {
            ProgressMode.Bar => Task.Run(BarLoopAsync),
            ProgressMode.Lines => Task.Run(LineLoopAsync),
            _ => Task.CompletedTask,
        };
    }

    public ProgressMode Mode => _mode;

    /// <summary>Starts rendering as <paramref name="options"/> say; Auto picks the bar only on an interactive terminal.</summary>
    public static ConsoleProgress Start(ProgressOptions options, TextWriter? lines = null, TimeProvider? time = null)
    {
        var mode = options.Mode == ProgressMode.Auto ? Detect() : options.Mode;
        return new ConsoleProgress(mode, options.Interval, lines ?? Console.Error, time ?? TimeProvider.System);
    }

    /// <summary>The bar needs a terminal on both streams and no CI; anything else gets plain lines.</summary>
    public static ProgressMode Detect()
    {
        var ci = Environment.GetEnvironmentVariable("CI");
        var dumb = Environment.GetEnvironmentVariable("TERM") is null or "dumb";
        return Console.IsOutputRedirected || Console.IsErrorRedirected || dumb || string.Equals(ci, "true", StringComparison.OrdinalIgnoreCase) || ci == "1"
            ? ProgressMode.Lines
            : ProgressMode.Bar;
    }

    public void Report(StageProgress value)
    {
        var meter = _meters.GetOrAdd(value.Stage, s =>
        {
            lock (_order)
            {
                _order.Add(s);
            }

            return new ProgressMeter(s, _time);
        });
        lock (meter)
        {
            meter.Update(value);
        }
    }

    /// <summary>The current line of every stage, in the order they first reported.</summary>
    public IReadOnlyList<string> Lines()
    {
        lock (_order)
        {
            return [.. _order.Select(s => { var m = _meters[s]; lock (m) { return m.Line(); } })];
        }
    }

    private async Task LineLoopAsync()
    {
        try
        {
            while (true)
            {
                await Task.Delay(_interval, _time, _stop.Token);
                WriteMovedLines(final: false);
            }
        }
        catch (OperationCanceledException)
        {
        }

        WriteMovedLines(final: true);
    }

    private void WriteMovedLines(bool final)
    {
        string[] stages;
        lock (_order)
        {
            stages = [.. _order];
        }

        foreach (var s in stages)
        {
            var m = _meters[s];
            string line;
            lock (m)
            {
                if (_printed.TryGetValue(s, out var v) && v == m.Version)
                {
                    continue;
                }

                _printed[s] = m.Version;
                line = m.Line();
            }

            // A timestamp like the logs', so a captured file reads as one timeline.
            _lines.WriteLine($"{_time.GetUtcNow():yyyy-MM-ddTHH:mm:ssZ} {line}");
        }

        if (final)
        {
            _lines.Flush();
        }
    }

    /// <summary>
    /// The terminal bar. While it is on, whatever else writes to the console (log lines, a command's output) is
    /// queued and written through Spectre.Console, which prints it above the bars instead of through them.
    /// </summary>
    private async Task BarLoopAsync()
    {
        var stderr = ConsoleSwitch.RealError;
        var queue = new ConcurrentQueue<string>();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        ConsoleSwitch.Divert(queue);
        var counts = new CountsColumn();
        try
        {
            await console.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), counts, new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                    var stopping = false;
                    while (true)
                    {
                        while (queue.TryDequeue(out var text))
                        {
                            // One Text per line, without its newline: Spectre then wraps it to the terminal's width itself
                            // and knows how many rows it took when it redraws the bars below.
                            console.Write(new Text(Ansi().Replace(text, "").TrimEnd('\n', '\r')) { Overflow = Overflow.Fold });
                            console.WriteLine();
                        }

                        string[] stages;
                        lock (_order)
                        {
                            stages = [.. _order];
                        }

                        foreach (var s in stages)
                        {
                            var m = _meters[s];
                            StageProgress p;
                            string text;
                            lock (m)
                            {
                                p = m.Last;
                                text = CountsColumn.Text(m);
                            }

                            if (!tasks.TryGetValue(s, out var task))
                            {
                                task = tasks[s] = ctx.AddTask(Markup.Escape(s), autoStart: true);
                            }

                            task.Description = Markup.Escape(p.Phase is null ? s : $"{s}: {p.Phase}");
                            task.IsIndeterminate = p.Total is null;
                            task.MaxValue = Math.Max(1, p.Total ?? 1);
                            task.Value = Math.Min(p.Done, task.MaxValue);
                            counts.Set(task.Id, text);
                            if (stopping || p.Finished)
                            {
                                task.Value = p.Total is null ? task.MaxValue : task.Value;
                                task.StopTask();
                            }
                        }

                        ctx.Refresh();
                        if (stopping)
                        {
                            return;
                        }

                        try
                        {
                            await Task.Delay(TimeSpan.FromMilliseconds(200), _time, _stop.Token);
                        }
                        catch (OperationCanceledException)
                        {
                            stopping = true;
                        }
                    }
                });
        }
        finally
        {
            ConsoleSwitch.Restore();
            while (queue.TryDequeue(out var text))
            {
                await stderr.WriteAsync(text);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    [GeneratedRegex(@"\x1B\[[0-9;?]*[A-Za-z]")]
    private static partial Regex Ansi();

    /// <summary>"done/total unit · rate · ETA" of each task, set by the loop that owns the bars.</summary>
    private sealed class CountsColumn : ProgressColumn
    {
        private readonly ConcurrentDictionary<int, string> _text = new();

        public void Set(int id, string text) => _text[id] = text;

        public static string Text(ProgressMeter m)
        {
            var p = m.Last;
            var counts = p.Total is { } t ? $"{p.Done:N0}/{t:N0} {p.Unit}" : $"{p.Done:N0} {p.Unit}";
            var rate = m.Rate is { } r ? $" · {ProgressMeter.FormatRate(r)}/s" : "";
            var eta = p.Finished ? " · done" : m.Eta is { } e ? " · ETA " + ProgressMeter.FormatDuration(e) : "";
            return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{counts}{rate}{eta}");
        }

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(_text.TryGetValue(task.Id, out var t) ? t : "");
    }
}
