using Harvester.Cluster;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Harvester.Embed;
using Harvester.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenCvSharp;

namespace Harvester.Export.Tests;

/// <summary>
/// A small crawl as the export sees it, built once per test assembly: real photographs at 12 places in four categories
/// (카페 ×4, 베이커리 ×4, 꽃집 ×3, and "bar" with a single place, which cannot be in three splits), two photos each
/// except three at the first cafe, and three shop products (fabric) with one photo each; a re-encoded copy of that cafe's first photo posted
/// at a bakery (a near-copy that joins the two places); a place whose scraped name is a spreadsheet formula; distinct
/// quality scores; vectors from the default ONNX model.
/// </summary>
internal sealed class ClientDataset
{
    public const string Formula = "=cmd|' /C calc'!A0";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static (PostgresFixture Fixture, ClientDataset Data)? _built;

    private ClientDataset(ServiceProvider services, HarvesterDatabase db, string root)
    {
        Services = services;
        Db = db;
        Root = root;
    }

    public ServiceProvider Services { get; }

    public HarvesterDatabase Db { get; }

    public string Root { get; }

    public ExportService Exporter => Services.GetRequiredService<ExportService>();

    public BlobStore Blobs => Services.GetRequiredService<BlobStore>();

    /// <summary>SHA-256 of the first cafe's first photo and of its re-encoded copy at a bakery.</summary>
    public (string Original, string Copy) CopyPair { get; private set; }

    public string Out(string name) => Path.Combine(Root, "exports", name);

    public static async Task<ClientDataset> GetAsync(PostgresFixture fixture)
    {
        await Gate.WaitAsync();
        try
        {
            if (_built is { } b && ReferenceEquals(b.Fixture, fixture))
            {
                return b.Data;
            }

            var data = await BuildAsync(fixture);
            _built = (fixture, data);
            return data;
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<ClientDataset> BuildAsync(PostgresFixture fixture)
    {
        var db = await fixture.CreateDatabaseAsync("export-clients");
        var root = Path.Combine(fixture.StateRoot, "export-clients-" + Guid.NewGuid().ToString("N")[..8]);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:Root"] = root,
            ["Inference:ExecutionProvider"] = "cpu",
            ["Clustering:WriteGalleries"] = "false",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section);
        services.AddSingleton<BlobStore>().AddSingleton<IBlobStore>(sp => sp.GetRequiredService<BlobStore>());
        services.AddSingleton(db);
        services.AddHarvesterEmbed(configuration);
        services.AddHarvesterCluster(configuration);
        services.AddHarvesterExport(configuration);
        var data = new ClientDataset(services.BuildServiceProvider(), db, root);
        await data.SeedAsync();
        return data;
    }

    private async Task SeedAsync()
    {
        var photos = Photos.Load(28).Select(p => p.Jpeg).ToList();
        Assert.Equal(28, photos.Count);
        await using var ctx = Db.CreateDbContext();
        var map = new Site { Key = "test-map", Adapter = "map", BaseUrl = "http://map.test" };
        var shop = new Site { Key = "test-shop", Adapter = "shop", BaseUrl = "http://shop.test" };
        ctx.Sites.AddRange(map, shop);
        await ctx.SaveChangesAsync();

        string[] categories = ["카페", "카페", "카페", "카페", "베이커리", "베이커리", "베이커리", "베이커리", "꽃집", "꽃집", "꽃집", "bar"];
        var places = categories.Select((c, i) => new Place
        {
            SiteId = map.Id,
            ExternalId = "p" + i,
            Name = i == 1 ? Formula : $"가게 {i}",
            Category = c,
            Neighbourhood = i % 2 == 0 ? "망원동" : "연남동",
        }).ToList();
        var products = Enumerable.Range(0, 3).Select(i => new Product { SiteId = shop.Id, ExternalId = "f" + i, Name = $"fabric {i}", Category = "fabric" }).ToList();
        ctx.Places.AddRange(places);
        ctx.Products.AddRange(products);
        await ctx.SaveChangesAsync();

        var next = 0;
        async Task<Image> AddAsync(byte[] bytes, Place? place, Product? product)
        {
            var k = next++;
            var sha = await Blobs.PutAsync(bytes, CancellationToken.None);
            using var mat = Cv2.ImDecode(bytes, ImreadModes.Color);
            var url = $"http://{(place is null ? "shop" : "map")}.test/{sha[..12]}.jpg";
            var image = new Image
            {
                Sha256 = sha, SourceUrl = url, Status = ImageStatus.Accepted, ByteSize = bytes.Length, Format = "jpeg", Width = mat.Width, Height = mat.Height,
                PlaceId = place?.Id, ProductId = product?.Id, QualityScore = 0.1 + k * 37 % 100 / 100.0,
                PHash = Harvester.Imaging.PerceptualHash.ToBits(Harvester.Imaging.PerceptualHash.PHash(mat)),
            };
            ctx.Images.Add(image);
            await ctx.SaveChangesAsync();
            ctx.ImageSightings.Add(new ImageSighting { ImageId = image.Id, SiteId = place?.SiteId ?? product!.SiteId, PlaceId = place?.Id, ProductId = product?.Id, SourceUrl = url });
            await ctx.SaveChangesAsync();
            return image;
        }

        var photo = 0;
        var first = await AddAsync(photos[photo++], places[0], null);
        for (var i = 0; i < 2; i++)
        {
            await AddAsync(photos[photo++], places[0], null);
        }

        foreach (var place in places.Skip(1))
        {
            await AddAsync(photos[photo++], place, null);
            await AddAsync(photos[photo++], place, null);
        }

        foreach (var product in products)
        {
            await AddAsync(photos[photo++], null, product);
        }

        // The first cafe's first photo, re-posted at a bakery: re-encoded smaller, as a second upload would be.
        using (var decoded = Cv2.ImDecode(photos[0], ImreadModes.Color))
        using (var smaller = new Mat())
        {
            Cv2.Resize(decoded, smaller, new Size(0, 0), 0.85, 0.85, InterpolationFlags.Area);
            var copy = await AddAsync(smaller.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 75)), places[4], null);
            CopyPair = (first.Sha256, copy.Sha256);
        }

        var embed = Services.GetRequiredService<EmbedService>();
        while ((await embed.RunOnceAsync(null, 100, CancellationToken.None)).Claimed > 0)
        {
        }
    }
}
