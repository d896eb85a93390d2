using System.Diagnostics;
using System.Globalization;
using Harvester.Core;
using Harvester.Curate;
using Harvester.Data;
using Harvester.DemoSite.Corpus;
using Harvester.Imaging;
using Harvester.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenCvSharp;

/// <summary>
/// The honest near-duplicate benchmark: every corpus photo (PhotoCorpus.All: neighbouring tiles, low-detail and flat
/// tiles kept), a copy per transform, and the same caption box drawn on sets of five different photos. Thresholds were
/// chosen on mate-backgrounds (tuning); every other package is held out and reported apart. The old recipe (OpenCV
/// img_hash pHash, radius 6, the old stage's keep rule) runs beside the new one on the same images.
/// </summary>
internal static class Dedupe
{
    private const string TuningPackage = "mate-backgrounds";
    private static readonly VariantKind[] Mild = [VariantKind.JpegQuality, VariantKind.Resize, VariantKind.Brightness, VariantKind.Contrast, VariantKind.Png, VariantKind.WebP];
    private const string Caption = "CaptionBox";

    internal sealed record Item(int Index, int Photo, string Kind, bool HeldOut, byte[] Bytes)
    {
        public ulong Legacy;
        public ulong Balanced;
        public byte[] Layout = [];
        public double Quality;
        public int Width;
        public int Height;
        public EncodingQuality Encoding;
    }

    internal sealed record Photo(int Index, CorpusPhoto Source, bool HeldOut, bool LowDetail, int CaptionSet);

    public static async Task RunAsync(string outDir, int copies, bool stage)
    {
        var sw = Stopwatch.StartNew();
        var (photos, items) = Build(copies);
        Console.WriteLine($"\n## Near duplicates on every corpus photo: {photos.Count} photos ({photos.Count(p => !p.HeldOut)} tuning from {TuningPackage}, {photos.Count(p => p.HeldOut)} held out from {photos.Where(p => p.HeldOut).Select(p => p.Source.Package).Distinct().Count()} other packages), {items.Count} images, built and hashed in {sw.Elapsed.TotalSeconds:F0} s\n");
        foreach (var heldOut in new[] { true, false })
        {
            var split = items.Where(i => i.HeldOut == heldOut).ToList();
            Console.WriteLine($"### {(heldOut ? "Held-out packages (thresholds never saw them)" : $"Tuning package ({TuningPackage})")}: {split.Select(i => i.Photo).Distinct().Count()} photos, {split.Count} images\n");
            HashTable(photos, split);
        }

        if (stage)
        {
            foreach (var heldOut in new[] { true, false })
            {
                // Without the PNG copy: it is the original's pixels, losslessly stored, and would always (rightly) be kept,
                // hiding how the rule chooses among the lossy copies and the original.
                await WholeCurationAsync(photos, items.Where(i => i.HeldOut == heldOut && i.Kind != nameof(VariantKind.Png)).ToList(), heldOut, outDir);
            }
        }
    }

