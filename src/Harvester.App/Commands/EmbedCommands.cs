using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Harvester.Core;
using Harvester.Data;
using Harvester.Imaging.Rendering;
using Harvester.Embed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Harvester.App.Commands;

/// <summary>embed (run the stage), similar (nearest images), models (catalog and registry).</summary>
internal static class EmbedCommands
{
    private static readonly Option<string?> Model = new("--model", "-m") { Description = "Model name; default: Inference:Model." };

    public static IEnumerable<Command> Create() => [CreateEmbed(), CreateSimilar(), CreateModels()];

    private static Command CreateEmbed()
    {
        var batch = new Option<int?>("--batch") { Description = "Images claimed per pass; default: Inference:ClaimBatch." };
        var noNearCopies = new Option<bool>("--no-near-copies") { Description = "Skip the near-copy pass (copies the hashes missed, found by the model's neighbours and a pixel check)." };
        var embed = new Command("embed", "Embed every accepted image that has no vector for the model yet, fold the near-copies that finds into duplicate groups, then exit.");
        embed.Options.Add(Model);
        embed.Options.Add(batch);
        embed.Options.Add(noNearCopies);
        embed.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var service = services.GetRequiredService<EmbedService>();
            var options = services.GetRequiredService<IOptions<InferenceOptions>>().Value;
            var size = Cli.AtLeast(pr, batch, options.ClaimBatch);
            var model = pr.GetValue(Model);
            var clock = Stopwatch.StartNew();
            EmbedResult total;
            await using (var progress = Cli.StartProgress(services))
            {
                total = await service.RunUntilDoneAsync(model, size, ct, totals: progress);
            }

            var (name, embedded, failed) = (total.Model.Length > 0 ? total.Model : model ?? options.Model, total.Embedded, total.Failed);
            var (decode, inference, write) = (total.ReadAndDecode, total.Inference, total.Write);
            var seconds = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"[embed] {name}: {embedded} images embedded, {failed} failed, {seconds:F1} s" +
                (embedded > 0 ? $" ({embedded / seconds:F1} images/s; read+decode {decode.TotalSeconds:F1} s, inference {inference.TotalSeconds:F1} s, write {write.TotalSeconds:F1} s)" : ""));
            if (!pr.GetValue(noNearCopies))
            {
                NearCopyResult near;
                await using (var progress = Cli.StartProgress(services))
                {
                    near = await services.GetRequiredService<NearCopyService>().RunUntilDoneAsync(model, size, ct, progress);
                }

                Console.WriteLine($"[near-copies] {near.Checked} images compared with their nearest neighbours: {near.Candidates} candidates, {near.Confirmed} copies confirmed by their pixels, {near.GroupsChanged} duplicate groups changed");
            }

