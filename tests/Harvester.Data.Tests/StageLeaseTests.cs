using Harvester.Core.Stages;
using Harvester.Data.Stages;
using Harvester.Testing;
using Npgsql;

namespace Harvester.Data.Tests;

[Collection(PostgresCollection.Name)]
public sealed class StageLeaseTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;
    private const string Candidates = "SELECT g FROM generate_series(1, 100) g ORDER BY g";
    private static readonly TimeSpan FiveMinutes = TimeSpan.FromMinutes(5);

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("leases");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Concurrent_claims_take_disjoint_batches_until_all_items_are_claimed()
    {
        var claims = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ =>
            StageLeases.ClaimAsync(_db.DataSource, "stage-a", Candidates, 30, FiveMinutes, 3, CancellationToken.None)));
        var all = claims.SelectMany(c => c.Items).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        var rest = await StageLeases.ClaimAsync(_db.DataSource, "stage-a", Candidates, 100, FiveMinutes, 3, CancellationToken.None);
        Assert.Equal(100, all.Count + rest.Count);
        Assert.Equal(0, (await StageLeases.ClaimAsync(_db.DataSource, "stage-a", Candidates, 100, FiveMinutes, 3, CancellationToken.None)).Count);
        // Another stage has its own leases on the same ids.
        Assert.Equal(10, (await StageLeases.ClaimAsync(_db.DataSource, "stage-b", Candidates, 10, FiveMinutes, 3, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task An_expired_lease_is_claimed_again_and_counts_the_attempt()
    {
        var first = await StageLeases.ClaimAsync(_db.DataSource, "expiring", Candidates, 5, TimeSpan.FromMilliseconds(1), 3, CancellationToken.None);
        await Task.Delay(20);
        var second = await StageLeases.ClaimAsync(_db.DataSource, "expiring", Candidates, 5, FiveMinutes, 1, CancellationToken.None);

        // Claimed twice with one attempt allowed: every item is exhausted, on its second attempt.
        Assert.Empty(second.Items);
        Assert.Equal(first.Items, second.Exhausted.Select(e => e.Id));
        Assert.All(second.Exhausted, e => Assert.Equal(2, e.Attempts));

        await using var conn = await _db.DataSource.OpenConnectionAsync();
        await StageLeases.CompleteAsync(conn, null, "expiring", second.All, CancellationToken.None);
        await using var count = new NpgsqlCommand("SELECT count(*) FROM work_leases WHERE stage = 'expiring'", conn);
        Assert.Equal(0L, await count.ExecuteScalarAsync());
    }

    [Fact]
    public async Task An_item_given_up_on_is_never_claimed_again_and_keeps_its_reason()
    {
        var claim = await StageLeases.ClaimAsync(_db.DataSource, "giving-up", Candidates, 3, TimeSpan.FromMilliseconds(1), 3, CancellationToken.None);
        await using (var conn = await _db.DataSource.OpenConnectionAsync())
        {
            await StageLeases.GiveUpAsync(conn, null, "giving-up", [(claim.Items[0], "decoder crashed")], CancellationToken.None);
        }

        await Task.Delay(20);
        var again = await StageLeases.ClaimAsync(_db.DataSource, "giving-up", Candidates, 100, FiveMinutes, 3, CancellationToken.None);

        Assert.DoesNotContain(claim.Items[0], again.All);
        Assert.Equal(99, again.Count);
        await using var reason = _db.DataSource.CreateCommand($"SELECT last_error FROM work_leases WHERE stage = 'giving-up' AND item_id = {claim.Items[0]} AND given_up_at IS NOT NULL");
        Assert.Equal("decoder crashed", await reason.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Claims_of_a_dead_process_on_this_machine_are_free_at_once_and_a_reused_pid_does_not_keep_them()
    {
        using var child = System.Diagnostics.Process.Start("sleep", "0.1")!;
        var childStart = ProcessIdentity.StartTicks(child.Id)!.Value;
        await child.WaitForExitAsync();
        var dead = ProcessIdentity.Format(ProcessIdentity.Host, child.Id, childStart);
        var reused = ProcessIdentity.Format(ProcessIdentity.Host, Environment.ProcessId, 1); // this pid, another start time
        var otherMachine = ProcessIdentity.Format("another-host", 1, 1);
        await using (var insert = _db.DataSource.CreateCommand("""
            INSERT INTO work_leases (stage, item_id, claimed_by, lease_until, attempts)
            VALUES ('reclaim', 1, $1, now() + interval '1 hour', 1), ('reclaim', 2, $2, now() + interval '1 hour', 1),
                   ('reclaim', 3, $3, now() + interval '1 hour', 1), ('reclaim', 4, $4, now() + interval '1 hour', 1)
            """))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = dead });
            insert.Parameters.Add(new NpgsqlParameter { Value = reused });
            insert.Parameters.Add(new NpgsqlParameter { Value = otherMachine });
            insert.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
            await insert.ExecuteNonQueryAsync();
        }

        var claim = await StageLeases.ClaimAsync(_db.DataSource, "reclaim", "SELECT g FROM generate_series(1, 4) g ORDER BY g", 10, FiveMinutes, 3, CancellationToken.None);

        // Dead and reused-pid owners lose their claims; another machine's owner and this live process keep theirs.
        Assert.Equal([1L, 2L], claim.Items);
    }

    [Fact]
    public async Task A_drain_with_passes_side_by_side_works_every_item_once_and_adds_up_every_pass()
    {
        // Items leave the candidates when their pass commits, as images leave 'fetched' when curated.
        await using (var create = _db.DataSource.CreateCommand("CREATE TABLE drain_items AS SELECT g::bigint AS id, false AS done FROM generate_series(1, 100) g"))
        {
            await create.ExecuteNonQueryAsync();
        }

        const string open = "SELECT id FROM drain_items WHERE NOT done ORDER BY id";
        var worked = new System.Collections.Concurrent.ConcurrentBag<long>();
        var inFlight = 0;
        var overlapped = 0;
        async Task<Worked> PassAsync(CancellationToken ct)
        {
            var claim = await StageLeases.ClaimAsync(_db.DataSource, "side-by-side", open, 7, FiveMinutes, 3, ct);
            if (claim.Count == 0)
            {
                return Worked.Empty;
            }

            if (Interlocked.Increment(ref inFlight) > 1)
            {
                Interlocked.Exchange(ref overlapped, 1);
            }

            await Task.Delay(20, ct); // the pass's work, outside any transaction
            Interlocked.Decrement(ref inFlight);
            foreach (var id in claim.Items)
            {
                worked.Add(id);
            }

            await using var conn = await _db.DataSource.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await using (var mark = new NpgsqlCommand("UPDATE drain_items SET done = true WHERE id = ANY($1)", conn, tx))
            {
                mark.Parameters.Add(new NpgsqlParameter { Value = claim.All.ToArray() });
                await mark.ExecuteNonQueryAsync(ct);
            }

            await StageLeases.CompleteAsync(conn, tx, "side-by-side", claim.All, ct);
            await tx.CommitAsync(ct);
            return new Worked(claim.Count, 1);
        }

        var reports = new List<StageProgress>();
        var sink = new SynchronousProgress(reports);
        var total = await StageRunner.DrainAsync(PassAsync, 3, CancellationToken.None, null,
            new DrainProgress("side-by-side", ct => StageLeases.CountClaimableAsync(_db.DataSource, "side-by-side", open, ct), sink));

        Assert.Equal(100, total.Claimed);
        Assert.Equal(15, total.Passes); // 14 passes of 7 and one of 2
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), worked.Order());
        Assert.Equal(1, overlapped);
        Assert.Equal(0, reports[0].Done);
        Assert.Equal(100, reports[^1].Done);
        Assert.Equal(100, reports[^1].Total);
        Assert.Equal(reports.Select(r => r.Done).Order(), reports.Select(r => r.Done)); // done only grows
    }

    private sealed record Worked(int Claimed, int Passes) : Harvester.Core.Stages.IStageResult<Worked>
    {
        public static Worked Empty { get; } = new(0, 0);

        public Worked Add(Worked other) => new(Claimed + other.Claimed, Passes + other.Passes);
    }

    private sealed class SynchronousProgress(List<StageProgress> reports) : IProgress<StageProgress>
    {
        public void Report(StageProgress value)
        {
            lock (reports)
            {
                reports.Add(value);
            }
        }
    }
}
