using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl.Tests;

/// <summary>A definition that cannot work is refused when the app starts, naming the key.</summary>
public sealed class SiteDefinitionValidationTests
{
    private static CrawlerOptions Bind(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationManager();
        configuration.AddJsonFile(Path.Combine(CrawlHarness.RepoRoot(), "appsettings.json"), optional: false);
        configuration.AddInMemoryCollection(settings);
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddHarvesterCrawl(configuration);
        using var sp = services.BuildServiceProvider();
        return sp.GetRequiredService<IOptions<CrawlerOptions>>().Value;
    }

    private static string Refused(Dictionary<string, string?> settings) =>
        string.Join("\n", Assert.Throws<OptionsValidationException>(() => Bind(settings)).Failures);

    [Fact]
    public void The_shipped_definitions_are_valid()
    {
        var o = Bind(new());
        Assert.Equal(["demo-map", "demo-next-shop", "demo-paged-map", "demo-shop", "naver-map", "ohouse"], o.Sites.Keys.Order());
        Assert.Equal(["style"], o.Sites["demo-paged-map"].PhotoUrlAttributes);
    }

    [Fact]
    public void An_unknown_key_is_refused_with_its_name_and_the_likely_one()
    {
        var message = Refused(new() { ["Crawler:Sites:demo-map:PhotoItme"] = "img" });
        Assert.Contains("Crawler:Sites:demo-map:PhotoItme is not a setting (did you mean PhotoItem?)", message);
    }

    [Fact]
    public void Unknown_keys_are_found_inside_steps_json_lists_and_schedules_too()
    {
        var message = Refused(new()
        {
            ["Crawler:Sites:demo-paged-map:PhotoSteps:0:Selektor"] = "button.more",
            ["Crawler:Sites:demo-next-shop:ReviewsJson:Item"] = "$.x",
            ["Crawler:PageConcurency"] = "2",
        });
        Assert.Contains("Crawler:Sites:demo-paged-map:PhotoSteps:0:Selektor is not a setting (did you mean Selector?)", message);
        Assert.Contains("Crawler:Sites:demo-next-shop:ReviewsJson:Item is not a setting (did you mean Items?)", message);
        Assert.Contains("Crawler:PageConcurency is not a setting (did you mean PageConcurrency?)", message);
    }

    [Fact]
    public void A_driver_node_option_that_is_not_an_option_is_refused_with_its_key() =>
        Assert.Contains("Crawler:DriverNodeOptions has 'max-semi-space-size=4', which is not a Node.js option",
            Refused(new() { ["Crawler:DriverNodeOptions"] = "--trace-gc max-semi-space-size=4" }));

    [Theory]
    [InlineData("ResultItem", "li[data-id", "Crawler:Sites:demo-map:ResultItem is not a valid selector ('li[data-id')")]
    [InlineData("PhotoItem", "#photo-grid >", "Crawler:Sites:demo-map:PhotoItem is not a valid selector")]
    [InlineData("PlaceLatitude", "#place-meta@data lat", "Crawler:Sites:demo-map:PlaceLatitude is not a valid")]
    [InlineData("PlaceIdPattern", "/place/(?<id>[^/]+", "Crawler:Sites:demo-map:PlaceIdPattern is not a valid regex")]
    [InlineData("PlaceIdPattern", "/place/([^/]+)/", "Crawler:Sites:demo-map:PlaceIdPattern has no group named id")]
    [InlineData("SkipUrlPatterns:2", "(?i)[icons", "Crawler:Sites:demo-map:SkipUrlPatterns:2 is not a valid regex")]
    [InlineData("SearchUrl", "{base}/map/search/", "Crawler:Sites:demo-map:SearchUrl must contain {query}")]
    [InlineData("PhotoUrlAttributes:1", "css:", "Crawler:Sites:demo-map:PhotoUrlAttributes:1 'css:' is not an attribute name")]
    public void A_broken_selector_regex_or_template_is_refused_with_its_key(string key, string value, string expected) =>
        Assert.Contains(expected, Refused(new() { ["Crawler:Sites:demo-map:" + key] = value }));

