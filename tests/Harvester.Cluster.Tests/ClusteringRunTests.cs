using Harvester.Data;
using System.Text.Json;
using Harvester.Core;
using Harvester.Testing;
using Npgsql;
using OpenCvSharp;
using Pgvector;

namespace Harvester.Cluster.Tests;

[Collection(PostgresCollection.Name)]
public sealed class ClusteringRunTests(PostgresFixture fixture) : ClusteringDb(fixture)
{
    [Fact]
    public async Task A_run_records_centroids_and_one_assignment_per_image_and_recovers_the_blobs()
    {
        var model = await SeedModelAsync(16);
        var (ids, truth, _) = await SeedBlobsAsync(model, 300, 16, 3, seed: 1);
        var result = await Service().RunAsync(new ClusterRequest { K = 3 }, CancellationToken.None);

        Assert.Equal(300, result.Images);
        Assert.Equal(RunStatus.Completed, await ScalarAsync<RunStatus>("SELECT status FROM clustering_runs WHERE id = $1", result.RunId));
        Assert.Equal(3L, await ScalarAsync<long>("SELECT count(*) FROM cluster_centroids WHERE run_id = $1", result.RunId));
        Assert.Equal(300L, await ScalarAsync<long>("SELECT sum(size) FROM cluster_centroids WHERE run_id = $1", result.RunId));
        var assigned = await AssignmentsAsync(result.RunId);
        Assert.Equal(ids.Order(), assigned.Keys.Order());
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex(truth, ids.Select(i => assigned[i]).ToArray()), 12);

