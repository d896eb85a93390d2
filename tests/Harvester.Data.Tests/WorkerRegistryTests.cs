using Harvester.Data.Stages;
using Harvester.Testing;
using Npgsql;

namespace Harvester.Data.Tests;

/// <summary>The workers table and its one liveness rule, as the dashboard and claim reclaiming use it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class WorkerRegistryTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;
    private const string Candidates = "SELECT g FROM generate_series(1, 30) g ORDER BY g";
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("workers");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    /// <summary>A worker of another machine, as its own heartbeats left it.</summary>
    private async Task RemoteWorkerAsync(string id, TimeSpan lastBeatAgo, TimeSpan interval, bool stopped = false)
    {
        await using var cmd = _db.DataSource.CreateCommand("""
            INSERT INTO workers (id, host, pid, version, stages, started_at, last_beat_at, heartbeat_interval, items_done, stopped_at)
            VALUES ($1, 'other-machine', 42, '1.0.0', '{curate}', now() - interval '1 hour', now() - $2, $3, 7, CASE WHEN $4 THEN now() END)
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = lastBeatAgo });
        cmd.Parameters.Add(new NpgsqlParameter { Value = interval });
        cmd.Parameters.Add(new NpgsqlParameter { Value = stopped });
        await cmd.ExecuteNonQueryAsync();
    }

    private async Task LeaseAsync(string stage, string owner, int from, int to)
    {
        await using var cmd = _db.DataSource.CreateCommand("""
            INSERT INTO work_leases (stage, item_id, claimed_by, lease_until, attempts)
            SELECT $1, g, $2, now() + interval '1 hour', 1 FROM generate_series($3::int, $4::int) g
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = owner });
        cmd.Parameters.Add(new NpgsqlParameter { Value = from });
        cmd.Parameters.Add(new NpgsqlParameter { Value = to });
        await cmd.ExecuteNonQueryAsync();
    }

    private async Task<List<WorkerRow>> ListAsync()
    {
        await using var conn = await _db.DataSource.OpenConnectionAsync();
        return await WorkerRegistry.ListAsync(conn, null, CancellationToken.None);
    }

    [Fact]
    public async Task A_worker_registers_beats_and_stops_and_is_judged_by_its_heartbeat()
    {
        await WorkerRegistry.RegisterAsync(_db.DataSource, ["curate", "embed"], TimeSpan.FromSeconds(10), CancellationToken.None);
        await WorkerRegistry.BeatAsync(_db.DataSource, 12, CancellationToken.None);
        await RemoteWorkerAsync("other-machine:42:1", TimeSpan.FromSeconds(16), TimeSpan.FromSeconds(10));
        await RemoteWorkerAsync("other-machine:43:1", TimeSpan.FromSeconds(31), TimeSpan.FromSeconds(10));

        var rows = (await ListAsync()).ToDictionary(w => w.Id);
        var me = rows[ProcessIdentity.Current];
        Assert.Equal((WorkerState.Alive, 12L), (me.State, me.ItemsDone));
        Assert.Equal(["curate", "embed"], me.Stages);
        Assert.Equal(Environment.ProcessId, me.Pid);
        // One missed beat is silence; three are gone.
        Assert.Equal(WorkerState.Silent, rows["other-machine:42:1"].State);
        Assert.Equal(WorkerState.Gone, rows["other-machine:43:1"].State);
        Assert.Contains("no heartbeat for 31 s", rows["other-machine:43:1"].Why, StringComparison.Ordinal);

        await WorkerRegistry.StopAsync(_db.DataSource, 20, CancellationToken.None);
        me = (await ListAsync()).Single(w => w.Id == ProcessIdentity.Current);
        Assert.Equal((WorkerState.Gone, "stopped", 20L), (me.State, me.Why, me.ItemsDone));
    }

    [Fact]
    public void A_process_of_this_machine_that_no_longer_runs_is_gone_whatever_its_last_beat()
    {
        var now = DateTimeOffset.UtcNow;
        var dead = ProcessIdentity.Format(ProcessIdentity.Host, int.MaxValue - 1, 1);
        Assert.Equal(WorkerState.Gone, WorkerRegistry.Judge(dead, now, TimeSpan.FromMinutes(1), null, now).State);
        Assert.Equal(WorkerState.Alive, WorkerRegistry.Judge(ProcessIdentity.Current, now, TimeSpan.FromMinutes(1), null, now).State);
    }

    [Fact]
    public async Task A_claim_takes_back_at_once_the_leases_of_a_remote_worker_gone_by_its_heartbeat_but_not_of_a_live_one()
    {
        var interval = TimeSpan.FromMilliseconds(200);
        await RemoteWorkerAsync("other-machine:1:1", TimeSpan.FromMinutes(5), interval);   // gone: far beyond three beats
        await RemoteWorkerAsync("other-machine:2:1", TimeSpan.Zero, Hour);                  // alive
        await RemoteWorkerAsync("other-machine:3:1", TimeSpan.Zero, Hour, stopped: true);   // stopped cleanly mid-pass
        await LeaseAsync("curate", "other-machine:1:1", 1, 10);
        await LeaseAsync("curate", "other-machine:2:1", 11, 20);
        await LeaseAsync("curate", "other-machine:3:1", 21, 25);
        // An owner that never registered (a command on another machine) keeps its lease until it ends.
        await LeaseAsync("curate", "third-machine:9:9", 26, 30);

        var claim = await StageLeases.ClaimAsync(_db.DataSource, "curate", Candidates, 100, Hour, 3, CancellationToken.None);

        Assert.Equal([.. Enumerable.Range(1, 10), .. Enumerable.Range(21, 5)], claim.Items.Select(i => (int)i).Order());
        await using var attempts = _db.DataSource.CreateCommand("SELECT max(attempts) FROM work_leases WHERE item_id <= 10 AND stage = 'curate'");
        Assert.Equal(2, await attempts.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Claimable_counts_candidates_without_a_live_lease_or_a_give_up()
    {
        Assert.Equal(30, await StageLeases.CountClaimableAsync(_db.DataSource, "count", Candidates, CancellationToken.None));
        var claim = await StageLeases.ClaimAsync(_db.DataSource, "count", Candidates, 8, Hour, 3, CancellationToken.None);
        await using (var conn = await _db.DataSource.OpenConnectionAsync())
        {
            await StageLeases.GiveUpAsync(conn, null, "count", [(claim.Items[0], "broken")], CancellationToken.None);
        }

        Assert.Equal(22, await StageLeases.CountClaimableAsync(_db.DataSource, "count", Candidates, CancellationToken.None));
        await StageLeases.ReleaseAsync(_db.DataSource, "count", claim.Items.Skip(1).ToList(), CancellationToken.None);
        Assert.Equal(29, await StageLeases.CountClaimableAsync(_db.DataSource, "count", Candidates, CancellationToken.None));
    }
}
