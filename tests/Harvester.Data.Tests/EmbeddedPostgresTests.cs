using Harvester.Core;
using Harvester.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Harvester.Data.Tests;

/// <summary>Each test runs its own private cluster: these are about the cluster's lifetime itself.</summary>
public sealed class EmbeddedPostgresTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "harvester-pgtest-" + Guid.NewGuid().ToString("N")[..10]);

    private readonly List<EmbeddedPostgres> _started = [];

    private EmbeddedPostgres NewCluster(PostgreSqlOptions? options = null)
    {
        var c = new EmbeddedPostgres(options ?? PostgresFixture.TestOptions(), _root, NullLogger.Instance);
        _started.Add(c);
        return c;
    }

    private static async Task<long> ScalarAsync(EmbeddedPostgres c, string sql, string db = "postgres")
    {
        await using var conn = new NpgsqlConnection(c.ConnectionString(db) + ";Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Start_stop_restart_keeps_the_data()
    {
        var first = NewCluster();
        await first.StartAsync(CancellationToken.None);
        Assert.True(File.Exists(Path.Combine(first.DataDir, "PG_VERSION")));
        await ScalarAsync(first, "CREATE TABLE kept(x int); INSERT INTO kept VALUES (41),(1); SELECT 1");
        await first.StopAsync(CancellationToken.None);
        Assert.False(File.Exists(Path.Combine(first.DataDir, "postmaster.pid")));

        var second = NewCluster();
        await second.StartAsync(CancellationToken.None);
        Assert.Equal(first.Port, second.Port);
        Assert.Equal(42, await ScalarAsync(second, "SELECT sum(x) FROM kept"));
        await second.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_state_directory_private_to_root_gets_its_cluster_where_the_postgres_user_can_reach_it()
    {
        // A checkout under /root is private (mode 700); as root the cluster runs as 'postgres', which cannot enter it.
        var privateParent = Path.Combine(_root, "home");
        Directory.CreateDirectory(privateParent);
        File.SetUnixFileMode(privateParent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var state = Path.Combine(privateParent, "project", ".harvester");
        var c = new EmbeddedPostgres(PostgresFixture.TestOptions(), state, NullLogger.Instance);
        _started.Add(c);
        try
        {
            await c.StartAsync(CancellationToken.None);
            Assert.Equal(1, await ScalarAsync(c, "SELECT 1"));
            if (c.RunsAsOtherUser)
            {
                Assert.StartsWith(EmbeddedPostgres.RelocationRoot + "/", c.DataDir, StringComparison.Ordinal);
            }
            else
            {
                Assert.StartsWith(state, c.DataDir, StringComparison.Ordinal);
            }

            await c.StopAsync(CancellationToken.None);
            var again = new EmbeddedPostgres(PostgresFixture.TestOptions(), state, NullLogger.Instance);
            _started.Add(again);
            await again.StartAsync(CancellationToken.None);
            Assert.Equal(c.DataDir, again.DataDir); // every process of this state directory finds the same cluster
            await again.StopAsync(CancellationToken.None);
        }
        finally
        {
            if (c.DataDir.StartsWith(EmbeddedPostgres.RelocationRoot + "/", StringComparison.Ordinal))
            {
                Directory.Delete(c.ClusterDir, recursive: true);
            }
        }
    }

    [Fact]
    public async Task A_cluster_left_running_by_db_start_survives_other_commands_exiting_until_db_stop()
    {
        var pinned = NewCluster();
        await pinned.StartAsync(CancellationToken.None);
        await pinned.DetachAsync(CancellationToken.None); // `harvester db start`
        var pidFile = Path.Combine(pinned.DataDir, "postmaster.pid");

        var command = NewCluster(); // any command that runs and exits
        await command.StartAsync(CancellationToken.None);
        await command.StopAsync(CancellationToken.None);
        Assert.True(File.Exists(pidFile), "a command exiting stopped the cluster db start left running");
        Assert.Equal(1, await ScalarAsync(command, "SELECT 1"));

        var stop = NewCluster(); // `harvester db stop`
        await stop.StartAsync(CancellationToken.None);
        stop.Unpin();
        await stop.StopAsync(CancellationToken.None);
        Assert.False(File.Exists(pidFile), "db stop left the cluster running");
    }

    [Fact]
    public async Task A_killed_server_recovers_committed_rows_on_next_start()
    {
        var options = PostgresFixture.TestOptions();
        options.Fsync = true; // crash safety is the point here
        var c = NewCluster(options);
        await c.StartAsync(CancellationToken.None);
        await ScalarAsync(c, "CREATE TABLE t(x int); INSERT INTO t SELECT generate_series(1,1000); SELECT 1");
        c.KillServerForRecoveryTest();
        Assert.True(File.Exists(Path.Combine(c.DataDir, "postmaster.pid")), "a crash leaves the pid file behind");

        var again = NewCluster(options);
        await again.StartAsync(CancellationToken.None);
        Assert.Equal(1000, await ScalarAsync(again, "SELECT count(*) FROM t"));
        await again.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_server_left_by_a_killed_process_is_adopted_not_restarted()
    {
        var c = NewCluster();
        await c.StartAsync(CancellationToken.None);
        var pid = File.ReadLines(Path.Combine(c.DataDir, "postmaster.pid")).First();
        await c.DetachAsync(CancellationToken.None); // as if the process died without stopping it

        var next = NewCluster();
        await next.StartAsync(CancellationToken.None);
        Assert.Equal(pid, File.ReadLines(Path.Combine(next.DataDir, "postmaster.pid")).First());
        Assert.Equal(1, await ScalarAsync(next, "SELECT 1"));
        await next.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task The_last_client_out_stops_the_server()
    {
        var a = NewCluster();
        var b = NewCluster();
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        // Both are this process here; simulate a second live process by a client file naming a live pid.
        var other = Path.Combine(a.ClusterDir, "clients", "1");
        await File.WriteAllTextAsync(other, "init is always alive");
        await a.StopAsync(CancellationToken.None);
        Assert.Equal(1, await ScalarAsync(b, "SELECT 1"));
        File.Delete(other);
        await b.StopAsync(CancellationToken.None);
        Assert.False(File.Exists(Path.Combine(b.DataDir, "postmaster.pid")));
    }

    [Fact]
    public async Task A_stale_pid_file_naming_another_program_is_removed()
    {
        var c = NewCluster();
        await c.StartAsync(CancellationToken.None);
        await c.StopAsync(CancellationToken.None);
        // pid 1 is alive but is not postgres: exactly the case a naive kill(pid, 0) check gets wrong.
        var pidFile = Path.Combine(c.DataDir, "postmaster.pid");
        await File.WriteAllLinesAsync(pidFile, ["1", c.DataDir, "0", c.Port.ToString(), c.SocketDir, "", "0 0", "ready"]);

        var again = NewCluster();
        await again.StartAsync(CancellationToken.None);
        Assert.Equal(1, await ScalarAsync(again, "SELECT 1"));
        await again.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_wrong_bin_dir_is_one_clear_error()
    {
        var options = PostgresFixture.TestOptions();
        options.BinDir = "/nonexistent/postgres/bin";
        var e = await Assert.ThrowsAsync<HarvesterException>(() => NewCluster(options).StartAsync(CancellationToken.None));
        Assert.Contains("PostgreSQL:BinDir", e.Message);
    }

    [Fact]
    public async Task A_port_in_use_is_one_clear_error()
    {
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        var options = PostgresFixture.TestOptions();
        options.ListenAddress = "127.0.0.1";
        options.Port = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port;
        var e = await Assert.ThrowsAsync<HarvesterException>(() => NewCluster(options).StartAsync(CancellationToken.None));
        Assert.Contains($"Port {options.Port}", e.Message);
        Assert.Contains("PostgreSQL:Port", e.Message);
    }

    [Fact]
    public async Task A_failing_initdb_is_one_clear_error()
    {
        var options = PostgresFixture.TestOptions();
        options.DataDir = Path.Combine(_root, "occupied", "data");
        Directory.CreateDirectory(options.DataDir);
        await File.WriteAllTextAsync(Path.Combine(options.DataDir, "not-a-cluster.txt"), "someone else's file");
        var e = await Assert.ThrowsAsync<HarvesterException>(() => NewCluster(options).StartAsync(CancellationToken.None));
        Assert.Contains("initdb failed", e.Message);
    }

    public void Dispose()
    {
        // A failed assertion must not leave a server running behind the test run.
        foreach (var c in _started)
        {
            try
            {
                c.KillServerForRecoveryTest();
            }
            catch (Exception e) when (e is HarvesterException or InvalidOperationException or ArgumentException or IOException)
            {
            }
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
