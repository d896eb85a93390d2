using System.Security.Cryptography;
using Harvester.Core;
using Harvester.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Harvester.Embed.Tests;

/// <summary>Where a model comes from and what shape it takes: configuration, files anywhere on disk, fixed batch sizes.</summary>
public sealed class ModelSourceTests
{
    [Fact]
    public async Task Mean_and_std_from_configuration_replace_the_defaults_instead_of_appending_to_them()
    {
        await using var host = new InferenceTestHost(null, new Dictionary<string, string?>
        {
            ["Inference:Manifests:tuned:InputName"] = "pixel_values",
            ["Inference:Manifests:tuned:OutputName"] = "embedding",
            ["Inference:Manifests:tuned:Width"] = "128",
            ["Inference:Manifests:tuned:Height"] = "128",
            ["Inference:Manifests:tuned:Dimension"] = "560",
            ["Inference:Manifests:tuned:Mean:0"] = "0.485",
            ["Inference:Manifests:tuned:Mean:1"] = "0.456",
            ["Inference:Manifests:tuned:Mean:2"] = "0.406",
            ["Inference:Manifests:tuned:Std:0"] = "0.229",
            ["Inference:Manifests:tuned:Std:1"] = "0.224",
            ["Inference:Manifests:tuned:Std:2"] = "0.225",
        });

        var manifest = host.Get<ModelCatalog>().GetManifest("tuned");

        Assert.Equal([0.485f, 0.456f, 0.406f], manifest.Mean);
        Assert.Equal([0.229f, 0.224f, 0.225f], manifest.Std);
    }

    [Fact]
    public async Task A_model_file_anywhere_on_disk_is_used_by_absolute_path_or_file_url_with_its_hash_checked()
    {
        await using var host = new InferenceTestHost(null);
        var elsewhere = Path.Combine(host.Root, "downloads", "my-model.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(elsewhere)!);
        var bytes = GistModel.Build();
        await File.WriteAllBytesAsync(elsewhere, bytes);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var catalog = host.Get<ModelCatalog>();

        foreach (var (name, manifest) in new[]
                 {
                     ("by-path", GistModel.Manifest with { Name = "by-path", File = elsewhere, Sha256 = sha }),
                     ("by-url", GistModel.Manifest with { Name = "by-url", Url = new Uri(elsewhere).AbsoluteUri, Sha256 = sha }),
                 })
        {
            Directory.CreateDirectory(catalog.DirectoryFor(name));
            await File.WriteAllTextAsync(Path.Combine(catalog.DirectoryFor(name), ModelCatalog.ManifestFileName), manifest.ToJson());

            var resolved = await catalog.ResolveAsync(name, CancellationToken.None);

            Assert.Equal(elsewhere, resolved.ModelPath);
            Assert.False(File.Exists(Path.Combine(catalog.DirectoryFor(name), "model.onnx")), "used in place, not copied");
            using var embedder = Embedder.Load(resolved, new InferenceOptions { ExecutionProvider = "cpu" }, NullLogger.Instance);
            Assert.Equal(GistModel.Dimension, embedder.Embed([Photos.Load(1)[0].Jpeg], CancellationToken.None)[0].Length);
        }

        var tampered = GistModel.Manifest with { Name = "tampered", File = elsewhere, Sha256 = new string('0', 64) };
        Directory.CreateDirectory(catalog.DirectoryFor("tampered"));
        await File.WriteAllTextAsync(Path.Combine(catalog.DirectoryFor("tampered"), ModelCatalog.ManifestFileName), tampered.ToJson());
        var e = await Assert.ThrowsAsync<HarvesterException>(() => catalog.ResolveAsync("tampered", CancellationToken.None));
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains(elsewhere, e.Message);
    }

    [Fact]
    public async Task A_graph_with_a_fixed_batch_of_one_embeds_any_number_of_images_like_single_runs()
    {
        await using var host = new InferenceTestHost(null);
        var path = Path.Combine(host.Root, "fixed-batch.onnx");
        await File.WriteAllBytesAsync(path, ColourMeanModel(batch: 1));
        var manifest = new ModelManifest
        {
            Name = "colour-mean", InputName = "x", OutputName = "y", Width = 16, Height = 16, Dimension = 3, L2Normalize = false,
        };
        var resolved = new ResolvedModel(manifest, path, manifest.ComputeSha256());
        using var embedder = Embedder.Load(resolved, new InferenceOptions { ExecutionProvider = "cpu", ModelBatch = 32 }, NullLogger.Instance);
        var photos = Photos.Load(5).Select(p => (ReadOnlyMemory<byte>)p.Jpeg).ToList();

        var batched = embedder.Embed(photos, CancellationToken.None);

        Assert.Equal(1, embedder.FixedBatch);
        Assert.Equal(5, batched.Length);
        for (var i = 0; i < photos.Count; i++)
        {
            Assert.Equal(embedder.Embed([photos[i]], CancellationToken.None)[0], batched[i]);
        }

        Assert.NotEqual(batched[0], batched[1]);
    }

    /// <summary>A tiny real ONNX graph: the mean of each colour channel, with the batch dimension fixed.</summary>
    private static byte[] ColourMeanModel(int batch)
    {
        var g = new OnnxGraph("colour_mean");
        g.Input("x", OnnxGraph.FloatType, batch, 3, 16, 16);
        g.Output("y", OnnxGraph.FloatType, batch, 3);
        var pooled = g.Node("GlobalAveragePool", ["x"], "pooled");
        g.Node("Flatten", [pooled], "y", ("axis", 1L));
        return g.ToModel(13, "harvester-tests", "fixed batch test model");
    }
}
