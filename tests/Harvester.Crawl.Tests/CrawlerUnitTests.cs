using Harvester.Core;

namespace Harvester.Crawl.Tests;

public sealed class RobotsTxtTests
{
    private const string Robots = """
        # comment
        User-agent: *
        Disallow: /private/
        Allow: /private/open
        Disallow: /*.json$

        User-agent: HarvesterBot
        User-agent: OtherBot
        Disallow: /no-bots/
        """;

    [Theory]
    [InlineData("Mozilla/5.0 generic", "/private/place/1/home", false)]
    [InlineData("Mozilla/5.0 generic", "/private/open/1", true)]
    [InlineData("Mozilla/5.0 generic", "/api/list.json", false)]
    [InlineData("Mozilla/5.0 generic", "/api/list.json?x=1", true)]
    [InlineData("Mozilla/5.0 generic", "/pcmap/place/1/home", true)]
    [InlineData("HarvesterBot/1.0 (crawler)", "/private/place/1/home", true)]
    [InlineData("HarvesterBot/1.0 (crawler)", "/no-bots/x", false)]
    public void Rules_follow_the_most_specific_group_and_the_longest_match(string agent, string path, bool allowed) =>
        Assert.Equal(allowed, RobotsTxt.Parse(Robots, agent).IsAllowed(new Uri("http://site.test" + path)));

    [Theory]
    [InlineData("/fish", "/fish.html", true)]
    [InlineData("/fish", "/Fish.asp", false)]
    [InlineData("/fish*.php", "/fishheads/catfish.php?parameters", true)]
    [InlineData("/*.php$", "/filename.php", true)]
    [InlineData("/*.php$", "/filename.php?parameters", false)]
    [InlineData("/*.php$", "/windows.PHP", false)]
    [InlineData("/fish/$", "/fish/", true)]
    [InlineData("/fish/$", "/fish/x", false)]
    [InlineData("/a*b*c", "/axxbyyc", true)]
    [InlineData("/a*b*c", "/axxcyyb", false)]
    public void Path_patterns_match_as_RFC_9309_describes(string pattern, string path, bool matches) =>
        Assert.Equal(matches, RobotsTxt.Matches(pattern, path));

    [Fact]
    public void An_empty_file_allows_everything() =>
        Assert.True(RobotsTxt.Parse("", "HarvesterBot/1.0").IsAllowed(new Uri("http://site.test/anything")));
}

public sealed class PhotoUrlTests
{
    private static readonly SiteDefinition Site = new()
    {
        WrappedUrlParameters = ["src"],
        ThumbnailParameters = ["type", "w", "h"],
    };

    [Fact]
    public void A_cdn_wrapper_is_unwrapped_to_the_original()
    {
        var url = PhotoUrls.ToFullSize("/img/thumb?type=w300_sharpen&src=%2Fphotos%2Fp-12.jpg", new Uri("http://127.0.0.1:5000/pcmap/place/3/photo"), Site);
        Assert.Equal("http://127.0.0.1:5000/photos/p-12.jpg", url!.AbsoluteUri);
    }

    [Fact]
    public void Absolute_wrapped_urls_on_another_host_are_unwrapped_too()
    {
        var url = PhotoUrls.ToFullSize(
            "https://search.pstatic.net/common/?autoRotate=true&type=w560_sharpen&src=https%3A%2F%2Fldb-phinf.pstatic.net%2F2023%2Fa.jpg",
            new Uri("https://pcmap.place.naver.com/place/1/photo"), Site);
        Assert.Equal("https://ldb-phinf.pstatic.net/2023/a.jpg", url!.AbsoluteUri);
    }

    [Fact]
    public void Thumbnail_size_parameters_are_stripped_and_others_kept()
    {
        var url = PhotoUrls.ToFullSize("https://cdn.test/u/1.jpg?w=360&h=360&v=7", new Uri("https://shop.test/p/1"), Site);
        Assert.Equal("https://cdn.test/u/1.jpg?v=7", url!.AbsoluteUri);
    }

    [Theory]
    [InlineData("/static/sprite.png")]
    [InlineData("/static/icon-star.svg")]
    [InlineData("/img/logo.png")]
    [InlineData("/tiles/12/3494/1582.png")]
    [InlineData("data:image/gif;base64,R0lGODlhAQABAAAAACw=")]
    [InlineData("javascript:void(0)")]
    public void Non_photos_are_dropped(string raw)
    {
        var site = new SiteDefinition();
        Assert.Null(PhotoUrls.ToFullSize(raw, new Uri("http://site.test/place/1/photo"), site));
    }

    [Theory]
    [InlineData("a.jpg 1x, b.jpg 2x", "b.jpg")]
    [InlineData("small.jpg 300w, big.jpg 1200w, mid.jpg 600w", "big.jpg")]
    [InlineData("only.jpg", "only.jpg")]
    public void The_largest_srcset_candidate_wins(string srcset, string expected) =>
        Assert.Equal(expected, PhotoUrls.LargestFromSrcset(srcset));
}

public sealed class CrawlJobSpecTests
{
    private static CrawlerOptions Options() => new()
    {
        Sites = new(StringComparer.OrdinalIgnoreCase)
        {
            ["map"] = new SiteDefinition { Kind = SiteKind.Map, BaseUrl = "http://map.test", PhotoTypeChip = ".chip[data-filter='{type}']" },
            ["shop"] = new SiteDefinition { Kind = SiteKind.Shop, BaseUrl = "http://shop.test" },
        },
    };

