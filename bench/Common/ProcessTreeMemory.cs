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

    private readonly Dictionary<int, (string Kind, long Start, long Last)> _cpu = [];
    private readonly Lock _cpuLock = new();

    public long PeakBytes { get; private set; }

    /// <summary>PSS by kind of process (as in <see cref="CpuSeconds"/>) in the sample that set <see cref="PeakBytes"/>.</summary>
    public IReadOnlyDictionary<string, long> PeakByKind { get; private set; } = new Dictionary<string, long>();
    public int PeakProcesses { get; private set; }
    public int PeakBrowsers { get; private set; }

    /// <summary>
    /// CPU seconds (user + system) the tree used since this sampler started, by kind of process: the measured process
    /// itself, Chromium's browser process, its renderers and helpers, a Node process (the Playwright driver, or a Node
    /// crawler), PostgreSQL, other. Processes that were already running count from the first sample; a process that
    /// exits loses at most its last sampling interval.
    /// </summary>
    public IReadOnlyDictionary<string, double> CpuSeconds
    {
        get
        {
            lock (_cpuLock)
            {
                return _cpu.Values.GroupBy(v => v.Kind).ToDictionary(g => g.Key, g => g.Sum(v => v.Last - v.Start) / (double)TicksPerSecond);
            }
        }
    }

    public double TotalCpuSeconds => CpuSeconds.Values.Sum();

    private const int TicksPerSecond = 100; // USER_HZ on Linux

    /// <param name="exclude">Subtrees not to count (e.g. a helper process the measured one started).</param>
    public ProcessTreeMemory(int rootPid, TimeSpan interval, params int[] exclude)
    {
        _rootPid = rootPid;
        _exclude = [.. exclude];
        foreach (var pid in Descendants(_rootPid, _exclude).Prepend(_rootPid))
        {
            if (CpuTicks(pid) is { } t)
            {
                _cpu[pid] = (KindOf(pid, rootPid), t, t);
            }
        }

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
        var byKind = new Dictionary<string, long>();
        foreach (var pid in pids)
        {
            var pss = PssBytes(pid);
            var kindNow = KindOf(pid, _rootPid);
            byKind[kindNow] = byKind.GetValueOrDefault(kindNow) + pss;
            if (CpuTicks(pid) is { } ticks)
            {
                lock (_cpuLock)
                {
                    // A new process counts from zero: all of its CPU was spent while measured. Its kind is read again
                    // each time (a process seen between fork and exec still shows its parent's command line), but an
                    // exiting one (a zombie has no command line) keeps the kind it had.
                    _cpu[pid] = _cpu.TryGetValue(pid, out var seen)
                        ? (kindNow == "other" ? seen.Kind : kindNow, seen.Start, ticks)
                        : (kindNow, 0, ticks);
                }
            }

            total += pss;
            if (kindNow == BrowserKind)
            {
                browsers++;
            }
        }

        if (total > PeakBytes)
        {
            PeakBytes = total;
            PeakByKind = byKind;
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

    /// <summary>utime + stime in clock ticks, from /proc/PID/stat (fields 14 and 15, after the parenthesised name).</summary>
    private static long? CpuTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>A Chromium browser process is the one without a --type= switch (renderers, GPU and utilities have one).</summary>
    private const string BrowserKind = "chromium browser";

    private static string KindOf(int pid, int root)
    {
        if (pid == root)
        {
            return "process";
        }

        try
        {
            var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            var exe = cmd.Split(' ', 2)[0];
            return exe.Contains("chrom", StringComparison.Ordinal)
                ? (cmd.Contains("--type=", StringComparison.Ordinal) ? "chromium renderers/helpers" : BrowserKind)
                : exe.EndsWith("node", StringComparison.Ordinal) ? "node"
                : exe.Contains("postgres", StringComparison.Ordinal) ? "postgres"
                : "other";
        }
        catch (IOException)
        {
            return "other";
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
