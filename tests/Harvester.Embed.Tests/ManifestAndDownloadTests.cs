using System.Security.Cryptography;
using Harvester.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Harvester.Testing;

namespace Harvester.Embed.Tests;

public sealed class ManifestAndDownloadTests : IAsyncLifetime
{
    private readonly byte[] _model = GistModel.Build();
    private readonly List<string?> _ranges = [];
    private WebApplication _server = null!;
    private string _baseUrl = "";

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        _server = builder.Build();
        _server.MapGet("/models/gist.onnx", (HttpContext ctx) =>
        {
            lock (_ranges)
            {
                _ranges.Add(ctx.Request.Headers.Range.ToString());
            }

            return Results.File(_model, "application/octet-stream", enableRangeProcessing: true);
        });
        await _server.StartAsync();
        _baseUrl = _server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private ModelManifest Remote(string name, string? sha = null) => GistModel.Manifest with
    {
        Name = name,
        Url = _baseUrl + "/models/gist.onnx",
        Sha256 = sha ?? Convert.ToHexStringLower(SHA256.HashData(_model)),
    };

    [Fact]
    public void Default_manifest_is_valid_and_round_trips_through_json()
    {
        GistModel.Manifest.Validate("default");
        var back = ModelManifest.Parse(GistModel.Manifest.ToJson(), "json");
        Assert.Equal(GistModel.Manifest.ToJson(), back.ToJson());
    }

    [Theory]
    [InlineData("""{"name":"Bad Name","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512}""", "name must be")]
    [InlineData("""{"name":"m","outputName":"y","width":224,"height":224,"dimension":512}""", "inputName is required")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512,"layout":"CHW"}""", "layout 'CHW'")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512,"resize":"crop"}""", "resize 'crop'")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512,"std":[1,0,1]}""", "std must have 3 positive")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512,"mean":[0.5]}""", "mean must have 3")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":0}""", "dimension 0")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512,"url":"http://h/m.onnx"}""", "sha256 is required")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512,"file":"../x.onnx"}""", "file must be a plain file name")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512,"pooling":"max"}""", "pooling 'max'")]
    [InlineData("""{"name":"m","inputName":"x","outputName":"y","width":224,"height":224,"dimension":512,"resize":"shorter-side-center-crop","resizeShorterSide":200}""", "resizeShorterSide 200")]
    [InlineData("""{"name": "m", "inputName": """, "not valid JSON")]
    public void Invalid_manifests_are_refused_naming_the_field(string json, string expected)
    {
        var e = Assert.Throws<HarvesterException>(() => ModelManifest.Parse(json, "test.json"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("test.json", e.Message);
    }

    [Fact]
    public async Task Download_is_verified_cached_and_loadable()
    {
        await using var host = new InferenceTestHost(null);
        var catalog = host.Get<ModelCatalog>();
        var path = Path.Combine(host.ModelsRoot, "remote", "model.onnx");
        await catalog.DownloadAsync(Remote("remote"), path, CancellationToken.None);
        Assert.Equal(_model, await File.ReadAllBytesAsync(path));
        Assert.False(File.Exists(path + ".part"));

        // Through the catalog (a manifest.json in the model's directory): the cached file is used, no second request.
        await File.WriteAllTextAsync(Path.Combine(host.ModelsRoot, "remote", "manifest.json"), Remote("remote").ToJson());
        var requests = _ranges.Count;
        var resolved = await catalog.ResolveAsync("remote", CancellationToken.None);
        Assert.Equal(requests, _ranges.Count);
        using var embedder = Embedder.Load(resolved, new InferenceOptions { ExecutionProvider = "cpu" }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal(GistModel.Dimension, embedder.Embed([Photos.Load(1)[0].Jpeg], CancellationToken.None)[0].Length);
    }

    [Fact]
    public async Task Interrupted_download_resumes_with_a_range_request()
    {
        await using var host = new InferenceTestHost(null);
        var path = Path.Combine(host.ModelsRoot, "resumed", "model.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var half = _model.Length / 2;
        await File.WriteAllBytesAsync(path + ".part", _model[..half]);

        await host.Get<ModelCatalog>().DownloadAsync(Remote("resumed"), path, CancellationToken.None);

        Assert.Equal(_model, await File.ReadAllBytesAsync(path));
        Assert.Contains($"bytes={half}-", _ranges);
    }

    [Fact]
    public async Task Checksum_mismatch_is_refused_and_leaves_no_file()
    {
        await using var host = new InferenceTestHost(null);
        var path = Path.Combine(host.ModelsRoot, "tampered", "model.onnx");
        var e = await Assert.ThrowsAsync<HarvesterException>(() =>
            host.Get<ModelCatalog>().DownloadAsync(Remote("tampered", new string('a', 64)), path, CancellationToken.None));
        Assert.Contains("SHA-256", e.Message);
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".part"));
    }

    [Fact]
    public async Task Missing_model_file_without_url_and_unknown_model_give_clear_errors()
    {
        await using var host = new InferenceTestHost(null, new Dictionary<string, string?>
        {
            ["Inference:Manifests:local:InputName"] = "pixel_values",
            ["Inference:Manifests:local:OutputName"] = "embedding",
            ["Inference:Manifests:local:Width"] = "128",
            ["Inference:Manifests:local:Height"] = "128",
            ["Inference:Manifests:local:Dimension"] = "560",
        });
        var catalog = host.Get<ModelCatalog>();
        var missing = await Assert.ThrowsAsync<HarvesterException>(() => catalog.ResolveAsync("local", CancellationToken.None));
        Assert.Contains("is missing", missing.Message);
        Assert.Contains("model.onnx", missing.Message);

        var unknown = await Assert.ThrowsAsync<HarvesterException>(() => catalog.ResolveAsync("nope", CancellationToken.None));
        Assert.Contains("Unknown model 'nope'", unknown.Message);
        Assert.Contains(GistModel.Name, unknown.Message);
    }

    [Fact]
    public async Task Output_dimension_different_from_the_manifest_is_refused_at_load()
    {
        await using var host = new InferenceTestHost(null);
        var resolved = await host.Get<ModelCatalog>().ResolveAsync(GistModel.Name, CancellationToken.None);
        var wrong = resolved with { Manifest = resolved.Manifest with { Dimension = 512 } };
        var e = Assert.Throws<HarvesterException>(() =>
            Embedder.Load(wrong, new InferenceOptions { ExecutionProvider = "cpu" }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
        Assert.Contains("dimension 560", e.Message);
        Assert.Contains("manifest says 512", e.Message);
    }
}
