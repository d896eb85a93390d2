using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Harvester.Cluster;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Entities;
using Harvester.Data.Stages;
using Harvester.Embed;
using Harvester.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenCvSharp;

namespace Harvester.Export.Tests;

/// <summary>
/// Exports from a real database: real photographs at six places (two categories), a re-encoded copy of one photo posted
/// at another place, one photo also seen at a second place, a rejected photo, vectors from the default ONNX model.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ExportServiceTests(PostgresFixture fixture) : IAsyncLifetime
{
    private const string Splits = "train=0.5,val=0.25,test=0.25";
    private HarvesterDatabase _db = null!;
    private ServiceProvider _services = null!;
    private string _root = null!;
    private long[] _place = null!;
    private long _original;
    private long _copy;
    private long _shared;
    private long _rejected;

    public async Task InitializeAsync()
    {
        _db = await fixture.CreateDatabaseAsync("export");
        _root = Path.Combine(fixture.StateRoot, "export-" + Guid.NewGuid().ToString("N")[..8]);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:Root"] = _root,
            ["Inference:ExecutionProvider"] = "cpu",
            ["Clustering:WriteGalleries"] = "false",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section);
        services.AddSingleton<BlobStore>().AddSingleton<IBlobStore>(sp => sp.GetRequiredService<BlobStore>());
        services.AddSingleton(_db);
        services.AddHarvesterEmbed(configuration);
        services.AddHarvesterCluster(configuration);
        services.AddHarvesterExport(configuration);
        _services = services.BuildServiceProvider();
        await SeedAsync();
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _db.DisposeAsync();
    }

    private ExportService Exporter => _services.GetRequiredService<ExportService>();

    private string Out(string name) => Path.Combine(_root, "exports", name);

    private async Task SeedAsync()
    {
        var photos = Photos.Load(14).Select(p => p.Jpeg).ToList();
        var blobs = _services.GetRequiredService<BlobStore>();
        await using var ctx = _db.CreateDbContext();
        var site = new Site { Key = "test-map", Adapter = "map", BaseUrl = "http://map.test" };
        ctx.Sites.Add(site);
        await ctx.SaveChangesAsync();
        var places = Enumerable.Range(0, 6).Select(i => new Place
        {
            SiteId = site.Id,
            ExternalId = "p" + i,
            Name = $"가게 {i}",
            Category = i % 2 == 0 ? "카페" : "베이커리",
            Neighbourhood = i < 3 ? "망원동" : "연남동",
        }).ToList();
        ctx.Places.AddRange(places);
        await ctx.SaveChangesAsync();
        _place = places.Select(p => p.Id).ToArray();

        async Task<Image> AddAsync(byte[] bytes, int place, ImageStatus status = ImageStatus.Accepted)
        {
            var sha = await blobs.PutAsync(bytes, CancellationToken.None);
            using var mat = Cv2.ImDecode(bytes, ImreadModes.Color);
            var image = new Image { PHash = Harvester.Imaging.PerceptualHash.ToBits(Harvester.Imaging.PerceptualHash.PHash(mat)), Sha256 = sha, SourceUrl = $"http://map.test/{sha[..12]}.jpg", Status = status, ByteSize = bytes.Length, Format = "jpeg", Width = 800, Height = 600, PlaceId = _place[place] };
            ctx.Images.Add(image);
            await ctx.SaveChangesAsync();
            ctx.ImageSightings.Add(new ImageSighting { ImageId = image.Id, SiteId = site.Id, PlaceId = _place[place], SourceUrl = image.SourceUrl });
            await ctx.SaveChangesAsync();
            return image;
        }

        var images = new List<Image>();
        for (var i = 0; i < 12; i++)
        {
            images.Add(await AddAsync(photos[i], i / 2));
        }

        // The same photo re-posted at place 5: re-encoded smaller, as a second upload would be.
        using (var decoded = Cv2.ImDecode(photos[0], ImreadModes.Color))
        using (var smaller = new Mat())
        {
            Cv2.Resize(decoded, smaller, new Size(0, 0), 0.85, 0.85, InterpolationFlags.Area);
            _copy = (await AddAsync(smaller.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 75)), 5)).Id;
        }

        _original = images[0].Id;

        // Photo 2 (place 1) was also posted at place 3.
        _shared = images[2].Id;
        ctx.ImageSightings.Add(new ImageSighting { ImageId = _shared, SiteId = site.Id, PlaceId = _place[3], SourceUrl = images[2].SourceUrl });
        await ctx.SaveChangesAsync();

        _rejected = (await AddAsync(photos[12], 4, ImageStatus.Rejected)).Id;

        var embed = _services.GetRequiredService<EmbedService>();
        while ((await embed.RunOnceAsync(null, 100, CancellationToken.None)).Claimed > 0)
        {
        }
    }

    /// <summary>The default model's near-copy threshold for export (its manifest's), which the export uses when none is given.</summary>
    private static double NearCopyCosine => ResNet18Model.Manifest.Thresholds!.NearDuplicateCosine!.Value;

    private async Task<double> CosineAsync(long a, long b)
    {
        await using var cmd = _db.DataSource.CreateCommand("SELECT 1 - (x.embedding <=> y.embedding) FROM embeddings x, embeddings y WHERE x.image_id = $1 AND y.image_id = $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        cmd.Parameters.Add(new NpgsqlParameter { Value = b });
        return Convert.ToDouble(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static List<Dictionary<string, string>> ReadManifest(string path) => CsvFile.Read(path);

    [Fact]
    public async Task An_export_removes_the_half_written_folder_a_killed_export_left_and_keeps_a_running_ones()
    {
        var output = Out("sweep");
        var parent = Path.GetDirectoryName(output)!;
        Directory.CreateDirectory(parent);

        // A real process that dies with its staging folder half written, as kill -9 during an export leaves it.
        using var victim = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "60"))!;
        var dead = Path.Combine(parent, $".sweep.partial-{victim.Id}-{ProcessIdentity.StartTicks(victim.Id)}-0badc0de");
        Directory.CreateDirectory(Path.Combine(dead, "train"));
        await File.WriteAllTextAsync(Path.Combine(dead, "train", "half.jpg"), "half");
        victim.Kill();
        await victim.WaitForExitAsync();
        var live = Path.Combine(parent, $".sweep.partial-{Environment.ProcessId}-{ProcessIdentity.StartTicks(Environment.ProcessId)}-00c0ffee");
        Directory.CreateDirectory(live);

        var result = await Exporter.ExportAsync(new ExportRequest { OutputDirectory = output, Splits = Splits }, CancellationToken.None);

        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(live));
        Assert.True(File.Exists(result.Manifest));
        Assert.Equal([live], Directory.GetDirectories(parent, ".sweep.partial-*"));
    }

    [Fact]
    public async Task Places_shared_photos_and_near_copies_never_straddle_splits()
    {
        Assert.True(await CosineAsync(_original, _copy) >= NearCopyCosine, "precondition: the re-encoded copy is a near-copy for the default model (its manifest's threshold)");

        var result = await Exporter.ExportAsync(new ExportRequest { OutputDirectory = Out("a"), Splits = Splits }, CancellationToken.None);

        var rows = ReadManifest(result.Manifest);
        Assert.Equal(13, rows.Count);
        Assert.Equal(13, result.Images);
        Assert.DoesNotContain(rows, r => r["image_id"] == _rejected.ToString(CultureInfo.InvariantCulture));
        var splitOf = rows.ToDictionary(r => long.Parse(r["image_id"], CultureInfo.InvariantCulture), r => r["split"]);

        // Every place's photos in one split; the re-posted copy joins place 0 and 5, the shared photo places 1 and 3.
        await using var ctx = _db.CreateDbContext();
        var placeOf = ctx.Images.Where(i => i.Status == ImageStatus.Accepted).ToDictionary(i => i.Id, i => i.PlaceId!.Value);
        var splitOfPlace = placeOf.GroupBy(p => p.Value).ToDictionary(g => g.Key, g => Assert.Single(g.Select(p => splitOf[p.Key]).Distinct()));
        Assert.Equal(splitOf[_original], splitOf[_copy]);
        Assert.Equal(splitOfPlace[_place[0]], splitOfPlace[_place[5]]);
        Assert.Equal(splitOfPlace[_place[1]], splitOfPlace[_place[3]]);
        Assert.True(result.Groups <= 4, $"at most 4 groups (places 0+5, 1+3, 2, 4), got {result.Groups}");
        Assert.True(result.NearDuplicatePairs >= 1);

        // Every split got whole groups, and the shares are as close to 0.5 / 0.25 / 0.25 as groups of 5, 4, 2, 2 allow.
        Assert.All(result.Splits, s => Assert.True(s.Images > 0, $"split {s.Name} is empty"));
        Assert.Equal(13, result.Splits.Sum(s => s.Images));

        // Files: ImageFolder layout by category, bytes identical to the stored blobs.
        var blobs = _services.GetRequiredService<BlobStore>();
        foreach (var r in rows)
        {
            var file = Path.Combine(result.Directory, r["path"]);
            Assert.Equal(Path.Combine(r["split"], r["label"], r["sha256"] + ".jpg"), r["path"]);
            Assert.Contains(r["label"], new[] { "카페", "베이커리" });
            Assert.Equal(r["sha256"], Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(file))));
            Assert.True(blobs.Exists(r["sha256"]));
        }

        // The leakage report: no near-copies across splits, and the closest cross-split pair is below the threshold.
        var summary = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(result.Directory, ExportService.SummaryFile)))!;
        Assert.Equal(13, summary["images"]!.GetValue<int>());
        Assert.Equal(0, summary["leakage"]!["crossSplitNearDuplicates"]!.GetValue<int>());
        Assert.Equal(0, result.Leakage.CrossSplitNearDuplicates);
        Assert.True(result.Leakage.ClosestCrossSplitCosine is not { } closest || closest < NearCopyCosine);
        Assert.NotNull(result.Leakage.ClosestCrossSplitHamming);
        Assert.Equal(0, result.Leakage.ImagesWithoutVector);
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(result.Directory)!, ".*"));
    }

    [Fact]
    public async Task Without_near_copy_grouping_the_audit_catches_the_copy_when_it_crosses_splits()
    {
        // Group by nothing and join nothing (cosine 1.0 is never reached by a re-encode): the copy may land away from
        // its original, and then the audit reports a cross-split pair far above the near-copy threshold.
        for (var seed = 1; seed <= 20; seed++)
        {
            var result = await Exporter.ExportAsync(
                new ExportRequest { OutputDirectory = Out("audit-" + seed), Splits = Splits, GroupBy = ExportGrouping.None, NearDuplicateCosine = 1.0, Seed = seed },
                CancellationToken.None);
            var splitOf = ReadManifest(result.Manifest).ToDictionary(r => long.Parse(r["image_id"], CultureInfo.InvariantCulture), r => r["split"]);
            if (splitOf[_original] != splitOf[_copy])
            {
                Assert.True(result.Leakage.ClosestCrossSplitCosine >= NearCopyCosine, $"the audit reports the copy pair, got {result.Leakage.ClosestCrossSplitCosine}");
                Assert.Equal(new[] { _original, _copy }.Order(), new[] { result.Leakage.ClosestPairA!.Value, result.Leakage.ClosestPairB!.Value }.Order());
                return;
            }
        }

        Assert.Fail("in 20 seeds the ungrouped copy never left its original's split");
    }

    [Fact]
    public async Task Same_seed_gives_the_same_dataset()
    {
        var a = await Exporter.ExportAsync(new ExportRequest { OutputDirectory = Out("s1"), Splits = Splits, Seed = 9 }, CancellationToken.None);
        var b = await Exporter.ExportAsync(new ExportRequest { OutputDirectory = Out("s2"), Splits = Splits, Seed = 9 }, CancellationToken.None);
        Assert.Equal(await File.ReadAllTextAsync(a.Manifest), await File.ReadAllTextAsync(b.Manifest));
    }

    [Fact]
    public async Task Cluster_labels_come_from_a_clustering_run()
    {
        var run = await _services.GetRequiredService<ClusteringService>().RunAsync(new ClusterRequest { K = 3, Seed = 1, WriteGallery = false }, CancellationToken.None);

        var result = await Exporter.ExportAsync(new ExportRequest { OutputDirectory = Out("clusters"), Label = ExportLabel.Cluster, ClusterRun = run.RunId }, CancellationToken.None);

        await using var cmd = _db.DataSource.CreateCommand("SELECT image_id, cluster_index FROM cluster_assignments WHERE run_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = run.RunId });
        var truth = new Dictionary<string, string>();
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                truth[r.GetInt64(0).ToString(CultureInfo.InvariantCulture)] = "cluster-" + r.GetInt32(1).ToString("D3", CultureInfo.InvariantCulture);
            }
        }

        var rows = ReadManifest(result.Manifest);
        Assert.Equal(13, rows.Count);
        Assert.All(rows, r => Assert.Equal(truth[r["image_id"]], r["label"]));
    }

    [Fact]
    public async Task A_missing_blob_is_left_out_and_counted()
    {
        await using var ctx = _db.CreateDbContext();
        var sha = ctx.Images.Single(i => i.Id == _shared).Sha256.Trim();
        var blobs = _services.GetRequiredService<BlobStore>();
        var moved = blobs.PathFor(sha) + ".away";
        File.Move(blobs.PathFor(sha), moved);
        try
        {
            var result = await Exporter.ExportAsync(new ExportRequest { OutputDirectory = Out("missing"), Splits = Splits }, CancellationToken.None);
            Assert.Equal(1, result.MissingBlobs);
            Assert.Equal(12, ReadManifest(result.Manifest).Count);
            Assert.DoesNotContain(ReadManifest(result.Manifest), r => r["sha256"] == sha);
        }
        finally
        {
            File.Move(moved, blobs.PathFor(sha));
        }
    }

    [Fact]
    public async Task Bad_requests_fail_clearly_and_leave_nothing_behind()
    {
        async Task<string> Fails(ExportRequest request) => (await Assert.ThrowsAsync<HarvesterException>(() => Exporter.ExportAsync(request, CancellationToken.None))).Message;

        // A folder that is not an export is never overwritten, even with --force.
        var foreign = Out("foreign");
        Directory.CreateDirectory(foreign);
        await File.WriteAllTextAsync(Path.Combine(foreign, "notes.txt"), "mine");
        Assert.Contains("not a Harvester export", await Fails(new ExportRequest { OutputDirectory = foreign, Force = true }), StringComparison.Ordinal);
        Assert.Equal("mine", await File.ReadAllTextAsync(Path.Combine(foreign, "notes.txt")));

        // A previous export needs --force, which replaces it whole.
        var target = Out("again");
        var first = await Exporter.ExportAsync(new ExportRequest { OutputDirectory = target, Splits = "train=0.5,test=0.5" }, CancellationToken.None);
        Assert.Contains("--force", await Fails(new ExportRequest { OutputDirectory = target }), StringComparison.Ordinal);
        var second = await Exporter.ExportAsync(new ExportRequest { OutputDirectory = target, Splits = Splits, Force = true }, CancellationToken.None);
        Assert.Equal(["test", "train", "val"], Directory.GetDirectories(target).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(2, first.Splits.Count);
        Assert.Equal(3, second.Splits.Count);

        Assert.Contains("add up to", await Fails(new ExportRequest { OutputDirectory = Out("bad-splits"), Splits = "train=0.9,test=0.2" }), StringComparison.Ordinal);
        Assert.Contains("--run", await Fails(new ExportRequest { OutputDirectory = Out("no-run"), Label = ExportLabel.Cluster }), StringComparison.Ordinal);
        Assert.Contains("does not exist", await Fails(new ExportRequest { OutputDirectory = Out("bad-run"), Label = ExportLabel.Cluster, ClusterRun = 999_999 }), StringComparison.Ordinal);
        Assert.Contains("no accepted images", await Fails(new ExportRequest { OutputDirectory = Out("empty"), Scope = ImageScope.Parse("category=없음") }), StringComparison.Ordinal);
        Assert.Contains("no-such-model", await Fails(new ExportRequest { OutputDirectory = Out("bad-model"), Model = "no-such-model" }), StringComparison.Ordinal);

        foreach (var name in new[] { "bad-splits", "no-run", "bad-run", "empty", "bad-model" })
        {
            Assert.False(Directory.Exists(Out(name)), name + " was not created");
        }

        Assert.Empty(Directory.GetDirectories(Path.Combine(_root, "exports"), ".*"));
    }
}
