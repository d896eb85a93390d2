using System.Collections;
using Harvester.Core;
using Harvester.Data.Entities;
using Harvester.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Pgvector;

namespace Harvester.Data.Tests;

[Collection(PostgresCollection.Name)]
public sealed class SchemaTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("schema");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Migrations_create_the_schema_with_the_vector_extension()
    {
        await using var conn = await _db.DataSource.OpenConnectionAsync();
        await using var ext = new NpgsqlCommand("SELECT extversion FROM pg_extension WHERE extname = 'vector'", conn);
        var version = (string?)await ext.ExecuteScalarAsync();
        Assert.NotNull(version);
        Assert.True(Version.Parse(version!) >= new Version(0, 7));

        await using var tables = new NpgsqlCommand(
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'", conn);
        var names = ((string)(await tables.ExecuteScalarAsync())!).Split(',');
        foreach (var t in new[] { "sites", "crawl_jobs", "frontier", "places", "products", "reviews", "images", "image_sightings",
                     "duplicate_groups", "embedding_models", "embeddings", "clustering_runs", "cluster_centroids", "cluster_assignments", "work_leases" })
        {
            Assert.Contains(t, names);
        }

        await using var idx = new NpgsqlCommand("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_images_phash_hnsw'", conn);
        Assert.Contains("hnsw (phash bit_hamming_ops)", (string)(await idx.ExecuteScalarAsync())!);

        await using var db = _db.CreateDbContext();
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
    }

    [Fact]
    public async Task A_vector_round_trips_through_EF_and_Npgsql()
    {
        var imageId = await SeedImagesAsync(1);
        var modelId = await SeedModelAsync(3);
        var v = new Vector(new float[] { 0.25f, -1.5f, 3f });
        await using (var db = _db.CreateDbContext())
        {
            db.Embeddings.Add(new Embedding { ImageId = imageId[0], ModelId = modelId, Vector = v });
            await db.SaveChangesAsync();
        }

        await using (var db = _db.CreateDbContext())
        {
            var back = await db.Embeddings.SingleAsync(e => e.ImageId == imageId[0]);
            Assert.Equal(v.ToArray(), back.Vector.ToArray());
        }

        await using var conn = await _db.DataSource.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("SELECT embedding FROM embeddings WHERE image_id = $1", conn);
        cmd.Parameters.AddWithValue(imageId[0]);
        Assert.Equal(v.ToArray(), ((Vector)(await cmd.ExecuteScalarAsync())!).ToArray());
    }

    [Fact]
    public async Task Hnsw_knn_on_a_per_model_expression_index_returns_the_nearest_rows()
    {
        const int n = 3000, dim = 16;
        var ids = await SeedImagesAsync(n);
        var modelId = await SeedModelAsync(dim);
        var rng = new Random(7);
        var vectors = new float[n][];
        await using (var conn = await _db.DataSource.OpenConnectionAsync())
        {
            await using var writer = await conn.BeginBinaryImportAsync("COPY embeddings (image_id, model_id, embedding) FROM STDIN (FORMAT BINARY)");
            for (var i = 0; i < n; i++)
            {
                vectors[i] = Enumerable.Range(0, dim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
                await writer.StartRowAsync();
                await writer.WriteAsync(ids[i]);
                await writer.WriteAsync(modelId);
                await writer.WriteAsync(new Vector(vectors[i]));
            }

            await writer.CompleteAsync();
        }

        await using (var conn = await _db.DataSource.OpenConnectionAsync())
        {
            await using var ddl = new NpgsqlCommand(
                $"CREATE INDEX ix_test_model ON embeddings USING hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE model_id = {modelId}; ANALYZE embeddings", conn);
            await ddl.ExecuteNonQueryAsync();
        }

        var query = vectors[123];
        var expected = Enumerable.Range(0, n)
            .OrderBy(i => CosineDistance(query, vectors[i]))
            .Take(5).Select(i => ids[i]).ToList();

        await using var c2 = await _db.DataSource.OpenConnectionAsync();
        await using (var set = new NpgsqlCommand("SET enable_seqscan = off; SET enable_bitmapscan = off; SET hnsw.ef_search = 100", c2))
        {
            await set.ExecuteNonQueryAsync();
        }

        var sql = $"SELECT image_id FROM embeddings WHERE model_id = {modelId} ORDER BY embedding::vector({dim}) <=> $1::vector({dim}) LIMIT 5";
        await using (var explain = new NpgsqlCommand("EXPLAIN " + sql, c2))
        {
            explain.Parameters.AddWithValue(new Vector(query));
            var plan = new List<string>();
            await using var r = await explain.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                plan.Add(r.GetString(0));
            }

            Assert.Contains(plan, l => l.Contains("ix_test_model", StringComparison.Ordinal));
        }

        await using var knn = new NpgsqlCommand(sql, c2);
        knn.Parameters.AddWithValue(new Vector(query));
        var got = new List<long>();
        await using (var r = await knn.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                got.Add(r.GetInt64(0));
            }
        }

        Assert.Equal(ids[123], got[0]);
        Assert.Equal(expected, got);
    }

    [Fact]
    public async Task Bit64_hamming_query_finds_hashes_within_the_radius()
    {
        var ids = await SeedImagesAsync(300);
        var rng = new Random(11);
        var hashes = new ulong[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            hashes[i] = (ulong)rng.NextInt64();
        }

        var probe = hashes[42];
        hashes[7] = probe ^ 0b1011UL;        // 3 bits away
        hashes[99] = probe ^ (1UL << 63);    // 1 bit away
        await using (var db = _db.CreateDbContext())
        {
            var images = await db.Images.Where(i => ids.Contains(i.Id)).ToDictionaryAsync(i => i.Id);
            for (var i = 0; i < ids.Length; i++)
            {
                images[ids[i]].PHash = ToBits(hashes[i]);
            }

            await db.SaveChangesAsync();
        }

        await using var conn = await _db.DataSource.OpenConnectionAsync();
        await using (var set = new NpgsqlCommand("SET enable_seqscan = off", conn))
        {
            await set.ExecuteNonQueryAsync();
        }

        await using var cmd = new NpgsqlCommand(
            "SELECT id, phash <~> $1 AS d FROM images WHERE phash IS NOT NULL ORDER BY phash <~> $1 LIMIT 10", conn);
        cmd.Parameters.AddWithValue(ToBits(probe));
        var within = new List<(long Id, double D)>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            if (r.GetDouble(1) <= 4)
            {
                within.Add((r.GetInt64(0), r.GetDouble(1)));
            }
        }

        Assert.Equal([(ids[42], 0d), (ids[99], 1d), (ids[7], 3d)], within);
    }

    [Fact]
    public async Task Blob_store_is_content_addressed_and_idempotent()
    {
        var store = new BlobStore(Options.Create(new StorageOptions { Root = fixture.StateRoot }));
        var bytes = "not really a jpeg"u8.ToArray();
        var sha = await store.PutAsync(bytes, CancellationToken.None);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), sha);
        Assert.EndsWith(Path.Combine(sha[..2], sha[2..4], sha), store.PathFor(sha));
        Assert.Equal(sha, await store.PutAsync(bytes, CancellationToken.None));
        Assert.Equal(bytes, await store.ReadAsync(sha, CancellationToken.None));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(store.PathFor(sha))!, "*.tmp"));
        Assert.Throws<ArgumentException>(() => store.PathFor("../../etc/passwd"));
    }

    private static BitArray ToBits(ulong h)
    {
        var bits = new BitArray(64);
        for (var i = 0; i < 64; i++)
        {
            bits[i] = ((h >> (63 - i)) & 1) == 1;
        }

        return bits;
    }

    private static double CosineDistance(float[] a, float[] b) =>
        1 - System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a, b);

    private async Task<long[]> SeedImagesAsync(int n)
    {
        await using var db = _db.CreateDbContext();
        var images = Enumerable.Range(0, n).Select(i => new Image
        {
            Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Guid.NewGuid().ToByteArray())),
            SourceUrl = $"http://example.test/{Guid.NewGuid():N}.jpg",
            Status = ImageStatus.Accepted,
        }).ToList();
        db.Images.AddRange(images);
        await db.SaveChangesAsync();
        return images.Select(i => i.Id).ToArray();
    }

    private async Task<int> SeedModelAsync(int dim)
    {
        await using var db = _db.CreateDbContext();
        var m = new EmbeddingModel { Name = "test-" + Guid.NewGuid().ToString("N")[..6], Version = "1", ManifestSha256 = new string('0', 64), Dimension = dim };
        db.EmbeddingModels.Add(m);
        await db.SaveChangesAsync();
        return m.Id;
    }
}
