using Harvester.Core;
using Harvester.Data;
using Harvester.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Pgvector;

namespace Harvester.Cluster.Tests;

/// <summary>A fresh database per test class with helpers to seed a model, images (some with real photos in the blob store) and vectors.</summary>
public abstract class ClusteringDb(PostgresFixture fixture) : IAsyncLifetime
{
    private static readonly string[] Photos = Directory.Exists("/usr/share/backgrounds/mate/nature")
        ? Directory.GetFiles("/usr/share/backgrounds/mate/nature", "*.jpg").Order(StringComparer.Ordinal).ToArray()
        : [];

    protected HarvesterDatabase Db { get; private set; } = null!;
    protected StorageOptions Storage { get; private set; } = null!;
    protected BlobStore Blobs { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Db = await fixture.CreateDatabaseAsync("clu");
        Storage = new StorageOptions { Root = fixture.StateRoot, OutputRoot = Path.Combine(fixture.StateRoot, "out-" + Guid.NewGuid().ToString("N")[..8]) };
        Blobs = new BlobStore(Options.Create(Storage));
    }

    public async Task DisposeAsync() => await Db.DisposeAsync();

    protected static ClusteringOptions Defaults() => new() { WriteGalleries = false, Seed = 7 };

    protected ClusteringService Service(ClusteringOptions? o = null)
    {
        o ??= Defaults();
        return new ClusteringService(Store, new ModelStore(Db), Options.Create(o), Gallery(o), NullLogger<ClusteringService>.Instance);
    }

    protected ClusterStore Store => new(Db, new DuplicateGroups(Blobs));

    protected ClusterGallery Gallery(ClusteringOptions o) => new(Store, Blobs, Options.Create(Storage), Options.Create(o));

    protected async Task<int> SeedModelAsync(int dim, string name = "test-model")
    {
        await using var cmd = Db.DataSource.CreateCommand(
            "INSERT INTO embedding_models (name, version, manifest_sha256, dimension, vector_type) VALUES ($1, '1', $2, $3, 'vector') RETURNING id");
        cmd.Parameters.AddWithValue(name);
        cmd.Parameters.AddWithValue(new string('0', 64));
        cmd.Parameters.AddWithValue(dim);
        return (int)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Accepted images; the first ones get real photos from the blob store (as many as there are).</summary>
    protected async Task<long[]> SeedImagesAsync(int n, bool withPhotos = false)
    {
        var shas = new string[n];
        for (var i = 0; i < n; i++)
        {
            shas[i] = withPhotos && i < Photos.Length
                ? await Blobs.PutAsync(await File.ReadAllBytesAsync(Photos[i]), CancellationToken.None)
                : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Guid.NewGuid().ToByteArray()));
        }

        await using var cmd = Db.DataSource.CreateCommand("""
            INSERT INTO images (sha256, source_url, status, byte_size, width, height)
            SELECT s, 'http://example.test/' || s || '.jpg', 'accepted', 0, 640, 480 FROM unnest($1::text[]) WITH ORDINALITY AS u(s, o) ORDER BY o
            RETURNING id, sha256
            """);
        cmd.Parameters.AddWithValue(shas);
        var ids = new Dictionary<string, long>();
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                ids[r.GetString(1)] = r.GetInt64(0);
            }
        }

        return [.. shas.Select(s => ids[s])];
    }

    protected async Task SeedVectorsAsync(int modelId, long[] ids, float[][] vectors)
    {
        await using var conn = await Db.DataSource.OpenConnectionAsync();
        await using var writer = await conn.BeginBinaryImportAsync("COPY embeddings (image_id, model_id, embedding) FROM STDIN (FORMAT BINARY)");
        for (var i = 0; i < ids.Length; i++)
        {
            await writer.StartRowAsync();
            await writer.WriteAsync(ids[i]);
            await writer.WriteAsync(modelId);
            await writer.WriteAsync(new Vector(vectors[i]));
        }

        await writer.CompleteAsync();
    }

    /// <summary>Images + vectors in <paramref name="k"/> blobs; returns the ids and each one's blob.</summary>
    protected async Task<(long[] Ids, int[] Truth, float[][] Centres)> SeedBlobsAsync(int modelId, int n, int d, int k, int seed, bool withPhotos = false)
    {
        var rng = new Random(seed);
        var centres = Enumerable.Range(0, k).Select(_ => Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray()).ToArray();
        var truth = Enumerable.Range(0, n).Select(i => i % k).ToArray();
        var vectors = truth.Select(t => centres[t].Select(c => (float)(c + 0.6 * KMeansTests.Gaussian(rng))).ToArray()).ToArray();
        var ids = await SeedImagesAsync(n, withPhotos);
        await SeedVectorsAsync(modelId, ids, vectors);
        return (ids, truth, centres);
    }

    protected async Task<T> ScalarAsync<T>(string sql, params object[] args)
    {
        await using var cmd = Db.DataSource.CreateCommand(sql);
        foreach (var a in args)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    protected async Task ExecAsync(string sql, params object[] args)
    {
        await using var cmd = Db.DataSource.CreateCommand(sql);
        foreach (var a in args)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        await cmd.ExecuteNonQueryAsync();
    }

    protected async Task<Dictionary<long, int>> AssignmentsAsync(long runId)
    {
        await using var cmd = Db.DataSource.CreateCommand("SELECT image_id, cluster_index FROM cluster_assignments WHERE run_id = $1");
        cmd.Parameters.AddWithValue(runId);
        var result = new Dictionary<long, int>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            result[r.GetInt64(0)] = r.GetInt32(1);
        }

        return result;
    }
}
