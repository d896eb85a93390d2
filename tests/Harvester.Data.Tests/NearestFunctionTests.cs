using System.Numerics.Tensors;
using Harvester.Testing;
using Npgsql;
using Pgvector;

namespace Harvester.Data.Tests;

/// <summary>One seeded database for all the function tests (seeding 20,000 vectors once, not per test).</summary>
public sealed class NearestDatabase(PostgresFixture fixture) : IAsyncLifetime
{
    public const int Images = 20_000;
    public const int Dim = 16;

    public HarvesterDatabase Db { get; private set; } = null!;
    public RegisteredModel Model { get; private set; } = null!;
    public float[][] Vectors { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Db = await fixture.CreateDatabaseAsync("nearest");
        (Model, Vectors) = await NearestFunctionTests.SeedAsync(Db, Images, Dim);
    }

    public async Task DisposeAsync() => await Db.DisposeAsync();
}

/// <summary>The harvester.* SQL functions users call for nearest images: order, filters, index use and bad input.</summary>
[Collection(PostgresCollection.Name)]
public sealed class NearestFunctionTests(NearestDatabase seeded) : IClassFixture<NearestDatabase>
{
    private const int Images = NearestDatabase.Images;
    private HarvesterDatabase Db => seeded.Db;

    private RegisteredModel Model => seeded.Model;

    private float[][] Vectors => seeded.Vectors;

