using Harvester.Core;
using Harvester.DemoSite;
using Harvester.Data;
using Harvester.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl.Tests;

/// <summary>The demo site (small, with every fault on) shared by the crawl tests of one run.</summary>
public sealed class DemoSiteFixture : IAsyncLifetime
{
    public DemoSiteServer Site { get; private set; } = null!;

    public static DemoSiteOptions Options() => new()
    {
        Seed = 7,
        Neighbourhoods = ["망원동", "연남동"],
        Categories = ["카페"],
        ShopCategories = ["furniture", "plants"],
        PlacesPerQuery = 11, // the 8th place shows the 7th's photo URL; the 11th repeats a photo's bytes under its own URL
        PhotosPerPlace = 8, // more than the paged layout shows before its first 더보기 click
        ProductsPerCategory = 6,
        ReviewsPerProduct = 6,
        FaultRate = 0.12,
        SlowDelay = TimeSpan.FromMilliseconds(600),
        OversizeBytes = 3L * 1024 * 1024,
    };

    public async Task InitializeAsync() => Site = await DemoSiteServer.StartAsync(Options(), null, CancellationToken.None);

    public async Task DisposeAsync() => await Site.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class CrawlCollection : ICollectionFixture<PostgresFixture>, ICollectionFixture<DemoSiteFixture>
{
    public const string Name = "crawl";
}

/// <summary>Builds the crawler's services the way the app does, from the repository's own appsettings.json.</summary>
internal static class CrawlHarness
{
    public static string RepoRoot() => Harvester.Testing.RepoRoot.Path;

    public static Dictionary<string, string?> TestSettings(string storageRoot) => new()
    {
        ["Storage:Root"] = storageRoot,
        ["Crawler:NavigationTimeout"] = "00:00:10",
        ["Crawler:RequestTimeout"] = "00:00:10",
        ["Crawler:ScrollIdleTimeout"] = "00:00:02",
        ["Crawler:MaxAttempts"] = "2",
        ["Crawler:RetryBaseDelay"] = "00:00:00.100",
        ["Crawler:MaxImageBytes"] = (2 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Crawler:PerHostRequestsPerSecond"] = "200",
    };

    /// <param name="overlayFiles">JSON files layered over appsettings.json the way --config is (lists replace, not merge).</param>
    public static ServiceProvider Build(
        HarvesterDatabase database, string storageRoot, IDictionary<string, string?>? extra = null, IReadOnlyList<string>? overlayFiles = null, TimeProvider? time = null)
    {
        var settings = TestSettings(storageRoot);
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        var configuration = new ConfigurationManager();
        configuration.AddJsonFile(Path.Combine(RepoRoot(), "appsettings.json"), optional: false);
        ConfiguredLists.MergeJsonFiles(configuration, overlayFiles ?? []);
        configuration.AddInMemoryCollection(settings);
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton(time ?? TimeProvider.System);
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton(database);
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(new StorageOptions { Root = storageRoot }));
        services.AddSingleton<BlobStore>().AddSingleton<IBlobStore>(sp => sp.GetRequiredService<BlobStore>());
        services.AddHarvesterCrawl(configuration);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
    }
}
