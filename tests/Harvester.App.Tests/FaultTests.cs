using System.Diagnostics;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.App.Tests;

/// <summary>
/// The faults an operator meets, probed as they happen: a real `harvester` process killed with SIGKILL in the middle
/// of a stage, and PostgreSQL stopped (fast shutdown) and started again under two running workers.
/// </summary>
public sealed class FaultTests : IAsyncLifetime
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(6);
    private readonly string _home = Path.Combine(Path.GetTempPath(), "harvester-fault-" + Guid.NewGuid().ToString("N")[..10]);
    private HarvesterDatabase _db = null!;
    private BlobStore _blobs = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_home);
        var storage = Options.Create(new StorageOptions { Root = _home });
        // This process stays a client of the cluster for the whole test, so the commands it starts share it.
        _db = new HarvesterDatabase(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build(),
            Options.Create(new PostgreSqlOptions { Fsync = false }), storage, NullLoggerFactory.Instance);
        await _db.StartAsync(migrate: true, CancellationToken.None);
        _blobs = new BlobStore(storage);
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        try
        {
            Directory.Delete(_home, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Curate_killed_mid_run_is_finished_by_an_immediate_rerun_with_every_image_judged_once()
    {
        const int n = 48;
        await SeedAsync(n, ImageStatus.Fetched);

        await using (var first = HarvesterProcess.Start(_home, null, "curate", "--batch", "4"))
        {
            // Killed once the database shows some of it judged: the command's own output is progress, not per batch.
            await WaitUntilSomeAsync("SELECT count(*) FROM images WHERE status <> 'fetched'", first);
            first.Kill();
            await first.WaitAsync(Long);
        }

        var judgedBefore = await CountAsync("SELECT count(*) FROM images WHERE status <> 'fetched'");
        Assert.InRange(judgedBefore, 1, n - 1);

        await using var again = await HarvesterProcess.RunAsync(_home, null, Long, "curate", "--batch", "4");

        Assert.True(again.ExitCode == 0, again.StandardError);
        // The rerun claimed exactly what was left, at once: the dead process's claims did not wait for their lease.
        Assert.Contains($"Curated {n - judgedBefore} images", again.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM images WHERE status = 'fetched'"));
        Assert.Equal(n, await CountAsync("SELECT count(*) FROM images WHERE curated_at IS NOT NULL"));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM work_leases WHERE stage = 'curate'"));
    }

    [Fact]
    public async Task Embed_killed_mid_run_is_finished_by_an_immediate_rerun_with_one_vector_per_image()
    {
        const int n = 64;
        await SeedAsync(n, ImageStatus.Accepted);
        var env = new Dictionary<string, string> { ["Harvester__Inference__ModelBatch"] = "4", ["Harvester__Inference__IntraOpThreads"] = "1" };

        await using (var first = HarvesterProcess.Start(_home, env, "embed", "--batch", "8"))
        {
            await WaitUntilSomeAsync("SELECT count(*) FROM embeddings", first);
            first.Kill();
            await first.WaitAsync(Long);
        }

        var before = await CountAsync("SELECT count(*) FROM embeddings");
        Assert.InRange(before, 1, n - 1);

        await using var again = await HarvesterProcess.RunAsync(_home, env, Long, "embed", "--batch", "8");

        Assert.True(again.ExitCode == 0, again.StandardError);
        Assert.Contains($"{n - before} images embedded", again.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(n, await CountAsync("SELECT count(*) FROM embeddings"));
        Assert.Equal(n, await CountAsync("SELECT count(DISTINCT image_id) FROM embeddings"));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM work_leases WHERE stage LIKE 'embed:%' AND given_up_at IS NULL"));
    }

    [Fact]
    public async Task Cluster_killed_mid_run_leaves_no_run_running_and_a_rerun_completes()
    {
        const int n = 20_000, dim = 64;
        await SeedVectorsAsync(n, dim);
        var env = new Dictionary<string, string> { ["Harvester__Clustering__WriteGalleries"] = "false", ["Harvester__Clustering__KMax"] = "40" };

        await using (var first = HarvesterProcess.Start(_home, env, "cluster", "--k", "auto"))
        {
            await WaitUntilAsync(async () => await CountAsync("SELECT count(*) FROM clustering_runs WHERE status = 'running'") == 1, Long, first);
            first.Kill();
            await first.WaitAsync(Long);
        }

        await using var again = await HarvesterProcess.RunAsync(_home, env, Long, "cluster", "--k", "8");

        Assert.True(again.ExitCode == 0, again.StandardError);
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM clustering_runs WHERE status = 'running'"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM clustering_runs WHERE status = 'failed' AND error LIKE '%stopped before it finished%'"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM clustering_runs WHERE status = 'completed'"));
        Assert.Equal(n, await CountAsync("SELECT count(*) FROM cluster_assignments a JOIN clustering_runs r ON r.id = a.run_id WHERE r.status = 'completed'"));
    }

    [Fact]
    public async Task Two_workers_ride_out_a_postgresql_restart_and_finish_with_consistent_data()
    {
        const int n = 60;
        await SeedAsync(n, ImageStatus.Fetched);
        var env = new Dictionary<string, string>
        {
            ["Harvester__Worker__Stages__0"] = "curate",
            ["Harvester__Worker__Stages__1"] = "embed",
            ["Harvester__Curation__ClaimBatch"] = "4",
            ["Harvester__Curation__PollInterval"] = "00:00:01",
            ["Harvester__Inference__ClaimBatch"] = "8",
            ["Harvester__Inference__PollInterval"] = "00:00:01",
            ["Harvester__Inference__IntraOpThreads"] = "1",
        };
        await using var a = HarvesterProcess.Start(_home, env, "worker");
        await using var b = HarvesterProcess.Start(_home, env, "worker");
        // Both workers past their start (registered in the workers table) and working: on a loaded machine one can
        // still be starting when the other has done the first batches, and a start without a database is not this test.
        await WaitUntilAsync(async () =>
            await CountAsync("SELECT count(*) FROM workers WHERE stopped_at IS NULL") >= 2
            && await CountAsync("SELECT count(*) FROM images WHERE status <> 'fetched'") >= 8, Long, a, b);

        await PgCtl.StopAsync(_db.Cluster!);
        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.False(a.HasExited, "worker a exited when the database went away:\n" + a.StandardError);
        Assert.False(b.HasExited, "worker b exited when the database went away:\n" + b.StandardError);
        await PgCtl.StartAsync(_db.Cluster!);
        NpgsqlConnection.ClearAllPools();

        await WaitUntilAsync(async () =>
            await CountAsync("SELECT count(*) FROM images WHERE status = 'fetched'") == 0
            && await CountAsync("SELECT count(*) FROM images i WHERE i.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = i.id)") == 0, Long, a, b);

        Assert.False(a.HasExited || b.HasExited, "a worker stopped instead of waiting for the database");
        Assert.Contains("database unavailable", a.StandardError + b.StandardError, StringComparison.Ordinal);
        Assert.Equal(n, await CountAsync("SELECT count(*) FROM images"));
        Assert.Equal(n, await CountAsync("SELECT count(DISTINCT sha256) FROM images"));
        Assert.Equal(await CountAsync("SELECT count(*) FROM images WHERE status = 'accepted'"), await CountAsync("SELECT count(DISTINCT image_id) FROM embeddings"));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM work_leases WHERE lease_until > now()"));

        foreach (var w in new[] { a, b })
        {
            using var interrupt = Process.Start("kill", ["-TERM", w.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
            await interrupt.WaitForExitAsync();
            await w.WaitAsync(Long);
            Assert.Equal(0, w.ExitCode);
        }
    }

    [Fact]
    public async Task A_worker_started_while_its_configured_server_is_down_waits_for_it_then_works()
    {
        const int n = 12;
        await SeedAsync(n, ImageStatus.Fetched);
        await PgCtl.StopAsync(_db.Cluster!);
        var env = new Dictionary<string, string>
        {
            // The cluster as a configured server: the worker must not start one of its own.
            ["Harvester__ConnectionStrings__Harvester"] = _db.ConnectionString,
            ["Harvester__Worker__Stages__0"] = "curate",
            ["Harvester__Curation__PollInterval"] = "00:00:01",
        };
        await using var w = HarvesterProcess.Start(_home, env, "worker");
        var deadline = DateTime.UtcNow + Long;
        while (!w.StandardError.Contains("Database unavailable at start", StringComparison.Ordinal))
        {
            Assert.False(w.HasExited, "the worker exited instead of waiting for its database:\n" + Tail(w.StandardError));
            Assert.True(DateTime.UtcNow < deadline, "the worker never said it was waiting:\n" + Tail(w.StandardError));
            await Task.Delay(200);
        }

        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(w.HasExited, "the worker gave up on its database:\n" + Tail(w.StandardError));
        await PgCtl.StartAsync(_db.Cluster!);
        NpgsqlConnection.ClearAllPools();

        await WaitUntilAsync(async () => await CountAsync("SELECT count(*) FROM images WHERE status = 'fetched'") == 0, Long, w);
        Assert.Contains("Database reachable after", w.StandardError, StringComparison.Ordinal);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM workers WHERE stopped_at IS NULL"));

        using var interrupt = Process.Start("kill", ["-TERM", w.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await interrupt.WaitForExitAsync();
        await w.WaitAsync(Long);
        Assert.Equal(0, w.ExitCode);
    }

    [Fact]
    public async Task A_worker_stopped_while_it_waits_for_its_database_exits_0()
    {
        await PgCtl.StopAsync(_db.Cluster!);
        try
        {
            await using var w = HarvesterProcess.Start(_home, new Dictionary<string, string>
            {
                ["Harvester__ConnectionStrings__Harvester"] = _db.ConnectionString,
                ["Harvester__Worker__Stages__0"] = "curate",
            }, "worker");
            var deadline = DateTime.UtcNow + Long;
            while (!w.StandardError.Contains("Database unavailable at start", StringComparison.Ordinal))
            {
                Assert.False(w.HasExited, "the worker exited instead of waiting for its database:\n" + Tail(w.StandardError));
                Assert.True(DateTime.UtcNow < deadline, "the worker never said it was waiting:\n" + Tail(w.StandardError));
                await Task.Delay(200);
            }

            // Stopping a worker that has not started yet is what the operator asked for, not a failure (a service
            // manager would otherwise report a failed unit on every ordinary stop during a database outage).
            // SIGTERM, as a service manager stops it; Ctrl+C (SIGINT) takes the same path in the worker, but a suite
            // started in the background inherits SIGINT as ignored, and so would the worker.
            using var interrupt = Process.Start("kill", ["-TERM", w.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
            await interrupt.WaitForExitAsync();
            await w.WaitAsync(Long);
            Assert.Equal(0, w.ExitCode);
        }
        finally
        {
            await PgCtl.StartAsync(_db.Cluster!);
            NpgsqlConnection.ClearAllPools();
        }
    }

    [Fact]
    public async Task A_command_run_while_its_configured_server_is_down_says_so_in_one_line()
    {
        await PgCtl.StopAsync(_db.Cluster!);
        try
        {
            await using var c = HarvesterProcess.Start(_home, new Dictionary<string, string> { ["Harvester__ConnectionStrings__Harvester"] = _db.ConnectionString }, "curate");
            await c.WaitAsync(Long);
            Assert.NotEqual(0, c.ExitCode);
            // One line, naming the key that says where the server is.
            var line = Assert.Single(c.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: Cannot reach PostgreSQL", line, StringComparison.Ordinal);
            Assert.Contains("ConnectionStrings:Harvester", line, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", c.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            await PgCtl.StartAsync(_db.Cluster!);
            NpgsqlConnection.ClearAllPools();
        }
    }

    private async Task SeedAsync(int n, ImageStatus status)
    {
        await using var ctx = _db.CreateDbContext();
        foreach (var photo in PhotoCorpus.Distinct(n))
        {
            var bytes = PhotoCorpus.RenderJpeg(photo, maxSide: 480);
            var sha = await _blobs.PutAsync(bytes, CancellationToken.None);
            ctx.Images.Add(new Image { Sha256 = sha, SourceUrl = $"http://photos.test/{photo.Id}.jpg", Status = status, ByteSize = bytes.Length, Width = 352, Height = 264 });
        }

        await ctx.SaveChangesAsync();
    }

    /// <summary>Accepted images with random unit vectors of a registered model (what a long clustering run works on).</summary>
    private async Task SeedVectorsAsync(int n, int dim)
    {
        await using var conn = await _db.DataSource.OpenConnectionAsync();
        await using (var model = new NpgsqlCommand(
            $"INSERT INTO embedding_models (name, version, manifest_sha256, dimension, vector_type) VALUES ('synthetic', '1', '', {dim}, 'vector')", conn))
        {
            await model.ExecuteNonQueryAsync();
        }

        await using (var images = new NpgsqlCommand($"""
            INSERT INTO images (sha256, byte_size, source_url, status)
            SELECT lpad(to_hex(g), 64, '0'), 1000, 'http://photos.test/' || g, 'accepted' FROM generate_series(1, {n}) g
            """, conn))
        {
            await images.ExecuteNonQueryAsync();
        }

        var random = new Random(5);
        await using var copy = await conn.BeginBinaryImportAsync("COPY embeddings (image_id, model_id, embedding) FROM STDIN (FORMAT BINARY)");
        for (var i = 1; i <= n; i++)
        {
            var v = new float[dim];
            for (var d = 0; d < dim; d++)
            {
                v[d] = (float)(random.NextDouble() - 0.5);
            }

            await copy.StartRowAsync();
            await copy.WriteAsync((long)i, NpgsqlTypes.NpgsqlDbType.Bigint);
            await copy.WriteAsync(1, NpgsqlTypes.NpgsqlDbType.Integer);
            await copy.WriteAsync(new Pgvector.Vector(v));
        }

        await copy.CompleteAsync();
    }

    private async Task<long> CountAsync(string sql)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var cmd = _db.DataSource.CreateCommand(sql);
                return (long)(await cmd.ExecuteScalarAsync())!;
            }
            catch (NpgsqlException) when (attempt < 30)
            {
                await Task.Delay(1000); // the database is restarting
            }
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, params HarvesterProcess[] workers)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline,
                "timed out waiting for the workers:\n" + string.Join("\n----\n", workers.Select(w => Tail(w.StandardError))));
            await Task.Delay(500);
        }
    }

    /// <summary>Polls often, so the kill lands mid-run: once <paramref name="sql"/> counts one row or more.</summary>
    private async Task WaitUntilSomeAsync(string sql, HarvesterProcess process)
    {
        var deadline = DateTime.UtcNow + Long;
        while (await CountAsync(sql) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline && !process.HasExited, "nothing happened before the kill:\n" + Tail(process.StandardError));
            await Task.Delay(20);
        }
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