    /// <summary>
    /// Random unit vectors of one registered model (with its HNSW index), accepted images, and places in two
    /// neighbourhoods: even image ids were seen in 망원동, odd ones in 연남동.
    /// </summary>
    internal static async Task<(RegisteredModel Model, float[][] Vectors)> SeedAsync(HarvesterDatabase db, int n, int dim, string modelName = "test-model")
    {
        // The index is built once the vectors are in (as a bulk load should be), not row by row during COPY.
        var registration = new ModelRegistration(modelName, "1", "sha", dim, "vector", 16, 64);
        var (model, _) = await new ModelStore(db).RegisterAsync(registration, CancellationToken.None);
        var random = new Random(11);
        var vectors = new float[n][];
        await using var conn = await db.DataSource.OpenConnectionAsync();
        await using (var drop = new NpgsqlCommand($"DROP INDEX {model.IndexName}", conn))
        {
            await drop.ExecuteNonQueryAsync();
        }

        await using (var seed = new NpgsqlCommand($"""
            INSERT INTO sites (key, adapter, base_url) VALUES ('demo-map', 'map', 'http://demo.test/');
            INSERT INTO places (site_id, external_id, name, category, neighbourhood) VALUES (1, 'p1', 'Cafe A', '카페', '망원동'), (1, 'p2', 'Cafe B', '카페', '연남동');
            INSERT INTO images (sha256, byte_size, source_url, status, place_id)
            SELECT lpad(to_hex(g), 64, '0'), 1000, 'http://demo.test/' || g, 'accepted', 1 + g % 2 FROM generate_series(1, {n}) g;
            INSERT INTO image_sightings (image_id, site_id, place_id, source_url) SELECT id, 1, place_id, source_url FROM images;
            """, conn))
        {
            await seed.ExecuteNonQueryAsync();
        }

        await using (var copy = await conn.BeginBinaryImportAsync("COPY embeddings (image_id, model_id, embedding) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < n; i++)
            {
                var v = new float[dim];
                for (var d = 0; d < dim; d++)
                {
                    v[d] = (float)((random.NextDouble() * 2) - 1);
                }

                TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
                vectors[i] = v;
                await copy.StartRowAsync();
                await copy.WriteAsync((long)(i + 1), NpgsqlTypes.NpgsqlDbType.Bigint);
                await copy.WriteAsync(model.Id, NpgsqlTypes.NpgsqlDbType.Integer);
                await copy.WriteAsync(new Vector(v));
            }

            await copy.CompleteAsync();
        }

        await new ModelStore(db).RegisterAsync(registration, CancellationToken.None); // creates the missing index
        await using (var analyze = new NpgsqlCommand("ANALYZE", conn))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        return (model, vectors);
    }

    [Fact]
    public async Task Nearest_images_returns_k_rows_nearest_first_matching_an_exact_search()
    {
        var rows = await QueryAsync("SELECT image_id, distance FROM harvester.nearest_images(42, 10)");

        Assert.Equal(10, rows.Count);
        Assert.DoesNotContain(rows, r => r.Id == 42);
        Assert.True(rows.Zip(rows.Skip(1)).All(p => p.First.Distance <= p.Second.Distance), "not nearest first");
        var exact = Enumerable.Range(1, Images).Where(id => id != 42)
            .OrderBy(id => 1 - TensorPrimitives.CosineSimilarity(Vectors[id - 1], Vectors[41])).Take(10).ToHashSet();
        Assert.True(rows.Count(r => exact.Contains((int)r.Id)) >= 9, "recall@10 below 0.9 against the exact search");
    }

    [Fact]
    public async Task Filters_keep_k_rows_that_all_match_the_filter()
    {
        var rows = await QueryAsync("SELECT image_id, distance FROM harvester.nearest_images(42, 20, p_neighbourhood => '연남동')");

        Assert.Equal(20, rows.Count);
        Assert.All(rows, r => Assert.Equal(1, r.Id % 2)); // odd ids were seen in 연남동

        var byPlace = await QueryAsync("SELECT image_id, distance FROM harvester.nearest_to_vector((SELECT embedding FROM embeddings WHERE image_id = 7), 5, p_place_id => 1)");
        Assert.Equal(5, byPlace.Count);
        Assert.All(byPlace, r => Assert.Equal(0, r.Id % 2));
    }

    [Fact]
    public async Task The_statement_the_functions_run_is_an_index_scan_with_and_without_filters()
    {
        foreach (var neighbourhood in new string?[] { null, "연남동" })
        {
            var plan = await ExplainNearestAsync(neighbourhood);
            Assert.Contains($"Index Scan using {Model.IndexName}", plan, StringComparison.Ordinal);
            Assert.DoesNotContain("Seq Scan on embeddings", plan, StringComparison.Ordinal);

            // A filter is probed per candidate, never hashed whole first (which reads every matching sighting).
            Assert.DoesNotContain("hashed SubPlan", plan, StringComparison.Ordinal);
            if (neighbourhood is not null)
            {
                Assert.Contains("SubPlan", plan, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Bad_input_raises_a_clear_error_or_returns_no_rows_with_a_notice()
    {
        var badK = await Assert.ThrowsAsync<PostgresException>(() => QueryAsync("SELECT * FROM harvester.nearest_images(42, 0)"));
        Assert.Contains("k must be between 1 and 1000 (got 0)", badK.MessageText, StringComparison.Ordinal);
        var bigK = await Assert.ThrowsAsync<PostgresException>(() => QueryAsync("SELECT * FROM harvester.nearest_images(42, 1001)"));
        Assert.Contains("got 1001", bigK.MessageText, StringComparison.Ordinal);
        var model = await Assert.ThrowsAsync<PostgresException>(() => QueryAsync("SELECT * FROM harvester.nearest_images(42, 5, 'no-such-model')"));
        Assert.Contains("no embedding model named 'no-such-model'", model.MessageText, StringComparison.Ordinal);
        var dims = await Assert.ThrowsAsync<PostgresException>(() => QueryAsync("SELECT * FROM harvester.nearest_to_vector('[1,2,3]', 5, 'test-model')"));
        Assert.Contains("3 dimensions", dims.MessageText, StringComparison.Ordinal);

        var (rows, notices) = await QueryWithNoticesAsync("SELECT image_id, distance FROM harvester.nearest_images(99999999, 5)");
        Assert.Empty(rows);
        Assert.Contains(notices, n => n.Contains("there is no image 99999999", StringComparison.Ordinal));
        (rows, notices) = await QueryWithNoticesAsync("SELECT run_id::bigint, distance FROM harvester.cluster_of(42, 777)");
        Assert.Empty(rows);
        Assert.Contains(notices, n => n.Contains("there is no clustering run 777", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Cluster_of_gives_the_assignment_or_else_the_nearest_centroid()
    {
        await using (var conn = await Db.DataSource.OpenConnectionAsync())
        {
            await using var cmd = new NpgsqlCommand($"""
                INSERT INTO clustering_runs (id, model_id, k, status, parameters, started_at) VALUES (500, {Model.Id}, 2, 'completed', jsonb_build_object('method', 'kmeans'), now());
                INSERT INTO cluster_centroids (run_id, cluster_index, centroid, size)
                SELECT 500, 0, embedding, 1 FROM embeddings WHERE image_id = 1
                UNION ALL SELECT 500, 1, embedding, 1 FROM embeddings WHERE image_id = 2;
                INSERT INTO cluster_assignments (run_id, image_id, cluster_index, distance) VALUES (500, 1, 0, 0), (500, 2, 1, 0);
                """, conn);
            await cmd.ExecuteNonQueryAsync();
        }

        var assigned = await QueryAsync("SELECT cluster_index::bigint, distance FROM harvester.cluster_of(2)");
        Assert.Equal((1L, 0.0), Assert.Single(assigned));

        var nearest = await QueryAsync("SELECT cluster_index::bigint, distance FROM harvester.cluster_of(3, 500)");
        var expected = TensorPrimitives.CosineSimilarity(Vectors[2], Vectors[0]) >= TensorPrimitives.CosineSimilarity(Vectors[2], Vectors[1]) ? 0L : 1L;
        Assert.Equal(expected, Assert.Single(nearest).Id);
    }

    private async Task<string> ExplainNearestAsync(string? neighbourhood)
    {
        await using var conn = await Db.DataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand("SET LOCAL hnsw.iterative_scan = relaxed_order", conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }

        string sql;
        await using (var text = new NpgsqlCommand("SELECT harvester.nearest_sql($1, $2, $3)", conn, tx))
        {
            text.Parameters.Add(new NpgsqlParameter { Value = Model.Id });
            text.Parameters.Add(new NpgsqlParameter { Value = Model.Dimension });
            text.Parameters.Add(new NpgsqlParameter { Value = Model.VectorType });
            sql = (string)(await text.ExecuteScalarAsync())!;
        }

        await using var explain = new NpgsqlCommand("EXPLAIN " + sql, conn, tx);
        object?[] args = [new Vector(Vectors[41]), 10, 42L, null, null, neighbourhood, null, null, null, null, false];
        foreach (var a in args)
        {
            explain.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
        }

        var lines = new List<string>();
        await using var r = await explain.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            lines.Add(r.GetString(0));
        }

        return string.Join('\n', lines);
    }

    private async Task<List<(long Id, double Distance)>> QueryAsync(string sql) => (await QueryWithNoticesAsync(sql)).Rows;

    private async Task<(List<(long Id, double Distance)> Rows, List<string> Notices)> QueryWithNoticesAsync(string sql)
    {
        await using var conn = await Db.DataSource.OpenConnectionAsync();
        var notices = new List<string>();
        conn.Notice += (_, e) => notices.Add(e.Notice.MessageText);
        await using var cmd = new NpgsqlCommand(sql, conn);
        var rows = new List<(long, double)>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            rows.Add((r.GetInt64(0), r.GetDouble(1)));
        }

        return (rows, notices);
    }
}
