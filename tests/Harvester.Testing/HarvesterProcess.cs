using System.Diagnostics;
using System.Text;

namespace Harvester.Testing;

/// <summary>The real `harvester` executable run as a user runs it: a process with its own state directory.</summary>
public sealed class HarvesterProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private HarvesterProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string StandardOutput { get { lock (_stdout) { return _stdout.ToString(); } } }

    public string StandardError { get { lock (_stderr) { return _stderr.ToString(); } } }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The executable beside the test assembly (the test project references Harvester.App).</summary>
    public static string Executable => Path.Combine(AppContext.BaseDirectory, "harvester.dll");

    /// <summary>
    /// The detector models setup installed: $HARVESTER_MODELS_DIR, $HARVESTER_HOME/models, else the checkout's
    /// .harvester/models, so a private state directory can still curate.
    /// </summary>
    public static string ModelsRoot
    {
        get
        {
            if (Environment.GetEnvironmentVariable("HARVESTER_MODELS_DIR") is { Length: > 0 } dir)
            {
                return dir;
            }

            if (Environment.GetEnvironmentVariable("HARVESTER_HOME") is { Length: > 0 } home)
            {
                return Path.Combine(home, "models");
            }

            return RepoRoot.Combine(".harvester", "models");
        }
    }

    /// <summary>Starts `harvester args…` with <paramref name="stateRoot"/> as its HARVESTER_HOME and extra environment settings.</summary>
    public static HarvesterProcess Start(string stateRoot, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Executable);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["HARVESTER_HOME"] = stateRoot;
        start.Environment["Harvester__Storage__ModelsRoot"] = ModelsRoot;
        start.Environment["Harvester__Dashboard__Enabled"] = "false";
        start.Environment.Remove("HARVESTER_CONFIG");
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }

        return new HarvesterProcess(Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    /// <summary>Runs to the end (or <paramref name="timeout"/>, then kills it and fails).</summary>
    public static async Task<HarvesterProcess> RunAsync(string stateRoot, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, params string[] args)
    {
        var p = Start(stateRoot, environment, args);
        await p.WaitAsync(timeout);
        return p;
    }

    public async Task WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"harvester did not finish within {timeout}; stderr:\n{StandardError}");
        }

        // Flush the asynchronous readers.
        _process.WaitForExit();
    }

    /// <summary>SIGKILL: no shutdown code runs, as after a crash or an OOM kill.</summary>
    public void Kill() => _process.Kill(entireProcessTree: false);

    /// <summary>Waits until stdout or stderr holds <paramref name="text"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!StandardOutput.Contains(text, StringComparison.Ordinal) && !StandardError.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"'{text}' did not appear; exited: {_process.HasExited}\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}");
            }

            await Task.Delay(100);
        }
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sb)
        {
            sb.AppendLine(line);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
