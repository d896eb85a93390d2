using System.Numerics.Tensors;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Harvester.Testing;
using Npgsql;
using Pgvector;

namespace Harvester.Embed.Tests;

[Collection(PostgresCollection.Name)]
public sealed class EmbedAndSearchTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("embed");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    /// <summary>A second model (4x4 colour means, 48 values) whose output dimension is only known at run time.</summary>
    private static Dictionary<string, string?> TinyModel(string name, int manifestDimension) => new()
    {
        [$"Inference:Manifests:{name}:Name"] = name,
        [$"Inference:Manifests:{name}:InputName"] = "x",
        [$"Inference:Manifests:{name}:OutputName"] = "y",
        [$"Inference:Manifests:{name}:Width"] = "32",
        [$"Inference:Manifests:{name}:Height"] = "32",
        [$"Inference:Manifests:{name}:Dimension"] = manifestDimension.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static void WriteTinyModel(string modelsRoot, string name)
    {
        var g = new OnnxGraph("tiny");
        g.Input("x", OnnxGraph.FloatType, "batch", 3, 32, 32);
        g.Output("y", OnnxGraph.FloatType, "batch", "features");
        var pooled = g.Node("AveragePool", ["x"], "p", ("kernel_shape", new long[] { 8, 8 }), ("strides", new long[] { 8, 8 }));
        g.Node("Flatten", [pooled], "y", ("axis", 1));
        Directory.CreateDirectory(Path.Combine(modelsRoot, name));
        File.WriteAllBytes(Path.Combine(modelsRoot, name, "model.onnx"), g.ToModel(17, "test", "tiny"));
    }

    private static async Task<int> DrainAsync(EmbedService service, string? model)
    {
        var total = 0;
        while (true)
        {
            var r = await service.RunOnceAsync(model, 5, CancellationToken.None);
            if (r.Claimed == 0)
            {
                return total;
            }

            total += r.Embedded;
        }
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var cmd = _db.DataSource.CreateCommand(sql);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Embed_stage_stores_one_vector_per_accepted_image_and_search_matches_exact_order()
    {
        await using var host = new InferenceTestHost(_db);
        var photos = Photos.Load(12);
        var ids = await host.SeedImagesAsync(_db, photos.Select(p => p.Jpeg).ToList());
        var rejected = await host.SeedImagesAsync(_db, [Photos.Load(13)[12].Jpeg], ImageStatus.Rejected);

        var service = host.Get<EmbedService>();
        Assert.Equal(12, await DrainAsync(service, null));
        Assert.Equal(0, (await service.RunOnceAsync(10, CancellationToken.None)).Claimed);
        Assert.Equal(12, await ScalarAsync("SELECT count(*) FROM embeddings"));
        Assert.Equal(0, await ScalarAsync($"SELECT count(*) FROM embeddings WHERE image_id = {rejected[0]}"));
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM work_leases"));

        var model = (await host.Get<ModelRegistry>().ListAsync(CancellationToken.None)).Single().Model;
        Assert.Equal(GistModel.Dimension, model.Dimension);
        var indexDef = await StringAsync($"SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_embeddings_m{model.Id}'");
        Assert.Contains($"((embedding)::vector({GistModel.Dimension})) vector_cosine_ops", indexDef);
        Assert.Contains($"WHERE (model_id = {model.Id})", indexDef);

        // The stored vectors are what the embedder computes for the blob.
        var embedder = await host.Get<ModelHost>().GetAsync(null, CancellationToken.None);
        var vectors = await VectorsAsync(model.Id);
        Assert.Equal(embedder.Embed([photos[3].Jpeg], CancellationToken.None)[0], vectors[ids[3]], new ToleranceComparer(1e-6f));

        var result = await host.Get<SimilarSearch>().NearestToImageAsync(ids[3], 5, new SearchFilter(), null, CancellationToken.None);
        var expected = vectors.Where(kv => kv.Key != ids[3])
            .OrderBy(kv => 1 - TensorPrimitives.CosineSimilarity(vectors[ids[3]], kv.Value)).Take(5).Select(kv => kv.Key).ToList();
        Assert.Equal(expected, result.Neighbours.Select(n => n.ImageId).ToList());
        Assert.True(result.Neighbours.Zip(result.Neighbours.Skip(1)).All(p => p.First.Distance <= p.Second.Distance));
        Assert.DoesNotContain(result.Neighbours, n => n.ImageId == ids[3]);

        // Query by file: a re-encoded copy of photo 7 finds photo 7 first.
        var copy = Path.Combine(host.Root, "query.jpg");
        using (var m = OpenCvSharp.Cv2.ImDecode(photos[7].Jpeg, OpenCvSharp.ImreadModes.Color))
        {
            OpenCvSharp.Cv2.ImWrite(copy, m, new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.JpegQuality, 50));
        }

        var byFile = await host.Get<SimilarSearch>().NearestToFileAsync(copy, 3, new SearchFilter(), null, CancellationToken.None);
        Assert.Equal(ids[7], byFile.Neighbours[0].ImageId);
        Assert.True(byFile.Neighbours[0].Distance < 0.05);
    }

    [Fact]
    public async Task Knn_query_uses_the_model_index_and_filters_return_k_rows()
    {
        await using var host = new InferenceTestHost(_db);
        var model = await host.Get<ModelRegistry>().EnsureAsync(await host.Get<ModelHost>().GetAsync(GistModel.Name, CancellationToken.None), CancellationToken.None);

        // 1000 synthetic unit vectors around 20 centres (uniform noise in 560 dimensions has no meaningful neighbours); every 10th image is seen at a place in "Mangwon" (a 10% filter), 3 images in cluster 1 of a run.
        const int n = 1000;
        var rng = new Random(5);
        await using var ctx = _db.CreateDbContext();
        var site = new Site { Key = "demo", Adapter = "demo" };
        ctx.Sites.Add(site);
        await ctx.SaveChangesAsync();
        var mangwon = new Place { SiteId = site.Id, ExternalId = "p1", Name = "Cafe A", Neighbourhood = "Mangwon", Category = "cafe" };
        var other = new Place { SiteId = site.Id, ExternalId = "p2", Name = "Cafe B", Neighbourhood = "Yeonnam", Category = "cafe" };
        ctx.Places.AddRange(mangwon, other);
        await ctx.SaveChangesAsync();
        var ids = new List<long>();
        await using (var seed = _db.DataSource.CreateCommand(
            $"INSERT INTO images (sha256, source_url, status, byte_size) SELECT md5(g::text) || md5(g::text), 'http://x.test/' || g, 'accepted', 0 FROM generate_series(1, {n}) g RETURNING id"))
        await using (var r = await seed.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                ids.Add(r.GetInt64(0));
            }
        }

        ids.Sort();
        ctx.ImageSightings.AddRange(ids.Select((id, i) => new ImageSighting { ImageId = id, SiteId = site.Id, PlaceId = i % 10 == 0 ? mangwon.Id : other.Id, SourceUrl = $"http://x.test/{id}" }));
        var run = new ClusteringRun { ModelId = model.Id, K = 2, Status = RunStatus.Completed };
        ctx.ClusteringRuns.Add(run);
        await ctx.SaveChangesAsync();
        ctx.ClusterAssignments.AddRange(ids.Select((id, i) => new ClusterAssignment { RunId = run.Id, ImageId = id, ClusterIndex = i < 3 ? 1 : 0 }));
        await ctx.SaveChangesAsync();

        float[] Random() => Enumerable.Range(0, model.Dimension).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var centres = Enumerable.Range(0, 20).Select(_ => Random()).ToArray();
        var vectors = ids.ToDictionary(id => id, id =>
        {
            var v = Random();
            TensorPrimitives.MultiplyAdd(v, 0.5f, centres[id % 20], v);
            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
            return v;
        });
        await host.Get<EmbedService>().WriteAsync(model, "test", ids, ids.Select(id => vectors[id]).ToList(), CancellationToken.None);
        await using (var analyze = _db.DataSource.CreateCommand("ANALYZE"))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        var query = vectors[ids[17]];
        var search = host.Get<SimilarSearch>();
        var (sql, ps) = EmbedStore.BuildQuery(model, new SearchFilter(), null, 10);
        await using (var explain = _db.DataSource.CreateCommand("EXPLAIN " + sql))
        {
            explain.Parameters.AddWithValue(new Vector(query));
            var plan = new List<string>();
            await using var r = await explain.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                plan.Add(r.GetString(0));
            }

            Assert.Contains(plan, l => l.Contains(model.IndexName, StringComparison.Ordinal));
        }

        List<long> Exact(Func<int, bool> keep, int k) => ids.Select((id, i) => (id, i)).Where(x => keep(x.i))
            .OrderBy(x => 1 - TensorPrimitives.CosineSimilarity(query, vectors[x.id])).Take(k).Select(x => x.id).ToList();

        var all = await search.NearestToVectorAsync(query, 10, new SearchFilter(), model, null, CancellationToken.None);
        Assert.Equal(10, all.Neighbours.Count);
        Assert.True(Exact(_ => true, 10).Intersect(all.Neighbours.Select(x => x.ImageId)).Count() >= 9);

        var filtered = await search.NearestToVectorAsync(query, 10, new SearchFilter { Neighbourhood = "Mangwon", Site = "demo", Category = "cafe" }, model, null, CancellationToken.None);
        Assert.Equal(10, filtered.Neighbours.Count);
        Assert.All(filtered.Neighbours, x => Assert.Equal(0, ids.IndexOf(x.ImageId) % 10));
        Assert.True(Exact(i => i % 10 == 0, 10).Intersect(filtered.Neighbours.Select(x => x.ImageId)).Count() >= 9);

        // The filters are probed per candidate of the index scan, never hashed whole first.
        var (filteredSql, filteredParameters) = EmbedStore.BuildQuery(model, new SearchFilter { Neighbourhood = "Mangwon", Site = "demo", Category = "cafe" }, null, 10);
        await using (var explain = _db.DataSource.CreateCommand("EXPLAIN " + filteredSql))
        {
            explain.Parameters.AddWithValue(new Vector(query));
            foreach (var p in filteredParameters)
            {
                explain.Parameters.AddWithValue(p);
            }

            var plan = new List<string>();
            await using var r = await explain.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                plan.Add(r.GetString(0));
            }

            Assert.Contains(plan, l => l.Contains(model.IndexName, StringComparison.Ordinal));
            Assert.Contains(plan, l => l.Contains("SubPlan", StringComparison.Ordinal));
            Assert.DoesNotContain(plan, l => l.Contains("hashed SubPlan", StringComparison.Ordinal));
        }

        var byPlace = await search.NearestToVectorAsync(query, 10, new SearchFilter { PlaceId = mangwon.Id, AcceptedOnly = true }, model, null, CancellationToken.None);
        Assert.Equal(filtered.Neighbours.Select(x => x.ImageId).Order(), byPlace.Neighbours.Select(x => x.ImageId).Order());

        // Three rows match: all three come back, in exact order, even though the index alone would find fewer.
        var cluster = await search.NearestToVectorAsync(query, 10, new SearchFilter { ClusterRunId = run.Id, ClusterIndex = 1 }, model, null, CancellationToken.None);
        Assert.Equal(Exact(i => i < 3, 10), cluster.Neighbours.Select(x => x.ImageId).ToList());

        var none = await search.NearestToVectorAsync(query, 10, new SearchFilter { JobId = 424242 }, model, null, CancellationToken.None);
        Assert.Empty(none.Neighbours);
    }

    [Fact]
    public async Task Switching_model_embeds_what_is_missing_without_touching_other_vectors()
    {
        await using var host = new InferenceTestHost(_db, TinyModel("tiny", 48));
        WriteTinyModel(host.ModelsRoot, "tiny");
        var ids = await host.SeedImagesAsync(_db, Photos.Load(6).Select(p => p.Jpeg).ToList());
        var service = host.Get<EmbedService>();
        Assert.Equal(6, await DrainAsync(service, null));
        var registry = host.Get<ModelRegistry>();
        var gist = (await registry.ListAsync(CancellationToken.None)).Single().Model;
        var before = await VectorsAsync(gist.Id);

        Assert.Equal(6, await DrainAsync(service, "tiny"));
        var models = await registry.ListAsync(CancellationToken.None);
        Assert.Equal(2, models.Count);
        Assert.All(models, m => Assert.Equal(6, m.Vectors));
        var tiny = models.Single(m => m.Model.Name == "tiny").Model;
        Assert.Equal(48, tiny.Dimension);
        Assert.NotNull(await StringAsync($"SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_embeddings_m{tiny.Id}'"));
        var after = await VectorsAsync(gist.Id);
        Assert.All(ids, id => Assert.Equal(before[id], after[id]));
    }

    [Fact]
    public async Task Model_output_that_does_not_match_its_manifest_writes_nothing()
    {
        await using var host = new InferenceTestHost(_db, TinyModel("liar", 40));
        WriteTinyModel(host.ModelsRoot, "liar");
        await host.SeedImagesAsync(_db, Photos.Load(3).Select(p => p.Jpeg).ToList());
        var e = await Assert.ThrowsAsync<HarvesterException>(() => host.Get<EmbedService>().RunOnceAsync("liar", 10, CancellationToken.None));
        // ONNX Runtime infers the output width (48) when loading, so the mismatch is caught before any image is read.
        Assert.Contains("dimension 48", e.Message);
        Assert.Contains("manifest says 40", e.Message);
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM embeddings"));
        // The claims were given back, not left to block the images for a lease period.
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM work_leases WHERE lease_until > now()"));
    }

    [Fact]
    public async Task Changed_manifest_under_the_same_version_is_refused()
    {
        await using var host = new InferenceTestHost(_db);
        var registry = host.Get<ModelRegistry>();
        var embedder = await host.Get<ModelHost>().GetAsync(GistModel.Name, CancellationToken.None);
        await registry.EnsureAsync(embedder, CancellationToken.None);
        var changed = embedder.Model with { Manifest = embedder.Model.Manifest with { Mean = [0.1f, 0.1f, 0.1f] } };
        changed = changed with { ManifestSha256 = changed.Manifest.ComputeSha256() };
        await using var fresh = new InferenceTestHost(_db);
        using var changedEmbedder = Embedder.Load(changed, fresh.Options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var e = await Assert.ThrowsAsync<HarvesterException>(() => fresh.Get<ModelRegistry>().EnsureAsync(changedEmbedder, CancellationToken.None));
        Assert.Contains("different manifest", e.Message);
        Assert.Contains("bump", e.Message);
    }

    [Fact]
    public async Task Bad_queries_give_clear_errors()
    {
        await using var host = new InferenceTestHost(_db);
        var search = host.Get<SimilarSearch>();
        var unknown = await Assert.ThrowsAsync<HarvesterException>(() => search.NearestToImageAsync(987654, 5, new SearchFilter(), null, CancellationToken.None));
        Assert.Contains("no image with id 987654", unknown.Message);

        var ids = await host.SeedImagesAsync(_db, [Photos.Load(1)[0].Jpeg], ImageStatus.Rejected);
        var notEmbedded = await Assert.ThrowsAsync<HarvesterException>(() => search.NearestToImageAsync(ids[0], 5, new SearchFilter(), null, CancellationToken.None));
        Assert.Contains("has no 'harvester-gist' vector", notEmbedded.Message);

        var garbage = await Assert.ThrowsAsync<HarvesterException>(() => search.NearestToBytesAsync("%PDF-1.4 not an image"u8.ToArray(), 5, new SearchFilter(), null, CancellationToken.None));
        Assert.Contains("cannot be decoded", garbage.Message);

        var missing = await Assert.ThrowsAsync<HarvesterException>(() => search.NearestToFileAsync("/nonexistent/q.jpg", 5, new SearchFilter(), null, CancellationToken.None));
        Assert.Contains("does not exist", missing.Message);

        var k = await Assert.ThrowsAsync<HarvesterException>(() => search.NearestToBytesAsync(Photos.Load(1)[0].Jpeg, 0, new SearchFilter(), null, CancellationToken.None));
        Assert.Contains("k must be", k.Message);
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM embeddings"));
    }

    private async Task<string?> StringAsync(string sql)
    {
        await using var cmd = _db.DataSource.CreateCommand(sql);
        return (string?)await cmd.ExecuteScalarAsync();
    }

    private async Task<Dictionary<long, float[]>> VectorsAsync(int modelId)
    {
        await using var cmd = _db.DataSource.CreateCommand("SELECT image_id, embedding FROM embeddings WHERE model_id = $1");
        cmd.Parameters.AddWithValue(modelId);
        var map = new Dictionary<long, float[]>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            map[r.GetInt64(0)] = r.GetFieldValue<Vector>(1).ToArray();
        }

        return map;
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