        var metrics = JsonDocument.Parse(await ScalarAsync<string>("SELECT metrics::text FROM clustering_runs WHERE id = $1", result.RunId)).RootElement;
        Assert.True(metrics.GetProperty("silhouette").GetDouble() > 0.8);
        Assert.True(metrics.GetProperty("daviesBouldin").GetDouble() < 0.5);
        Assert.Equal("in-memory", metrics.GetProperty("memory").GetProperty("mode").GetString());
        var parameters = JsonDocument.Parse(await ScalarAsync<string>("SELECT parameters::text FROM clustering_runs WHERE id = $1", result.RunId)).RootElement;
        Assert.Equal(7, parameters.GetProperty("seed").GetInt32());
        // Stored distance is the Euclidean distance to the centroid (in the normalised space): small inside tight blobs.
        Assert.True(await ScalarAsync<double>("SELECT max(distance) FROM cluster_assignments WHERE run_id = $1", result.RunId) < 0.5);
    }

    [Fact]
    public async Task Sql_assigns_a_new_image_to_the_nearest_centroid_with_the_cosine_operator()
    {
        var model = await SeedModelAsync(16);
        var (ids, truth, centres) = await SeedBlobsAsync(model, 120, 16, 3, seed: 2);
        var run = await Service().RunAsync(new ClusterRequest { K = 3 }, CancellationToken.None);
        var assigned = await AssignmentsAsync(run.RunId);
        var rng = new Random(99);
        for (var blob = 0; blob < 3; blob++)
        {
            var expected = assigned[ids[Array.IndexOf(truth, blob)]];
            var fresh = centres[blob].Select(c => (float)(c + 0.6 * KMeansTests.Gaussian(rng))).ToArray();
            await using var cmd = Db.DataSource.CreateCommand("SELECT cluster_index FROM cluster_centroids WHERE run_id = $1 ORDER BY centroid <=> $2 LIMIT 1");
            cmd.Parameters.AddWithValue(run.RunId);
            cmd.Parameters.AddWithValue(new Vector(fresh));
            Assert.Equal(expected, (int)(await cmd.ExecuteScalarAsync())!);
        }
    }

    [Fact]
    public async Task The_next_run_warm_starts_from_the_previous_centroids_and_reports_drift()
    {
        var model = await SeedModelAsync(16);
        await SeedBlobsAsync(model, 200, 16, 4, seed: 3);
        var first = await Service().RunAsync(new ClusterRequest { K = 4 }, CancellationToken.None);
        Assert.Null(first.WarmStartedFrom);
        Assert.Null(first.Drift);

        var rng = new Random(3);
        var centres = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 16).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray()).ToArray();
        var more = await SeedImagesAsync(20);
        await SeedVectorsAsync(model, more, [.. more.Select((_, i) => centres[i % 4].Select(c => c + 0.1f).ToArray())]);

        var second = await Service().RunAsync(new ClusterRequest { K = 4 }, CancellationToken.None);
        Assert.Equal(first.RunId, second.WarmStartedFrom);
        Assert.Equal(first.RunId, await ScalarAsync<long>("SELECT previous_run_id FROM clustering_runs WHERE id = $1", second.RunId));
        Assert.NotNull(second.Drift);
        Assert.Equal(200, second.Drift.Common);
        Assert.Equal(20, second.Drift.Added);
        Assert.Equal(0, second.Drift.Removed);
        Assert.Equal(0, second.Drift.Moved);
        Assert.Equal(1.0, second.Drift.AdjustedRandIndex, 12);
        Assert.True(second.Iterations <= 2, $"warm start took {second.Iterations} iterations");

        var cold = await Service().RunAsync(new ClusterRequest { K = 4, WarmStart = false }, CancellationToken.None);
        Assert.Null(cold.WarmStartedFrom);
        Assert.Equal(1.0, cold.Drift!.AdjustedRandIndex, 12);
    }

    [Fact]
    public async Task K_auto_sweeps_a_range_stores_the_sweep_and_picks_the_blob_count()
    {
        var model = await SeedModelAsync(12);
        await SeedBlobsAsync(model, 240, 12, 4, seed: 4);
        var o = Defaults();
        o.KMin = 2;
        o.KMax = 7;
        var result = await Service(o).RunAsync(new ClusterRequest { K = 0 }, CancellationToken.None);
        Assert.Equal(4, result.K);
        Assert.Equal([2, 3, 4, 5, 6, 7], result.Sweep.Select(p => p.K));
        var metrics = JsonDocument.Parse(await ScalarAsync<string>("SELECT metrics::text FROM clustering_runs WHERE id = $1", result.RunId)).RootElement;
        Assert.Equal(6, metrics.GetProperty("sweep").GetArrayLength());
        Assert.Equal("max-silhouette", metrics.GetProperty("kChosenBy").GetString());
        Assert.Equal(4, await ScalarAsync<int>("SELECT k FROM clustering_runs WHERE id = $1", result.RunId));
    }

    [Fact]
    public async Task Pca_before_kmeans_still_stores_centroids_in_the_embedding_space()
    {
        var model = await SeedModelAsync(32);
        var (ids, truth, _) = await SeedBlobsAsync(model, 150, 32, 3, seed: 5);
        var result = await Service().RunAsync(new ClusterRequest { K = 3, PcaDimensions = 4 }, CancellationToken.None);
        var assigned = await AssignmentsAsync(result.RunId);
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex(truth, ids.Select(i => assigned[i]).ToArray()), 12);
        Assert.Equal(32, await ScalarAsync<int>("SELECT vector_dims(centroid) FROM cluster_centroids WHERE run_id = $1 LIMIT 1", result.RunId));
    }

    [Fact]
    public async Task Over_the_memory_budget_kmeans_runs_on_a_sample_and_still_assigns_every_image()
    {
        var model = await SeedModelAsync(256);
        var (ids, truth, _) = await SeedBlobsAsync(model, 1500, 256, 3, seed: 6);
        var o = Defaults();
        o.MemoryBudgetMegabytes = 1;   // 1 MiB holds 1024 rows of 256 floats
        o.StreamBatchSize = 100;
        var result = await Service(o).RunAsync(new ClusterRequest { K = 3 }, CancellationToken.None);
        Assert.Equal(1500, result.Images);
        var assigned = await AssignmentsAsync(result.RunId);
        Assert.Equal(1500, assigned.Count);
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex(truth, ids.Select(i => assigned[i]).ToArray()), 12);
        var metrics = JsonDocument.Parse(await ScalarAsync<string>("SELECT metrics::text FROM clustering_runs WHERE id = $1", result.RunId)).RootElement;
        Assert.Equal("sampled", metrics.GetProperty("memory").GetProperty("mode").GetString());
        Assert.Equal(1024, metrics.GetProperty("memory").GetProperty("rowsInMemory").GetInt32());
    }

    [Fact]
    public async Task Scope_limits_the_run_to_one_sites_images()
    {
        var model = await SeedModelAsync(8);
        var (ids, _, _) = await SeedBlobsAsync(model, 60, 8, 2, seed: 7);
        var site = await ScalarAsync<long>("INSERT INTO sites (key, adapter, base_url) VALUES ('demo-map', 'map', 'http://x') RETURNING id");
        await ExecAsync("INSERT INTO image_sightings (image_id, site_id, source_url) SELECT id, $1, 'http://x/' || id FROM unnest($2::bigint[]) AS id", site, ids[..25]);
        var result = await Service().RunAsync(new ClusterRequest { K = 2, Scope = ImageScope.Parse("site=demo-map") }, CancellationToken.None);
        Assert.Equal(25, result.Images);
        Assert.Equal("{\"site\": \"demo-map\"}", await ScalarAsync<string>("SELECT scope::text FROM clustering_runs WHERE id = $1", result.RunId));
    }

    [Fact]
    public async Task Gallery_writes_contact_sheets_an_index_a_pca_map_and_projector_files()
    {
        var model = await SeedModelAsync(16);
        var (ids, _, _) = await SeedBlobsAsync(model, 33, 16, 3, seed: 8, withPhotos: true);
        var o = Defaults();
        o.WriteGalleries = true;
        o.GalleryNearest = 3;
        o.GalleryRandom = 2;
        o.GalleryTileSize = 64;
        var result = await Service(o).RunAsync(new ClusterRequest { K = 3 }, CancellationToken.None);
        Assert.NotNull(result.GalleryPath);
        var dir = result.GalleryPath;
        Assert.Equal(Path.Combine(Storage.ResolveOutputRoot(), "clusters", $"run-{result.RunId}"), dir);
        for (var c = 0; c < 3; c++)
        {
            using var sheet = Cv2.ImRead(Path.Combine(dir, $"cluster-{c:D3}.png"));
            Assert.False(sheet.Empty());
            Assert.True(sheet.Width >= 5 * 64, $"sheet {c} is {sheet.Width} wide");
        }

        using (var map = Cv2.ImRead(Path.Combine(dir, "pca.png")))
        {
            Assert.Equal(900, map.Width);
            // Coloured points, not just a white canvas with black text.
            using var hsv = map.CvtColor(ColorConversionCodes.BGR2HSV);
            Assert.True(Cv2.CountNonZero(hsv.ExtractChannel(1).Threshold(100, 255, ThresholdTypes.Binary)) > 100);
        }

        var html = await File.ReadAllTextAsync(Path.Combine(dir, "index.html"));
        Assert.Contains("cluster-002.png", html, StringComparison.Ordinal);
        Assert.Contains("pca.png", html, StringComparison.Ordinal);
        var vectors = await File.ReadAllLinesAsync(Path.Combine(dir, "vectors.tsv"));
        Assert.Equal(33, vectors.Length);
        Assert.All(vectors, l => Assert.Equal(16, l.Split('\t').Length));
        var metadata = await File.ReadAllLinesAsync(Path.Combine(dir, "metadata.tsv"));
        Assert.Equal("image_id\tcluster\tdistance\tsha256", metadata[0]);
        Assert.Equal(ids.Order().Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), metadata.Skip(1).Select(l => l.Split('\t')[0]));
    }

    [Fact]
    public async Task K_larger_than_the_scope_is_refused_before_any_run_is_recorded()
    {
        var model = await SeedModelAsync(8);
        await SeedBlobsAsync(model, 10, 8, 2, seed: 9);
        var e = await Assert.ThrowsAsync<HarvesterException>(() => Service().RunAsync(new ClusterRequest { K = 11 }, CancellationToken.None));
        Assert.Contains("k = 11 is larger than the number of images in scope 'all' (10)", e.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM clustering_runs"));
    }

    [Fact]
    public async Task An_empty_scope_an_unknown_model_and_a_model_without_embeddings_each_say_what_is_wrong()
    {
        var model = await SeedModelAsync(8);
        await SeedBlobsAsync(model, 10, 8, 2, seed: 10);
        await SeedModelAsync(8, "empty-model");

        var scope = await Assert.ThrowsAsync<HarvesterException>(() => Service().RunAsync(new ClusterRequest { K = 2, Scope = ImageScope.Parse("site=nowhere") }, CancellationToken.None));
        Assert.Contains("Scope 'site=nowhere' has no accepted images with test-model:1 embeddings", scope.Message, StringComparison.Ordinal);

        var unknown = await Assert.ThrowsAsync<HarvesterException>(() => Service().RunAsync(new ClusterRequest { K = 2, Model = "nope" }, CancellationToken.None));
        Assert.Contains("No embedding model named 'nope'", unknown.Message, StringComparison.Ordinal);

        var empty = await Assert.ThrowsAsync<HarvesterException>(() => Service().RunAsync(new ClusterRequest { K = 2, Model = "empty-model" }, CancellationToken.None));
        Assert.Contains("no accepted images with empty-model:1 embeddings", empty.Message, StringComparison.Ordinal);

        var badScope = Assert.Throws<HarvesterException>(() => ImageScope.Parse("colour=red"));
        Assert.Contains("Unknown scope key 'colour'", badScope.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM clustering_runs"));
    }

    [Fact]
    public async Task NaN_and_zero_vectors_are_named_by_image_id()
    {
        var model = await SeedModelAsync(4);
        var ids = await SeedImagesAsync(4);
        await SeedVectorsAsync(model, ids, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]]);
        var zero = await Assert.ThrowsAsync<HarvesterException>(() => Service().RunAsync(new ClusterRequest { K = 2 }, CancellationToken.None));
        Assert.Contains($"Image {ids[2]} has an all-zero", zero.Message, StringComparison.Ordinal);

        // pgvector itself refuses NaN, so the reader's own check is the second line of defence (other servers, casts).
        await Assert.ThrowsAsync<PostgresException>(() => ExecAsync("UPDATE embeddings SET embedding = '[NaN,1,0,0]' WHERE image_id = $1", ids[2]));
        var nan = Assert.Throws<HarvesterException>(() => EmbeddingSource.Check(new RegisteredModel(model, "test-model", "1", "", 4), ids[2], [float.NaN, 1, 0, 0], rejectZero: true));
        Assert.Contains($"Image {ids[2]} has a NaN or infinite value", nan.Message, StringComparison.Ordinal);
        var wrongDim = Assert.Throws<HarvesterException>(() => EmbeddingSource.Check(new RegisteredModel(model, "test-model", "1", "", 4), ids[2], [1, 0, 0], rejectZero: true));
        Assert.Contains("3-dimensional embedding but model test-model:1 declares 4", wrongDim.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM clustering_runs"));
    }

    [Fact]
    public async Task A_run_left_running_by_a_killed_process_is_swept_to_failed_with_the_reason()
    {
        var model = await SeedModelAsync(8);
        await SeedBlobsAsync(model, 30, 8, 3, seed: 31);
        using var child = System.Diagnostics.Process.Start("sleep", "0.1")!;
        var start = Harvester.Data.Stages.ProcessIdentity.StartTicks(child.Id)!.Value;
        await child.WaitForExitAsync();
        var dead = Harvester.Data.Stages.ProcessIdentity.Format(Harvester.Data.Stages.ProcessIdentity.Host, child.Id, start);
        var abandoned = await ScalarAsync<long>(
            "INSERT INTO clustering_runs (model_id, k, status, started_at, owner) VALUES ($1, 3, 'running', now(), $2) RETURNING id", model, dead);

        var run = await Service().RunAsync(new ClusterRequest { K = 3 }, CancellationToken.None);

        Assert.Equal(RunStatus.Failed, await ScalarAsync<RunStatus>("SELECT status FROM clustering_runs WHERE id = $1", abandoned));
        Assert.Contains("stopped before it finished", await ScalarAsync<string>("SELECT error FROM clustering_runs WHERE id = $1", abandoned), StringComparison.Ordinal);
        Assert.Equal(RunStatus.Completed, await ScalarAsync<RunStatus>("SELECT status FROM clustering_runs WHERE id = $1", run.RunId));
    }

    [Fact]
    public async Task A_run_that_fails_while_writing_is_marked_failed_and_leaves_no_assignments()
    {
        var model = await SeedModelAsync(8);
        var (ids, _, _) = await SeedBlobsAsync(model, 50, 8, 2, seed: 11);
        // A trigger that refuses one assignment row midway through the COPY.
        await ExecAsync($"""
            CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$;
            CREATE TRIGGER refuse BEFORE INSERT ON cluster_assignments FOR EACH ROW WHEN (NEW.image_id = {ids[30]}) EXECUTE FUNCTION refuse_one();
            """);
        await Assert.ThrowsAsync<PostgresException>(() => Service().RunAsync(new ClusterRequest { K = 2 }, CancellationToken.None));
        Assert.Equal(RunStatus.Failed, await ScalarAsync<RunStatus>("SELECT status FROM clustering_runs"));
        Assert.Contains("disk full", await ScalarAsync<string>("SELECT error FROM clustering_runs"), StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM cluster_assignments"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM cluster_centroids"));
    }
}
