using Harvester.Data;
using Harvester.Core;
using Harvester.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Harvester.Cluster.Tests;

[Collection(PostgresCollection.Name)]
public sealed class SimilarityAndEvaluationTests(PostgresFixture fixture) : ClusteringDb(fixture)
{
    private SimilarityGrouper Grouper(ClusteringOptions? o = null) => new(Db, Store, new ModelStore(Db), Options.Create(o ?? Defaults()), NullLogger<SimilarityGrouper>.Instance);

    /// <summary>40 random directions; 5 of them get two near copies (cosine ≈ 0.99), one a far copy (cosine ≈ 0.9).</summary>
    private async Task<(int Model, long[] Ids, List<long[]> Expected, long FarCopy)> SeedNearCopiesAsync(bool index)
    {
        const int d = 32;
        var model = await SeedModelAsync(d);
        var rng = new Random(5);
        var vectors = new List<float[]>();
        for (var i = 0; i < 40; i++)
        {
            vectors.Add([.. Enumerable.Range(0, d).Select(_ => (float)KMeansTests.Gaussian(rng))]);
        }

        float[] Near(float[] v, double noise) => [.. v.Select(x => (float)(x + noise * KMeansTests.Gaussian(rng)))];
        var groups = new List<int[]>();
        for (var g = 0; g < 5; g++)
        {
            vectors.Add(Near(vectors[g], 0.08));
            vectors.Add(Near(vectors[g], 0.08));
            groups.Add([g, vectors.Count - 2, vectors.Count - 1]);
        }

        vectors.Add(Near(vectors[10], 0.5));
        var ids = await SeedImagesAsync(vectors.Count);
        await SeedVectorsAsync(model, ids, [.. vectors]);
        if (index)
        {
            await ExecAsync($"CREATE INDEX ix_embeddings_m{model} ON embeddings USING hnsw ((embedding::vector({d})) vector_cosine_ops) WHERE model_id = {model}");
        }

        return (model, ids, [.. groups.Select(g => g.Select(i => ids[i]).Order().ToArray())], ids[^1]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Images_at_least_95_percent_similar_are_grouped_and_recorded_as_a_run(bool index)
    {
        var (_, ids, expected, far) = await SeedNearCopiesAsync(index);
        var result = await Grouper().RunAsync(null, ImageScope.All, null, null, CancellationToken.None);
        Assert.Equal(ids.Length, result.Images);
        Assert.Equal(expected, result.Members);
        Assert.DoesNotContain(result.Members, g => g.Contains(far));
        Assert.Equal("similarity", await ScalarAsync<string>("SELECT parameters->>'method' FROM clustering_runs WHERE id = $1", result.RunId));
        Assert.Equal(5, await ScalarAsync<int>("SELECT k FROM clustering_runs WHERE id = $1", result.RunId));
        Assert.Equal(15L, await ScalarAsync<long>("SELECT count(*) FROM cluster_assignments WHERE run_id = $1", result.RunId));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM duplicate_groups"));

        // A looser threshold also catches the far copy (cosine ≈ 0.9).
        var loose = await Grouper().RunAsync(null, ImageScope.All, 0.8, null, CancellationToken.None);
        Assert.Contains(loose.Members, g => g.Contains(far) && g.Contains(ids[10]));
    }

    [Fact]
    public async Task As_the_near_duplicate_pass_groups_become_embedding_duplicate_groups_keeping_the_largest_image()
    {
        var (_, _, expected, _) = await SeedNearCopiesAsync(index: true);
        await ExecAsync("UPDATE images SET width = 1920, height = 1080 WHERE id = $1", expected[0][2]);
        var result = await Grouper().RunAsync(null, ImageScope.All, null, asDuplicates: true, CancellationToken.None);
        Assert.Equal(5, result.DuplicateGroupsWritten);
        Assert.Equal(5L, await ScalarAsync<long>("SELECT count(*) FROM duplicate_groups WHERE kind = 'embedding' AND size = 3"));
        Assert.Equal(10L, await ScalarAsync<long>("SELECT count(*) FROM images WHERE status = 'duplicate' AND duplicate_of_id IS NOT NULL"));
        Assert.Equal(expected[0][2], await ScalarAsync<long>("SELECT kept_image_id FROM duplicate_groups g JOIN images i ON i.duplicate_group_id = g.id WHERE i.id = $1", expected[0][0]));
        Assert.Equal(ImageStatus.Accepted, await ScalarAsync<ImageStatus>("SELECT status FROM images WHERE id = $1", expected[0][2]));
        Assert.Equal(15L, await ScalarAsync<long>("SELECT count(*) FROM images WHERE duplicate_group_id IS NOT NULL"));
    }

    [Fact]
    public async Task Evaluate_scores_a_run_against_a_labels_file_and_against_places()
    {
        var model = await SeedModelAsync(8);
        var (ids, truth, _) = await SeedBlobsAsync(model, 90, 8, 3, seed: 21);
        var places = new long[3];
        var site = await ScalarAsync<long>("INSERT INTO sites (key, adapter, base_url) VALUES ('s', 'map', 'http://s') RETURNING id");
        for (var p = 0; p < 3; p++)
        {
            places[p] = await ScalarAsync<long>("INSERT INTO places (site_id, external_id, name) VALUES ($1, $2, 'p') RETURNING id", site, "p" + p);
        }

        for (var i = 0; i < ids.Length; i++)
        {
            // Place labels agree with the blobs except for 9 images.
            await ExecAsync("UPDATE images SET place_id = $1 WHERE id = $2", places[i < 9 ? (truth[i] + 1) % 3 : truth[i]], ids[i]);
        }

        var run = await Service().RunAsync(new ClusterRequest { K = 3 }, CancellationToken.None);
        var file = Path.Combine(Storage.ResolveRoot(), $"labels-{Guid.NewGuid():N}.csv");
        await File.WriteAllLinesAsync(file, ["image_id,label", "# blob of each image", .. ids.Select((id, i) => $"{id},blob-{truth[i]}")]);
        var evaluator = new ClusterEvaluator(Store);

        var report = await evaluator.EvaluateAsync(run.RunId, file, CancellationToken.None);
        Assert.NotNull(report.External);
        Assert.Equal(90, report.External.Labelled);
        Assert.Equal(1.0, report.External.AdjustedRandIndex, 12);
        Assert.Equal(1.0, report.External.NormalizedMutualInformation, 12);
        Assert.Equal(1.0, report.External.Purity, 12);
        Assert.Equal(90, report.Metrics.Images);

        var byPlace = await evaluator.EvaluateAsync(run.RunId, "place", CancellationToken.None);
        Assert.Equal(0.9, byPlace.External!.Purity, 12);
        Assert.InRange(byPlace.External.AdjustedRandIndex, 0.5, 0.95);

        var pairs = ids.Select((id, i) => (id, "b" + truth[i])).ToList();
        var direct = await evaluator.CompareAsync(run.RunId, pairs, "pairs", CancellationToken.None);
        Assert.Equal(1.0, direct.AdjustedRandIndex, 12);
    }

    [Fact]
    public async Task Labels_files_with_malformed_lines_conflicts_or_unknown_ids_are_refused_with_the_line()
    {
        var model = await SeedModelAsync(8);
        var (ids, _, _) = await SeedBlobsAsync(model, 20, 8, 2, seed: 22);
        var run = await Service().RunAsync(new ClusterRequest { K = 2 }, CancellationToken.None);
        var evaluator = new ClusterEvaluator(Store);
        var dir = Storage.ResolveRoot();

        var malformed = Path.Combine(dir, $"bad-{Guid.NewGuid():N}.csv");
        await File.WriteAllLinesAsync(malformed, [$"{ids[0]},a", $"{ids[1]},b", "twelve,c"]);
        var e1 = await Assert.ThrowsAsync<HarvesterException>(() => evaluator.EvaluateAsync(run.RunId, malformed, CancellationToken.None));
        Assert.Contains(":3: expected 'image_id,label'", e1.Message, StringComparison.Ordinal);

        var conflict = Path.Combine(dir, $"conflict-{Guid.NewGuid():N}.csv");
        await File.WriteAllLinesAsync(conflict, [$"{ids[0]},a", $"{ids[0]},b"]);
        var e2 = await Assert.ThrowsAsync<HarvesterException>(() => evaluator.EvaluateAsync(run.RunId, conflict, CancellationToken.None));
        Assert.Contains($"image {ids[0]} is labelled 'b' but line 1 labels it 'a'", e2.Message, StringComparison.Ordinal);

        var unknown = Path.Combine(dir, $"unknown-{Guid.NewGuid():N}.csv");
        await File.WriteAllLinesAsync(unknown, [$"{ids[0]},a", "987654321,b"]);
        var e3 = await Assert.ThrowsAsync<HarvesterException>(() => evaluator.EvaluateAsync(run.RunId, unknown, CancellationToken.None));
        Assert.Contains("are not images in this database (e.g. 987654321)", e3.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<HarvesterException>(() => evaluator.EvaluateAsync(run.RunId, Path.Combine(dir, "none.csv"), CancellationToken.None));
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);
        var noRun = await Assert.ThrowsAsync<HarvesterException>(() => evaluator.EvaluateAsync(run.RunId + 100, null, CancellationToken.None));
        Assert.Contains($"There is no clustering run {run.RunId + 100}", noRun.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_scheduled_run_takes_the_models_lease_and_clusters_once()
    {
        var model = await SeedModelAsync(8);
        await SeedBlobsAsync(model, 40, 8, 2, seed: 23);
        var o = Defaults();
        o.K = 2;
        o.SimilarityGroupsOnSchedule = true;
        var worker = new ClusterStage(Db, Store, new ModelStore(Db), Service(o), Grouper(o), Options.Create(o), TimeProvider.System, NullLogger<ClusterStage>.Instance);
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        Assert.Equal(2L, await ScalarAsync<long>("SELECT count(*) FROM clustering_runs WHERE status = 'completed'"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM work_leases WHERE stage = 'cluster'"));

        // Another worker holding the lease: this one stands aside.
        await ExecAsync("INSERT INTO work_leases (stage, item_id, claimed_by, lease_until, attempts) VALUES ('cluster', $1, 'other:1', now() + interval '1 hour', 1)", (long)model);
        Assert.False(await worker.RunOnceAsync(CancellationToken.None));
        Assert.Equal(2L, await ScalarAsync<long>("SELECT count(*) FROM clustering_runs"));
    }
}
