using Harvester.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.Data.Tests;

[Collection(PostgresCollection.Name)]
public sealed class MigrationTests(PostgresFixture fixture)
{
    [Fact]
    public async Task Migrating_a_fresh_database_logs_no_warning_or_failure()
    {
        var name = "fresh_" + Guid.NewGuid().ToString("N")[..8];
        await using (var conn = new NpgsqlConnection(fixture.Cluster.ConnectionString("postgres")))
        {
            await conn.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
            await create.ExecuteNonQueryAsync();
        }

        var captured = new CapturingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(captured));
        await using var db = new HarvesterDatabase(fixture.ConfigurationFor(name), Options.Create(PostgresFixture.TestOptions()), Options.Create(fixture.Storage), loggers);

        await db.StartAsync(migrate: true, CancellationToken.None);

        Assert.NotEmpty(db.AppliedMigrations);
        Assert.Contains(captured.Entries, e => e.Category.StartsWith("Microsoft.EntityFrameworkCore.Database.Command", StringComparison.Ordinal));
        Assert.DoesNotContain(captured.Entries, e => e.Level >= LogLevel.Warning);
    }
}
