using System.CommandLine;
using Harvester.Data;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Harvester.App.Commands;

internal static class DbCommands
{
    public static Command Create()
    {
        var db = new Command("db", "The database: migrate, status, and the embedded cluster's lifetime.");

        var migrate = new Command("migrate", "Apply pending migrations (the embedded mode also does this on every start).");
        migrate.SetAction((pr, ct) => Cli.InHost(pr, ct, services =>
        {
            var database = services.GetRequiredService<HarvesterDatabase>();
            Console.WriteLine(database.AppliedMigrations.Count == 0
                ? "Schema is up to date."
                : "Applied: " + string.Join(", ", database.AppliedMigrations));
            return Task.FromResult(0);
        }));

        var status = new Command("status", "Where the database is, pgvector's version, migrations and row counts.");
        status.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var database = services.GetRequiredService<HarvesterDatabase>();
            await PrintStatusAsync(database, ct);
            return 0;
        }));

        var start = new Command("start", "Start the embedded cluster and leave it running (for psql and other tools); prints how to connect.");
        start.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var database = services.GetRequiredService<HarvesterDatabase>();
            await database.StartAsync(migrate: true, ct);
            if (database.Cluster is null)
            {
                Console.WriteLine("ConnectionStrings:Harvester is set: Harvester uses that server and starts none of its own.");
                return 0;
            }

            Console.WriteLine($"Embedded PostgreSQL is running: data {database.Cluster.DataDir}");
            Console.WriteLine($"  psql -h {database.Cluster.SocketDir} -p {database.Cluster.Port} -U postgres {new NpgsqlConnectionStringBuilder(database.ConnectionString).Database}");
            Console.WriteLine("Stop it with: ./harvester db stop");
            await database.Cluster.DetachAsync(ct);
            return 0;
        }, start: false));

        var stop = new Command("stop", "Stop the embedded cluster if no other Harvester process is using it.");
        stop.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var database = services.GetRequiredService<HarvesterDatabase>();
            await database.StartAsync(migrate: false, ct);
            database.Cluster?.Unpin();
            await database.StopAsync(ct);
            Console.WriteLine(database.Cluster is null ? "Configured server: nothing to stop." : "Stopped (unless another Harvester process still uses it).");
            return 0;
        }, start: false));

        db.Subcommands.Add(migrate);
        db.Subcommands.Add(status);
        db.Subcommands.Add(start);
        db.Subcommands.Add(stop);
        return db;
    }

    public static async Task PrintStatusAsync(HarvesterDatabase database, CancellationToken ct)
    {
        var csb = new NpgsqlConnectionStringBuilder(database.ConnectionString);
        Console.WriteLine(database.Cluster is { } c
            ? $"Database: embedded PostgreSQL, data {c.DataDir}\n  connect: psql -h {c.SocketDir} -p {c.Port} -U postgres {csb.Database}"
            : $"Database: configured server {csb.Host}:{csb.Port}/{csb.Database}");
        Console.WriteLine($"pgvector: {database.VectorVersion}");
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using (var cmd = new NpgsqlCommand("SELECT count(*) FROM \"__EFMigrationsHistory\"", conn))
        {
            Console.WriteLine($"Migrations applied: {await cmd.ExecuteScalarAsync(ct)}");
        }

        const string counts = """
            SELECT 'crawl_jobs', count(*) FROM crawl_jobs UNION ALL
            SELECT 'places', count(*) FROM places UNION ALL
            SELECT 'products', count(*) FROM products UNION ALL
            SELECT 'images', count(*) FROM images UNION ALL
            SELECT 'embeddings', count(*) FROM embeddings UNION ALL
            SELECT 'clustering_runs', count(*) FROM clustering_runs
            """;
        await using var q = new NpgsqlCommand(counts, conn);
        await using var r = await q.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            Console.WriteLine($"  {r.GetString(0),-16} {r.GetInt64(1),8}");
        }
    }
}
