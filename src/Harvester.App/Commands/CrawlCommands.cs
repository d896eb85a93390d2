using System.CommandLine;
using Harvester.Crawl;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Harvester.App.Commands;

internal static class CrawlCommands
{
    private static readonly Option<string?> Site = new("--site") { Description = "Site definition under Crawler:Sites (demo-map, demo-shop, naver-map, ohouse, or your own)." };
    private static readonly Option<string[]> Query = new("--query", "-q") { Description = "A search (map) or category (shop); repeatable.", AllowMultipleArgumentsPerToken = true };
    private static readonly Option<string?> Neighbourhoods = new("--neighbourhoods") { Description = "Comma-separated neighbourhoods, combined with --categories by --template." };
    private static readonly Option<string?> Categories = new("--categories") { Description = "Comma-separated categories (with --neighbourhoods), or shop categories alone." };
    private static readonly Option<string> Template = new("--template") { Description = "How a neighbourhood and a category make a query.", DefaultValueFactory = _ => "{neighbourhood} {category}" };
    private static readonly Option<int> Places = new("--places") { Description = "Places per query.", DefaultValueFactory = _ => 20 };
    private static readonly Option<int> Photos = new("--photos") { Description = "Photos per place.", DefaultValueFactory = _ => 10 };
    private static readonly Option<int> Products = new("--products") { Description = "Products per category (by the site's ranking).", DefaultValueFactory = _ => 20 };
    private static readonly Option<int> Reviews = new("--reviews") { Description = "Reviews per product.", DefaultValueFactory = _ => 20 };
    private static readonly Option<string?> PhotoType = new("--photo-type") { Description = "Photo type filter where the site has one: interior, exterior, menu, food." };
    private static readonly Option<string> Profile = new("--profile") { Description = "Curation profile for this job's images.", DefaultValueFactory = _ => "default" };
    private static readonly Option<bool> NoRobots = new("--ignore-robots") { Description = "Do not honour robots.txt for this job (only for sites you are permitted to crawl)." };
    private static readonly Option<string?> BaseUrl = new("--base-url") { Description = "Override the site's base URL (e.g. a running demo site)." };
    private static readonly Option<long?> Resume = new("--resume") { Description = "Resume an unfinished job by id instead of starting one." };

