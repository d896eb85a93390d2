using System.Diagnostics;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text.Json;
using Harvester.Data;
using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace Harvester.Embed.Tests;

/// <summary>The resnet18-imagenet model: NuGet's graphs spliced, ML.NET's vectors reproduced, the default of the stage.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ResNet18Tests(PostgresFixture fixture) : IAsyncLifetime
{
    private HarvesterDatabase _db = null!;

    public async Task InitializeAsync() => _db = await fixture.CreateDatabaseAsync("resnet");

    public async Task DisposeAsync() => await _db.DisposeAsync();

    /// <summary>
    /// Hosts share one models directory for this model, so its 64 MB splice is written once per machine rather than
    /// once per test; each host still has a private state directory.
    /// </summary>
    internal static Dictionary<string, string?> ResNetSettings(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Inference:Model"] = ResNet18Model.Name,
            ["Storage:ModelsRoot"] = Path.Combine(Path.GetTempPath(), "harvester-test-models"),
        };
        foreach (var (k, v) in more ?? [])
        {
            settings[k] = v;
        }

        return settings;
    }

    [Fact]
    public async Task Vectors_match_MlNet_DnnImageFeaturizer_on_real_photos()
    {
        // The corpus's real source files as they are (2560x1600 JPEGs down to 384x303 PNGs), and derived files for the
        // resizer's other paths: growing (small images), the identity (exactly 224x224), odd sizes, a wide strip, grey,
        // and transparency (ML.NET sees premultiplied pixels: transparent counts as black).
        var dir = Path.Combine(Path.GetTempPath(), "harvester-mlnet-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var files = PhotoCorpus.FindSourcePhotos().ToList();
            using (var photo = TestImages.Read(TestImages.Chelsea))
            {
                void Write(string name, Mat m, params ImageEncodingParam[] p)
                {
                    var path = Path.Combine(dir, name);
                    Assert.True(Cv2.ImWrite(path, m, p));
                    files.Add(path);
                }

                using var up = new Mat();
                Cv2.Resize(photo, up, new Size(100, 160));
                Write("up-100x160.jpg", up);
                using var same = new Mat();
                Cv2.Resize(photo, same, new Size(224, 224), 0, 0, InterpolationFlags.Area);
                Write("same-224.png", same);
                using var odd = new Mat();
                Cv2.Resize(photo, odd, new Size(999, 701), 0, 0, InterpolationFlags.Cubic);
                Write("odd-999x701.jpg", odd, new ImageEncodingParam(ImwriteFlags.JpegQuality, 85));
                using var wide = new Mat(photo, new Rect(0, 100, 451, 80));
                Write("wide-451x80.png", wide);
                using var grey = new Mat();
                Cv2.CvtColor(photo, grey, ColorConversionCodes.BGR2GRAY);
                Write("grey.jpg", grey);
                using var bgra = new Mat();
                Cv2.CvtColor(photo, bgra, ColorConversionCodes.BGR2BGRA);
                var (rows, half) = (bgra.Rows, bgra.Cols / 2);
                for (var y = 0; y < rows; y++)
                {
                    for (var x = 0; x < half; x++)
                    {
                        var p = bgra.At<Vec4b>(y, x);
                        p.Item3 = (byte)(x * 255 / half);
                        bgra.Set(y, x, p);
                    }
                }

                Write("alpha.png", bgra);
            }

            var reference = await MlNetVectorsAsync(files, dir);
            await using var host = new InferenceTestHost(null, ResNetSettings());
            var embedder = await host.Get<ModelHost>().GetAsync(ResNet18Model.Name, CancellationToken.None);
            var ours = embedder.Embed([.. files.Select(f => (ReadOnlyMemory<byte>)File.ReadAllBytes(f))], CancellationToken.None);

            var worst = (Cosine: 1.0, File: "");
            for (var i = 0; i < files.Count; i++)
            {
                Assert.Equal(512, reference[files[i]].Length);
                var cosine = TensorPrimitives.CosineSimilarity(reference[files[i]], ours[i]);
                if (cosine < worst.Cosine)
                {
                    worst = (cosine, Path.GetFileName(files[i]));
                }

                Assert.True(cosine >= 0.9999, $"{files[i]}: cosine {cosine} to ML.NET's vector");
            }

            Assert.True(files.Count >= 30, $"only {files.Count} files compared");
            Assert.True(worst.Cosine > 0.99999, $"worst {worst.File}: {worst.Cosine}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Splice_is_deterministic_pinned_and_takes_any_batch()
    {
        await using var host = new InferenceTestHost(null, ResNetSettings());
        var resolved = await host.Get<ModelCatalog>().ResolveAsync(ResNet18Model.Name, CancellationToken.None);

        Assert.Equal(ResNet18Model.ModelSha256, await ModelCatalog.HashFileAsync(resolved.ModelPath, CancellationToken.None));
        var prep = await File.ReadAllBytesAsync(ResNet18Model.PackagedPath(ResNet18Model.PreprocessFile));
        var net = await File.ReadAllBytesAsync(ResNet18Model.PackagedPath(ResNet18Model.NetworkFile));
        Assert.Equal(ResNet18Model.PreprocessSha256, Convert.ToHexStringLower(SHA256.HashData(prep)));
        Assert.Equal(ResNet18Model.NetworkSha256, Convert.ToHexStringLower(SHA256.HashData(net)));
        Assert.Equal(ResNet18Model.ModelSha256, Convert.ToHexStringLower(SHA256.HashData(ResNet18Model.Build(prep, net))));
        var manifest = ModelManifest.Parse(await File.ReadAllTextAsync(Path.Combine(Path.GetDirectoryName(resolved.ModelPath)!, "manifest.json")), "written manifest");
        Assert.Equal(ResNet18Model.Manifest.ComputeSha256(), manifest.ComputeSha256());

        using var session = new InferenceSession(resolved.ModelPath);
        Assert.Equal([-1, 3, 224, 224], session.InputMetadata[ResNet18Model.InputName].Dimensions);
        Assert.Equal([-1, 512], session.OutputMetadata[ResNet18Model.OutputName].Dimensions);

        // The package's own network keeps its fixed batch of 1 (the splice is what frees it).
        using var original = new InferenceSession(net);
        Assert.Equal(1, original.InputMetadata.Values.Single().Dimensions[0]);
    }

    [Fact]
    public async Task A_batch_of_photos_gives_the_vectors_of_single_runs()
    {
        await using var host = new InferenceTestHost(null, ResNetSettings());
        var embedder = await host.Get<ModelHost>().GetAsync(ResNet18Model.Name, CancellationToken.None);
        var photos = Photos.Load(6).Select(p => (ReadOnlyMemory<byte>)p.Jpeg).ToList();

        var batched = embedder.Embed(photos, CancellationToken.None);

        Assert.Equal(0, embedder.FixedBatch);
        for (var i = 0; i < photos.Count; i++)
        {
            var single = embedder.Embed([photos[i]], CancellationToken.None)[0];
            Assert.Equal(512, single.Length);
            Assert.Equal(1f, TensorPrimitives.Norm(single), 4);
            var difference = new float[512];
            TensorPrimitives.Subtract(single, batched[i], difference);
            Assert.True(TensorPrimitives.MaxMagnitude(difference) < 1e-5f, $"photo {i} differs in a batch");
        }

        Assert.True(TensorPrimitives.CosineSimilarity(batched[0], batched[1]) < 0.99f);
    }

    [Fact]
    public async Task The_stage_embeds_with_resnet18_by_default_and_gist_keeps_its_own_vectors()
    {
        Assert.Equal(ResNet18Model.Name, new InferenceOptions().Model);
        await using var host = new InferenceTestHost(_db, ResNetSettings(new() { ["Inference:Model"] = null }));
        Assert.Equal(ResNet18Model.Name, host.Options.Model);
        var ids = await host.SeedImagesAsync(_db, [.. Photos.Load(5).Select(p => p.Jpeg)]);
        var service = host.Get<EmbedService>();

        var first = await service.RunUntilDoneAsync(null, 16, CancellationToken.None);
        var gist = await service.RunUntilDoneAsync(GistModel.Name, 16, CancellationToken.None);

        Assert.Equal((ResNet18Model.Name, 5), (first.Model, first.Embedded));
        Assert.Equal((GistModel.Name, 5), (gist.Model, gist.Embedded));
        var models = await host.Get<ModelStore>().ListAsync(CancellationToken.None);
        var resnet = models.Single(m => m.Model.Name == ResNet18Model.Name);
        Assert.Equal((512, 5L), (resnet.Model.Dimension, resnet.Vectors));
        Assert.Equal((GistModel.Dimension, 5L), models.Select(m => (m.Model.Dimension, m.Vectors)).Single(m => m.Dimension != 512));
        Assert.Equal(ResNet18Model.Manifest.Thresholds!.NearDuplicateCosine, resnet.Model.Cosine.NearDuplicate);
        Assert.NotNull(resnet.Model.Cosine.SimilarityGroup);

        var search = await host.Get<SimilarSearch>().NearestToImageAsync(ids[0], 3, new SearchFilter(), null, CancellationToken.None);
        Assert.Equal(ResNet18Model.Name, search.Model.Name);
        Assert.Equal(3, search.Neighbours.Count);
        Assert.DoesNotContain(search.Neighbours, n => n.ImageId == ids[0]);
    }

    /// <summary>Runs ML.NET's pipeline in its own process (it needs SkiaSharp 2.88) over the files; its raw vectors by path.</summary>
    internal static async Task<Dictionary<string, float[]>> MlNetVectorsAsync(IReadOnlyList<string> files, string workDir)
    {
        var list = Path.Combine(workDir, "files.txt");
        var output = Path.Combine(workDir, "mlnet.jsonl");
        await File.WriteAllLinesAsync(list, files);
        var psi = new ProcessStartInfo("dotnet", [MlNetReferencePath(), "vectors", list, output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"ML.NET reference failed ({process.ExitCode}): {await stderr} {await stdout}");
        return File.ReadAllLines(output).Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(
            e => e.GetProperty("path").GetString()!,
            e => e.GetProperty("features").EnumerateArray().Select(x => x.GetSingle()).ToArray());
    }

    /// <summary>The reference tool's build output beside this test project's (same configuration).</summary>
    internal static string MlNetReferencePath()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var (framework, configuration) = (here.Name, here.Parent!.Name);
        var path = Path.GetFullPath(Path.Combine(here.FullName, "../../../..", "Harvester.Embed.MlNetReference", "bin", configuration, framework, "Harvester.Embed.MlNetReference.dll"));
        Assert.True(File.Exists(path), $"{path} is missing: build tests/Harvester.Embed.MlNetReference");
        return path;
    }
}