    [Fact]
    public void A_step_that_names_a_missing_selector_is_refused()
    {
        var message = Refused(new()
        {
            ["Crawler:Sites:demo-paged-map:PhotoSteps:0:Action"] = "ClickUntilCountStable",
            ["Crawler:Sites:demo-paged-map:PhotoSteps:0:Selector"] = "button.more",
            ["Crawler:Sites:demo-paged-map:PhotoSteps:0:Count"] = "ReviewItem",
            ["Crawler:Sites:demo-paged-map:PlaceSteps:0:Action"] = "ClickUntilGone",
            ["Crawler:Sites:demo-paged-map:PlaceSteps:0:Count"] = "PhotoItems",
        });
        Assert.Contains("Crawler:Sites:demo-paged-map:PhotoSteps:0:Count refers to ReviewItem, which is empty in this definition", message);
        Assert.Contains("Crawler:Sites:demo-paged-map:PlaceSteps:0:Selector is empty", message);
        Assert.Contains("Crawler:Sites:demo-paged-map:PlaceSteps:0:Count names 'PhotoItems', which is not one of this definition's item selectors", message);
    }

    [Fact]
    public void A_flow_missing_a_key_it_needs_is_refused_at_start_not_on_every_item()
    {
        var message = Refused(new()
        {
            ["Crawler:Sites:half:Kind"] = "Map",
            ["Crawler:Sites:half:BaseUrl"] = "https://map.test",
            ["Crawler:Sites:half:SearchUrl"] = "{base}/s/{query}",
            ["Crawler:Sites:half:ResultsJson:Response"] = "/api/search",
            ["Crawler:Sites:half:ResultsJson:Items"] = "$.result[*",
        });
        Assert.Contains("Crawler:Sites:half:ResultsJson:Items is not a valid path", message);
        Assert.Contains("Crawler:Sites:half:ResultsJson:Url and Id are both empty", message);
        Assert.Contains("Crawler:Sites:half:PlaceIdPattern is empty, but a map site finds the place id", message);
        Assert.Contains("Crawler:Sites:half:PhotoItem is empty", message);
    }

    [Fact]
    public void A_schedule_with_an_unknown_site_or_a_bad_cron_is_refused_at_start()
    {
        var message = Refused(new()
        {
            ["Crawler:Schedules:0:Name"] = "nightly",
            ["Crawler:Schedules:0:Cron"] = "0 3 * * *",
            ["Crawler:Schedules:0:Job:Site"] = "nowhere",
            ["Crawler:Schedules:0:Job:Queries:0"] = "망원동 카페",
            ["Crawler:Schedules:1:Name"] = "hourly",
            ["Crawler:Schedules:1:Cron"] = "every hour",
            ["Crawler:Schedules:1:Job:Site"] = "demo-map",
            ["Crawler:Schedules:1:Job:Queries:0"] = "망원동 카페",
        });
        Assert.Contains("Crawler:Schedules:0:Job:Site 'nowhere' is not a site under Crawler:Sites", message);
        Assert.Contains("Crawler:Schedules:1:Cron 'every hour' is not a 5-field cron expression", message);
    }

    [Fact]
    public void The_app_refuses_to_start_with_one_line_naming_the_key()
    {
        // Through the host the way every command starts: the options are validated on start.
        var configuration = new ConfigurationManager();
        configuration.AddJsonFile(Path.Combine(CrawlHarness.RepoRoot(), "appsettings.json"), optional: false);
        configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Crawler:Sites:demo-shop:ReviewItme"] = "x" });
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new Microsoft.Extensions.Hosting.HostApplicationBuilderSettings { DisableDefaults = true, Configuration = configuration });
        builder.Logging.ClearProviders();
        builder.Services.AddHarvesterCrawl(builder.Configuration);
        using var host = builder.Build();
        var e = Assert.Throws<OptionsValidationException>(() => host.StartAsync().GetAwaiter().GetResult());
        Assert.Contains("Crawler:Sites:demo-shop:ReviewItme is not a setting (did you mean ReviewItem?)", e.Message);
    }
}

public sealed class JsonPathTests
{
    private static readonly JsonElement Doc = JsonDocument.Parse("""
        { "props": { "pageProps": { "products": [ { "id": 7, "url": "/p/7", "rank": 1 }, { "id": "8", "url": "/p/8" } ] } },
          "reviews": [ { "id": "r1", "review": { "comment": "좋아요", "star_avg": 4.5 }, "images": [ { "url": "/a.jpg" }, { "url": "/b.jpg" } ] } ],
          "products": [ { "id": 9 } ], "odd key": true }
        """).RootElement;

    [Theory]
    [InlineData("$.props.pageProps.products[*].id", "7|8")]
    [InlineData("$..products[*].id", "7|8|9")]
    [InlineData("$.reviews[0].review.comment", "좋아요")]
    [InlineData("reviews[0].review.star_avg", "4.5")]
    [InlineData("$.reviews[*].images[*].url", "/a.jpg|/b.jpg")]
    [InlineData("$.reviews[-1].id", "r1")]
    [InlineData("$['odd key']", "true")]
    [InlineData("$.props.*.products[1].url", "/p/8")]
    [InlineData("$.nothing.here", "")]
    public void Paths_select_what_they_say(string path, string expected) =>
        Assert.Equal(expected, string.Join("|", JsonPath.Parse(path).Texts(Doc)));

