using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Harvester.Core;
using Harvester.Curate;
using Harvester.Data;
using Harvester.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Harvester.DemoSite.Corpus;
using Harvester.Imaging;
using OpenCvSharp;

/// <summary>
/// Speed of the curate stage's analysis, piece by piece, before and after cheap-first ordering and a smaller text
/// detector input, with the verdict agreement that says whether the faster stage decides the same. Inputs: corpus
/// photos as 640x480 JPEGs, plus the text-heavy images a crawl meets (menu boards, photos with a caption box or a
/// watermark) so the text check has decisions to keep.
/// </summary>
internal static class Throughput
{
    public static void Run(string outDir, string repoRoot, string modelsRoot, int count, int runs, int[] textSizes, string profileName, bool stageOnly = false)
    {
        var dir = Path.Combine(outDir, "throughput");
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, true);
        }

        Directory.CreateDirectory(dir);
        var photos = PhotoCorpus.All().Where(p => !p.Flat).Take(count).ToList();
        Parallel.For(0, photos.Count, i =>
        {
            using var src = Cv2.ImDecode(PhotoCorpus.RenderJpeg(photos[i], 1024), ImreadModes.Color);
            using var sized = new Mat();
            Cv2.Resize(src, sized, new Size(640, 480), 0, 0, InterpolationFlags.Area);
            var jpeg = sized.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
            File.WriteAllBytes(Path.Combine(dir, $"p{i:D4}.jpg"), jpeg);
            // One in ten also arrives with a watermark, one in ten with a caption box: text a crawl meets on photos.
            if (i % 10 == 3)
            {
                File.WriteAllBytes(Path.Combine(dir, $"w{i:D4}.jpg"), PhotoCorpus.Variant(jpeg, VariantKind.TextOverlay, i));
            }
        });
        for (var i = 0; i < count / 10; i++)
        {
            string[] lines = ["MENU", "", $"Americano {4000 + (i * 100)}", "Cafe latte 5,000", "Vanilla latte 5,500", $"Croissant {3000 + (i * 50)}", "Scone 3,800", "Cheesecake 6,500"];
            File.WriteAllBytes(Path.Combine(dir, $"m{i:D4}.jpg"), PhotoCorpus.RenderTextImage(lines, 600, 800));
        }

        var names = Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToArray();
        var files = names.Select(File.ReadAllBytes).ToArray();
        var cores = Environment.ProcessorCount;
        var config = new CurationOptions();
        var profile = LoadProfile(repoRoot, profileName);
        if (stageOnly)
        {
            try
            {
                WholeStage(files, modelsRoot, config, profileName, profile, outDir, Math.Max(1, runs));
            }
            finally
            {
                Directory.Delete(dir, true);
            }

            return;
        }

        var decoder = new ImageDecoder(config.MaxFileBytes, config.MaxPixels, config.AnalysisSize);
        using var plain = new ImageAnalyzer(new CurationOptions { Faces = { Enabled = false }, Text = { Enabled = false } }, modelsRoot);
        using var facesOnly = new ImageAnalyzer(new CurationOptions { Text = { Enabled = false } }, modelsRoot);
        var bySize = textSizes.Distinct().ToDictionary(s => s, s => new ImageAnalyzer(new CurationOptions { Text = { InputSize = s, ConfirmSize = 0 } }, modelsRoot));
        // The shipped settings: text at Curation:Text:InputSize, ratios near the profile's threshold measured again at ConfirmSize.
        using var shipped = new ImageAnalyzer(new CurationOptions(), modelsRoot);
        var shippedName = $"**after, shipped**: cheap-first with profile '{profileName}', text at {config.Text.InputSize}, near-threshold again at {config.Text.ConfirmSize}";
        try
        {
            double Time(Action<byte[]> work)
            {
                var sw = Stopwatch.StartNew();
                Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = cores }, work);
                return files.Length / sw.Elapsed.TotalSeconds;
            }

            // Verdicts: the reference is the old stage's work (every detector on every image, text at 640); each
            // faster configuration is judged against it on the same images.
            var reference = files.AsParallel().AsOrdered().WithDegreeOfParallelism(cores)
                .Select(b => Verdict(bySize[640].Analyze(b), profile)).ToArray();
            var agreement = new Dictionary<int, (int Same, int Skipped)>();
            foreach (var (size, analyzer) in bySize)
            {
                var fast = files.AsParallel().AsOrdered().WithDegreeOfParallelism(cores).Select(b => analyzer.Analyze(b, profile)).ToArray();
                agreement[size] = (fast.Select((a, i) => Verdict(a, profile) == reference[i]).Count(x => x), fast.Count(a => !a.Scores.ContainsKey("text_ratio")));
            }

            var shippedRun = files.AsParallel().AsOrdered().WithDegreeOfParallelism(cores).Select(b => shipped.Analyze(b, profile)).ToArray();
            agreement[0] = (shippedRun.Select((a, i) => Verdict(a, profile) == reference[i]).Count(x => x), shippedRun.Count(a => !a.Scores.ContainsKey("text_ratio")));
            var confirmed = shippedRun.Count(a => a.Scores.GetValueOrDefault("text_input_size") == config.Text.ConfirmSize);

            var results = new Dictionary<string, List<double>>();
            void Add(string name, double v) => (results.TryGetValue(name, out var l) ? l : results[name] = []).Add(v);
            Time(b => Hash(decoder, b));
            for (var r = 0; r < runs; r++)
            {
                Add("decode + pHash", Time(b => Hash(decoder, b)));
                Add("+ cheap heuristics (hashes, colour layout, pixel scores, saliency)", Time(b => plain.Analyze(b)));
                Add("+ BlazeFace", Time(b => facesOnly.Analyze(b)));
                Add("**before**: + PP-OCRv4 at 640 on every image (the old stage's work)", Time(b => bySize[640].Analyze(b)));
                foreach (var (size, analyzer) in bySize)
                {
                    Add($"**after**: cheap-first with profile '{profileName}', text at {size}", Time(b => analyzer.Analyze(b, profile)));
                }

                Add(shippedName, Time(b => shipped.Analyze(b, profile)));
            }

            Console.WriteLine($"\n## Curate-stage analysis speed: {files.Length} images ({photos.Count} photos 640x480, {files.Length - photos.Count} with text), {cores} cores, median of {runs} alternating runs\n");
            Console.WriteLine("| pipeline | images/s (median) | runs | verdict agreement with before |");
            Console.WriteLine("|---|---|---|---|");
            foreach (var (name, values) in runs == 0 ? [] : results)
            {
                var size = name == shippedName ? 0 : textSizes.FirstOrDefault(s => name.EndsWith($"text at {s}", StringComparison.Ordinal));
                var agree = name.StartsWith("**after", StringComparison.Ordinal) ? $"{agreement[size].Same} / {files.Length} = {(double)agreement[size].Same / files.Length:P1}" : "";
                Console.WriteLine($"| {name} | {Median(values):F1} | {string.Join(", ", values.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))} | {agree} |");
            }

            var refRatio = files.AsParallel().AsOrdered().WithDegreeOfParallelism(cores).Select(b => bySize[640].Analyze(b).Scores.GetValueOrDefault("text_ratio")).ToArray();
            var refHeavy = refRatio.Select(r => r > profile.MaxTextRatio).ToArray();
            var differ = new List<string>();
            Console.WriteLine($"\nText check ('{profileName}': text_ratio > {profile.MaxTextRatio}) per detector input size, against 640 ({refHeavy.Count(x => x)} images text-heavy at 640):\n");
            Console.WriteLine("| text input size | same text-heavy decision as 640 | same verdict as before | text detector skipped (verdict already decided) |");
            Console.WriteLine("|---|---|---|---|");
            foreach (var (size, analyzer) in bySize.OrderByDescending(kv => kv.Key))
            {
                var ratio = files.AsParallel().AsOrdered().WithDegreeOfParallelism(cores).Select(b => analyzer.Analyze(b).Scores.GetValueOrDefault("text_ratio")).ToArray();
                var heavy = ratio.Select(r => r > profile.MaxTextRatio).ToArray();
                differ.AddRange(Enumerable.Range(0, files.Length).Where(i => heavy[i] != refHeavy[i]).Select(i => $"{Path.GetFileName(names[i])} at {size}: {ratio[i]:F4} (640: {refRatio[i]:F4})"));
                var same = heavy.Zip(refHeavy).Count(x => x.First == x.Second);
                Console.WriteLine($"| {size} | {same} / {files.Length} = {(double)same / files.Length:P1} | {agreement[size].Same} / {files.Length} = {(double)agreement[size].Same / files.Length:P1} | {agreement[size].Skipped} |");
            }

            var shippedHeavy = shippedRun.Select(a => a.Scores.TryGetValue("text_ratio", out var t) ? t > profile.MaxTextRatio : (bool?)null).ToArray();
            var measured = shippedHeavy.Count(x => x is not null);
            var shippedSame = shippedHeavy.Zip(refHeavy).Count(x => x.First is not null && x.First == x.Second);
            Console.WriteLine($"| {config.Text.InputSize}, again at {config.Text.ConfirmSize} within {config.Text.ConfirmFactor}x of the threshold (shipped; {confirmed} images measured twice) | {shippedSame} / {measured} measured = {(double)shippedSame / Math.Max(1, measured):P1} | {agreement[0].Same} / {files.Length} = {(double)agreement[0].Same / files.Length:P1} | {agreement[0].Skipped} |");

            Console.WriteLine($"\nText-heavy decisions that differ from 640: {(differ.Count == 0 ? "none" : string.Join("; ", differ))}.");
            if (runs == 0)
            {
                return;
            }

            // The whole stage as it runs: blobs read back, analysis, verdicts, hashes and dedupe written to PostgreSQL.
            WholeStage(files, modelsRoot, config, profileName, profile, outDir, runs);
        }
        finally
        {
            foreach (var a in bySize.Values)
            {
                a.Dispose();
            }

            Directory.Delete(dir, true);
        }
    }

    /// <summary>The whole stage as it runs: blobs read back, analysis, verdicts, hashes and dedupe written to PostgreSQL.</summary>
    private static void WholeStage(byte[][] files, string modelsRoot, CurationOptions config, string profileName, CurationProfile profile, string outDir, int runs)
    {
        // Models are loaded and warmed before the clock starts (a worker loads them once); runs alternate.
        Console.WriteLine($"\nWhole curate stage (CurationService, embedded PostgreSQL, profile '{profileName}', batches of {config.ClaimBatch}, models warm), {files.Length} images, median of {runs} alternating runs:\n");
        Console.WriteLine("| text input size | passes side by side | images/s (median) | runs | accepted / rejected / duplicates |");
        Console.WriteLine("|---|---|---|---|---|");
        var stages = new (string Label, TextDetectorOptions Text, int Passes)[]
        {
            ("640 only", new TextDetectorOptions { InputSize = 640, ConfirmSize = 0 }, 1),
            ($"{config.Text.InputSize}, again at {config.Text.ConfirmSize} near the threshold", new TextDetectorOptions(), 1),
            ($"{config.Text.InputSize}, again at {config.Text.ConfirmSize} near the threshold (shipped)", new TextDetectorOptions(), config.Passes),
        };
        var stageRates = stages.Select(_ => new List<double>()).ToArray();
        var stageSummaries = new CurationBatchResult[stages.Length];
        for (var r = 0; r < runs; r++)
        {
            for (var s = 0; s < stages.Length; s++)
            {
                var (rate, summary) = StageAsync(files, modelsRoot, stages[s].Text, stages[s].Passes, profileName, profile, outDir).GetAwaiter().GetResult();
                stageRates[s].Add(rate);
                stageSummaries[s] = summary;
            }
        }

        for (var s = 0; s < stages.Length; s++)
        {
            var summary = stageSummaries[s];
            Console.WriteLine($"| {stages[s].Label} | {stages[s].Passes} | {Median(stageRates[s]):F1} | {string.Join(", ", stageRates[s].Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))} | {summary.Accepted} / {summary.Rejected} / {summary.Duplicates} |");
        }
    }

    private static async Task<(double Rate, CurationBatchResult Summary)> StageAsync(byte[][] files, string modelsRoot, TextDetectorOptions text, int passes, string profileName, CurationProfile profile, string outDir)
    {
        var fixture = new PostgresFixture();
        await fixture.InitializeAsync();
        var blobRoot = Path.Combine(outDir, "stage-blobs-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using var db = await fixture.CreateDatabaseAsync("stage");
            var blobs = new BlobStore(Options.Create(new StorageOptions { BlobRoot = blobRoot }));
            await using (var conn = await db.DataSource.OpenConnectionAsync())
            {
                for (var i = 0; i < files.Length; i++)
                {
                    var sha = await blobs.PutAsync(files[i], CancellationToken.None);
                    await using var cmd = new NpgsqlCommand("INSERT INTO images (sha256, byte_size, source_url, status) VALUES ($1, $2, $3, 'fetched') ON CONFLICT (sha256) DO NOTHING", conn);
                    cmd.Parameters.Add(new NpgsqlParameter { Value = sha });
                    cmd.Parameters.Add(new NpgsqlParameter { Value = (long)files[i].Length });
                    cmd.Parameters.Add(new NpgsqlParameter { Value = $"https://bench.test/{i}" });
                    await cmd.ExecuteNonQueryAsync();
                }
            }

            var options = new CurationOptions { Text = text, Passes = passes };
            options.Profiles[profileName] = profile;
            using var analyzer = new ImageAnalyzer(options, modelsRoot);
            foreach (var f in files.Where((_, i) => i % 30 == 0))
            {
                analyzer.Analyze(f);
            }

            var service = new CurationService(db, new CurateStore(db), blobs, new DuplicateGroups(blobs), analyzer, Options.Create(options), NullLogger<CurationService>.Instance);
            var sw = Stopwatch.StartNew();
            var summary = await service.RunUntilDoneAsync(options.ClaimBatch, profileName, CancellationToken.None);
            return (summary.Claimed / sw.Elapsed.TotalSeconds, summary);
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

    private static string Verdict(ImageAnalysis a, CurationProfile profile) =>
        a.Failure is not null ? "failed" : (a.Reasons ?? Verdicts.Evaluate(profile, a.Scores)).Count == 0 ? "accepted" : "rejected";

    private static ulong Hash(ImageDecoder decoder, byte[] bytes)
    {
        using var d = decoder.Decode(bytes);
        return PerceptualHash.PHash(d.Pixels);
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[(s.Count / 2) - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>The shipped profile from appsettings.json, so the benchmark judges with the thresholds users get.</summary>
    private static CurationProfile LoadProfile(string repoRoot, string name)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(repoRoot, "appsettings.json")));
        var section = json.RootElement.GetProperty("Curation").GetProperty("Profiles").GetProperty(name);
        return section.Deserialize<CurationProfile>() ?? throw new InvalidOperationException($"Curation:Profiles:{name} is missing from appsettings.json.");
    }
}

