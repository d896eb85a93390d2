using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Harvester.Embed.Tests;

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
            // Most tests here are about the stage and search, not a model: the small generated one keeps them quick.
            ["Inference:Model"] = GistModel.Name,
        };
        foreach (var (k, v) in settings ?? [])
        {
            // A null value removes the key, so the option's own default applies.
            if (v is null)
            {
                values.Remove(k);
            }
            else
            {
                values[k] = v;
            }
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section);
        services.AddSingleton<BlobStore>().AddSingleton<IBlobStore>(sp => sp.GetRequiredService<BlobStore>());
        if (database is not null)
        {
            services.AddSingleton(database);
        }

        services.AddHarvesterEmbed(configuration);
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
