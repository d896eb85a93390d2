using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Harvester.Curate;
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
    public static void Run(string outDir, string repoRoot, string modelsRoot, int count, int runs, int[] textSizes, string profileName)
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

        var files = Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();
        var cores = Environment.ProcessorCount;
        var config = new CurationOptions();
        var profile = LoadProfile(repoRoot, profileName);
        var decoder = new ImageDecoder(config.MaxFileBytes, config.MaxPixels, config.AnalysisSize);
        using var plain = new ImageAnalyzer(new CurationOptions { Faces = { Enabled = false }, Text = { Enabled = false } }, modelsRoot);
        using var facesOnly = new ImageAnalyzer(new CurationOptions { Text = { Enabled = false } }, modelsRoot);
        var bySize = textSizes.Distinct().ToDictionary(s => s, s => new ImageAnalyzer(new CurationOptions { Text = { InputSize = s } }, modelsRoot));
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
            }

            Console.WriteLine($"\n## Curate-stage analysis speed: {files.Length} images ({photos.Count} photos 640x480, {files.Length - photos.Count} with text), {cores} cores, median of {runs} alternating runs\n");
            Console.WriteLine("| pipeline | images/s (median) | runs | verdict agreement with before |");
            Console.WriteLine("|---|---|---|---|");
            foreach (var (name, values) in results)
            {
                var size = textSizes.FirstOrDefault(s => name.EndsWith($"text at {s}", StringComparison.Ordinal));
                var agree = name.StartsWith("**after**", StringComparison.Ordinal) ? $"{agreement[size].Same} / {files.Length} = {(double)agreement[size].Same / files.Length:P1}" : "";
                Console.WriteLine($"| {name} | {Median(values):F1} | {string.Join(", ", values.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))} | {agree} |");
            }

            var refHeavy = files.AsParallel().AsOrdered().WithDegreeOfParallelism(cores).Select(b => bySize[640].Analyze(b).Scores.GetValueOrDefault("text_ratio") > profile.MaxTextRatio).ToArray();
            Console.WriteLine($"\nText check ('{profileName}': text_ratio > {profile.MaxTextRatio}) per detector input size, against 640 ({refHeavy.Count(x => x)} images text-heavy at 640):\n");
            Console.WriteLine("| text input size | same text-heavy decision as 640 | same verdict as before | text detector skipped (verdict already decided) |");
            Console.WriteLine("|---|---|---|---|");
            foreach (var (size, analyzer) in bySize.OrderByDescending(kv => kv.Key))
            {
                var heavy = files.AsParallel().AsOrdered().WithDegreeOfParallelism(cores).Select(b => analyzer.Analyze(b).Scores.GetValueOrDefault("text_ratio") > profile.MaxTextRatio).ToArray();
                var same = heavy.Zip(refHeavy).Count(x => x.First == x.Second);
                Console.WriteLine($"| {size} | {same} / {files.Length} = {(double)same / files.Length:P1} | {agreement[size].Same} / {files.Length} = {(double)agreement[size].Same / files.Length:P1} | {agreement[size].Skipped} |");
            }
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
