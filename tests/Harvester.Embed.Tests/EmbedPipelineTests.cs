using Harvester.Data;
using Harvester.Testing;
using Pgvector;

namespace Harvester.Embed.Tests;

[Collection(PostgresCollection.Name)]
public sealed class EmbedPipelineTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("pipeline");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    public async Task A_claim_split_into_model_batches_stores_each_image_its_own_vector_and_skips_the_bad_ones(int decoders, int modelThreads)
    {
        // Batches of 3 out of a claim of 10, compacted around the bad images before they run. With one decoder and one
        // model thread the next batch is decoded while the model runs (they fit on two cores); with two of each they
        // take turns unless the machine has the cores for both.
        await using var host = new InferenceTestHost(_db, new Dictionary<string, string?>
        {
            ["Inference:BatchSize"] = "3",
            ["Inference:DecodeParallelism"] = decoders.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Inference:IntraOpThreads"] = modelThreads.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var photos = Photos.Load(7).Select(p => p.Jpeg).ToList();
        byte[][] items =
        [
            photos[0], photos[1], "not an image at all"u8.ToArray(), photos[2], photos[3],
            photos[4], photos[5], "still not an image"u8.ToArray(), photos[6], [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10],
        ];
        var ids = await host.SeedImagesAsync(_db, items);
        var blobs = host.Get<BlobStore>();
        File.Delete(blobs.PathFor(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(photos[5]))));

        var result = await host.Get<EmbedService>().RunOnceAsync(null, 100, CancellationToken.None);

        Assert.Equal(10, result.Claimed);
        Assert.Equal(6, result.Embedded);
        Assert.Equal(4, result.Failed);
        var stored = await VectorsAsync();
        var good = new[] { 0, 1, 3, 4, 5, 8 };
        Assert.Equal(good.Select(i => ids[i]).Order(), stored.Keys.Order());
        var embedder = await host.Get<ModelHost>().GetAsync(null, CancellationToken.None);
        foreach (var i in good)
        {
            var single = embedder.Embed([items[i]], CancellationToken.None)[0];
            var v = stored[ids[i]];
            Assert.Equal(single.Length, v.Length);
            Assert.True(single.Zip(v).All(p => Math.Abs(p.First - p.Second) <= 1e-6f), $"image {i}: the stored vector is not its own");
        }
    }

    private async Task<Dictionary<long, float[]>> VectorsAsync()
    {
        await using var cmd = _db.DataSource.CreateCommand("SELECT image_id, embedding FROM embeddings");
        var map = new Dictionary<long, float[]>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            map[r.GetInt64(0)] = r.GetFieldValue<Vector>(1).ToArray();
        }

        return map;
    }
}
