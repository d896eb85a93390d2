using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Harvester.Core;
using Harvester.Data;
using Harvester.Export;
using Harvester.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

// Export throughput on synthetic blobs, with the peers a user would reach for, alternating in this one command:
//   ImageFolder export (the whole `harvester export`: database read, grouping, split plan, hard links, manifest)
//     vs `cp -al` of the same blob files;
//   WebDataset shards (image + .json + .cls per sample) vs `tar -cf` of the same blob files;
//   Parquet (image bytes embedded) in MB/s of image bytes.
// Arguments: --images N (100000) --kb K (mean blob size, 24) --places P (5000) --categories C (40) --runs R (3)
//            --work DIR (a folder on one filesystem for blobs and outputs; default under the temp folder)
var inv = CultureInfo.InvariantCulture;
int Arg(string name, int fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() is { } v ? int.Parse(v, inv) : fallback;
var images = Arg("--images", 100_000);
var meanKb = Arg("--kb", 24);
var placeCount = Arg("--places", 5000);
var categories = Arg("--categories", 40);
var runs = Arg("--runs", 3);
var work = args.SkipWhile(a => a != "--work").Skip(1).FirstOrDefault() ?? Path.Combine(Path.GetTempPath(), "harvester-bench-export");
Directory.CreateDirectory(work);

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1 << 30)} GB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {DateTime.UtcNow:yyyy-MM-dd}, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
Console.WriteLine($"data: {images:N0} synthetic blobs (random bytes, {meanKb / 3}-{meanKb * 5 / 3} KB, mean {meanKb} KB), {placeCount:N0} places in {categories} categories, work folder {work}");

// Blobs: random bytes of varied sizes, content-addressed as the blob store lays them out. Kept between runs of the
// command (a marker names the parameters), since writing them is not what is measured.
var root = Path.Combine(work, "state");
var marker = Path.Combine(root, $"blobs-{images}-{meanKb}.done");
var shas = new string[images];
var sizes = new int[images];
var rng = new Random(20261130);
var clock = Stopwatch.StartNew();
var buffer = new byte[meanKb * 5 / 3 * 1024];
var make = !File.Exists(marker);
if (make && Directory.Exists(root))
{
    Directory.Delete(root, recursive: true);
}

var blobs = new BlobStore(Microsoft.Extensions.Options.Options.Create(new StorageOptions { Root = root }));
for (var i = 0; i < images; i++)
{
    var size = rng.Next(meanKb * 1024 / 3, meanKb * 5 / 3 * 1024);
    rng.NextBytes(buffer.AsSpan(0, size));
    sizes[i] = size;
    shas[i] = Convert.ToHexStringLower(SHA256.HashData(buffer.AsSpan(0, size)));
    if (make)
    {
        var path = blobs.PathFor(shas[i]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, buffer.AsSpan(0, size).ToArray());
    }
}

if (make)
{
    File.WriteAllText(marker, "");
}

var totalBytes = sizes.Sum(s => (long)s);
Console.WriteLine(string.Create(inv, $"blobs ready: {totalBytes / 1e6:F0} MB ({(make ? "written" : "reused")}, {clock.Elapsed.TotalSeconds:F0} s)"));

