using Harvester.Core;
using Harvester.Data;
using Harvester.Testing;

namespace Harvester.Embed.Tests;

/// <summary>
/// Models that cannot embed are refused when they are registered, with one line that names the cause, and leave
/// nothing behind: no embedding_models row, no index, no vectors, no claims.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class BadModelTests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("badmodel");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static Dictionary<string, string?> Manifest(string name, string file, string input, string output, int size, int dimension, string? sha256 = null)
    {
        var settings = new Dictionary<string, string?>
        {
            [$"Inference:Manifests:{name}:Name"] = name,
            [$"Inference:Manifests:{name}:File"] = file,
            [$"Inference:Manifests:{name}:InputName"] = input,
            [$"Inference:Manifests:{name}:OutputName"] = output,
            [$"Inference:Manifests:{name}:Width"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [$"Inference:Manifests:{name}:Height"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [$"Inference:Manifests:{name}:Dimension"] = dimension.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (sha256 is not null)
        {
            settings[$"Inference:Manifests:{name}:Sha256"] = sha256;
        }

        return settings;
    }

    /// <summary>Registers <paramref name="model"/> the ways the app does (the embed stage, and 'harvester models --fetch') and returns the error.</summary>
    private async Task<string> RefusedAsync(InferenceTestHost host, string model)
    {
        await host.SeedImagesAsync(_db, [Photos.Load(1)[0].Jpeg]);
        var stage = await Assert.ThrowsAsync<HarvesterException>(() => host.Get<EmbedService>().RunOnceAsync(model, 8, CancellationToken.None));
        var fetch = await Assert.ThrowsAsync<HarvesterException>(async () =>
            await host.Get<ModelRegistry>().EnsureAsync(await host.Get<ModelHost>().GetAsync(model, CancellationToken.None), CancellationToken.None));
        Assert.Equal(stage.Message, fetch.Message);
        Assert.DoesNotContain('\n', stage.Message);
        Assert.Contains($"'{model}'", stage.Message);
        foreach (var sql in new[]
                 {
                     "SELECT count(*) FROM embedding_models",
                     "SELECT count(*) FROM embeddings",
                     "SELECT count(*) FROM work_leases",
                     "SELECT count(*) FROM pg_indexes WHERE indexname ~ '^ix_embeddings_m[0-9]+$'",
                 })
        {
            await using var cmd = _db.DataSource.CreateCommand(sql);
            Assert.True(0L == (long)(await cmd.ExecuteScalarAsync())!, sql);
        }

        return stage.Message;
    }

    [Fact]
    public async Task A_model_file_whose_hash_differs_is_refused()
    {
        await using var probe = new InferenceTestHost(null);
        var file = Path.Combine(probe.Root, "gist-copy.onnx");
        await File.WriteAllBytesAsync(file, GistModel.Build());
        await using var host = new InferenceTestHost(_db, Manifest("pinned", file, "pixel_values", "embedding", GistModel.Size, GistModel.Dimension, new string('a', 64)));

        var message = await RefusedAsync(host, "pinned");

        Assert.Contains($"expects {new string('a', 64)}", message);
        Assert.Contains("nothing was registered", message);
    }

    [Fact]
    public async Task A_model_that_is_not_an_image_model_is_refused()
    {
        // A text-style graph: int64 token ids [batch, 16] in, floats out.
        var g = new OnnxGraph("tokens");
        g.Input("input_ids", OnnxGraph.Int64Type, "batch", 16);
        g.Output("y", OnnxGraph.FloatType, "batch", 16);
        g.Node("Cast", ["input_ids"], "y", ("to", 1L));
        await using var probe = new InferenceTestHost(null);
        var file = Path.Combine(probe.Root, "tokens.onnx");
        await File.WriteAllBytesAsync(file, g.ToModel(13, "harvester-tests", "not an image model"));
        await using var host = new InferenceTestHost(_db, Manifest("tokens", file, "input_ids", "y", 32, 16));

        var message = await RefusedAsync(host, "tokens");

        Assert.Contains("is not an image model", message);
        Assert.Contains("int64[-1,16]", message);
    }

    [Fact]
    public async Task A_model_whose_batch_is_fixed_inside_the_graph_is_refused()
    {
        // The input says any batch, but a Reshape to [1, -1] folds the batch into one row: two images would give one vector.
        var g = new OnnxGraph("pinned_batch");
        g.Input("x", OnnxGraph.FloatType, "batch", 3, 32, 32);
        g.Output("y", OnnxGraph.FloatType, "batch", 48);
        var pooled = g.Node("AveragePool", ["x"], "pooled", ("kernel_shape", new long[] { 8, 8 }), ("strides", new long[] { 8, 8 }));
        var shape = g.Initializer("one_row", [1L, -1L], 2);
        g.Node("Reshape", [pooled, shape], "y");
        await using var probe = new InferenceTestHost(null);
        var file = Path.Combine(probe.Root, "pinned.onnx");
        await File.WriteAllBytesAsync(file, g.ToModel(13, "harvester-tests", "batch fixed inside"));
        await using var host = new InferenceTestHost(_db, Manifest("pinned-batch", file, "x", "y", 32, 48));

        var message = await RefusedAsync(host, "pinned-batch");

        Assert.Contains("batch dimension is fixed inside the graph", message);
        Assert.Contains("[1,96] for a batch of 2", message);
    }

    [Fact]
    public async Task A_manifest_whose_output_does_not_exist_is_refused()
    {
        await using var probe = new InferenceTestHost(null);
        var file = Path.Combine(probe.Root, "gist.onnx");
        await File.WriteAllBytesAsync(file, GistModel.Build());
        await using var host = new InferenceTestHost(_db, Manifest("no-output", file, "pixel_values", "features", GistModel.Size, GistModel.Dimension));

        var message = await RefusedAsync(host, "no-output");

        Assert.Contains("has no output 'features' (manifest outputName); it has: embedding", message);
    }
}
