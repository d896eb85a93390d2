using Harvester.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.Data;

/// <summary>
/// The database Harvester works in: the configured server (ConnectionStrings:Harvester) or the embedded cluster.
/// Start it once per process before any stage touches the data.
/// </summary>
public sealed class HarvesterDatabase(
    IConfiguration configuration,
    IOptions<PostgreSqlOptions> postgres,
    IOptions<StorageOptions> storage,
    ILoggerFactory loggerFactory) : IAsyncDisposable, IDisposable
{
    public const string ConnectionStringName = "Harvester";
    public const string MigrationsAssembly = "Harvester.Migrations";

    private readonly ILogger _logger = loggerFactory.CreateLogger<HarvesterDatabase>();
    private NpgsqlDataSource? _dataSource;

    public EmbeddedPostgres? Cluster { get; private set; }
    public bool IsEmbedded => Cluster is not null;
    public string ConnectionString { get; private set; } = "";
    public IReadOnlyList<string> AppliedMigrations { get; private set; } = [];
    public string VectorVersion { get; private set; } = "";

    public NpgsqlDataSource DataSource =>
        _dataSource ?? throw new InvalidOperationException("HarvesterDatabase.StartAsync has not run yet.");

    public async Task StartAsync(bool migrate, CancellationToken ct)
    {
        if (_dataSource is not null)
        {
            return;
        }

        var configured = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(configured))
        {
            Cluster = new EmbeddedPostgres(postgres.Value, storage.Value.ResolveRoot(), loggerFactory.CreateLogger<EmbeddedPostgres>());
            await Cluster.StartAsync(ct);
            ConnectionString = Cluster.ConnectionString(postgres.Value.Database);
            await EnsureDatabaseExistsAsync(Cluster.ConnectionString("postgres"), postgres.Value.Database, ct);
        }
        else
        {
            ConnectionString = configured;
        }

        VectorVersion = await EnsureVectorExtensionAsync(ConnectionString, ct);
        _dataSource = BuildDataSource(ConnectionString);
        if (migrate)
        {
            await MigrateAsync(ct);
        }

        Log.DatabaseReady(_logger, new NpgsqlConnectionStringBuilder(ConnectionString).Database ?? "", IsEmbedded ? "embedded" : "configured server", VectorVersion);
    }

    public async Task MigrateAsync(CancellationToken ct)
    {
        await using var db = CreateDbContext();

        // EF asks for the applied migrations by querying the history table and reading a missing table as "none",
        // which it logs as a failed command; on a fresh database that puts two "fail:" lines into a healthy start.
        await db.GetService<IHistoryRepository>().CreateIfNotExistsAsync(ct);
        var pending = (await db.Database.GetPendingMigrationsAsync(ct)).ToList();
        await db.Database.MigrateAsync(ct);
        AppliedMigrations = pending;
        if (pending.Count > 0)
        {
            Log.MigrationsApplied(_logger, string.Join(", ", pending));
        }

        // Tables created by the migration change the types Npgsql knows about (e.g. after CREATE EXTENSION on a fresh server).
        await using var conn = await DataSource.OpenConnectionAsync(ct);
        await conn.ReloadTypesAsync(ct);
    }

    /// <summary>
    /// Empties every table the migrations made (their history stays) and restarts their ids, dropping each model's
    /// HNSW index with its rows: the index is named by the model's id (ix_embeddings_m&lt;id&gt;), and ids are handed out
    /// again, so a model of another dimension would otherwise inherit it and its inserts fail. For a throw-away
    /// database such as the demo's; new tables are included without a change here.
    /// </summary>
    public async Task EmptyAsync(CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("""
            DO $$
            DECLARE ix text; tables text;
            BEGIN
                FOR ix IN SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname ~ '^ix_embeddings_m[0-9]+$' LOOP
                    EXECUTE format('DROP INDEX %I', ix);
                END LOOP;
                SELECT string_agg(format('%I', tablename), ', ') INTO tables
                FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '__EFMigrationsHistory';
                IF tables IS NOT NULL THEN
                    EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
                END IF;
            END
            $$
            """);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public HarvesterDbContext CreateDbContext()
    {
        var builder = new DbContextOptionsBuilder<HarvesterDbContext>();
        Configure(builder, DataSource);
        builder.UseLoggerFactory(loggerFactory);
        return new HarvesterDbContext(builder.Options);
    }

    public static void Configure(DbContextOptionsBuilder builder, NpgsqlDataSource dataSource) =>
        builder.UseNpgsql(dataSource, o => PipelineEnums.Map(o.UseVector().MigrationsAssembly(MigrationsAssembly)))
            .UseSnakeCaseNamingConvention();

    public static NpgsqlDataSource BuildDataSource(string connectionString)
    {
        var b = new NpgsqlDataSourceBuilder(connectionString);
        b.UseVector();
        b.EnableDynamicJson();
        PipelineEnums.Map(b);
        return b.Build();
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
            _dataSource = null;
        }

        NpgsqlConnection.ClearAllPools();
        if (Cluster is not null)
        {
            await Cluster.StopAsync(ct);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);

    public void Dispose() => StopAsync(CancellationToken.None).GetAwaiter().GetResult();

    private static async Task EnsureDatabaseExistsAsync(string adminConnectionString, string database, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(adminConnectionString);
        await conn.OpenAsync(ct);
        await using var check = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", conn);
        check.Parameters.AddWithValue(database);
        if (await check.ExecuteScalarAsync(ct) is null)
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", conn);
            try
            {
                await create.ExecuteNonQueryAsync(ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
                // Another Harvester process created it first.
            }
        }
    }

    private static async Task<string> EnsureVectorExtensionAsync(string connectionString, CancellationToken ct)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString);
        await using var conn = new NpgsqlConnection(connectionString);
        try
        {
            await conn.OpenAsync(ct);
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            throw new HarvesterException(
                $"Cannot reach PostgreSQL at {csb.Host}:{csb.Port} database '{csb.Database}' (ConnectionStrings:Harvester): {e.Message}. " +
                "Start that server or fix the connection string; remove it to use the embedded cluster.", e);
        }

        try
        {
            await using var cmd = new NpgsqlCommand("CREATE EXTENSION IF NOT EXISTS vector; SELECT extversion FROM pg_extension WHERE extname = 'vector'", conn);
            var version = (string?)await cmd.ExecuteScalarAsync(ct) ?? "";
            if (Version.TryParse(version, out var v) && v < new Version(0, 7))
            {
                throw new HarvesterException(
                    $"pgvector {version} is too old: Harvester needs 0.7 or later (bit Hamming indexes, halfvec); 0.8 adds iterative index scans. " +
                    "Upgrade it (ALTER EXTENSION vector UPDATE after installing the new version).");
            }

            return version;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedFile or PostgresErrorCodes.FeatureNotSupported or "0A000")
        {
            throw new HarvesterException(
                $"The pgvector extension is not installed on the PostgreSQL server at {csb.Host} ({e.MessageText}). " +
                "For the embedded cluster run './harvester setup' (it builds pgvector 0.8); for another server install pgvector there.", e);
        }
    }
}
