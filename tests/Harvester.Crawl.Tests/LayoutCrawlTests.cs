using Harvester.Core;
using Harvester.DemoSite;
using Harvester.Testing;

namespace Harvester.Crawl.Tests;

/// <summary>
/// Every layout of the demo site, crawled by a site definition in appsettings.json alone (no code knows the demo),
/// completely and the same three runs in a row: each run in a fresh database, checked against the layout's truth.
/// </summary>
[Collection(CrawlCollection.Name)]
public sealed class LayoutCrawlTests(PostgresFixture postgres, DemoSiteFixture demo)
{
    public static TheoryData<string, DemoLayout> Maps => new()
    {
        { "demo-map", DemoLayout.Classic },
        { "demo-paged-map", DemoLayout.Paged },
    };

    public static TheoryData<string, DemoLayout> Shops => new()
    {
        { "demo-shop", DemoLayout.Classic },
        { "demo-next-shop", DemoLayout.Next },
    };

    [Theory]
    [MemberData(nameof(Maps))]
    public async Task A_map_layout_is_crawled_completely_by_configuration_alone_three_runs_in_a_row(string site, DemoLayout layout)
    {
        var truth = demo.Site.TruthFor(layout);
        var queries = truth.Queries.Select(q => q.Query).ToList();
        var options = DemoSiteFixture.Options();
        var runs = new List<string>();
        for (var run = 0; run < 3; run++)
        {
            await using var db = await postgres.CreateDatabaseAsync("layout");
            var root = Path.Combine(postgres.StateRoot, $"layout-{site}-{run}");
            var (summary, job) = await CrawlChecks.CrawlAsync(db, root, new CrawlJobSpec
            {
                Site = site,
                Queries = queries,
                PlacesPerQuery = options.PlacesPerQuery,
                PhotosPerPlace = options.PhotosPerPlace,
                BaseUrl = demo.Site.BaseUrl.ToString(),
            });
            runs.Add(await new CrawlChecks(db, demo.Site).MapIsCompleteAsync(truth, job, queries, summary));
        }

        Assert.True(runs.Distinct().Count() == 1, "runs differ:\n" + string.Join("\n", runs));
    }

    [Theory]
    [MemberData(nameof(Shops))]
    public async Task A_shop_layout_is_crawled_completely_by_configuration_alone_three_runs_in_a_row(string site, DemoLayout layout)
    {
        var truth = demo.Site.TruthFor(layout);
        var categories = truth.ShopCategories.Select(c => c.Slug).ToList();
        var options = DemoSiteFixture.Options();
        var runs = new List<string>();
        for (var run = 0; run < 3; run++)
        {
            await using var db = await postgres.CreateDatabaseAsync("layout");
            var root = Path.Combine(postgres.StateRoot, $"layout-{site}-{run}");
            var (summary, job) = await CrawlChecks.CrawlAsync(db, root, new CrawlJobSpec
            {
                Site = site,
                Categories = categories,
                ProductsPerCategory = options.ProductsPerCategory,
                ReviewsPerProduct = options.ReviewsPerProduct,
                BaseUrl = demo.Site.BaseUrl.ToString(),
            });
            runs.Add(await new CrawlChecks(db, demo.Site).ShopIsCompleteAsync(truth, job, categories, summary));
        }

        Assert.True(runs.Distinct().Count() == 1, "runs differ:\n" + string.Join("\n", runs));
    }