    [Fact]
    public void Neighbourhoods_times_categories_expand_through_the_template()
    {
        var spec = new CrawlJobSpec { Site = "map", Neighbourhoods = ["망원동", "연남동"], Categories = ["카페", "베이커리"], Queries = ["성수동 카페"] };
        var q = spec.Expand();
        Assert.Equal(["성수동 카페", "망원동 카페", "망원동 베이커리", "연남동 카페", "연남동 베이커리"], q.Select(x => x.Query));
        Assert.Equal(("연남동", "베이커리"), (q[4].Neighbourhood, q[4].Category));
        spec.Validate(Options());
    }

    [Fact]
    public void Shop_categories_alone_are_the_queries() =>
        Assert.Equal(["furniture", "plants"], new CrawlJobSpec { Site = "shop", Categories = ["furniture", "plants"] }.Expand().Select(x => x.Query));

    [Theory]
    [InlineData("nowhere", 5, "unknown site 'nowhere'")]
    [InlineData("map", 0, "places per query must be between 1 and 100000")]
    public void Invalid_jobs_are_rejected_before_crawling(string site, int places, string message)
    {
        var e = Assert.Throws<HarvesterException>(() => new CrawlJobSpec { Site = site, Queries = ["망원동 카페"], PlacesPerQuery = places }.Validate(Options()));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_job_without_queries_is_rejected() =>
        Assert.Contains("no queries", Assert.Throws<HarvesterException>(() => new CrawlJobSpec { Site = "map" }.Validate(Options())).Message);

    [Fact]
    public void A_photo_type_on_a_site_without_a_filter_is_rejected() =>
        Assert.Contains("no photo-type filter", Assert.Throws<HarvesterException>(() =>
            new CrawlJobSpec { Site = "shop", Categories = ["plants"], PhotoType = "interior" }.Validate(Options())).Message);

    [Fact]
    public void A_template_without_placeholders_is_rejected() =>
        Assert.Contains("template", Assert.Throws<HarvesterException>(() =>
            new CrawlJobSpec { Site = "map", Neighbourhoods = ["a"], Categories = ["b"], Template = "{neighbourhood}" }.Validate(Options())).Message);
}

public sealed class BrowserHostTests
{
    [Fact]
    public void A_missing_configured_browser_names_the_install_command()
    {
        var e = Assert.Throws<HarvesterException>(() => BrowserHost.FindExecutable("/opt/no/such/chromium"));
        Assert.Contains("apt-get install chromium", e.Message);
        Assert.Contains("Crawler:BrowserExecutablePath", e.Message);
    }

    [Fact]
    public void The_system_chromium_is_found_by_default() =>
        Assert.Equal("/usr/bin/chromium", BrowserHost.FindExecutable(""));

    [Fact]
    public async Task The_driver_starts_with_the_configured_node_options_and_the_process_environment_is_put_back()
    {
        var before = Environment.GetEnvironmentVariable("NODE_OPTIONS");
        var options = Microsoft.Extensions.Options.Options.Create(new CrawlerOptions { DriverNodeOptions = "--max-semi-space-size=3" });
        await using var host = new BrowserHost(options, Microsoft.Extensions.Logging.Abstractions.NullLogger<BrowserHost>.Instance);
        var existing = DriverPids();
        var browser = await host.GetBrowserAsync(CancellationToken.None);
        Assert.True(browser.IsConnected);

        // Other tests may start drivers of their own meanwhile: this host's is among the new ones.
        var started = DriverPids().Except(existing).Select(pid => File.ReadAllText($"/proc/{pid}/environ").Split('\0')).ToList();
        Assert.NotEmpty(started);
        Assert.Contains(started, environment => environment.Any(e => e.StartsWith("NODE_OPTIONS=", StringComparison.Ordinal) && e.EndsWith("--max-semi-space-size=3", StringComparison.Ordinal)));
        Assert.Equal(before, Environment.GetEnvironmentVariable("NODE_OPTIONS"));
    }

    [Fact]
    public async Task A_node_option_node_refuses_stops_the_launch_with_the_key_named()
    {
        var options = Microsoft.Extensions.Options.Options.Create(new CrawlerOptions { DriverNodeOptions = "--no-such-node-flag" });
        await using var host = new BrowserHost(options, Microsoft.Extensions.Logging.Abstractions.NullLogger<BrowserHost>.Instance);
        var e = await Assert.ThrowsAsync<HarvesterException>(() => host.GetBrowserAsync(CancellationToken.None));
        Assert.Contains("Crawler:DriverNodeOptions '--no-such-node-flag'", e.Message);
    }

    /// <summary>Playwright drivers (Node running its cli's run-driver) that are children of this process.</summary>
    private static int[] DriverPids() =>
        [.. Directory.GetDirectories($"/proc/{Environment.ProcessId}/task")
            .SelectMany(t => File.Exists(Path.Combine(t, "children")) ? File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries) : [])
            .Select(int.Parse)
            .Where(pid => File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("run-driver", StringComparison.Ordinal))];
}

public sealed class ImageSnifferTests
{
    [Fact]
    public void Signatures_decide_not_the_declared_type()
    {
        Assert.Equal("jpeg", ImageSniffer.Format([0xFF, 0xD8, 0xFF, 0xE0, 0, 0]));
        Assert.Equal("png", ImageSniffer.Format([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]));
        Assert.Equal("webp", ImageSniffer.Format("RIFF\0\0\0\0WEBPVP8 "u8));
        Assert.Equal("gif", ImageSniffer.Format("GIF89a"u8));
        Assert.Null(ImageSniffer.Format("<!DOCTYPE html><html>"u8));
        Assert.Equal("html", ImageSniffer.Describe("  <!DOCTYPE html><html>"u8));
        Assert.Equal("svg", ImageSniffer.Describe("<svg xmlns='http://www.w3.org/2000/svg'/>"u8));
        Assert.Equal("empty body", ImageSniffer.Describe([]));
    }
}
