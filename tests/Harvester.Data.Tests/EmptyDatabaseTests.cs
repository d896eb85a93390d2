using Harvester.Testing;
using Npgsql;

namespace Harvester.Data.Tests;

/// <summary>Emptying a throw-away database (the demo's) and registering models again afterwards.</summary>
[Collection(PostgresCollection.Name)]
public sealed class EmptyDatabaseTests(PostgresFixture fixture)
{
    [Fact]
    public async Task Emptying_leaves_every_table_empty_and_a_model_of_another_dimension_reuses_the_id_with_its_own_index()
    {
        await using var db = await fixture.CreateDatabaseAsync("empty");
        var (first, _) = await new ModelStore(db).RegisterAsync(new ModelRegistration("wide", "1", "a", 560, "vector", 16, 64), CancellationToken.None);
        await InsertVectorAsync(db, first.Id, 560);

        await db.EmptyAsync(CancellationToken.None);

        var tables = await ScalarAsync<long>(db, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '__EFMigrationsHistory'");
        Assert.True(tables > 10, $"only {tables} tables");
        foreach (var table in await ListAsync(db, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '__EFMigrationsHistory'"))
        {
            Assert.Equal(0L, await ScalarAsync<long>(db, $"SELECT count(*) FROM \"{table}\""));
        }

        Assert.True(await ScalarAsync<long>(db, "SELECT count(*) FROM \"__EFMigrationsHistory\"") > 0, "the migration history was emptied too");

        // Ids restart, so the next model gets the first one's id: its vectors (another dimension) go in, under an index of its own.
        var (second, created) = await new ModelStore(db).RegisterAsync(new ModelRegistration("narrow", "1", "b", 512, "vector", 16, 64), CancellationToken.None);
        Assert.True(created);
        Assert.Equal(first.Id, second.Id);
        await InsertVectorAsync(db, second.Id, 512);
        var definition = Assert.Single(await ListAsync(db, $"SELECT indexdef FROM pg_indexes WHERE indexname = '{second.IndexName}'"));
        Assert.Contains("vector(512)", definition, StringComparison.Ordinal);
    }

    /// <summary>An accepted image with one vector of the model (ids restart with the tables, so the image is made here).</summary>
    private static async Task InsertVectorAsync(HarvesterDatabase db, int modelId, int dim)
    {
        await using var conn = await db.DataSource.OpenConnectionAsync();
        await using var image = new NpgsqlCommand(
            "INSERT INTO images (sha256, byte_size, source_url, status) VALUES (md5(random()::text) || md5(random()::text), 1, 'http://photos.test/x', 'accepted') RETURNING id", conn);
        var imageId = (long)(await image.ExecuteScalarAsync())!;
        await using var insert = new NpgsqlCommand("INSERT INTO embeddings (image_id, model_id, embedding) VALUES ($1, $2, $3)", conn);
        insert.Parameters.Add(new NpgsqlParameter { Value = imageId });
        insert.Parameters.Add(new NpgsqlParameter { Value = modelId });
        insert.Parameters.Add(new NpgsqlParameter { Value = new Pgvector.Vector(Enumerable.Range(0, dim).Select(i => (float)Math.Sin(i + 1)).ToArray()) });
        await insert.ExecuteNonQueryAsync();
    }

    private static async Task<T> ScalarAsync<T>(HarvesterDatabase db, string sql)
    {
        await using var cmd = db.DataSource.CreateCommand(sql);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<List<string>> ListAsync(HarvesterDatabase db, string sql)
    {
        await using var cmd = db.DataSource.CreateCommand(sql);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await r.ReadAsync())
        {
            rows.Add(r.GetString(0));
        }

        return rows;
    }
}
