using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Xunit;

namespace Harvester.Testing;

/// <summary>
/// One private PostgreSQL + pgvector cluster per test assembly (real server, no mocks), migrated once into a
/// template database; each test class gets a fresh database cloned from that template. Each test assembly declares
/// a collection for it (xunit wants collection definitions in the assembly that uses them).
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private const string Template = "harvester_template";
    private int _counter;

    public string StateRoot { get; } = Path.Combine(Path.GetTempPath(), "harvester-tests-" + Guid.NewGuid().ToString("N")[..12]);
    public EmbeddedPostgres Cluster { get; private set; } = null!;

    public static PostgreSqlOptions TestOptions() => new() { Fsync = false, StartTimeout = TimeSpan.FromSeconds(60) };

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(StateRoot);
        Cluster = new EmbeddedPostgres(TestOptions(), StateRoot, NullLogger.Instance);
        await Cluster.StartAsync(CancellationToken.None);
        await using var db = await OpenDatabaseAsync(Template, migrate: true, CancellationToken.None);
    }

    /// <summary>A fresh, migrated database (cloned from the template) with its own <see cref="HarvesterDatabase"/>.</summary>
    public async Task<HarvesterDatabase> CreateDatabaseAsync(string? prefix = null, CancellationToken ct = default)
    {
        var name = $"{prefix ?? "t"}_{Interlocked.Increment(ref _counter)}_{Guid.NewGuid().ToString("N")[..8]}".ToLowerInvariant();
        await using (var conn = new NpgsqlConnection(Cluster.ConnectionString("postgres")))
        {
            await conn.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE {Template}", conn);
            await cmd.ExecuteNonQueryAsync(ct);
        }

        return await OpenDatabaseAsync(name, migrate: false, ct);
    }

    /// <summary>Options for an app-level <see cref="HarvesterDatabase"/> pointed at a database of this cluster.</summary>
    public IConfiguration ConfigurationFor(string database) => new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Harvester"] = Cluster.ConnectionString(database),
        })
        .Build();

    public StorageOptions Storage => new() { Root = StateRoot };

    private async Task<HarvesterDatabase> OpenDatabaseAsync(string name, bool migrate, CancellationToken ct)
    {
        if (migrate)
        {
            await using var conn = new NpgsqlConnection(Cluster.ConnectionString("postgres"));
            await conn.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
            await cmd.ExecuteNonQueryAsync(ct);
        }

        var db = new HarvesterDatabase(ConfigurationFor(name), Options.Create(TestOptions()), Options.Create(Storage), NullLoggerFactory.Instance);
        await db.StartAsync(migrate, ct);
        return db;
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await Cluster.StopAsync(CancellationToken.None);
        try
        {
            Directory.Delete(StateRoot, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