    [Fact]
    public async Task The_paged_map_is_crawled_completely_with_steps_computed_css_and_network_idle_paging_instead()
    {
        // The same layout through the other words of the vocabulary: the gallery grown by a step that clicks 더보기
        // until it is gone, photo URLs read from the computed style rather than the style attribute, and next pages
        // that first wait for the network to go quiet. Were the step or the computed-style read inert, photos would be
        // missing (8 per place, 6 before the first click); the network-idle wait must not make paging skip or repeat.
        var truth = demo.Site.TruthFor(DemoLayout.Paged);
        var queries = truth.Queries.Select(q => q.Query).ToList();
        var options = DemoSiteFixture.Options();
        await using var db = await postgres.CreateDatabaseAsync("vocab");
        var (summary, job) = await CrawlChecks.CrawlAsync(db, Path.Combine(postgres.StateRoot, "vocab-paged-" + Guid.NewGuid().ToString("N")[..8]), new CrawlJobSpec
        {
            Site = "demo-paged-map", Queries = queries, PlacesPerQuery = options.PlacesPerQuery, PhotosPerPlace = options.PhotosPerPlace,
            BaseUrl = demo.Site.BaseUrl.ToString(),
        }, new Dictionary<string, string?>
        {
            ["Crawler:Sites:demo-paged-map:PhotoLoadMore"] = "",
            ["Crawler:Sites:demo-paged-map:PhotoSteps:0:Action"] = "ClickUntilGone",
            ["Crawler:Sites:demo-paged-map:PhotoSteps:0:Selector"] = "button.more",
            ["Crawler:Sites:demo-paged-map:PhotoSteps:0:Count"] = "PhotoItem",
            ["Crawler:Sites:demo-paged-map:PhotoSteps:0:Optional"] = "true", // places with one batch of photos show no button
            ["Crawler:Sites:demo-paged-map:PhotoUrlAttributes:0"] = "css:background-image",
            ["Crawler:Sites:demo-paged-map:NextPageWait"] = "NetworkIdle",
        });

        await new CrawlChecks(db, demo.Site).MapIsCompleteAsync(truth, job, queries, summary);
    }

    [Fact]
    public async Task The_next_shop_is_crawled_completely_with_a_click_until_gone_step_instead_of_a_load_more_key()
    {
        var truth = demo.Site.TruthFor(DemoLayout.Next);
        var categories = truth.ShopCategories.Select(c => c.Slug).ToList();
        var options = DemoSiteFixture.Options();
        await using var db = await postgres.CreateDatabaseAsync("vocab");
        var (summary, job) = await CrawlChecks.CrawlAsync(db, Path.Combine(postgres.StateRoot, "vocab-next-" + Guid.NewGuid().ToString("N")[..8]), new CrawlJobSpec
        {
            Site = "demo-next-shop", Categories = categories, ProductsPerCategory = options.ProductsPerCategory, ReviewsPerProduct = options.ReviewsPerProduct,
            BaseUrl = demo.Site.BaseUrl.ToString(),
        }, new Dictionary<string, string?>
        {
            ["Crawler:Sites:demo-next-shop:ReviewsLoadMore"] = "",
            ["Crawler:Sites:demo-next-shop:ProductSteps:0:Action"] = "ClickUntilGone",
            ["Crawler:Sites:demo-next-shop:ProductSteps:0:Selector"] = "button.more-reviews",
            ["Crawler:Sites:demo-next-shop:ProductSteps:0:Optional"] = "true", // a product with one page of reviews shows no button
        });

        await new CrawlChecks(db, demo.Site).ShopIsCompleteAsync(truth, job, categories, summary);
    }

    [Fact]
    public void The_new_layouts_need_what_their_definitions_use()
    {
        // The paged map needs more than one result page and more photos than one 더보기 batch; the next shop more
        // products than its embedded first page and more reviews than one XHR page. Otherwise the tests above would
        // pass without ever paging, clicking or scrolling.
        var o = DemoSiteFixture.Options();
        Assert.True(o.PlacesPerQuery > 7 && o.PhotosPerPlace > 6 && o.ProductsPerCategory > 5 && o.ReviewsPerProduct > 4);
        Assert.Contains(demo.Site.TruthFor(DemoLayout.Next).ShopCategories.SelectMany(c => c.Products), p => p.Private);
        Assert.All(demo.Site.TruthFor(DemoLayout.Paged).Places, p => Assert.Contains("/paged/place/", p.HomeUrl.AbsolutePath, StringComparison.Ordinal));
    }
}
