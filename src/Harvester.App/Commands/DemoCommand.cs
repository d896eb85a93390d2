using Harvester.Curate;
using System.CommandLine;
using System.Diagnostics;
using Harvester.Cluster;
using Harvester.Export;
using Harvester.Crawl;
using Harvester.DemoSite;
using Harvester.Data;
using Harvester.Imaging;
using Harvester.Imaging.Rendering;
using Harvester.Embed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.App.Commands;

/// <summary>
/// <c>harvester demo</c>: the main job end to end on embedded defaults — the local demo site is crawled (map places by
/// neighbourhood × category, shop products by category), curated, embedded, searched, clustered and exported as a
/// leakage-free training dataset, and the outputs a
/// person wants to look at are written and listed. It works in its own database (harvester_demo), rebuilt each run.
/// </summary>
internal static class DemoCommand
{
    private const string DemoDatabase = "harvester_demo";
    private const string MapCategory = "카페";
    private const int ShopCategories = 2;
    private const int ProductsPerCategory = 5;
    private const int ReviewsPerProduct = 8;

    public static Command Create()
    {
        var queries = new Option<int>("--neighbourhoods") { Description = "Neighbourhoods to search (× the category 카페).", DefaultValueFactory = _ => 4 };
        var places = new Option<int>("--places") { Description = "Places per search.", DefaultValueFactory = _ => 9 };
        var photos = new Option<int>("--photos") { Description = "Photos per place.", DefaultValueFactory = _ => 14 };
        var demo = new Command("demo", "Run the main job end to end on embedded defaults (demo site → crawl → curate → embed → search → cluster) and show what each stage did.")
        {
            queries, places, photos,
        };
        demo.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var clock = Stopwatch.StartNew();
            Console.WriteLine("== Harvester demo: crawl → curate → embed → search → cluster → export ==");
            var database = services.GetRequiredService<HarvesterDatabase>();
            await ResetAsync(database, ct);
            Console.WriteLine(database.IsEmbedded
                ? $"[database] embedded PostgreSQL {database.Cluster!.DataDir}, database {DemoDatabase} (rebuilt), pgvector {database.VectorVersion}"
                : $"[database] configured server (ConnectionStrings:Harvester), pgvector {database.VectorVersion}");

            // The demo site serves just what this crawl asks for, so each of its photos is a different corpus photo.
            var configured = services.GetRequiredService<IOptions<DemoSiteOptions>>().Value;
            var neighbourhoods = configured.EffectiveNeighbourhoods.Take(Cli.AtLeast(pr, queries)).ToArray();
            var shopCategories = configured.EffectiveShopCategories.Take(ShopCategories).ToArray();
            var siteOptions = configured.ScopedTo(neighbourhoods, [MapCategory], Cli.AtLeast(pr, places), Cli.AtLeast(pr, photos), shopCategories, ProductsPerCategory, ReviewsPerProduct);
            await using var site = await DemoSiteServer.StartAsync(siteOptions, services.GetRequiredService<ILoggerFactory>(), ct);
            Console.WriteLine($"[demo site] {site.BaseUrl} — real photographs, duplicates and injected faults (429/500, slow, redirect, broken, truncated, HTML-as-JPEG, oversize, a hanging grid, robots.txt)");

            // Crawl: map places by neighbourhood × category, and shop products by category.
            var crawler = services.GetRequiredService<CrawlService>();
            var mapJob = await crawler.CreateJobAsync(new CrawlJobSpec
            {
                Site = "demo-map",
                Name = "demo: cafes by neighbourhood",
                BaseUrl = site.BaseUrl.AbsoluteUri,
                Neighbourhoods = neighbourhoods,
                Categories = [MapCategory],
                PlacesPerQuery = Cli.AtLeast(pr, places),
                PhotosPerPlace = Cli.AtLeast(pr, photos),
                Profile = "place-interior",
            }, ct);
            var map = await CrawlCommands.RunWithProgressAsync(services, crawler, mapJob, ct);
            CrawlCommands.PrintSummary(map);
            var shopJob = await crawler.CreateJobAsync(new CrawlJobSpec
            {
                Site = "demo-shop",
                Name = "demo: top products' review photos",
                BaseUrl = site.BaseUrl.AbsoluteUri,
                Categories = shopCategories,
                ProductsPerCategory = ProductsPerCategory,
                ReviewsPerProduct = ReviewsPerProduct,
                Profile = "product-review",
            }, ct);
            var shop = await CrawlCommands.RunWithProgressAsync(services, crawler, shopJob, ct);
            CrawlCommands.PrintSummary(shop);
            await services.GetRequiredService<BrowserHost>().DisposeAsync();

            // Curate: exact and perceptual dedupe, then the detector heuristics of each job's profile.
            CurationBatchResult curation;
            await using (var progress = Cli.StartProgress(services))
            {
                curation = await services.GetRequiredService<CurationService>().RunUntilDoneAsync(64, null, ct, totals: progress);
            }

            Console.WriteLine($"[curate] {curation.Claimed} images: {curation.Accepted} accepted, {curation.Rejected} rejected, {curation.Duplicates} duplicates ({curation.CrossPlaceGroups} photos shared across places)");
            foreach (var (reason, count) in curation.RejectReasons.OrderByDescending(r => r.Value))
            {
                Console.WriteLine($"  {count,5}  {reason}");
            }

            // Embed the accepted images.
            var embedClock = Stopwatch.StartNew();
            EmbedResult embedding;
            await using (var progress = Cli.StartProgress(services))
            {
                embedding = await services.GetRequiredService<EmbedService>().RunUntilDoneAsync(null, 64, ct, totals: progress);
            }

            var embedded = embedding.Embedded;
            var model = embedding.Model.Length > 0 ? embedding.Model : services.GetRequiredService<IOptions<InferenceOptions>>().Value.Model;

            Console.WriteLine($"[embed] {embedded} vectors with {model} in {embedClock.Elapsed.TotalSeconds:F1} s");
            NearCopyResult near;
            await using (var progress = Cli.StartProgress(services))
            {
                near = await services.GetRequiredService<NearCopyService>().RunUntilDoneAsync(null, 64, ct, progress);
            }

            Console.WriteLine($"[near-copies] {near.Confirmed} copies the hashes missed (mirrored, cropped, overlaid) found among {near.Candidates} nearest-neighbour candidates; {near.GroupsChanged} duplicate groups changed");

            var outDir = Path.Combine(services.GetRequiredService<IOptions<Core.StorageOptions>>().Value.ResolveOutputRoot(), "demo");
            Directory.CreateDirectory(outDir);
            string? sheetPath = null;
            if (embedded > 0)
            {
                sheetPath = await NearestNeighboursAsync(services, database, outDir, ct);
            }

            // Cluster, choosing k by the silhouette sweep, and compare with the photos' true sources.
            string? galleryPath = null;
            if (embedded >= 4)
            {
                ClusterRunResult run;
                await using (var progress = Cli.StartProgress(services))
                {
                    run = await services.GetRequiredService<ClusteringService>().RunAsync(new ClusterRequest { K = 0, WriteGallery = true }, ct, progress);
                }

                ClusterCommands.PrintRun(run);
                galleryPath = run.GalleryPath;
                var labels = await TruthLabelsAsync(database, site.Truth, ct);
                var external = await services.GetRequiredService<ClusterEvaluator>().CompareAsync(run.RunId, labels, "demo-site source photos", ct);
                Console.WriteLine($"[cluster] against the source photo of each image ({external.Labelled} labelled, {external.Labels} labels): ARI {external.AdjustedRandIndex:F3}, NMI {external.NormalizedMutualInformation:F3}, purity {external.Purity:F3}");
                Console.WriteLine("          (few images share a source after dedupe, so ARI is low by construction; see BENCHMARKS.md for the copy-grouping benchmark)");
            }

            // A training dataset from what was accepted: whole places and near-copies per split.
            ExportResult? export = null;
            if (curation.Accepted > 0)
            {
                await using (var progress = Cli.StartProgress(services))
                {
                    export = await services.GetRequiredService<ExportService>().ExportAsync(
                        new ExportRequest { OutputDirectory = Path.Combine(outDir, "dataset"), Force = true }, ct, progress);
                }

                Console.Write("[export] ");
                ExportCommand.Print(export);
            }

            // What a person looks at to judge all of the above: one page with pictures.
            var report = await ReportCommand.WriteAsync(services, Path.Combine(outDir, "report"), null, ct);
            Console.WriteLine($"[report] {report.Images} images: rejects with examples, duplicate groups, near-misses, clusters, the export ({report.Elapsed.TotalSeconds:F1} s)");

            Console.WriteLine();
            long Count(Core.ImageStatus status) => report.Statuses.GetValueOrDefault(status);
            Console.WriteLine($"== done in {clock.Elapsed.TotalSeconds:F0} s: {report.Images} images, {Count(Core.ImageStatus.Accepted)} accepted, " +
                $"{Count(Core.ImageStatus.Rejected)} rejected, {Count(Core.ImageStatus.Duplicate)} duplicates; {export?.Images ?? 0} in the training set; outputs ==");
            Console.WriteLine($"  curation report (open in a browser): {report.Path}");
            Console.WriteLine($"  blobs (content-addressed photos): {services.GetRequiredService<IBlobStore>().Location}");
            if (sheetPath is not null)
            {
                Console.WriteLine($"  nearest-neighbour sheet:          {sheetPath}");
            }

            if (galleryPath is not null)
            {
                Console.WriteLine($"  cluster galleries:                {Path.Combine(galleryPath, "index.html")}");
                Console.WriteLine($"  embedding map (PCA):              {Path.Combine(galleryPath, "pca.png")}");
                Console.WriteLine($"  projector files:                  {Path.Combine(galleryPath, "vectors.tsv")}, metadata.tsv");
            }

            if (export is not null)
            {
                Console.WriteLine($"  training dataset (ImageFolder):   {export.Directory}");
                Console.WriteLine($"  dataset manifest:                 {export.Manifest}");
                Console.WriteLine($"  leakage report and counts:        {Path.Combine(export.Directory, ExportService.SummaryFile)}");
            }

            Console.WriteLine($"  dashboard:                        Harvester__PostgreSQL__Database={DemoDatabase} ./harvester dashboard  (http://127.0.0.1:5080)");
            if (database.Cluster is { } c)
            {
                Console.WriteLine($"  SQL: ./harvester db start, then psql -h {c.SocketDir} -p {c.Port} -U postgres {DemoDatabase}");
                Console.WriteLine("       e.g. SELECT status, count(*) FROM images GROUP BY 1;");
            }

            return 0;
        }, builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["PostgreSQL:Database"] = DemoDatabase,
                // The demo prints its own summary of each stage; logs below warnings would bury it.
                ["Logging:LogLevel:Default"] = "Warning",
                // Item failures are the demo site's injected faults; the crawl summary lists them with their reasons.
                ["Logging:LogLevel:Harvester.Crawl.CrawlService"] = "Error",
            });
            builder.Services.AddHarvesterDemoSiteOptions();
        }));
        return demo;
    }

    /// <summary>The demo database starts empty each run, so its counts describe this run only.</summary>
    private static async Task ResetAsync(HarvesterDatabase database, CancellationToken ct)
    {
        if (!database.IsEmbedded)
        {
            return; // never wipe a server someone configured
        }

        await database.EmptyAsync(ct);
    }

    private static async Task<string?> NearestNeighboursAsync(IServiceProvider services, HarvesterDatabase database, string outDir, CancellationToken ct)
    {
        // The query: the accepted photo seen at the most places (the demo site reposts some), else the first one.
        await using var pick = database.DataSource.CreateCommand("""
            SELECT e.image_id FROM embeddings e JOIN images i ON i.id = e.image_id
            LEFT JOIN image_sightings s ON s.image_id = i.id
            WHERE i.status = 'accepted' GROUP BY e.image_id ORDER BY count(DISTINCT s.place_id) DESC, e.image_id LIMIT 1
            """);
        if (await pick.ExecuteScalarAsync(ct) is not long imageId)
        {
            return null;
        }

        var result = await services.GetRequiredService<SimilarSearch>().NearestToImageAsync(imageId, 8, new SearchFilter(), null, ct);
        EmbedCommands.Print($"image {imageId}", result);
        var blobs = services.GetRequiredService<IBlobStore>();
        await using var sha = database.DataSource.CreateCommand("SELECT sha256 FROM images WHERE id = $1");
        sha.Parameters.Add(new NpgsqlParameter { Value = imageId });
        var tiles = new List<(byte[] Image, string Caption)> { (await blobs.ReadAsync((string)(await sha.ExecuteScalarAsync(ct))!, ct), $"query {imageId}") };
        foreach (var n in result.Neighbours)
        {
            tiles.Add((await blobs.ReadAsync(n.Sha256, ct), $"{n.ImageId}  d={n.Distance:F3}\n{n.Neighbourhood} {n.Place}".TrimEnd()));
        }

        var path = Path.Combine(outDir, "nearest.png");
        await File.WriteAllBytesAsync(path, ContactSheet.Render(tiles, columns: 3, tileSize: 220, title: $"{result.Model.Name}: nearest images to image {imageId}"), ct);
        return path;
    }

    /// <summary>Each stored image's source photo per the demo site (copies and re-encodes share it; mirrored editions differ).</summary>
    private static async Task<List<(long ImageId, string Label)>> TruthLabelsAsync(HarvesterDatabase database, DemoSiteTruth truth, CancellationToken ct)
    {
        var byUrl = truth.Places.SelectMany(p => p.Photos)
            .Concat(truth.ShopCategories.SelectMany(c => c.Products).SelectMany(p => p.Reviews).SelectMany(r => r.Photos))
            .Where(p => p.CorpusLabel is not null)
            .GroupBy(p => p.Url.AbsoluteUri)
            .ToDictionary(g => g.Key, g => g.First().CorpusLabel + (g.First().Edition % 2 == 1 ? ":mirrored" : ""));
        var labels = new List<(long, string)>();
        await using var cmd = database.DataSource.CreateCommand("SELECT DISTINCT ON (image_id) image_id, source_url FROM image_sightings ORDER BY image_id, id");
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            if (byUrl.TryGetValue(r.GetString(1), out var label))
            {
                labels.Add((r.GetInt64(0), label));
            }
        }

        return labels;
    }
}
