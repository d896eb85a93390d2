using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Harvester.Bench;
using Harvester.Core;
using Harvester.Crawl;
using Harvester.DemoSite;
using Harvester.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

// Crawl benchmark: Harvester and Crawlee's PlaywrightCrawler crawl the same demo site (served by a separate process),
// alternating, with the same Chromium, concurrency and caps, on the classic map layout and on the Paged layout (button
// search, numbered pages replaced in place, CSS-background gallery with a 더보기 button), side by side. Prints, per
// layout, places/min, photos/min (distinct photo URLs stored), peak PSS and browsers.
//   dotnet run -c Release --project bench/Harvester.Bench.Crawl -- --queries 16 --places 20 --photos 10 --runs 3 [--layouts classic,paged]
if (args.Length > 0 && args[0] == "--serve")
{
    await using var site = await DemoSiteServer.StartAsync(new DemoSiteOptions
    {
        Faults = false,
        PlacesPerQuery = int.Parse(args[1], CultureInfo.InvariantCulture),
        PhotosPerPlace = int.Parse(args[2], CultureInfo.InvariantCulture),
        Categories = ["카페"],
    }, NullLoggerFactory.Instance, CancellationToken.None);
    Console.WriteLine(site.BaseUrl);
    await Console.In.ReadToEndAsync();
    return 0;
}

int Arg(string name, int def) => Array.IndexOf(args, name) is var i and >= 0 ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : def;
var queriesN = Arg("--queries", 16);
var places = Arg("--places", 20);
var photos = Arg("--photos", 10);
var runs = Arg("--runs", 3);
var pageConcurrency = Arg("--pages", 3);
var downloads = Arg("--downloads", 8);
var layouts = (Array.IndexOf(args, "--layouts") is var li and >= 0 ? args[li + 1] : "classic,paged").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var crawlers = (Array.IndexOf(args, "--crawlers") is var ci and >= 0 ? args[ci + 1] : "harvester,crawlee").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var siteOf = new Dictionary<string, string> { ["classic"] = "demo-map", ["paged"] = "demo-paged-map" };
if (layouts.FirstOrDefault(l => !siteOf.ContainsKey(l)) is { } unknownLayout)
{
    Console.Error.WriteLine($"--layouts: '{unknownLayout}' is not classic or paged");
    return 2;
}
var repo = FindRepo();
var peerScript = Path.Combine(repo, "bench", "peers", "crawl", "crawlee-crawl.mjs");
if (!File.Exists(Path.Combine(repo, "bench", "peers", "crawl", "node_modules", "crawlee", "package.json")))
{
    Console.Error.WriteLine("Install the peer first: (cd bench/peers/crawl && npm install)");
    return 2;
}

var queries = DemoSiteOptions.DefaultNeighbourhoods.Take(queriesN).Select(n => n + " 카페").ToArray();

// The demo site runs in its own process so that neither crawler's memory includes it.
var self = Environment.ProcessPath!;
var selfArgs = self.EndsWith("dotnet", StringComparison.Ordinal) ? $"\"{typeof(Program).Assembly.Location}\" " : "";
using var server = Process.Start(new ProcessStartInfo(self, $"{selfArgs}--serve {Math.Max(places, 30)} {Math.Max(photos, 14)}")
{
    RedirectStandardOutput = true,
    RedirectStandardInput = true,
    UseShellExecute = false,
})!;
var baseUrl = (await server.StandardOutput.ReadLineAsync())!.Trim().TrimEnd('/');

// Warm the site first: it renders each photo on first request, and the crawler that went first would pay for it.
using (var http = new HttpClient())
{
    var warm = await DemoSiteTruthClient.FetchAsync(http, new Uri(baseUrl), queries, CancellationToken.None);
    var urls = queries.SelectMany(q => warm.PlacesOf(q).Take(places)).SelectMany(p => p.Photos.Take(photos)).Select(p => p.Url).ToList();
    await Parallel.ForEachAsync(urls, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (u, ct) => await http.GetByteArrayAsync(u, ct));
    Console.WriteLine($"warmed the demo site: {urls.Count} photos");
}

var root = Path.Combine(Path.GetTempPath(), "harvester-bench-crawl-" + Guid.NewGuid().ToString("N")[..8]);
var pgOptions = new PostgreSqlOptions { Fsync = false };
var cluster = new EmbeddedPostgres(pgOptions, root, NullLogger.Instance);
await cluster.StartAsync(CancellationToken.None);

