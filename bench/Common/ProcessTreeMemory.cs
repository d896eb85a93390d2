namespace Harvester.Bench;

/// <summary>
/// Memory of a process and all its descendants (e.g. a crawler and its Chromium), sampled from /proc. Summed as PSS
/// (proportional set size): Chromium's processes share most of their pages, and summing their RSS would count those
/// pages once per process.
/// </summary>
public sealed class ProcessTreeMemory : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampler;
    private readonly int _rootPid;
    private readonly HashSet<int> _exclude;

    public long PeakBytes { get; private set; }
    public int PeakProcesses { get; private set; }
    public int PeakBrowsers { get; private set; }

    /// <param name="exclude">Subtrees not to count (e.g. a helper process the measured one started).</param>
    public ProcessTreeMemory(int rootPid, TimeSpan interval, params int[] exclude)
    {
        _rootPid = rootPid;
        _exclude = [.. exclude];
        _sampler = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Sample();
                try
                {
                    await Task.Delay(interval, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        });
    }

    public void Sample()
    {
        var pids = Descendants(_rootPid, _exclude).Prepend(_rootPid).ToList();
        long total = 0;
        var browsers = 0;
        foreach (var pid in pids)
        {
            total += PssBytes(pid);
            if (IsBrowserMain(pid))
            {
                browsers++;
            }
        }

        if (total > PeakBytes)
        {
            PeakBytes = total;
        }

        PeakProcesses = Math.Max(PeakProcesses, pids.Count);
        PeakBrowsers = Math.Max(PeakBrowsers, browsers);
    }

    public static long PssBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
            {
                if (line.StartsWith("Pss:", StringComparison.Ordinal))
                {
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    /// <summary>A Chromium browser process is the one without a --type= switch (renderers, GPU and utilities have one).</summary>
    private static bool IsBrowserMain(int pid)
    {
        try
        {
            var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            return (cmd.Contains("chromium", StringComparison.Ordinal) || cmd.Contains("chrome", StringComparison.Ordinal)) && !cmd.Contains("--type=", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static IEnumerable<int> Descendants(int pid, HashSet<int> exclude)
    {
        var children = new List<int>();
        try
        {
            foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
            {
                var path = Path.Combine(task, "children");
                if (File.Exists(path))
                {
                    children.AddRange(File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        children.RemoveAll(exclude.Contains);
        return children.Concat(children.SelectMany(c => Descendants(c, exclude)));
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        await _sampler;
        Sample();
    }
}