    public static Command Create()
    {
        var crawl = new Command("crawl", "Crawl review photos from a map or shop site into the blob store and database (resumable: kill it and run again).");
        foreach (var o in new Option[] { Site, Query, Neighbourhoods, Categories, Template, Places, Photos, Products, Reviews, PhotoType, Profile, NoRobots, BaseUrl, Resume })
        {
            crawl.Options.Add(o);
        }

        crawl.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var crawler = services.GetRequiredService<CrawlService>();
            long jobId;
            if (pr.GetValue(Resume) is long resume)
            {
                jobId = resume;
            }
            else
            {
                var spec = new CrawlJobSpec
                {
                    Site = pr.GetValue(Site) ?? throw new Core.HarvesterException("--site is required (or --resume <job id>)."),
                    Queries = pr.GetValue(Query) ?? [],
                    Neighbourhoods = Split(pr.GetValue(Neighbourhoods)),
                    Categories = Split(pr.GetValue(Categories)),
                    Template = pr.GetValue(Template)!,
                    PlacesPerQuery = pr.GetValue(Places),
                    PhotosPerPlace = pr.GetValue(Photos),
                    ProductsPerCategory = pr.GetValue(Products),
                    ReviewsPerProduct = pr.GetValue(Reviews),
                    PhotoType = pr.GetValue(PhotoType),
                    Profile = pr.GetValue(Profile)!,
                    RespectRobotsTxt = pr.GetValue(NoRobots) ? false : null,
                    BaseUrl = pr.GetValue(BaseUrl),
                };
                jobId = await crawler.CreateJobAsync(spec, ct);
                Console.WriteLine($"Crawl job {jobId} created ({spec.Expand().Count} queries).");
            }

            var summary = await RunWithProgressAsync(services, crawler, jobId, ct);
            PrintSummary(summary);
            return 0;
        }));

        var jobs = new Command("jobs", "List crawl jobs with their counters and outcome.");
        jobs.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var rows = await services.GetRequiredService<CrawlService>().ListJobsAsync(ct);
            Console.WriteLine($"{"id",5} {"site",-14} {"status",-23} {"places",7} {"products",8} {"photos",7} {"stored",7} {"failed",7}  name");
            foreach (var r in rows)
            {
                Console.WriteLine($"{r.Id,5} {r.Site,-14} {CrawlJobStore.Describe(r.Status),-23} {r.Places,7} {r.Products,8} {r.PhotosFound,7} {r.PhotosStored,7} {r.Failures,7}  {r.Name}");
                if (r.Error is not null)
                {
                    Console.WriteLine($"{"",5} {r.Error}");
                }
            }

            return 0;
        }));
        crawl.Subcommands.Add(jobs);
        crawl.Subcommands.Add(CreateCheck());
        return crawl;
    }

    /// <summary>Runs a job while its frontier's counts are rendered as progress (the crawl stage reports none itself).</summary>
    public static async Task<CrawlJobSummary> RunWithProgressAsync(IServiceProvider services, CrawlService crawler, long jobId, CancellationToken ct)
    {
        await using var progress = Cli.StartProgress(services);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var probe = Progress.CrawlProgressProbe.RunAsync(services.GetRequiredService<Data.HarvesterDatabase>(), jobId, progress, stop.Token);
        try
        {
            return await crawler.RunJobAsync(jobId, ct);
        }
        finally
        {
            await stop.CancelAsync();
            await probe;
            await Progress.CrawlProgressProbe.ReportAsync(services.GetRequiredService<Data.HarvesterDatabase>(), jobId, progress, CancellationToken.None);
        }
    }

    /// <summary>
    /// <c>harvester crawl check</c>: a dry run of a site definition against the live site, printing what every key
    /// matched. It needs no database (nothing is stored).
    /// </summary>
    private static Command CreateCheck()
    {
        var site = new Option<string>("--site") { Description = "Site definition under Crawler:Sites to check.", Required = true };
        var query = new Option<string>("--query", "-q") { Description = "A search (map) or a category (shop) to check it with.", Required = true };
        var baseUrl = new Option<string?>("--base-url") { Description = "Override the site's base URL (e.g. a running demo site)." };
        var photoType = new Option<string?>("--photo-type") { Description = "Check the photo-type filter with this type (interior, exterior, menu, food)." };
        var check = new Command("check", "Dry run of a site definition: opens the first search (or category) page, one place (or product) and its photos, and prints what every configured key matched, the URLs it read, what was skipped and why, and which step would fail.");
        foreach (var o in new Option[] { site, query, baseUrl, photoType })
        {
            check.Options.Add(o);
        }

        check.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var report = await services.GetRequiredService<CrawlCheck>().RunAsync(pr.GetValue(site)!, pr.GetValue(query)!, pr.GetValue(baseUrl), pr.GetValue(photoType), ct);
            foreach (var line in report.Render())
            {
                Console.WriteLine(line);
            }

            await services.GetRequiredService<BrowserHost>().DisposeAsync();
            return report.Ok ? 0 : 1;
        }, start: false));
        return check;
    }

    public static void PrintSummary(CrawlJobSummary s)
    {
        Console.WriteLine($"[crawl] job {s.JobId} {s.StatusText}: pages {s.Pages}, places {s.Places}, products {s.Products}, photo URLs {s.PhotosFound}, photos stored {s.PhotosStored}, failed items {s.Failures}");
        if (s.Error is not null && s.Status == Core.JobStatus.Failed)
        {
            Console.WriteLine($"  {s.Error}");
        }

        foreach (var (reason, count) in s.FailureReasons.Take(12))
        {
            Console.WriteLine($"  {count,5}  {reason}");
        }
    }

    private static string[] Split(string? s) =>
        string.IsNullOrWhiteSpace(s) ? [] : s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
