using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Harvester.Core;
using Harvester.Testing;

namespace Harvester.Export.Tests;

/// <summary>
/// Exports read back by the programs training code uses: torchvision's ImageFolder (with the loader docs/export.md
/// shows, and plain), Python's tarfile over the WebDataset shards, hyparquet over the Parquet files, and scikit-learn's
/// GroupKFold over the manifest's groups. Every check compares what the client saw with the export's own class index
/// and manifest.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ExportClientTests(PostgresFixture fixture) : IAsyncLifetime
{
    private const string Splits = "train=0.6,val=0.2,test=0.2";
    private ClientDataset _data = null!;

    public async Task InitializeAsync() => _data = await ClientDataset.GetAsync(fixture);

    public Task DisposeAsync() => Task.CompletedTask;

    private Task<ExportResult> ExportAsync(string name, ExportRequest request) =>
        _data.Exporter.ExportAsync(request with { OutputDirectory = _data.Out(name), Splits = request.Splits ?? Splits }, CancellationToken.None);

    private static Dictionary<string, int> Classes(string dir)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ClassIndex.FileName)))!.AsObject();
        return json.ToDictionary(p => p.Key, p => p.Value!.GetValue<int>());
    }

    [Fact]
    public async Task One_class_index_labels_with_enough_groups_in_every_split_and_the_rest_reported()
    {
        var result = await ExportAsync("index", new ExportRequest());

        // Code-point order, as Python's sorted() and ImageFolder's folder sort give it.
        var classes = Classes(result.Directory);
        Assert.Equal(["bar", "fabric", "꽃집", "베이커리", "카페"], classes.OrderBy(c => c.Value).Select(c => c.Key));
        Assert.Equal(classes.OrderBy(c => c.Value).Select(c => c.Key), result.Classes);

        var rows = CsvFile.Read(result.Manifest);
        Assert.Equal(29, rows.Count);
        Assert.All(rows, r => Assert.Equal(classes[r["label"]], int.Parse(r["label_index"], CultureInfo.InvariantCulture)));

        // Every label with at least three groups is in every split; "bar" (one place) is reported, not hidden.
        foreach (var label in new[] { "fabric", "꽃집", "베이커리", "카페" })
        {
            Assert.All(result.Splits, s => Assert.True(s.Labels.GetValueOrDefault(label) > 0, $"{label} is missing from {s.Name}"));
            Assert.Equal(3, rows.Where(r => r["label"] == label).Select(r => r["split"]).Distinct().Count());
        }

        var shortfall = Assert.Single(result.LabelsNotInEverySplit);
        Assert.Equal("bar", shortfall.Label);
        Assert.Equal(1, shortfall.Groups);
        Assert.Single(shortfall.Splits);
        Assert.Contains("1 group for 3 splits", shortfall.Reason, StringComparison.Ordinal);
        var summary = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(result.Directory, ExportService.SummaryFile)))!;
        var reported = Assert.Single(summary["labelsNotInEverySplit"]!.AsArray())!;
        Assert.Equal("bar", reported["label"]!.GetValue<string>());
        Assert.Equal(result.Classes, summary["classes"]!.AsArray().Select(c => c!.GetValue<string>()));

        // Every split has a folder for every class (empty where it has none), so a folder sort gives every split the
        // same numbers.
        foreach (var split in result.Splits)
        {
            Assert.Equal(classes.Keys.Order(StringComparer.Ordinal), Directory.GetDirectories(Path.Combine(result.Directory, split.Name)).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task Torchvision_loads_every_split_with_the_export_class_index()
    {
        var result = await ExportAsync("torchvision", new ExportRequest { Formats = ExportFormats.ImageFolder });
        var classes = Classes(result.Directory);
        var byPath = CsvFile.Read(result.Manifest).ToDictionary(r => r["path"]);
        var loader = Path.Combine(result.Directory, "..", "torchvision-loader.py");
        await File.WriteAllTextAsync(loader, Clients.DocsCode("export.md", "<!-- tested: imagefolder-loader"));

        var seen = await Clients.PythonAsync("imagefolder_torchvision.py", result.Directory, loader);

        var total = 0;
        foreach (var split in result.Splits)
        {
            var entry = seen[split.Name]!;
            Assert.True(entry["loaderError"] is null, $"{split.Name}: {entry["loaderError"]}");
            Assert.Equal(result.Classes, entry["classes"]!.AsArray().Select(c => c!.GetValue<string>()));
            var samples = entry["samples"]!.AsArray();
            Assert.Equal(split.Images, samples.Count);
            foreach (var s in samples)
            {
                var row = byPath[s!["path"]!.GetValue<string>()];
                var target = s["target"]!.GetValue<int>();
                Assert.Equal(split.Name, row["split"]);
                Assert.Equal(int.Parse(row["label_index"], CultureInfo.InvariantCulture), target);
                Assert.Equal(row["label"], result.Classes[target]);
                Assert.Equal(row["width"], s["width"]!.GetValue<int>().ToString(CultureInfo.InvariantCulture));
                Assert.Equal(row["height"], s["height"]!.GetValue<int>().ToString(CultureInfo.InvariantCulture));
            }

            total += samples.Count;

            // Plain ImageFolder either numbers the split exactly as classes.json does, or refuses the split's empty
            // class folder loudly; it never numbers a split differently.
            var plain = entry["plain"]!;
            if (plain["class_to_idx"] is JsonObject mapping)
            {
                Assert.Equal(classes.OrderBy(c => c.Key, StringComparer.Ordinal), mapping.Select(p => KeyValuePair.Create(p.Key, p.Value!.GetValue<int>())).OrderBy(c => c.Key, StringComparer.Ordinal));
            }
            else
            {
                Assert.Contains("bar", plain["error"]!.GetValue<string>(), StringComparison.Ordinal);
                Assert.Equal(0, split.Labels.GetValueOrDefault("bar"));
            }
        }

        Assert.Equal(29, total);
    }

    [Fact]
    public async Task Tarfile_reads_three_members_for_every_webdataset_sample()
    {
        var result = await ExportAsync("webdataset", new ExportRequest { Formats = ExportFormats.WebDataset, ShardSize = 4 });
        var rows = CsvFile.Read(result.Manifest);
        Assert.All(rows, r => Assert.Equal("", r["path"]));
        Assert.False(Directory.Exists(Path.Combine(result.Directory, "train")), "no ImageFolder tree without the imagefolder format");

        var shards = (await Clients.PythonAsync("webdataset_tarfile.py", result.Directory)).AsObject();

        // Shards are <split>-NNNNNN.tar, numbered from 0 in each split, at most --shard-size samples each.
        foreach (var split in result.Splits)
        {
            var names = shards.Select(s => s.Key).Where(n => n.StartsWith(split.Name + "-", StringComparison.Ordinal)).ToList();
            Assert.Equal(Enumerable.Range(0, (split.Images + 3) / 4).Select(i => $"{split.Name}-{i:D6}.tar"), names);
        }

        var seen = new HashSet<string>();
        foreach (var (name, samples) in shards)
        {
            Assert.InRange(samples!.AsArray().Count, 1, 4);
            foreach (var s in samples.AsArray())
            {
                var key = s!["key"]!.GetValue<string>();
                Assert.Equal(["jpg", "json", "cls"], s["suffixes"]!.AsArray().Select(x => x!.GetValue<string>()));
                var row = s["json"]!;
                Assert.Equal(key, row["sha256"]!.GetValue<string>());
                Assert.Equal(key, s["imageSha256"]!.GetValue<string>());
                Assert.Equal(row["label_index"]!.GetValue<int>(), int.Parse(s["cls"]!.GetValue<string>(), CultureInfo.InvariantCulture));
                Assert.Equal(result.Classes[row["label_index"]!.GetValue<int>()], row["label"]!.GetValue<string>());
                Assert.StartsWith(row["split"]!.GetValue<string>() + "-", name, StringComparison.Ordinal);
                Assert.Equal("webdataset/" + name, row["shard"]!.GetValue<string>());
                Assert.All(s["members"]!.AsArray(), m => Assert.Equal(0, m!["uid"]!.GetValue<int>()));
                Assert.True(seen.Add(key), $"sample {key} appears twice");
            }
        }

        Assert.Equal(rows.Select(r => r["sha256"]).Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
        Assert.All(rows, r => Assert.True(shards.ContainsKey(r["shard"][(WebDatasetFolderLength)..]), r["shard"]));

        // GNU tar reads the shards too, member for member.
        foreach (var (name, samples) in shards)
        {
            using var tar = Process.Start(new ProcessStartInfo("tar", ["--list", "--file", Path.Combine(result.Directory, "webdataset", name)]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var listed = (await tar.StandardOutput.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            await tar.WaitForExitAsync();
            Assert.Equal(0, tar.ExitCode);
            Assert.Equal(samples!.AsArray().SelectMany(s => s!["members"]!.AsArray().Select(m => m!["name"]!.GetValue<string>())), listed);
        }
    }

    private static readonly int WebDatasetFolderLength = "webdataset/".Length;

    [Fact]
    public async Task Hyparquet_reads_every_row_and_image_with_the_class_index_as_a_ClassLabel()
    {
        var result = await ExportAsync("parquet", new ExportRequest { Formats = ExportFormats.Parquet | ExportFormats.ImageFolder });
        var rows = CsvFile.Read(result.Manifest).ToDictionary(r => r["sha256"]);

        var files = (await Clients.NodeAsync("read_parquet.mjs", result.Directory)).AsObject();

        Assert.Equal(result.Splits.Select(s => s.Name + ".parquet").Order(StringComparer.Ordinal), files.Select(f => f.Key).Order(StringComparer.Ordinal));
        var read = 0;
        foreach (var split in result.Splits)
        {
            var file = files[split.Name + ".parquet"]!;
            Assert.Equal(split.Images, file["numRows"]!.GetValue<int>());
            Assert.Equal(["image", .. Manifest.Columns], file["columns"]!.AsArray().Select(c => c!.GetValue<string>()));

            // The Hugging Face features: the image, a ClassLabel with the export's classes, a Value per manifest column.
            var features = file["huggingface"]!["info"]!["features"]!.AsObject();
            Assert.Equal(["image", .. Manifest.Columns], features.Select(f => f.Key));
            Assert.Equal("Image", features["image"]!["_type"]!.GetValue<string>());
            Assert.Equal("ClassLabel", features["label_index"]!["_type"]!.GetValue<string>());
            Assert.Equal(result.Classes, features["label_index"]!["names"]!.AsArray().Select(n => n!.GetValue<string>()));

            foreach (var r in file["rows"]!.AsArray())
            {
                var sha = r!["sha256"]!.GetValue<string>();
                var row = rows[sha];
                Assert.Equal(sha, r["imageSha256"]!.GetValue<string>());
                Assert.Equal(split.Name, r["split"]!.GetValue<string>());
                Assert.Equal(row["label_index"], r["label_index"]!.GetValue<int>().ToString(CultureInfo.InvariantCulture));
                Assert.Equal(result.Classes[r["label_index"]!.GetValue<int>()], r["label"]!.GetValue<string>());
                Assert.Equal(row["path"], r["path"]!.GetValue<string>());
                Assert.Equal(row["group"], r["group"]!.GetValue<int>().ToString(CultureInfo.InvariantCulture));
                Assert.Equal(row["width"], r["width"]!.GetValue<int>().ToString(CultureInfo.InvariantCulture));
                read++;
            }
        }

        Assert.Equal(29, read);

        // The formula place name is stored as it is in Parquet (only CSV cells are neutralised).
        var all = files.SelectMany(f => f.Value!["rows"]!.AsArray()).ToList();
        Assert.Contains(all, r => r!["place"]?.GetValue<string>() == ClientDataset.Formula);
    }

    [Fact]
    public async Task Parquet_with_paths_points_at_the_imagefolder_files()
    {
        var result = await ExportAsync("parquet-paths", new ExportRequest { Formats = ExportFormats.Parquet, ParquetImages = ParquetImages.Path });

        var files = (await Clients.NodeAsync("read_parquet.mjs", result.Directory)).AsObject();

        var rows = files.SelectMany(f => f.Value!["rows"]!.AsArray()).ToList();
        Assert.Equal(29, rows.Count);
        foreach (var r in rows)
        {
            Assert.Equal(0, r!["imageBytes"]!.GetValue<int>());
            var path = r["imagePath"]!.GetValue<string>();
            Assert.Equal(r["path"]!.GetValue<string>(), path);
            Assert.Equal(r["sha256"]!.GetValue<string>(), Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(result.Directory, path)))));
        }
    }

    [Fact]
    public async Task GroupKFold_over_the_manifest_groups_never_splits_a_place_or_a_near_copy()
    {
        var result = await ExportAsync("groupkfold", new ExportRequest());

        var folds = await Clients.PythonAsync("groupkfold.py", result.Manifest, "5");

        Assert.Equal(5, folds["folds"]!.GetValue<int>());
        Assert.Equal(29, folds["rows"]!.GetValue<int>());
        var (original, copy) = _data.CopyPair;
        foreach (var fold in folds["result"]!.AsArray())
        {
            var train = fold!["train"]!;
            var test = fold["test"]!;
            Assert.Empty(train["groups"]!.AsArray().Select(g => g!.GetValue<int>()).Intersect(test["groups"]!.AsArray().Select(g => g!.GetValue<int>())));
            Assert.Empty(train["places"]!.AsArray().Select(p => p!.GetValue<string>()).Where(p => p.Length > 0)
                .Intersect(test["places"]!.AsArray().Select(p => p!.GetValue<string>())));
            var testSha = test["sha256"]!.AsArray().Select(s => s!.GetValue<string>()).ToHashSet();
            Assert.Equal(testSha.Contains(original), testSha.Contains(copy));
        }
    }

    [Fact]
    public async Task A_formula_in_a_scraped_place_name_is_written_neutralised()
    {
        var result = await ExportAsync("formula", new ExportRequest());

        var rows = CsvFile.Read(result.Manifest).Where(r => r["place"].Contains("cmd", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal("'" + ClientDataset.Formula, r["place"]));
        Assert.DoesNotContain(File.ReadAllLines(result.Manifest), l => l.Contains("," + ClientDataset.Formula, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Caps_keep_the_best_images_by_quality_and_are_counted()
    {
        var result = await ExportAsync("caps", new ExportRequest { MaxPerSource = 1, MaxPerLabel = 3, Seed = 4 });

        await using var ctx = _data.Db.CreateDbContext();
        var images = ctx.Images.Where(i => i.Status == ImageStatus.Accepted).ToList();
        var rows = CsvFile.Read(result.Manifest);

        // At most one image per place or product, the best by quality; then at most three per label, the best again.
        Assert.All(rows.GroupBy(r => r["place"] + "|" + r["product"]), g => Assert.Single(g));
        Assert.All(rows.GroupBy(r => r["label"]), g => Assert.InRange(g.Count(), 1, 3));
        var kept = rows.Select(r => long.Parse(r["image_id"], CultureInfo.InvariantCulture)).ToHashSet();
        foreach (var source in images.GroupBy(i => (i.PlaceId, i.ProductId)))
        {
            var best = source.MaxBy(i => i.QualityScore)!;
            Assert.All(source.Where(i => i.Id != best.Id), i => Assert.DoesNotContain(i.Id, kept));
        }

        var perSource = images.GroupBy(i => (i.PlaceId, i.ProductId)).Sum(g => g.Count() - 1);
        Assert.Equal(perSource, result.Caps.DroppedBySource);
        Assert.Equal(images.Count - perSource - rows.Count, result.Caps.DroppedByLabel);
        Assert.Equal(images.Count - rows.Count, result.Caps.DroppedPerLabel.Values.Sum());
        Assert.Equal(2, result.Caps.LabelsCapped);
        var summary = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(result.Directory, ExportService.SummaryFile)))!;
        Assert.Equal(result.Caps.DroppedBySource, summary["capped"]!["bySource"]!.GetValue<int>());
        Assert.Equal(result.Caps.DroppedByLabel, summary["capped"]!["byLabel"]!.GetValue<int>());

        // The same seed keeps the same images.
        var again = await ExportAsync("caps-again", new ExportRequest { MaxPerSource = 1, MaxPerLabel = 3, Seed = 4 });
        Assert.Equal(await File.ReadAllTextAsync(result.Manifest), await File.ReadAllTextAsync(again.Manifest));
    }

    [Fact]
    public async Task ImageFolder_files_are_hard_links_to_the_blob_store_unless_copies_are_asked_for()
    {
        var linked = await ExportAsync("links", new ExportRequest());
        var copied = await ExportAsync("copies", new ExportRequest { Files = ExportFiles.Copy });

        Assert.Equal(new FilePlacement(29, 0), linked.Files);
        Assert.Equal(new FilePlacement(0, 29), copied.Files);
        foreach (var (l, c) in CsvFile.Read(linked.Manifest).Zip(CsvFile.Read(copied.Manifest)))
        {
            var blob = _data.Blobs.PathFor(l["sha256"]);
            Assert.Equal(await InodeAsync(blob), await InodeAsync(Path.Combine(linked.Directory, l["path"])));
            Assert.NotEqual(await InodeAsync(blob), await InodeAsync(Path.Combine(copied.Directory, c["path"])));
            Assert.Equal(await File.ReadAllBytesAsync(blob), await File.ReadAllBytesAsync(Path.Combine(copied.Directory, c["path"])));
        }
    }

    private static async Task<string> InodeAsync(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("stat", ["-c", "%d:%i", path]) { RedirectStandardOutput = true })!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
        return output.Trim();
    }

    [Fact]
    public async Task Bad_input_is_one_clear_error_and_writes_nothing()
    {
        async Task<string> Fails(string name, ExportRequest request) =>
            (await Assert.ThrowsAsync<HarvesterException>(() => ExportAsync(name, request))).Message;

        Assert.Equal("--shard-size must be a positive number of samples per shard, got 0.", await Fails("shard", new ExportRequest { Formats = ExportFormats.WebDataset, ShardSize = 0 }));
        Assert.Equal("--max-per-label must be a positive number of images, got -1.", await Fails("label-cap", new ExportRequest { MaxPerLabel = -1 }));
        Assert.Equal("--max-per-source must be a positive number of images, got 0.", await Fails("source-cap", new ExportRequest { MaxPerSource = 0 }));
        Assert.Equal("--format must name one or more of: imagefolder, webdataset, parquet.", await Fails("none", new ExportRequest { Formats = ExportFormats.None }));
        var strict = await Fails("strict", new ExportRequest { RequireEveryLabel = true, Formats = ExportFormats.ImageFolder | ExportFormats.WebDataset | ExportFormats.Parquet });
        Assert.StartsWith("1 label(s) cannot be in every split", strict, StringComparison.Ordinal);
        Assert.Contains("bar (1 group for 3 splits", strict, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', strict);

        Assert.Equal("--format 'zip' is not one of: imagefolder, webdataset, parquet.", Assert.Throws<HarvesterException>(() => ExportFormatNames.Parse(["imagefolder,zip"], "--format")).Message);
        Assert.Equal(ExportFormats.ImageFolder | ExportFormats.Parquet, ExportFormatNames.Parse(["Parquet", "imagefolder,parquet"], "--format"));

        foreach (var name in new[] { "shard", "label-cap", "source-cap", "none", "strict" })
        {
            Assert.False(Directory.Exists(_data.Out(name)), name + " was created");
        }

        Assert.Empty(Directory.Exists(Path.Combine(_data.Root, "exports")) ? Directory.GetDirectories(Path.Combine(_data.Root, "exports"), ".*") : []);
    }

    [Fact]
    public async Task A_trailing_slash_names_the_same_export_and_a_file_on_the_path_is_refused()
    {
        var first = await ExportAsync("slash", new ExportRequest());
        var again = await _data.Exporter.ExportAsync(new ExportRequest { OutputDirectory = _data.Out("slash") + "/", Splits = Splits, Force = true }, CancellationToken.None);
        Assert.Equal(first.Directory, again.Directory);

        var file = _data.Out("a-file");
        await File.WriteAllTextAsync(file, "not a folder");
        var e = await Assert.ThrowsAsync<HarvesterException>(() => _data.Exporter.ExportAsync(new ExportRequest { OutputDirectory = Path.Combine(file, "sub"), Splits = Splits }, CancellationToken.None));
        Assert.Equal($"Export target {Path.Combine(file, "sub")} cannot be created: {file} is a file, not a folder.", e.Message);
    }
}
