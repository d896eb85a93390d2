using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Harvester.Core;
using Microsoft.Extensions.Logging;

namespace Harvester.Data;

/// <summary>
/// A private PostgreSQL cluster under Harvester's state directory, used when no server is configured.
/// Several Harvester processes may share it: each registers as a client, and the last one out stops it.
/// A server left running by a killed process is adopted; a stale postmaster.pid left by a crashed server is removed
/// and PostgreSQL's own WAL recovery does the rest.
/// </summary>
public sealed class EmbeddedPostgres(PostgreSqlOptions options, string stateRoot, ILogger logger)
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);
    private string? _clientFile;

    public string BinDir { get; private set; } = "";
    public string ClusterDir { get; private set; } = "";
    public string DataDir { get; private set; } = "";
    public string SocketDir { get; private set; } = "";
    public int Port { get; private set; }
    public bool RunsAsOtherUser => Environment.IsPrivilegedProcess;
    public string SuperUser => "postgres";

    /// <summary>Connection string for a database of this cluster, over the Unix socket.</summary>
    public string ConnectionString(string database) =>
        $"Host={SocketDir};Port={Port};Username={SuperUser};Database={database};Include Error Detail=true";

    /// <summary>Starts the cluster (initialising it on first use) or adopts the one already running on the data directory.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        BinDir = FindBinDir(options.BinDir);
        ResolveDirectories();
        await RelocateIfUnreachableAsync(ct);
        await using var startLock = await AcquireLockAsync(ct);
        await PrepareDirectoriesAsync(ct);

        if (!File.Exists(Path.Combine(DataDir, "PG_VERSION")))
        {
            await InitDbAsync(ct);
        }

        Port = ResolvePort();
        WriteServerConfig();

        var running = ReadRunningServer();
        if (running is not null)
        {
            Log.AdoptingCluster(logger, DataDir, running.Value.Pid);
            SocketDir = running.Value.SocketDir;
            Port = running.Value.Port;
        }
        else
        {
            await StartServerAsync(ct);
        }

        RegisterClient();
    }

    /// <summary>Unregisters this process and stops the server if no other live Harvester process uses it.</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        if (_clientFile is null)
        {
            return;
        }

        await using var stopLock = await AcquireLockAsync(ct);
        TryDelete(_clientFile);
        _clientFile = null;
        if (!options.StopOnExit || IsPinned || LiveClients().Any())
        {
            return;
        }

        var result = await RunPgAsync("pg_ctl", ["-D", DataDir, "-m", "fast", "-w", "-t", "60", "stop"], ct);
        if (result.ExitCode != 0 && ReadRunningServer() is not null)
        {
            throw new HarvesterException($"pg_ctl stop failed for {DataDir}: {result.Combined}");
        }

        Log.ClusterStopped(logger, DataDir);
    }

    /// <summary>
    /// Leaves the cluster running after this process exits (for psql and other tools): it is pinned, so other
    /// Harvester processes leave it running when they exit, until <see cref="Unpin"/> (harvester db stop).
    /// </summary>
    public async Task DetachAsync(CancellationToken ct)
    {
        await using var pinLock = await AcquireLockAsync(ct);
        await File.WriteAllTextAsync(PinFile, DateTimeOffset.UtcNow.ToString("O"), ct);
        if (_clientFile is not null)
        {
            TryDelete(_clientFile);
            _clientFile = null;
        }
    }

    /// <summary>Whether `harvester db start` pinned the cluster to keep running.</summary>
    public bool IsPinned => File.Exists(PinFile);

    /// <summary>Lets the cluster stop again when its last Harvester process exits.</summary>
    public void Unpin() => TryDelete(PinFile);

    private string PinFile => Path.Combine(ClusterDir, "clients", "pinned");

    /// <summary>Simulates a crash for tests and operators: kills the postmaster without a shutdown checkpoint.</summary>
    public void KillServerForRecoveryTest()
    {
        var running = ReadRunningServer() ?? throw new HarvesterException("no server is running on " + DataDir);
        using var p = System.Diagnostics.Process.GetProcessById(running.Pid);
        p.Kill(entireProcessTree: false);
        p.WaitForExit(10_000);
    }

    public static string FindBinDir(string configured)
    {
        static bool HasServer(string dir) => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));

        if (!string.IsNullOrWhiteSpace(configured))
        {
            return HasServer(configured)
                ? configured
                : throw new HarvesterException(
                    $"PostgreSQL:BinDir is '{configured}' but initdb/pg_ctl are not there. Point it at the server's bin directory (e.g. /usr/lib/postgresql/15/bin).");
        }

        var candidates = new List<string>();
        try
        {
            var psi = new System.Diagnostics.ProcessStartInfo("pg_config", "--bindir") { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = System.Diagnostics.Process.Start(psi);
            if (p is not null)
            {
                var dir = p.StandardOutput.ReadToEnd().Trim();
                p.WaitForExit();
                if (p.ExitCode == 0 && dir.Length > 0)
                {
                    candidates.Add(dir);
                }
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // pg_config is not installed; fall back to Debian's versioned layout.
        }

        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        }

        return candidates.FirstOrDefault(HasServer)
            ?? throw new HarvesterException(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found via pg_config or under /usr/lib/postgresql/*/bin. " +
                "Install them with 'apt-get install postgresql-15' (./harvester setup does), set PostgreSQL:BinDir, " +
                "or point ConnectionStrings:Harvester at an existing server.");
    }

    private void ResolveDirectories(string? clusterDir = null)
    {
        DataDir = clusterDir is not null
            ? Path.Combine(clusterDir, "data")
            : string.IsNullOrWhiteSpace(options.DataDir)
                ? Path.Combine(stateRoot, "postgres", "data")
                : Path.GetFullPath(options.DataDir);
        ClusterDir = Path.GetDirectoryName(DataDir)!;
        // Unix socket paths are limited to 107 bytes; a deep state directory gets a short alias under /tmp.
        var socketDir = Path.Combine(ClusterDir, "run");
        SocketDir = Encoding.UTF8.GetByteCount(socketDir) + "/.s.PGSQL.65535".Length < 100
            ? socketDir
            : Path.Combine(Path.GetTempPath(), "harvester-pg-" + ShortHash(DataDir));
    }

    /// <summary>
    /// As root, the cluster runs as the system user, which cannot enter a state directory inside a private home (a
    /// checkout under /root). Unless PostgreSQL:DataDir says where, the cluster then lives under /var/lib/harvester,
    /// in a directory named after the state directory, so every process of that state directory finds the same one.
    /// </summary>
    private async Task RelocateIfUnreachableAsync(CancellationToken ct)
    {
        if (!RunsAsOtherUser || !string.IsNullOrWhiteSpace(options.DataDir) || await ReachableAsync(ClusterDir, ct))
        {
            return;
        }

        var relocated = Path.Combine(RelocationRoot, "postgres-" + ShortHash(Path.GetFullPath(stateRoot)));
        Log.ClusterRelocated(logger, Path.GetFullPath(stateRoot), relocated);
        ResolveDirectories(relocated);
    }

    /// <summary>Where clusters of private state directories live (root only).</summary>
    public const string RelocationRoot = "/var/lib/harvester";

    /// <summary>Whether the system user can enter the deepest existing directory on the way to <paramref name="path"/>.</summary>
    private async Task<bool> ReachableAsync(string path, CancellationToken ct)
    {
        var existing = path;
        while (!Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
        {
            existing = parent;
        }

        var r = await ProcessRunner.RunAsync("runuser", ["-u", options.SystemUser, "--", "test", "-x", existing], CommandTimeout, ct);
        return r.ExitCode == 0;
    }

    private async Task PrepareDirectoriesAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(ClusterDir);
        Directory.CreateDirectory(SocketDir);
        Directory.CreateDirectory(Path.Combine(ClusterDir, "clients"));
        if (!RunsAsOtherUser)
        {
            File.SetUnixFileMode(SocketDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return;
        }

        // PostgreSQL refuses to run as root: the cluster runs as the system user, which must own its directories
        // and be able to reach them.
        var id = await ProcessRunner.RunAsync("id", ["-u", options.SystemUser], CommandTimeout, ct);
        if (id.ExitCode != 0)
        {
            throw new HarvesterException(
                $"Harvester runs as root, and PostgreSQL refuses to run as root, so the embedded cluster runs as the system user " +
                $"'{options.SystemUser}' (PostgreSQL:SystemUser), which does not exist. Install postgresql-15 (it creates the 'postgres' user) " +
                "or set PostgreSQL:SystemUser to an existing unprivileged user.");
        }

        await ChownAsync(ClusterDir, recursive: false, ct);
        await ChownAsync(SocketDir, recursive: false, ct);
        if (Directory.Exists(DataDir))
        {
            await ChownAsync(DataDir, recursive: true, ct);
        }

        var reach = await ProcessRunner.RunAsync("runuser", ["-u", options.SystemUser, "--", "test", "-w", ClusterDir], CommandTimeout, ct);
        if (reach.ExitCode != 0)
        {
            throw new HarvesterException(
                $"The embedded cluster runs as '{options.SystemUser}', which cannot reach {ClusterDir} (a parent directory is private, " +
                "e.g. /root). Set Storage:Root (or HARVESTER_HOME) or PostgreSQL:DataDir to a directory outside private homes, " +
                "such as /var/lib/harvester.");
        }
    }

    private async Task ChownAsync(string path, bool recursive, CancellationToken ct)
    {
        string[] args = recursive
            ? ["-R", $"{options.SystemUser}:", path]
            : [$"{options.SystemUser}:", path];
        var r = await ProcessRunner.RunAsync("chown", args, CommandTimeout, ct);
        if (r.ExitCode != 0)
        {
            throw new HarvesterException($"chown {path} to {options.SystemUser} failed: {r.Combined}");
        }
    }

    private async Task InitDbAsync(CancellationToken ct)
    {
        Log.InitializingCluster(logger, DataDir);
        var args = new List<string> { "-D", DataDir, "-U", SuperUser, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8" };
        if (!options.Fsync)
        {
            args.Add("--no-sync");
        }

        var r = await RunPgAsync("initdb", args, ct);
        if (r.ExitCode != 0)
        {
            throw new HarvesterException(
                $"initdb failed for {DataDir} (exit {r.ExitCode}): {Tail(r.Combined, 800)}\n" +
                "Check that the directory is empty and writable, or choose another with PostgreSQL:DataDir.");
        }

        // Settings Harvester owns live in their own file, rewritten on each start, so the user's postgresql.conf stays theirs.
        await File.AppendAllTextAsync(Path.Combine(DataDir, "postgresql.conf"), "\ninclude_if_exists = 'harvester.conf'\n", ct);
    }

    private void WriteServerConfig()
    {
        var conf = new StringBuilder()
            .AppendLine("# Written by Harvester at every start; edit postgresql.conf for your own settings.")
            .AppendLine($"port = {Port}")
            .AppendLine($"listen_addresses = '{options.ListenAddress.Replace("'", "''", StringComparison.Ordinal)}'")
            .AppendLine($"unix_socket_directories = '{SocketDir.Replace("'", "''", StringComparison.Ordinal)}'")
            .AppendLine("unix_socket_permissions = 0700")
            .AppendLine("max_connections = 100")
            .AppendLine("shared_buffers = 256MB")
            .AppendLine("maintenance_work_mem = 512MB")
            .AppendLine(options.Fsync ? "fsync = on" : "fsync = off")
            .AppendLine(options.Fsync ? "synchronous_commit = on" : "synchronous_commit = off")
            .AppendLine(options.Fsync ? "full_page_writes = on" : "full_page_writes = off");
        var path = Path.Combine(DataDir, "harvester.conf");
        File.WriteAllText(path, conf.ToString());
    }

    private int ResolvePort()
    {
        var portFile = Path.Combine(ClusterDir, "port");
        if (options.Port > 0)
        {
            return options.Port;
        }

        if (File.Exists(portFile) && int.TryParse(File.ReadAllText(portFile).Trim(), out var saved) && saved > 0)
        {
            return saved;
        }

        // Pick once and keep it, so the socket name (and any psql command a user saved) stays the same.
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        File.WriteAllText(portFile, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return port;
    }

    private async Task StartServerAsync(CancellationToken ct)
    {
        var pidFile = Path.Combine(DataDir, "postmaster.pid");
        if (File.Exists(pidFile))
        {
            Log.RemovingStalePidFile(logger, pidFile);
            File.Delete(pidFile);
        }

        if (!string.IsNullOrWhiteSpace(options.ListenAddress) && !IsTcpPortFree(options.ListenAddress, Port))
        {
            throw new HarvesterException(
                $"Port {Port} on {options.ListenAddress} is in use by another program, so the embedded PostgreSQL cannot listen there. " +
                "Set PostgreSQL:Port to a free port (or 0 to pick one), or leave PostgreSQL:ListenAddress empty for a Unix socket only.");
        }

        var logFile = Path.Combine(ClusterDir, "server.log");
        Log.StartingCluster(logger, DataDir, SocketDir, Port);
        var r = await RunPgAsync("pg_ctl",
            ["-D", DataDir, "-l", logFile, "-w", "-t", ((int)options.StartTimeout.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture), "start"], ct);
        if (r.ExitCode != 0)
        {
            var serverLog = File.Exists(logFile) ? Tail(await File.ReadAllTextAsync(logFile, ct), 1200) : "";
            throw new HarvesterException(
                $"The embedded PostgreSQL did not start (pg_ctl exit {r.ExitCode}): {Tail(r.Combined, 400)}\nServer log {logFile}:\n{serverLog}");
        }
    }

    private static bool IsTcpPortFree(string address, int port)
    {
        try
        {
            using var l = new TcpListener(IPAddress.Parse(address), port);
            l.Start();
            l.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private (int Pid, int Port, string SocketDir)? ReadRunningServer()
    {
        var pidFile = Path.Combine(DataDir, "postmaster.pid");
        string[] lines;
        try
        {
            lines = File.ReadAllLines(pidFile);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        if (lines.Length < 5 || !int.TryParse(lines[0].Trim(), out var pid) || !int.TryParse(lines[3].Trim(), out var port))
        {
            return null;
        }

        // The pid alone proves nothing after a reboot or crash: it may now belong to another program.
        string comm;
        try
        {
            comm = File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }

        return comm is "postgres" or "postmaster" ? (pid, port, lines[4].Trim()) : null;
    }

    private void RegisterClient()
    {
        var dir = Path.Combine(ClusterDir, "clients");
        Directory.CreateDirectory(dir);
        // pid-start: a pid reused by an unrelated process does not keep the cluster running.
        _clientFile = Path.Combine(dir, Stages.ProcessIdentity.Current[(Stages.ProcessIdentity.Host.Length + 1)..].Replace(':', '-'));
        File.WriteAllText(_clientFile, DateTimeOffset.UtcNow.ToString("O"));
    }

    private IEnumerable<int> LiveClients()
    {
        var dir = Path.Combine(ClusterDir, "clients");
        if (!Directory.Exists(dir))
        {
            yield break;
        }

        foreach (var f in Directory.GetFiles(dir))
        {
            var name = Path.GetFileName(f);
            if (name == "pinned" || f == _clientFile)
            {
                continue;
            }

            var parts = name.Split('-');
            var owner = $"{Stages.ProcessIdentity.Host}:{parts[0]}:{(parts.Length > 1 ? parts[1] : "")}".TrimEnd(':');
            if (int.TryParse(parts[0], out var pid) && pid != Environment.ProcessId && !Stages.ProcessIdentity.IsDeadLocalOwner(owner))
            {
                yield return pid;
            }
            else if (pid != Environment.ProcessId)
            {
                TryDelete(f); // left by a process that was killed
            }
        }
    }

    private async Task<FileStream> AcquireLockAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(ClusterDir);
        var path = Path.Combine(ClusterDir, "harvester.lock");
        var deadline = DateTime.UtcNow + options.StartTimeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, ct);
            }
        }
    }

    private Task<ProcessRunner.Result> RunPgAsync(string tool, IEnumerable<string> args, CancellationToken ct)
    {
        var exe = Path.Combine(BinDir, tool);
        return RunsAsOtherUser
            ? ProcessRunner.RunAsync("runuser", ["-u", options.SystemUser, "--", exe, .. args], CommandTimeout, ct)
            : ProcessRunner.RunAsync(exe, args, CommandTimeout, ct);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }

    private static string ShortHash(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)))[..10];

    private static string Tail(string s, int max) => s.Length <= max ? s.Trim() : "…" + s[^max..].Trim();
}