    private static (List<Photo> Photos, List<Item> Items) Build(int copies)
    {
        var all = PhotoCorpus.All();
        var photos = new List<Photo>();
        var renders = new byte[all.Count][];
        Parallel.For(0, all.Count, i => renders[i] = PhotoCorpus.RenderJpeg(all[i], 640));
        var perSplit = new Dictionary<bool, int>();
        for (var i = 0; i < all.Count; i++)
        {
            var heldOut = all[i].Package != TuningPackage;
            using var grey = Cv2.ImDecode(renders[i], ImreadModes.Grayscale);
            Cv2.MeanStdDev(grey, out _, out var std);
            var n = perSplit.GetValueOrDefault(heldOut);
            perSplit[heldOut] = n + 1;
            photos.Add(new Photo(i, all[i], heldOut, std.Val0 < 20, n / 5));
        }

        var items = new List<Item>();
        var list = new List<(int Photo, string Kind, Func<byte[]> Make)>();
        foreach (var p in photos)
        {
            var original = renders[p.Index];
            list.Add((p.Index, "Original", () => original));
            foreach (var kind in Enum.GetValues<VariantKind>())
            {
                for (var c = 0; c < copies; c++)
                {
                    var seed = (p.Index * 16) + c;
                    list.Add((p.Index, kind.ToString(), () => PhotoCorpus.Variant(original, kind, seed)));
                }
            }

            // The same caption box on every photo of a set of five: distinct photos sharing an overlay.
            var set = p.CaptionSet;
            list.Add((p.Index, Caption, () => CaptionBox(original, set)));
        }

        var made = new Item[list.Count];
        var decoder = new ImageDecoder(64L << 20, 80_000_000, 640);
        Parallel.For(0, list.Count, i =>
        {
            var (photo, kind, make) = list[i];
            var bytes = make();
            var item = new Item(i, photo, kind, photos[photo].HeldOut, bytes);
            using var d = decoder.Decode(bytes);
            using var grey = new Mat();
            Cv2.CvtColor(d.Pixels, grey, ColorConversionCodes.BGR2GRAY);
            item.Legacy = PerceptualHash.LegacyPHash(d.Pixels);
            item.Balanced = PerceptualHash.PHashFromGrey(grey);
            item.Layout = ColourLayout.Compute(d.Pixels);
            item.Quality = ImageAnalyzer.QualityOf(PixelMeasures.Measure(d.Pixels, grey));
            item.Width = d.Width;
            item.Height = d.Height;
            item.Encoding = EncodingQuality.Read(bytes);
            made[i] = item;
        });
        items.AddRange(made);
        return (photos, items);
    }

    /// <summary>A caption box (three quarters of the width, under a third of the height) with the set's text.</summary>
    private static byte[] CaptionBox(byte[] jpeg, int set)
    {
        using var image = Cv2.ImDecode(jpeg, ImreadModes.Color);
        string[] texts = ["SALE 50% OFF TODAY", "OPEN 9AM - 10PM", "NEW MENU  SPRING", "BEST CAFE IN TOWN", "FREE DELIVERY"];
        var w = (int)(image.Width * 0.75);
        var h = (int)(image.Height * 0.28);
        var rect = new Rect((image.Width - w) / 2, image.Height - h - (image.Height / 12), w, h);
        Cv2.Rectangle(image, rect, new Scalar(245, 245, 245), -1);
        var scale = w / 420.0;
        Cv2.PutText(image, texts[set % texts.Length], new Point(rect.X + (w / 16), rect.Y + (h * 2 / 3)), HersheyFonts.HersheyDuplex, scale, new Scalar(30, 30, 30), Math.Max(1, (int)(scale * 2)), LineTypes.AntiAlias);
        return image.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
    }

    private enum Negative { Neighbour, LowDetail, SharedOverlay, Other }

    private static Negative Category(List<Photo> photos, Item a, Item b)
    {
        if (a.Kind == Caption && b.Kind == Caption)
        {
            return Negative.SharedOverlay;
        }

        var pa = photos[a.Photo];
        var pb = photos[b.Photo];
        if (pa.Source.SourcePath == pb.Source.SourcePath)
        {
            return Negative.Neighbour;
        }

        return pa.LowDetail && pb.LowDetail ? Negative.LowDetail : Negative.Other;
    }

    private sealed record Recipe(string Name, Func<Item, Item, bool> Match);

    private static readonly Recipe[] Recipes =
    [
        new("old: OpenCV img_hash pHash, radius 6", (a, b) => PerceptualHash.Hamming(a.Legacy, b.Legacy) <= 6),
        new("new hash alone: balanced pHash, radius 8", (a, b) => PerceptualHash.Hamming(a.Balanced, b.Balanced) <= 8),
        new("new: balanced pHash radius 8 + colour layout 10", (a, b) => NearDuplicateRule.Default.Matches(a.Balanced, a.Layout, b.Balanced, b.Layout)),
    ];