            return 0;
        }));
        return embed;
    }

    private static Command CreateSimilar()
    {
        var imageId = new Option<long?>("--image-id") { Description = "Query: a stored image's id." };
        var file = new Option<string?>("--file") { Description = "Query: an image file, embedded on the fly." };
        var url = new Option<string?>("--url") { Description = "Query: an image URL, fetched and embedded on the fly." };
        var k = new Option<int>("--k", "-k") { Description = "How many neighbours.", DefaultValueFactory = _ => 10 };
        var site = new Option<string?>("--site") { Description = "Only images seen on this site (sites.key)." };
        var place = new Option<long?>("--place") { Description = "Only images seen at this place id." };
        var category = new Option<string?>("--category") { Description = "Only images of places/products in this category." };
        var hood = new Option<string?>("--neighbourhood") { Description = "Only images of places in this neighbourhood." };
        var run = new Option<long?>("--cluster-run") { Description = "Only images assigned in this clustering run." };
        var cluster = new Option<int?>("--cluster") { Description = "With --cluster-run: only this cluster index." };
        var job = new Option<long?>("--job") { Description = "Only images seen by this crawl job." };
        var accepted = new Option<bool>("--accepted-only") { Description = "Only images whose status is still accepted." };
        var sheet = new Option<string?>("--sheet") { Description = "Also write a contact sheet PNG (query first, then neighbours with distances) to this path." };
        var similar = new Command("similar", "Nearest images by cosine distance (pgvector HNSW), to a stored image, a file or a URL; optional filters.");
        foreach (var o in new Option[] { imageId, file, url, k, Model, site, place, category, hood, run, cluster, job, accepted, sheet })
        {
            similar.Options.Add(o);
        }

        similar.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var queries = new object?[] { pr.GetValue(imageId), pr.GetValue(file), pr.GetValue(url) }.Count(q => q is not null);
            if (queries != 1)
            {
                throw new HarvesterException("Give exactly one of --image-id, --file or --url.");
            }

            var filter = new SearchFilter
            {
                Site = pr.GetValue(site),
                PlaceId = pr.GetValue(place),
                Category = pr.GetValue(category),
                Neighbourhood = pr.GetValue(hood),
                ClusterRunId = pr.GetValue(run),
                ClusterIndex = pr.GetValue(cluster),
                JobId = pr.GetValue(job),
                AcceptedOnly = pr.GetValue(accepted),
            };
            var search = services.GetRequiredService<SimilarSearch>();
            var blobs = services.GetRequiredService<IBlobStore>();
            SearchResult result;
            byte[]? queryBytes = null;
            string queryLabel;
            if (pr.GetValue(imageId) is { } id)
            {
                result = await search.NearestToImageAsync(id, Cli.AtLeast(pr, k), filter, pr.GetValue(Model), ct);
                queryLabel = $"image {id}";
            }
            else if (pr.GetValue(file) is { } path)
            {
                // Searched first: the search holds the file to the decode limits before reading it whole.
                result = await search.NearestToFileAsync(path, Cli.AtLeast(pr, k), filter, pr.GetValue(Model), ct);
                queryBytes = pr.GetValue(sheet) is null ? null : await File.ReadAllBytesAsync(path, ct);
                queryLabel = Path.GetFileName(path);
            }
            else
            {
                if (!Uri.TryCreate(pr.GetValue(url), UriKind.Absolute, out var uri))
                {
                    throw new HarvesterException($"--url '{pr.GetValue(url)}' is not an absolute URL.");
                }

                queryBytes = await search.FetchAsync(uri, ct);
                result = await search.NearestToBytesAsync(queryBytes, Cli.AtLeast(pr, k), filter, pr.GetValue(Model), ct, $"Query image {uri}");
                queryLabel = uri.ToString();
            }

            Print(queryLabel, result);
            if (pr.GetValue(sheet) is { } sheetPath)
            {
                if (pr.GetValue(imageId) is { } qid)
                {
                    queryBytes = await ReadBlobAsync(services, blobs, qid, ct);
                }

                var tiles = new List<(byte[] Image, string Caption)> { (queryBytes ?? [], "query: " + queryLabel) };
                foreach (var n in result.Neighbours)
                {
                    tiles.Add((blobs.Exists(n.Sha256) ? await blobs.ReadAsync(n.Sha256, ct) : [],
                        $"#{n.ImageId} d={n.Distance.ToString("F4", CultureInfo.InvariantCulture)}\n{n.Place ?? n.Category ?? ""}"));
                }

                var png = ContactSheet.Render(tiles, columns: Math.Min(6, tiles.Count), tileSize: 192, title: $"{result.Model.Name}: nearest to {queryLabel}");
                var full = Path.GetFullPath(sheetPath);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                await File.WriteAllBytesAsync(full, png, ct);
                Console.WriteLine($"Contact sheet: {full}");
            }

            return 0;
        }));
        return similar;
    }

    private static Command CreateModels()
    {
        var fetch = new Option<string?>("--fetch") { Description = "Download (or generate) this model now, load it (checking its graph) and register it." };
        var models = new Command("models", "Models Harvester knows (generated, manifests in the models directory, configuration) and the registered ones with their vector counts.");
        models.Options.Add(fetch);
        models.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var catalog = services.GetRequiredService<ModelCatalog>();
            var registry = services.GetRequiredService<ModelRegistry>();
            var options = services.GetRequiredService<IOptions<InferenceOptions>>().Value;
            if (pr.GetValue(fetch) is { } name)
            {
                var embedder = await services.GetRequiredService<ModelHost>().GetAsync(name, ct);
                var registered = await registry.EnsureAsync(embedder, ct);
                Console.WriteLine($"{name}: {embedder.Model.ModelPath} (registered as id {registered.Id}, {registered.Cast}, index {registered.IndexName})");
            }

            Console.WriteLine($"Models directory: {catalog.ModelsRoot}   configured model: {options.Model}   provider: {options.ExecutionProvider}");
            Console.WriteLine($"{"name",-24} {"source",-14} {"dim",5}  {"file",-8} description");
            foreach (var (n, source) in catalog.List())
            {
                string dim = "?", present = "?", description = "";
                try
                {
                    var m = catalog.GetManifest(n);
                    dim = m.Dimension.ToString(CultureInfo.InvariantCulture);
                    present = n is GistModel.Name or ResNet18Model.Name || File.Exists(Path.Combine(catalog.DirectoryFor(n), m.File)) ? "present" : m.Url is null ? "missing" : "download";
                    description = m.Description ?? "";
                }
                catch (HarvesterException e)
                {
                    description = "invalid: " + e.Message;
                }

                Console.WriteLine($"{n,-24} {(source.Length > 14 ? "models dir" : source),-14} {dim,5}  {present,-8} {description}");
            }

            Console.WriteLine();
            Console.WriteLine($"{"id",4} {"name",-24} {"version",-8} {"type",-16} {"vectors",9}  index");
            foreach (var (m, count) in await registry.ListAsync(ct))
            {
                Console.WriteLine($"{m.Id,4} {m.Name,-24} {m.Version,-8} {m.Cast,-16} {count,9}  {m.IndexName}");
            }

            return 0;
        }));
        return models;
    }

    internal static void Print(string query, SearchResult result)
    {
        Console.WriteLine($"Nearest to {query} ({result.Model.Name} v{result.Model.Version}, cosine distance{(result.ExactFallback ? ", exact scan" : "")}):");
        Console.WriteLine($"{"#",3} {"image",8} {"distance",9}  {"status",-9} {"place / category",-32} source");
        var i = 1;
        foreach (var n in result.Neighbours)
        {
            var where = string.Join(" / ", new[] { n.Place, n.Neighbourhood, n.Category }.Where(s => !string.IsNullOrEmpty(s)));
            if (where.Length > 32)
            {
                where = where[..31] + "…";
            }

            Console.WriteLine($"{i++,3} {n.ImageId,8} {n.Distance,9:F4}  {n.Status,-9} {where,-32} {n.SourceUrl}");
        }

        if (result.Neighbours.Count == 0)
        {
            Console.WriteLine("  (no embedded image matches the filters)");
        }
    }

    private static async Task<byte[]?> ReadBlobAsync(IServiceProvider services, IBlobStore blobs, long imageId, CancellationToken ct)
    {
        var db = services.GetRequiredService<HarvesterDatabase>();
        await using var cmd = db.DataSource.CreateCommand("SELECT sha256 FROM images WHERE id = $1");
        cmd.Parameters.AddWithValue(imageId);
        var sha = (string?)await cmd.ExecuteScalarAsync(ct);
        return sha is not null && blobs.Exists(sha) ? await blobs.ReadAsync(sha, ct) : null;
    }
}