/// <summary>Does batching PP-OCRv4 runs pay on CPU? The same images, one per run against several per run, two workers.</summary>
internal static class TextBatching
{
    public static void Run(string modelsRoot, int count, int runs, int[] sizes, int[] batches)
    {
        var photos = PhotoCorpus.All().Where(p => !p.Flat).Take(count).ToList();
        var mats = new Mat[photos.Count];
        Parallel.For(0, photos.Count, i =>
        {
            using var src = Cv2.ImDecode(PhotoCorpus.RenderJpeg(photos[i], 1024), ImreadModes.Color);
            mats[i] = new Mat();
            Cv2.Resize(src, mats[i], new Size(640, 480), 0, 0, InterpolationFlags.Area);
        });
        var cores = Environment.ProcessorCount;
        var options = new CurationOptions();
        Console.WriteLine($"\n## PP-OCRv4 text detection, batched or not: {mats.Length} photos 640x480, {cores} workers, one intra-op thread each, median of {runs} alternating runs\n");
        Console.WriteLine("| input size | images per model run | images/s (median) | runs | same ratios as one per run |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var size in sizes)
        {
            using var detector = new Harvester.Curate.Detectors.TextDetector(Harvester.Curate.Detectors.OnnxModels.Resolve(modelsRoot, options.Text.Model), size, options.Text.PixelThreshold);
            var reference = mats.AsParallel().AsOrdered().WithDegreeOfParallelism(cores).Select(detector.TextRatio).ToArray();
            var results = batches.ToDictionary(b => b, _ => new List<double>());
            var same = new Dictionary<int, int>();
            foreach (var b in batches)
            {
                var chunks = mats.Chunk(b).ToArray();
                var got = chunks.AsParallel().AsOrdered().WithDegreeOfParallelism(cores).SelectMany(detector.TextRatios).ToArray();
                same[b] = got.Zip(reference).Count(x => Math.Abs(x.First - x.Second) < 1e-4);
            }

            for (var r = 0; r < runs; r++)
            {
                foreach (var b in batches)
                {
                    var chunks = mats.Chunk(b).ToArray();
                    var sw = Stopwatch.StartNew();
                    Parallel.ForEach(chunks, new ParallelOptions { MaxDegreeOfParallelism = cores }, c => detector.TextRatios(c));
                    results[b].Add(mats.Length / sw.Elapsed.TotalSeconds);
                }
            }

            foreach (var b in batches)
            {
                var v = results[b].Order().ToList();
                Console.WriteLine($"| {size} | {b} | {v[v.Count / 2]:F1} | {string.Join(", ", results[b].Select(x => x.ToString("F1", CultureInfo.InvariantCulture)))} | {same[b]} / {mats.Length} |");
            }
        }

        foreach (var m in mats)
        {
            m.Dispose();
        }
    }
}