var fixture = new PostgresFixture();
await fixture.InitializeAsync();
try
{
    await using var db = await fixture.CreateDatabaseAsync("bench_export");
    await SeedAsync(db, shas, sizes, placeCount, categories);
    var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Storage:Root"] = root }).Build();
    var services = new ServiceCollection();
    services.AddLogging();
    services.AddSingleton<IConfiguration>(configuration);
    services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section);
    services.AddSingleton<BlobStore>().AddSingleton<IBlobStore>(sp => sp.GetRequiredService<BlobStore>());
    services.AddSingleton(db);
    services.AddHarvesterExport(configuration);
    await using var provider = services.BuildServiceProvider();
    var exporter = provider.GetRequiredService<ExportService>();

    var results = new Dictionary<string, List<double>>();
    void Add(string name, double seconds) => (results.TryGetValue(name, out var l) ? l : results[name] = []).Add(seconds);
    var outputs = Path.Combine(work, "out");
    for (var run = 1; run <= runs; run++)
    {
        Reset(outputs);
        var imageFolder = await exporter.ExportAsync(new ExportRequest { OutputDirectory = Path.Combine(outputs, "imagefolder"), Formats = ExportFormats.ImageFolder }, CancellationToken.None);
        Add("export imagefolder (whole command)", imageFolder.Elapsed.TotalSeconds);
        Add("export imagefolder (links only)", imageFolder.Timings["imagefolder"].TotalSeconds);
        Console.WriteLine("  imagefolder phases: " + string.Join(", ", imageFolder.Timings.Select(t => string.Create(inv, $"{t.Key} {t.Value.TotalSeconds:F2} s"))));
        Reset(outputs);
        Add("cp -al", await RunAsync("cp", "-al", blobs.Root, Path.Combine(outputs, "cp")));

        Reset(outputs);
        var webDataset = await exporter.ExportAsync(new ExportRequest { OutputDirectory = Path.Combine(outputs, "webdataset"), Formats = ExportFormats.WebDataset }, CancellationToken.None);
        Add("export webdataset (whole command)", webDataset.Elapsed.TotalSeconds);
        Add("export webdataset (shards only)", webDataset.Timings["webdataset"].TotalSeconds);
        Reset(outputs);
        Add("tar -cf", await RunAsync("tar", "-cf", Path.Combine(outputs, "blobs.tar"), "-C", blobs.Root, "."));

        Reset(outputs);
        var parquet = await exporter.ExportAsync(new ExportRequest { OutputDirectory = Path.Combine(outputs, "parquet"), Formats = ExportFormats.Parquet }, CancellationToken.None);
        Add("export parquet (whole command)", parquet.Elapsed.TotalSeconds);
        Add("export parquet (files only)", parquet.Timings["parquet"].TotalSeconds);
        Add("parquet MB/s", parquet.ParquetImageBytes / 1e6 / parquet.Timings["parquet"].TotalSeconds);
        Console.WriteLine($"  run {run}: " + string.Join(", ", results.Select(r => string.Create(inv, $"{r.Key} {r.Value[^1]:F2}"))));
        if (run == runs)
        {
            Console.WriteLine($"  last export: {imageFolder.Images:N0} images, {imageFolder.Groups:N0} groups, {imageFolder.Classes.Count} classes, files: {imageFolder.Files.Describe()}, " +
                $"{webDataset.Outputs.Count} shards, labels not in every split: {imageFolder.LabelsNotInEverySplit.Count}, shares {string.Join("/", imageFolder.Splits.Select(s => s.Share.ToString("F3", inv)))}");
        }
    }

    Directory.Delete(outputs, recursive: true);
    double M(string name) => Median(results[name]);
    Console.WriteLine();
    Console.WriteLine("| what | median | ratio (peer time / Harvester time) |");
    Console.WriteLine("|---|---:|---:|");
    Console.WriteLine(string.Create(inv, $"| `cp -al` of the blob files | {M("cp -al"):F2} s | |"));
    Console.WriteLine(string.Create(inv, $"| ImageFolder export, whole command | {M("export imagefolder (whole command)"):F2} s | {M("cp -al") / M("export imagefolder (whole command)"):F2}x |"));
    Console.WriteLine(string.Create(inv, $"| ImageFolder export, writing the tree | {M("export imagefolder (links only)"):F2} s | {M("cp -al") / M("export imagefolder (links only)"):F2}x |"));
    Console.WriteLine(string.Create(inv, $"| `tar -cf` of the blob files | {M("tar -cf"):F2} s | |"));
    Console.WriteLine(string.Create(inv, $"| WebDataset export, whole command | {M("export webdataset (whole command)"):F2} s | {M("tar -cf") / M("export webdataset (whole command)"):F2}x |"));
    Console.WriteLine(string.Create(inv, $"| WebDataset export, writing the shards | {M("export webdataset (shards only)"):F2} s | {M("tar -cf") / M("export webdataset (shards only)"):F2}x |"));
    Console.WriteLine(string.Create(inv, $"| Parquet export, whole command | {M("export parquet (whole command)"):F2} s | |"));
    Console.WriteLine(string.Create(inv, $"| Parquet export, writing the files | {M("export parquet (files only)"):F2} s | {M("parquet MB/s"):F0} MB/s of image bytes |"));
    Console.WriteLine($"runs: {runs}; load average now {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
}
finally
{
    await fixture.DisposeAsync();
}

return 0;

static void Reset(string outputs)
{
    if (Directory.Exists(outputs))
    {
        Directory.Delete(outputs, recursive: true);
    }

    Directory.CreateDirectory(outputs);

    // What an earlier step wrote is flushed before the next is timed, so neither side pays for the other's writeback.
    using var sync = Process.Start("sync")!;
    sync.WaitForExit();
}

static async Task<double> RunAsync(string file, params string[] args)
{
    var sw = Stopwatch.StartNew();
    using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
    var stderr = await p.StandardError.ReadToEndAsync();
    await p.WaitForExitAsync();
    if (p.ExitCode != 0)
    {
        throw new InvalidOperationException($"{file} failed: {stderr}");
    }

    return sw.Elapsed.TotalSeconds;
}

static double Median(List<double> values)
{
    var v = values.Order().ToArray();
    return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
}

// Places in categories, accepted images at them (sizes, a quality score, a sighting each), as a crawl leaves them.
static async Task SeedAsync(HarvesterDatabase db, string[] shas, int[] sizes, int places, int categories)
{
    await using var conn = await db.DataSource.OpenConnectionAsync();
    async Task Exec(string sql, params object[] values)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var v in values)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = v });
        }

        await cmd.ExecuteNonQueryAsync();
    }

    await Exec("INSERT INTO sites (key, adapter, base_url) VALUES ('bench', 'map', 'http://bench.test')");
    await Exec("""
        INSERT INTO places (site_id, external_id, name, category, neighbourhood)
        SELECT (SELECT id FROM sites), 'p' || g, 'place ' || g, 'category-' || lpad((g % $2)::text, 3, '0'), 'n' || (g % 17)
        FROM generate_series(0, $1 - 1) g
        """, places, categories);

    // Place sizes vary like a crawl's: a few places have many photos, most have a handful.
    var rng = new Random(5);
    var placeOf = shas.Select(_ => (int)(places * Math.Pow(rng.NextDouble(), 2))).ToArray();
    await Exec("""
        INSERT INTO images (sha256, byte_size, format, width, height, source_url, place_id, status, quality_score)
        SELECT s, b, 'jpeg', 800, 600, 'http://bench.test/' || s || '.jpg',
               (SELECT min(id) FROM places) + p, 'accepted', q
        FROM unnest($1::text[], $2::bigint[], $3::int[], $4::float8[]) AS t(s, b, p, q)
        """, shas, sizes.Select(s => (long)s).ToArray(), placeOf, shas.Select(_ => rng.NextDouble()).ToArray());
    await Exec("INSERT INTO image_sightings (image_id, site_id, place_id, source_url) SELECT id, (SELECT id FROM sites), place_id, source_url FROM images");
    await Exec("ANALYZE");
}
