using System.CommandLine;
using Harvester.Crawl;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

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

        var jobs = new Command("jobs", "List crawl jobs with their counters.");
        jobs.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var db = services.GetRequiredService<Data.HarvesterDatabase>();
            await using var cmd = db.DataSource.CreateCommand("""
                SELECT j.id, s.key, j.status, j.places_found, j.products_found, j.photos_found, j.photos_stored, j.failures, j.name
                FROM crawl_jobs j JOIN sites s ON s.id = j.site_id ORDER BY j.id
                """);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            Console.WriteLine($"{"id",5} {"site",-12} {"status",-10} {"places",7} {"products",8} {"photos",7} {"stored",7} {"failed",7}  name");
            while (await r.ReadAsync(ct))
            {
                Console.WriteLine($"{r.GetInt64(0),5} {r.GetString(1),-12} {r.GetString(2),-10} {r.GetInt32(3),7} {r.GetInt32(4),8} {r.GetInt32(5),7} {r.GetInt32(6),7} {r.GetInt32(7),7}  {r.GetString(8)}");
            }

            await r.CloseAsync();
            return 0;
        }));
        crawl.Subcommands.Add(jobs);
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

    public static void PrintSummary(CrawlJobSummary s)
    {
        Console.WriteLine($"[crawl] job {s.JobId} {s.Status.ToString().ToLowerInvariant()}: pages {s.Pages}, places {s.Places}, products {s.Products}, photo URLs {s.PhotosFound}, photos stored {s.PhotosStored}, failed items {s.Failures}");
        foreach (var (reason, count) in s.FailureReasons.Take(12))
        {
            Console.WriteLine($"  {count,5}  {reason}");
        }
    }

    private static string[] Split(string? s) =>
        string.IsNullOrWhiteSpace(s) ? [] : s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