    [Theory]
    [InlineData("$.a[", "not closed")]
    [InlineData("$.a[x]", "is not [n], [*] or ['name']")]
    [InlineData("$..", "a name is missing")]
    [InlineData("", "empty")]
    public void Broken_paths_say_what_is_wrong(string path, string expected)
    {
        Assert.False(JsonPath.TryParse(path, out _, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Script_json_is_read_as_json_or_as_an_assignment()
    {
        Assert.Equal(3, JsonItems.Parse("""{"a":3}""")!.Value.GetProperty("a").GetInt32());
        Assert.Equal(4, JsonItems.Parse("window.__APOLLO_STATE__ = {\"a\":4};")!.Value.GetProperty("a").GetInt32());
        Assert.Null(JsonItems.Parse("console.log('no json here')"));
    }
}

public sealed class SelectorSyntaxTests
{
    [Theory]
    [InlineData("li.place-item")]
    [InlineData("#_pcmap_list_scroll_container > ul > li")]
    [InlineData("a[role=tab][href*='/photo']")]
    [InlineData("a[role=button]:has-text('내부')")]
    [InlineData("a.eUTV2[aria-disabled='false']:last-child")]
    [InlineData("nav.pager button.next:not([disabled])")]
    [InlineData("li:has(> a.place_bluelink), li:nth-child(2n+1)")]
    [InlineData("iframe#searchIframe >> css=li")]
    [InlineData("text=사진 더보기")]
    [InlineData("div.place_section_content div.K0PDV")]
    [InlineData("[class*='production-item']")]
    public void Real_selectors_pass(string selector) => Assert.Null(SelectorSyntax.Check(selector));

    [Theory]
    [InlineData("li[data-id", "not closed")]
    [InlineData("li)", "no matching")]
    [InlineData("ul >", "ends with the combinator")]
    [InlineData("ul > > li", "two combinators")]
    [InlineData("a,,b", "empty selector between commas")]
    [InlineData("div.", "has no name")]
    [InlineData("a[href=='x']", "is not an attribute test")]
    [InlineData("li:", "no pseudo-class name")]
    [InlineData("a >> ", "nothing on one side")]
    [InlineData("'unclosed", "quote is not closed")]
    public void Broken_selectors_say_what_is_wrong(string selector, string expected) =>
        Assert.Contains(expected, SelectorSyntax.Check(selector));
}

public sealed class PhotoUrlExtractionTests
{
    [Theory]
    [InlineData("width:100%;background-image:url('/paged/img/a1?s=240')", "/paged/img/a1?s=240")]
    [InlineData("background: #eee url(\"https://cdn.test/x.jpg\") center / cover", "https://cdn.test/x.jpg")]
    [InlineData("background-image: url(https://cdn.test/y.jpg)", "https://cdn.test/y.jpg")]
    [InlineData("color: red", null)]
    public void Css_backgrounds_give_their_url(string css, string? expected) => Assert.Equal(expected, PhotoUrls.CssUrl(css));

    [Fact]
    public void A_url_pattern_takes_its_url_group_or_the_whole_match()
    {
        Assert.Equal("/img/9.jpg", PhotoUrls.ApplyPattern("openViewer('/img/9.jpg', 3)", @"'(?<url>[^']+)'"));
        Assert.Equal("https://c.test/1.jpg", PhotoUrls.ApplyPattern("see https://c.test/1.jpg now", @"https://\S+\.jpg"));
        Assert.Null(PhotoUrls.ApplyPattern("nothing", @"\.jpg"));
    }

    [Fact]
    public void A_skipped_url_says_which_pattern_skipped_it()
    {
        var site = new SiteDefinition { ThumbnailParameters = ["s"] };
        Assert.Equal("http://site.test/paged/img/a1", PhotoUrls.Resolve("/paged/img/a1?s=240", new Uri("http://site.test/paged/place/1"), site).Url!.AbsoluteUri);
        var (url, skipped) = PhotoUrls.Resolve("/static/icon-play.svg", new Uri("http://site.test/paged/place/1"), site);
        Assert.Null(url);
        Assert.Equal(@"SkipUrlPatterns '(?i)\.svg(\?|$)'", skipped);
    }
}