Console.WriteLine($"Crawl benchmark: {queries.Length} queries x {places} places x {photos} photos; {pageConcurrency} pages, {downloads} downloads at once; layouts {string.Join(", ", layouts)}; demo site {baseUrl} (faults off)");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1 << 30)} GiB, {DateTime.UtcNow:yyyy-MM-dd}");
var rows = new List<(string Layout, string Who, double Seconds, int Places, int Photos, long PeakRss, int Browsers, IReadOnlyDictionary<string, double> Cpu, IReadOnlyDictionary<string, long> PeakByKind)>();
try
{
    for (var r = 0; r < runs; r++)
    {
        foreach (var layout in layouts)
        {
            var line = $"run {r + 1} {layout}:";
            foreach (var who in crawlers)
            {
                var x = who == "crawlee" ? await RunCrawleeAsync(r, layout) : await RunHarvesterAsync(r, layout);
                rows.Add((layout, who, x.Seconds, x.Places, x.Photos, x.PeakRss, x.Browsers, x.Cpu, x.PeakByKind));
                line += $" {who} {x.Seconds:0.0}s {x.Places} places {x.Photos} photos {x.PeakRss / 1048576} MiB {x.Cpu.Values.Sum():0.0} CPU s;";
            }

            Console.WriteLine(line);
        }
    }
}
finally
{
    server.StandardInput.Close();
    await server.WaitForExitAsync();
    await cluster.StopAsync(CancellationToken.None);
    try { Directory.Delete(root, true); } catch (IOException) { }
}

Console.WriteLine();
Console.WriteLine($"{"layout",-8} {"crawler",-10} {"runs",4} {"median s",9} {"places/min",11} {"photos/min",11} {"peak PSS MiB",13} {"browsers",9} {"CPU s",7}");
foreach (var g in rows.GroupBy(x => (x.Layout, x.Who)))
{
    var sec = Median(g.Select(x => x.Seconds));
    var pl = Median(g.Select(x => x.Places * 60.0 / x.Seconds));
    var ph = Median(g.Select(x => x.Photos * 60.0 / x.Seconds));
    var rss = Median(g.Select(x => x.PeakRss / 1048576.0));
    var cpu = Median(g.Select(x => x.Cpu.Values.Sum()));
    Console.WriteLine($"{g.Key.Layout,-8} {g.Key.Who,-10} {g.Count(),4} {sec,9:0.0} {pl,11:0.0} {ph,11:0.0} {rss,13:0} {g.Max(x => x.Browsers),9} {cpu,7:0.0}");
}

// Where the CPU went (medians per kind of process): on 2 cores the crawl is bound by it.
Console.WriteLine();
Console.WriteLine("CPU seconds by process (median of runs): process = the crawler itself (Harvester in the bench's process, the peer's Node), node = the Playwright driver");
foreach (var g in rows.GroupBy(x => (x.Layout, x.Who)))
{
    var kinds = g.SelectMany(x => x.Cpu.Keys).Distinct().Order();
    Console.WriteLine($"{g.Key.Layout,-8} {g.Key.Who,-10} " + string.Join(", ", kinds.Select(k => $"{k} {Median(g.Select(x => x.Cpu.GetValueOrDefault(k))):0.0}")));
}

// What the peak was made of (medians per kind, each run's split taken at its own peak).
Console.WriteLine();
Console.WriteLine("Peak PSS MiB by process (median of runs, at each run's peak)");
foreach (var g in rows.GroupBy(x => (x.Layout, x.Who)))
{
    var kinds = g.SelectMany(x => x.PeakByKind.Keys).Distinct().Order();
    Console.WriteLine($"{g.Key.Layout,-8} {g.Key.Who,-10} " + string.Join(", ", kinds.Select(k => $"{k} {Median(g.Select(x => x.PeakByKind.GetValueOrDefault(k) / 1048576.0)):0}")));
}

foreach (var layout in layouts.Where(_ => crawlers.Contains("harvester") && crawlers.Contains("crawlee")))
{
    double Rate(string who) => Median(rows.Where(x => x.Layout == layout && x.Who == who).Select(x => x.Photos * 60.0 / x.Seconds));
    double Memory(string who) => Median(rows.Where(x => x.Layout == layout && x.Who == who).Select(x => x.PeakRss / 1048576.0));
    Console.WriteLine($"{layout}: photos/min ratio harvester/crawlee {Rate("harvester") / Rate("crawlee"):0.00}x, peak memory ratio {Memory("harvester") / Memory("crawlee"):0.00}x");
}

return 0;

