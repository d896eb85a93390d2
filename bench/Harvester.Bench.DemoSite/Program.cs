using System.Diagnostics;
using System.Globalization;
using Harvester.DemoSite;
using Harvester.DemoSite.Corpus;

// Demo-site benchmark: how fast the site starts and serves photos, so that a crawl benchmark against it knows whether
// the site could be its bottleneck. Fetches every full-size photo and thumbnail of the crawl benchmark's workload.
//   dotnet run -c Release --project bench/Harvester.Bench.DemoSite -- --queries 16 --places 20 --photos 10 --concurrency 8
int Arg(string name, int def) => Array.IndexOf(args, name) is var i and >= 0 ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : def;
var queries = Arg("--queries", 16);
var places = Arg("--places", 20);
var photos = Arg("--photos", 10);
var concurrency = Arg("--concurrency", 8);

var clock = Stopwatch.StartNew();
var corpus = PhotoCorpus.Showcase();
var corpusMs = clock.Elapsed.TotalMilliseconds;
clock.Restart();
await using var site = await DemoSiteServer.StartAsync(new DemoSiteOptions
{
    Faults = false,
    PlacesPerQuery = places,
    PhotosPerPlace = photos,
    Neighbourhoods = [.. DemoSiteOptions.DefaultNeighbourhoods.Take(queries)],
    Categories = ["카페"],
});
var startMs = clock.Elapsed.TotalMilliseconds;

var all = site.Truth.Places.SelectMany(p => p.Photos).ToList();
var thumbs = all.Select(p => site.Url("/img/thumb?type=w300_sharpen&src=" + Uri.EscapeDataString(p.Url.AbsolutePath))).ToList();
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency });

async Task<(int Count, long Bytes, double Seconds)> FetchAll(IReadOnlyList<Uri> urls)
{
    long bytes = 0;
    var watch = Stopwatch.StartNew();
    await Parallel.ForEachAsync(urls, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (url, ct) =>
    {
        var body = await http.GetByteArrayAsync(url, ct);
        Interlocked.Add(ref bytes, body.Length);
    });
    return (urls.Count, bytes, watch.Elapsed.TotalSeconds);
}

var rows = new List<(string Name, (int Count, long Bytes, double Seconds) Result)>
{
    ("full photos, cold (render)", await FetchAll([.. all.Select(p => p.Url)])),
    ("full photos, warm (cache)", await FetchAll([.. all.Select(p => p.Url)])),
    ("thumbnails w300, cold", await FetchAll(thumbs)),
    ("thumbnails w300, warm", await FetchAll(thumbs)),
};

using var self = Process.GetCurrentProcess();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"corpus: {corpus.Count} photos in {corpusMs:F0} ms; site start ({site.Truth.Places.Count} places, {all.Count} photos): {startMs:F0} ms; concurrency {concurrency}"));
Console.WriteLine("| workload | requests | seconds | requests/s | MB/s |");
Console.WriteLine("|---|---:|---:|---:|---:|");
foreach (var (name, r) in rows)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {name} | {r.Count} | {r.Seconds:F2} | {r.Count / r.Seconds:F0} | {r.Bytes / r.Seconds / 1e6:F1} |"));
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak RSS (site + client): {self.PeakWorkingSet64 / 1e6:F0} MB"));
