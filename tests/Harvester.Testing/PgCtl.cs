using System.Diagnostics;
using Harvester.Data;

namespace Harvester.Testing;

/// <summary>pg_ctl on an embedded cluster, as the user PostgreSQL runs as: how fault tests and the soak benchmark restart it.</summary>
public static class PgCtl
{
    /// <summary>Runs pg_ctl -D &lt;data&gt; args…; throws with pg_ctl's own message when it fails.</summary>
    public static async Task RunAsync(EmbeddedPostgres cluster, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var pgCtl = Path.Combine(cluster.BinDir, "pg_ctl");
        var start = cluster.RunsAsOtherUser
            ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", pgCtl, "-D", cluster.DataDir, .. args])
            : new ProcessStartInfo(pgCtl, ["-D", cluster.DataDir, .. args]);
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        using var p = Process.Start(start)!;
        var err = p.StandardError.ReadToEndAsync();
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"pg_ctl {string.Join(' ', args)}: {(await err).Trim()}");
        }
    }

    /// <summary>Fast shutdown, then start again (waiting until it accepts connections); the log goes beside the data.</summary>
    public static async Task StopAsync(EmbeddedPostgres cluster) => await RunAsync(cluster, "stop", "-m", "fast");

    public static async Task StartAsync(EmbeddedPostgres cluster) =>
        await RunAsync(cluster, "start", "-w", "-t", "60", "-l", Path.Combine(cluster.ClusterDir, "restart.log"));
}