async Task<(double Seconds, int Places, int Photos, long PeakRss, int Browsers, IReadOnlyDictionary<string, double> Cpu, IReadOnlyDictionary<string, long> PeakByKind)> RunHarvesterAsync(int run, string layout)
{
    var dbName = $"bench_{run}_{Guid.NewGuid():N}"[..20];
    await using (var admin = new NpgsqlConnection(cluster.ConnectionString("postgres")))
    {
        await admin.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE {dbName}", admin);
        await create.ExecuteNonQueryAsync();
    }

    var configuration = new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
        .AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Harvester"] = cluster.ConnectionString(dbName),
            ["Storage:Root"] = Path.Combine(root, $"run{run}-{layout}"),
            ["Crawler:PageConcurrency"] = pageConcurrency.ToString(CultureInfo.InvariantCulture),
            ["Crawler:DownloadConcurrency"] = downloads.ToString(CultureInfo.InvariantCulture),
            ["Crawler:PerHostRequestsPerSecond"] = "1000",
            ["Crawler:PerHostConcurrency"] = "64",
        })
        .Build();
    var services = new ServiceCollection()
        .AddSingleton<IConfiguration>(configuration)
        .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning).AddFilter("Microsoft.EntityFrameworkCore", LogLevel.None).AddSimpleConsole())
        .AddHarvesterData(configuration)
        .AddHarvesterCrawl(configuration)
        .BuildServiceProvider();
    var database = services.GetRequiredService<HarvesterDatabase>();
    await database.StartAsync(migrate: true, CancellationToken.None);
    var crawler = services.GetRequiredService<CrawlService>();
    // Harvester runs in this process, which also warmed the demo site (every photo's bytes) and ran the earlier
    // crawls: give their garbage back to the system first, so the peak counts this crawl alone, as a fresh process
    // (the peer's) would.
    GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    GC.WaitForPendingFinalizers();
    await using var memory = new ProcessTreeMemory(Environment.ProcessId, TimeSpan.FromMilliseconds(200), server.Id);
    var sw = Stopwatch.StartNew();
    var job = await crawler.CreateJobAsync(new CrawlJobSpec { Site = siteOf[layout], BaseUrl = baseUrl, Queries = queries, PlacesPerQuery = places, PhotosPerPlace = photos }, CancellationToken.None);
    var summary = await crawler.RunJobAsync(job, CancellationToken.None);
    sw.Stop();

    // Photos = distinct photo URLs stored, as the peer counts them (a URL two places show is one photo to both).
    await using var count = database.DataSource.CreateCommand("SELECT count(DISTINCT source_url)::int FROM image_sightings WHERE job_id = $1");
    count.Parameters.Add(new NpgsqlParameter { Value = job });
    var stored = (int)(await count.ExecuteScalarAsync())!;
    var browsers = services.GetRequiredService<BrowserHost>().BrowsersLaunched;
    await memory.DisposeAsync();
    await services.GetRequiredService<BrowserHost>().DisposeAsync();
    await database.StopAsync(CancellationToken.None);
    await services.DisposeAsync();
    return (sw.Elapsed.TotalSeconds, summary.Places, stored, memory.PeakBytes, browsers, memory.CpuSeconds, memory.PeakByKind);
}

async Task<(double Seconds, int Places, int Photos, long PeakRss, int Browsers, IReadOnlyDictionary<string, double> Cpu, IReadOnlyDictionary<string, long> PeakByKind)> RunCrawleeAsync(int run, string layout)
{
    var outDir = Path.Combine(root, $"crawlee{run}-{layout}");
    var psi = new ProcessStartInfo("node", [peerScript, "--layout", layout, "--base", baseUrl, "--queries", string.Join('|', queries),
        "--places", places.ToString(CultureInfo.InvariantCulture), "--photos", photos.ToString(CultureInfo.InvariantCulture),
        "--pages", pageConcurrency.ToString(CultureInfo.InvariantCulture), "--downloads", downloads.ToString(CultureInfo.InvariantCulture), "--out", outDir])
    {
        RedirectStandardOutput = true,
        UseShellExecute = false,
        WorkingDirectory = Path.GetDirectoryName(peerScript)!,
    };
    psi.Environment["CRAWLEE_STORAGE_DIR"] = Path.Combine(root, $"crawlee-storage{run}-{layout}");
    var sw = Stopwatch.StartNew();
    using var p = Process.Start(psi)!;
    var memory = new ProcessTreeMemory(p.Id, TimeSpan.FromMilliseconds(200));
    var output = await p.StandardOutput.ReadToEndAsync();
    await p.WaitForExitAsync();
    sw.Stop();
    await memory.DisposeAsync();
    var last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last(l => l.StartsWith('{'));
    using var doc = JsonDocument.Parse(last);
    return (sw.Elapsed.TotalSeconds, doc.RootElement.GetProperty("places").GetInt32(), doc.RootElement.GetProperty("stored").GetInt32(), memory.PeakBytes, memory.PeakBrowsers, memory.CpuSeconds, memory.PeakByKind);
}

static double Median(IEnumerable<double> xs)
{
    var a = xs.Order().ToArray();
    return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
}

static string FindRepo()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Harvester.sln")))
    {
        dir = dir.Parent;
    }

    return dir?.FullName ?? throw new InvalidOperationException("run from inside the repository");
}
