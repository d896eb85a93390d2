using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Harvester.Inference.Tests;

/// <summary>The inference services as the app wires them, on a test database and a private state directory.</summary>
public sealed class InferenceTestHost : IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    public InferenceTestHost(HarvesterDatabase? database, Dictionary<string, string?>? settings = null)
    {
        Root = Path.Combine(Path.GetTempPath(), "harvester-inference-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Root);
        var values = new Dictionary<string, string?>
        {
            ["Storage:Root"] = Root,
            ["Inference:ExecutionProvider"] = "cpu",
            ["Inference:IntraOpThreads"] = "2",
        };
        foreach (var (k, v) in settings ?? [])
        {
            values[k] = v;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section);
        services.AddSingleton<BlobStore>();
        if (database is not null)
        {
            services.AddSingleton(database);
        }

        services.AddHarvesterInference(configuration);
        _provider = services.BuildServiceProvider();
    }

    public string Root { get; }

    public string ModelsRoot => Path.Combine(Root, "models");

    public T Get<T>() where T : notnull => _provider.GetRequiredService<T>();

    public InferenceOptions Options => Get<IOptions<InferenceOptions>>().Value;

    /// <summary>Stores photo bytes as accepted images (one sighting each) and returns their ids in order.</summary>
    public async Task<long[]> SeedImagesAsync(HarvesterDatabase db, IReadOnlyList<byte[]> photos, ImageStatus status = ImageStatus.Accepted, long? placeId = null, long? siteId = null)
    {
        var blobs = Get<BlobStore>();
        await using var ctx = db.CreateDbContext();
        var images = new List<Image>();
        foreach (var bytes in photos)
        {
            var sha = await blobs.PutAsync(bytes, CancellationToken.None);
            images.Add(new Image { Sha256 = sha, SourceUrl = $"http://photos.test/{sha[..16]}.jpg", Status = status, ByteSize = bytes.Length, PlaceId = placeId });
        }

        ctx.Images.AddRange(images);
        await ctx.SaveChangesAsync();
        if (siteId is { } site)
        {
            ctx.ImageSightings.AddRange(images.Select(i => new ImageSighting { ImageId = i.Id, SiteId = site, PlaceId = placeId, SourceUrl = i.SourceUrl }));
            await ctx.SaveChangesAsync();
        }

        return images.Select(i => i.Id).ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await _provider.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Real, mutually distinct photos installed on the machine (MATE nature backgrounds, scikit-image sample data).</summary>
public static class Photos
{
    private static readonly string[] Roots = ["/usr/share/backgrounds/mate/nature", "/usr/lib/python3/dist-packages/skimage/data"];

    /// <summary>Photos at least 256 px on each side, sorted by path so every run uses the same ones; large files are scaled down once to keep tests fast.</summary>
    public static IReadOnlyList<(string Name, byte[] Jpeg)> Load(int count)
    {
        var list = new List<(string, byte[])>();
        foreach (var path in Roots.Where(Directory.Exists)
                     .SelectMany(r => Directory.EnumerateFiles(r, "*.*", SearchOption.AllDirectories))
                     .Where(p => p.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || p.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                     .Order(StringComparer.Ordinal))
        {
            using var mat = OpenCvSharp.Cv2.ImRead(path, OpenCvSharp.ImreadModes.Color);
            if (mat.Empty() || mat.Width < 256 || mat.Height < 256)
            {
                continue;
            }

            var scale = Math.Min(1.0, 800.0 / Math.Max(mat.Width, mat.Height));
            using var small = new OpenCvSharp.Mat();
            OpenCvSharp.Cv2.Resize(mat, small, new OpenCvSharp.Size(0, 0), scale, scale, OpenCvSharp.InterpolationFlags.Area);
            list.Add((Path.GetFileName(path), small.ImEncode(".jpg", new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.JpegQuality, 92))));
            if (list.Count == count)
            {
                break;
            }
        }

        Assert.True(list.Count >= Math.Min(count, 8), $"expected real photos under {string.Join(", ", Roots)}");
        return list;
    }
}
