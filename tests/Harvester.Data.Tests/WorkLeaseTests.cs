using Harvester.Testing;
using Npgsql;

namespace Harvester.Data.Tests;

[Collection(PostgresCollection.Name)]
public sealed class WorkLeaseTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;
    private const string Candidates = "SELECT g FROM generate_series(1, 100) g ORDER BY g";

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("leases");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Concurrent_claims_take_disjoint_batches_until_all_items_are_claimed()
    {
        var claims = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ =>
            WorkLeases.ClaimAsync(_db.DataSource, "stage-a", Candidates, 30, TimeSpan.FromMinutes(5), CancellationToken.None)));
        var all = claims.SelectMany(c => c).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        var rest = await WorkLeases.ClaimAsync(_db.DataSource, "stage-a", Candidates, 100, TimeSpan.FromMinutes(5), CancellationToken.None);
        Assert.Equal(100, all.Count + rest.Count);
        Assert.Empty(await WorkLeases.ClaimAsync(_db.DataSource, "stage-a", Candidates, 100, TimeSpan.FromMinutes(5), CancellationToken.None));
        // Another stage has its own leases on the same ids.
        Assert.Equal(10, (await WorkLeases.ClaimAsync(_db.DataSource, "stage-b", Candidates, 10, TimeSpan.FromMinutes(5), CancellationToken.None)).Count);
    }

    [Fact]
    public async Task An_expired_lease_is_claimed_again_and_counts_the_attempt()
    {
        var first = await WorkLeases.ClaimAsync(_db.DataSource, "expiring", Candidates, 5, TimeSpan.FromMilliseconds(1), CancellationToken.None);
        await Task.Delay(20);
        var second = await WorkLeases.ClaimAsync(_db.DataSource, "expiring", Candidates, 5, TimeSpan.FromMinutes(5), CancellationToken.None);
        Assert.Equal(first, second);
        var attempts = await WorkLeases.AttemptsAsync(_db.DataSource, "expiring", second, CancellationToken.None);
        Assert.All(second, id => Assert.Equal(2, attempts[id]));

        await using var conn = await _db.DataSource.OpenConnectionAsync();
        await WorkLeases.CompleteAsync(conn, null, "expiring", second, CancellationToken.None);
        await using var count = new NpgsqlCommand("SELECT count(*) FROM work_leases WHERE stage = 'expiring'", conn);
        Assert.Equal(0L, await count.ExecuteScalarAsync());
    }
}