    /// <summary>
    /// Recall per transform = original-copy pairs matched. False pairs = pairs of different photos matched, by
    /// category. Precision (mild) = mild true pairs / (mild true pairs + all false pairs); precision on the hard
    /// negatives counts only the false pairs among neighbouring tiles, low-detail photos and shared overlays.
    /// </summary>
    private static void HashTable(List<Photo> photos, List<Item> split)
    {
        var kinds = Enum.GetValues<VariantKind>().Select(k => k.ToString()).Append(Caption).ToArray();
        var originals = split.Where(i => i.Kind == "Original").ToDictionary(i => i.Photo);
        var negativePairs = new long[4];
        for (var a = 0; a < split.Count; a++)
        {
            for (var b = a + 1; b < split.Count; b++)
            {
                if (split[a].Photo != split[b].Photo)
                {
                    negativePairs[(int)Category(photos, split[a], split[b])]++;
                }
            }
        }

        Console.WriteLine("| recipe | " + string.Join(" | ", kinds.Select(k => $"R {k}")) + " | **R mild** | FP neighbours | FP low-detail | FP shared overlay | FP other | **P mild** | **P mild, hard negatives only** |");
        Console.WriteLine("|---|" + string.Join("|", kinds.Select(_ => "---")) + "|---|---|---|---|---|---|---|");
        foreach (var recipe in Recipes)
        {
            var recall = new Dictionary<string, (int Hit, int N)>();
            foreach (var item in split.Where(i => i.Kind != "Original"))
            {
                var (hit, n) = recall.GetValueOrDefault(item.Kind);
                recall[item.Kind] = (hit + (recipe.Match(originals[item.Photo], item) ? 1 : 0), n + 1);
            }

            var fp = new long[4];
            var bag = split.ToArray();
            Parallel.For(0, bag.Length, () => new long[4], (a, _, local) =>
            {
                for (var b = a + 1; b < bag.Length; b++)
                {
                    if (bag[a].Photo != bag[b].Photo && recipe.Match(bag[a], bag[b]))
                    {
                        local[(int)Category(photos, bag[a], bag[b])]++;
                    }
                }

                return local;
            }, local => { lock (fp) { for (var k = 0; k < 4; k++) { fp[k] += local[k]; } } });

            var mildHit = Mild.Sum(k => recall.GetValueOrDefault(k.ToString()).Hit);
            var mildN = Mild.Sum(k => recall.GetValueOrDefault(k.ToString()).N);
            var hard = fp[0] + fp[1] + fp[2];
            Console.WriteLine($"| {recipe.Name} | " + string.Join(" | ", kinds.Select(k => recall.TryGetValue(k, out var r) ? $"{(double)r.Hit / r.N:F3}" : "-")) +
                $" | **{(double)mildHit / mildN:F3}** | {fp[0]} | {fp[1]} | {fp[2]} | {fp[3]} | **{Precision(mildHit, fp.Sum()):F3}** | **{Precision(mildHit, hard):F3}** |");
        }

        Console.WriteLine($"\nNegative pairs (different photos): neighbouring tiles {negativePairs[0]:N0}, both low-detail (grey std < 20) {negativePairs[1]:N0}, sharing a caption box {negativePairs[2]:N0}, other {negativePairs[3]:N0}. Mild = {string.Join(", ", Mild)}.\n");
    }

    private static double Precision(long tp, long fp) => tp + fp == 0 ? 1 : (double)tp / (tp + fp);

    /// <summary>
    /// The whole curate stage on the split (embedded PostgreSQL, real CurationService, detectors off since they do not
    /// group), images arriving in a shuffled order; beside it a replay of the old stage's grouping on the same order
    /// (OpenCV pHash radius 6, a newcomer joins the nearest kept image, the old keep rule: larger resolution, then the
    /// sharpness-based quality score, then the earlier id).
    /// </summary>
    private static async Task WholeCurationAsync(List<Photo> photos, List<Item> split, bool heldOut, string outDir)
    {
        var rng = new Random(heldOut ? 11 : 12);
        List<Item> order = [.. split.OrderBy(_ => rng.Next())];
        var sw = Stopwatch.StartNew();
        var newGroups = await RunStageAsync(order, outDir);
        var stageSeconds = sw.Elapsed.TotalSeconds;
        var oldGroups = ReplayOld(order);
        Console.WriteLine($"### Whole curation, {(heldOut ? "held-out" : "tuning")}: {order.Count} images in one shuffled order (stage run {stageSeconds:F0} s)\n");
        Console.WriteLine("| stage | pair precision | pair recall | R mild (copy grouped with its original) | groups mixing photos | mixed groups' largest span | kept image is the original (groups with the original) |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (name, groupOf, kept) in new[] { ("old (replayed)", oldGroups.GroupOf, oldGroups.Kept), ("new (CurationService)", newGroups.GroupOf, newGroups.Kept) })
        {
            long tp = 0, fp = 0, pos = 0;
            for (var a = 0; a < order.Count; a++)
            {
                for (var b = a + 1; b < order.Count; b++)
                {
                    var same = order[a].Photo == order[b].Photo && order[a].Kind != Caption && order[b].Kind != Caption;
                    var together = groupOf[order[a].Index] is { } ga && ga == groupOf[order[b].Index];
                    pos += same ? 1 : 0;
                    tp += same && together ? 1 : 0;
                    fp += !same && together ? 1 : 0;
                }
            }

            var originals = order.Where(i => i.Kind == "Original").ToDictionary(i => i.Photo);
            var mild = order.Where(i => Mild.Any(k => k.ToString() == i.Kind)).ToList();
            var mildHit = mild.Count(i => groupOf[i.Index] is { } g && g == groupOf[originals[i.Photo].Index]);
            var groups = order.Where(i => groupOf[i.Index] is not null).GroupBy(i => groupOf[i.Index]!.Value).ToList();
            var mixed = groups.Where(g => g.Select(i => i.Photo).Distinct().Count() > 1).ToList();
            var withOriginal = groups.Where(g => g.Any(i => i.Kind == "Original")).ToList();
            var keptOriginal = withOriginal.Count(g => kept.TryGetValue(g.Key, out var k) && (k.Kind == "Original" || (k.Kind == nameof(VariantKind.Png) && k.Photo == g.First(i => i.Kind == "Original").Photo)));
            Console.WriteLine($"| {name} | {Precision(tp, fp):F3} | {(double)tp / pos:F3} | {(double)mildHit / mild.Count:F3} | {mixed.Count} | {(mixed.Count == 0 ? 0 : mixed.Max(g => g.Select(i => i.Photo).Distinct().Count()))} photos | {keptOriginal} of {withOriginal.Count} = {(double)keptOriginal / Math.Max(1, withOriginal.Count):F3} |");
        }

        Console.WriteLine("\n(Pairs exclude caption-box copies as positives: a caption box over a fifth of the frame is another picture for a hash. The PNG copies are left out of this run: lossless copies of the original's pixels would always be kept.)\n");
    }

    private sealed record Grouping(Dictionary<int, long?> GroupOf, Dictionary<long, Item> Kept);

    private static Grouping ReplayOld(List<Item> order)
    {
        var groupOf = order.ToDictionary(i => i.Index, _ => (long?)null);
        var kept = new Dictionary<long, Item>();
        var heads = new List<Item>();
        foreach (var item in order)
        {
            var match = heads.Where(h => PerceptualHash.Hamming(h.Legacy, item.Legacy) <= 6)
                .OrderBy(h => PerceptualHash.Hamming(h.Legacy, item.Legacy)).ThenBy(h => h.Index).FirstOrDefault();
            if (match is null)
            {
                heads.Add(item);
                continue;
            }

            var g = groupOf[match.Index] ?? match.Index;
            groupOf[match.Index] = g;
            groupOf[item.Index] = g;
            var prefer = (long)item.Width * item.Height != (long)match.Width * match.Height
                ? (long)item.Width * item.Height > (long)match.Width * match.Height
                : item.Quality > match.Quality;
            if (prefer)
            {
                heads.Remove(match);
                heads.Add(item);
                kept[g] = item;
            }
            else
            {
                kept[g] = match;
            }
        }

        return new Grouping(groupOf, kept);
    }

    private static async Task<Grouping> RunStageAsync(List<Item> order, string outDir)
    {
        var fixture = new PostgresFixture();
        await fixture.InitializeAsync();
        var blobRoot = Path.Combine(outDir, "blobs-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using var db = await fixture.CreateDatabaseAsync("dedupe");
            var blobs = new BlobStore(Options.Create(new StorageOptions { BlobRoot = blobRoot }));
            var ids = new Dictionary<long, Item>();
            var firstBySha = new Dictionary<string, Item>();
            var aliases = new List<(Item Copy, Item First)>();
            await using (var conn = await db.DataSource.OpenConnectionAsync())
            {
                foreach (var item in order)
                {
                    var sha = await blobs.PutAsync(item.Bytes, CancellationToken.None);
                    if (firstBySha.TryGetValue(sha, out var first))
                    {
                        // The same bytes never reach curation (the crawler records a second sighting): same picture, one image.
                        aliases.Add((item, first));
                        continue;
                    }

                    firstBySha[sha] = item;
                    await using var cmd = new NpgsqlCommand(
                        "INSERT INTO images (sha256, byte_size, source_url, status) VALUES ($1, $2, $3, 'fetched') ON CONFLICT (sha256) DO NOTHING RETURNING id", conn);
                    cmd.Parameters.Add(new NpgsqlParameter { Value = sha });
                    cmd.Parameters.Add(new NpgsqlParameter { Value = (long)item.Bytes.Length });
                    cmd.Parameters.Add(new NpgsqlParameter { Value = $"https://bench.test/{item.Index}" });
                    if (await cmd.ExecuteScalarAsync() is long id)
                    {
                        ids[id] = item;
                    }
                }
            }

            var options = new CurationOptions { Faces = { Enabled = false }, Text = { Enabled = false } };
            options.Profiles["default"] = new CurationProfile { MinSide = null, MinSharpness = null, MinEntropy = null, MaxAspect = null, MaxDarkFraction = null, MaxBrightFraction = null };
            using var analyzer = new ImageAnalyzer(options, Path.GetTempPath());
            var service = new CurationService(db, new CurateStore(db), blobs, new DuplicateGroups(blobs), analyzer, Options.Create(options), NullLogger<CurationService>.Instance);
            await service.RunUntilDoneAsync(64, null, CancellationToken.None);

            var groupOf = order.ToDictionary(i => i.Index, _ => (long?)null);
            var kept = new Dictionary<long, Item>();
            await using (var conn = await db.DataSource.OpenConnectionAsync())
            {
                await using var cmd = new NpgsqlCommand("SELECT i.id, i.duplicate_group_id, g.kept_image_id FROM images i LEFT JOIN duplicate_groups g ON g.id = i.duplicate_group_id", conn);
                await using var r = await cmd.ExecuteReaderAsync();
                while (await r.ReadAsync())
                {
                    if (!r.IsDBNull(1))
                    {
                        groupOf[ids[r.GetInt64(0)].Index] = r.GetInt64(1);
                        kept[r.GetInt64(1)] = ids[r.GetInt64(2)];
                    }
                }
            }

            foreach (var (copy, first) in aliases)
            {
                groupOf[first.Index] ??= -(first.Index + 1L);
                groupOf[copy.Index] = groupOf[first.Index];
                kept.TryAdd(groupOf[first.Index]!.Value, first);
            }

            return new Grouping(groupOf, kept);
        }
        finally
        {
            await fixture.DisposeAsync();
            if (Directory.Exists(blobRoot))
            {
                Directory.Delete(blobRoot, true);
            }
        }
    }
}
