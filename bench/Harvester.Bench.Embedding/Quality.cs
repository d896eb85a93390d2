using System.Globalization;
using System.Numerics.Tensors;
using Harvester.Cluster;
using Harvester.Curate;
using Harvester.DemoSite.Corpus;
using Harvester.Embed;
using Harvester.Imaging;
using Harvester.Imaging.Rendering;
using OpenCvSharp;

/// <summary>
/// Quality benchmarks of the embedding models on the photo corpus: near-copies (per transform: hash alone, embedding
/// alone, combined) and content (nearest-neighbour precision and k-means ARI against source-photo labels).
/// Thresholds are chosen on the tuning half of the sources and reported on the held-out half.
/// </summary>
internal static class Quality
{
    /// <summary>The curate stage's default pHash radius (Curation:HammingRadius).</summary>
    private const int HashRadius = 6;

    internal enum Copy
    {
        JpegQuality,
        Resize,
        Brightness,
        Contrast,
        Crop,
        TextOverlay,
        Mirror,
        HeavyCrop,
    }

    internal sealed record Item(CorpusPhoto Photo, string Source, bool Tuning, byte[] Jpeg);

    /// <summary>
    /// The corpus's distinct photos, labelled by source file. Sources alternate between the tuning and the held-out
    /// half in the lock file's order, so both halves hold landscapes, textures and objects from both packages.
    /// </summary>
    public static List<Item> Photos(int max)
    {
        var sources = PhotoCorpus.Sources.Select(s => s.Path).ToList();
        return [.. PhotoCorpus.Distinct(max).Select(p =>
        {
            var index = sources.IndexOf(p.SourcePath);
            return new Item(p, Path.GetFileNameWithoutExtension(p.SourcePath), index % 2 == 0, PhotoCorpus.RenderJpeg(p, 640));
        })];
    }

    public static byte[] Transform(byte[] jpeg, Copy kind, int seed)
    {
        switch (kind)
        {
            case Copy.Mirror:
            {
                using var m = Cv2.ImDecode(jpeg, ImreadModes.Color);
                using var flipped = new Mat();
                Cv2.Flip(m, flipped, FlipMode.Y);
                return flipped.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
            }

            case Copy.HeavyCrop:
            {
                // 20-35 % of each dimension removed, off centre: what a re-framed repost keeps.
                using var m = Cv2.ImDecode(jpeg, ImreadModes.Color);
                var r = new Random(seed * 7919 + 17);
                var keepW = 1 - (0.20 + (r.NextDouble() * 0.15));
                var keepH = 1 - (0.20 + (r.NextDouble() * 0.15));
                var w = (int)(m.Width * keepW);
                var h = (int)(m.Height * keepH);
                var x = r.Next(0, m.Width - w + 1);
                var y = r.Next(0, m.Height - h + 1);
                using var crop = new Mat(m, new Rect(x, y, w, h));
                return crop.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
            }

            default:
                return PhotoCorpus.Variant(jpeg, Enum.Parse<VariantKind>(kind.ToString()), seed);
        }
    }

    public static void Copies(Dictionary<string, Embedder> models, int max)
    {
        var items = Photos(max);
        Console.WriteLine($"\n== Copies: {items.Count} distinct corpus photos (JPEG, long side 640), one copy per photo and transform; " +
                          $"tuning half {items.Count(i => i.Tuning)} photos ({items.Where(i => i.Tuning).Select(i => i.Source).Distinct().Count()} sources), " +
                          $"held-out half {items.Count(i => !i.Tuning)} ({items.Where(i => !i.Tuning).Select(i => i.Source).Distinct().Count()} sources) ==");
        var o = new CurationOptions();
        var decoder = new ImageDecoder(o.MaxFileBytes, o.MaxPixels, o.AnalysisSize);
        ulong Hash(byte[] b)
        {
            using var d = decoder.Decode(b);
            return PerceptualHash.PHash(d.Pixels);
        }

        var kinds = Enum.GetValues<Copy>();
        var copies = kinds.ToDictionary(k => k, k => items.Select((it, i) => Transform(it.Jpeg, k, i)).ToArray());
        var originalHashes = items.Select(i => Hash(i.Jpeg)).ToArray();
        var copyHashes = kinds.ToDictionary(k => k, k => copies[k].Select(Hash).ToArray());
        // The near-copy pass's own path: the same decode and thumbnail (CopyVerifier.Thumbnail of the bytes).
        static Mat Thumb(byte[] b) => CopyVerifier.Thumbnail(b);

        var originalThumbs = items.Select(i => Thumb(i.Jpeg)).ToArray();
        var copyThumbs = kinds.ToDictionary(k => k, k => copies[k].Select(Thumb).ToArray());
        const int K = 5;
        double[] candidateCosines = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9];
        double[] verifyScores = [.. Enumerable.Range(0, 20).Select(i => 0.4 + (i * 0.03))];

        foreach (var (name, embedder) in models)
        {
            var originals = Embed(embedder, [.. items.Select(i => i.Jpeg)]);
            var copyVectors = kinds.ToDictionary(k => k, k => Embed(embedder, copies[k]));

            // Every (item, item) pair among originals and one transform's copies: positives are a photo and its copy;
            // negatives every pair of different photos (neighbouring tiles of one source included: they are distinct
            // photos). The embedding proposes each image's K nearest (as curation's k-NN query does); the verifier
            // scores only those pairs.
            List<Pair> Pairs(Copy kind)
            {
                var n = items.Count;
                float[] V(int i) => i < n ? originals[i] : copyVectors[kind][i - n];
                var candidates = new HashSet<(int, int)>();
                for (var a = 0; a < 2 * n; a++)
                {
                    var half = items[a % n].Tuning;
                    foreach (var b in Enumerable.Range(0, 2 * n).Where(b => b != a && items[b % n].Tuning == half)
                                 .OrderByDescending(b => TensorPrimitives.Dot(V(a), V(b))).Take(K))
                    {
                        candidates.Add((Math.Min(a, b), Math.Max(a, b)));
                    }
                }

                var pairs = new List<Pair>(n * n * 2);
                for (var a = 0; a < 2 * n; a++)
                {
                    for (var b = a + 1; b < 2 * n; b++)
                    {
                        int pa = a % n, pb = b % n;
                        var positive = pa == pb;
                        if (items[pa].Tuning != items[pb].Tuning || (!positive && a >= n && b >= n))
                        {
                            continue; // pairs stay inside one half; copy-copy pairs of different photos repeat the originals' pairs
                        }

                        var ha = a < n ? originalHashes[a] : copyHashes[kind][a - n];
                        var hb = b < n ? originalHashes[b] : copyHashes[kind][b - n];
                        double? verified = null;
                        if (candidates.Contains((a, b)))
                        {
                            verified = CopyVerifier.Score(a < n ? originalThumbs[a] : copyThumbs[kind][a - n], b < n ? originalThumbs[b] : copyThumbs[kind][b - n]);
                        }

                        pairs.Add(new Pair(positive, items[pa].Tuning, PerceptualHash.Hamming(ha, hb), TensorPrimitives.Dot(V(a), V(b)), verified));
                    }
                }

                return pairs;
            }

            var all = kinds.ToDictionary(k => k, Pairs);
            // Thresholds on the tuning half over the copy kinds curation must catch (heavy crops reported, not tuned for).
            var tuning = kinds.Where(k => k != Copy.HeavyCrop).SelectMany(k => all[k]).Where(p => p.Tuning).ToList();
            var alone = Lowest([.. tuning.Select(p => (p.Positive, p.Cosine))], 0.98);
            var export = Lowest([.. tuning.Select(p => (p.Positive, p.Cosine))], 0.90);
            var (candidate, verify, tunedRecall) = (0.0, 0.0, -1.0);
            foreach (var c in candidateCosines)
            {
                foreach (var v in verifyScores)
                {
                    var (precision, recall) = Rates(tuning, p => p.Hamming <= HashRadius || p.Confirmed(c, v));
                    if (precision >= 0.99 && recall > tunedRecall)
                    {
                        (candidate, verify, tunedRecall) = (c, v, recall);
                    }
                }
            }

            Console.WriteLine($"\n-- {name}, thresholds chosen on the tuning half:");
            Console.WriteLine($"   embedding alone: cosine >= {alone:F3} (lowest with precision >= 0.98); export near-duplicate cosine {export:F3} (lowest with precision >= 0.90)");
            Console.WriteLine($"   embedding + pixel check: among each image's {K} nearest, cosine >= {candidate:F2} and CopyVerifier score >= {verify:F2} (best recall at precision >= 0.99 with the hash: {tunedRecall:F3})");
            Console.WriteLine("held-out half, precision / recall; hash = pHash Hamming <= 6 (curation's default); combined = hash or (embedding + pixel check)");
            Console.WriteLine($"{"transform",-13} {"pos",4} {"neg",6} {"hash",13} {"emb. alone",13} {"emb.+pixels",13} {"combined",13}");
            var heldOut = new List<Pair>();
            void Row(string label, List<Pair> test) =>
                Console.WriteLine($"{label,-13} {test.Count(p => p.Positive),4} {test.Count(p => !p.Positive),6} " +
                                  $"{Score(test, p => p.Hamming <= HashRadius),13} {Score(test, p => p.Cosine >= alone),13} " +
                                  $"{Score(test, p => p.Confirmed(candidate, verify)),13} {Score(test, p => p.Hamming <= HashRadius || p.Confirmed(candidate, verify)),13}");
            foreach (var k in kinds)
            {
                var test = all[k].Where(p => !p.Tuning).ToList();
                heldOut.AddRange(k == Copy.HeavyCrop ? [] : test);
                Row(k.ToString(), test);
            }

            Row("all but heavy", heldOut);
            var hardest = heldOut.Where(p => !p.Positive).Max(p => p.Cosine);
            var weakest = heldOut.Where(p => p.Positive).Min(p => p.Cosine);
            Console.WriteLine($"held-out: closest distinct pair cosine {hardest:F4}; farthest copy pair cosine {weakest:F4}; verified pairs {heldOut.Count(p => p.Verified is not null)}");
            var verified = tuning.Where(p => p.Verified is not null).ToList();
            Console.WriteLine("tuning half, pixel scores of verified candidates: copies p5/p50 " +
                $"{Quantile(verified.Where(p => p.Positive).Select(p => p.Verified!.Value), 0.05):F3}/{Quantile(verified.Where(p => p.Positive).Select(p => p.Verified!.Value), 0.5):F3}, " +
                $"distinct photos p50/p99/max {Quantile(verified.Where(p => !p.Positive).Select(p => p.Verified!.Value), 0.5):F3}/{Quantile(verified.Where(p => !p.Positive).Select(p => p.Verified!.Value), 0.99):F3}/{verified.Where(p => !p.Positive).Select(p => p.Verified!.Value).DefaultIfEmpty().Max():F3}");
        }
    }

    private static double Quantile(IEnumerable<double> values, double q)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(q * sorted.Count))];
    }

    internal sealed record Pair(bool Positive, bool Tuning, int Hamming, float Cosine, double? Verified)
    {
        public bool Confirmed(double candidate, double verify) => Cosine >= candidate && Verified >= verify;
    }

    private static (double Precision, double Recall) Rates(List<Pair> pairs, Func<Pair, bool> predicted)
    {
        int tp = 0, fp = 0, fn = 0;
        foreach (var p in pairs)
        {
            var yes = predicted(p);
            tp += p.Positive && yes ? 1 : 0;
            fp += !p.Positive && yes ? 1 : 0;
            fn += p.Positive && !yes ? 1 : 0;
        }

        return (tp + fp == 0 ? 1.0 : (double)tp / (tp + fp), tp + fn == 0 ? 1.0 : (double)tp / (tp + fn));
    }

    /// <summary>The lowest threshold (a value seen in the data) at which predicting "positive" for value >= it keeps precision >= target.</summary>
    private static double Lowest(List<(bool Positive, float Value)> pairs, double target)
    {
        var sorted = pairs.OrderByDescending(p => p.Value).ToList();
        int tp = 0, fp = 0;
        var best = (double)sorted[0].Value;
        foreach (var (positive, v) in sorted)
        {
            tp += positive ? 1 : 0;
            fp += positive ? 0 : 1;
            if ((double)tp / (tp + fp) >= target)
            {
                best = v;
            }
        }

        return best;
    }

    private static string Score(List<Pair> pairs, Func<Pair, bool> predicted)
    {
        var (precision, recall) = Rates(pairs, predicted);
        return string.Create(CultureInfo.InvariantCulture, $"{precision:F3} / {recall:F3}");
    }

    public static void Content(Dictionary<string, Embedder> models, int max, string resultsDir)
    {
        var items = Photos(max);
        var labels = items.Select(i => i.Source).ToArray();
        var sources = labels.Distinct().ToList();
        var withSibling = Enumerable.Range(0, items.Count).Where(i => labels.Count(l => l == labels[i]) > 1).ToList();
        Console.WriteLine($"\n== Content: {items.Count} distinct corpus photos from {sources.Count} source files; {withSibling.Count} have another tile of their source ==");
        Console.WriteLine($"{"model",-20} {"P@5 (same source)",18} {"P@1",6} {"k-means ARI (k=" + sources.Count + ", 5 seeds: median)",36} {"same-source cosine >= (P 0.9, tuning)",38}");
        foreach (var (name, embedder) in models)
        {
            var v = Embed(embedder, [.. items.Select(i => i.Jpeg)]);
            double p5 = 0, p1 = 0;
            var neighbours = new Dictionary<int, int[]>();
            foreach (var i in withSibling)
            {
                var nn = Enumerable.Range(0, items.Count).Where(j => j != i).OrderByDescending(j => TensorPrimitives.Dot(v[i], v[j])).ThenBy(j => j).Take(5).ToArray();
                neighbours[i] = nn;
                var siblings = labels.Count(l => l == labels[i]) - 1;
                p5 += (double)nn.Count(j => labels[j] == labels[i]) / Math.Min(5, siblings);
                p1 += labels[nn[0]] == labels[i] ? 1 : 0;
            }

            p5 /= withSibling.Count;
            p1 /= withSibling.Count;
            var matrix = VectorMatrix.FromRows(v);
            var aris = Enumerable.Range(0, 5).Select(seed => Ari(labels, KMeans.Fit(matrix, new KMeansSettings { K = sources.Count, Seed = seed, MaxIterations = 300 }).Labels)).Order().ToList();

            // Similarity groups: the lowest cosine at which "same source" holds for >= 90 % of the pairs above it (tuning half).
            var pairs = new List<(bool, float)>();
            for (var a = 0; a < items.Count; a++)
            {
                for (var b = a + 1; b < items.Count; b++)
                {
                    if (items[a].Tuning && items[b].Tuning)
                    {
                        pairs.Add((labels[a] == labels[b], TensorPrimitives.Dot(v[a], v[b])));
                    }
                }
            }

            var group = Lowest(pairs, 0.90);
            Console.WriteLine($"{name,-20} {p5,18:F3} {p1,6:F3} {aris[2],36:F3} {group,38:F3}");

            // A contact sheet of a few queries: the first photo of every fifth source with siblings, and its 5 nearest.
            var queries = withSibling.GroupBy(i => labels[i]).Where((_, g) => g % 5 == 0).Select(g => g.First()).Take(4).ToList();
            var tiles = new List<(byte[] Image, string Caption)>();
            foreach (var q in queries)
            {
                tiles.Add((items[q].Jpeg, $"query {items[q].Photo.Id}"));
                foreach (var j in neighbours[q])
                {
                    var same = labels[j] == labels[q] ? "same source" : labels[j];
                    tiles.Add((items[j].Jpeg, string.Create(CultureInfo.InvariantCulture, $"{TensorPrimitives.Dot(v[q], v[j]):F3} {same}")));
                }
            }

            Directory.CreateDirectory(resultsDir);
            var sheet = Path.Combine(resultsDir, $"embedding-content-{name}.png");
            File.WriteAllBytes(sheet, ContactSheet.Render(tiles, columns: 6, tileSize: 160, title: $"{name}: 4 queries (left) and their 5 nearest corpus photos (cosine)"));
            Console.WriteLine($"  contact sheet: {sheet}");
        }
    }

    private static float[][] Embed(Embedder embedder, byte[][] images)
    {
        var result = new float[images.Length][];
        for (var s = 0; s < images.Length; s += 32)
        {
            var chunk = images.Skip(s).Take(32).Select(b => (ReadOnlyMemory<byte>)b).ToList();
            embedder.Embed(chunk, CancellationToken.None).CopyTo(result, s);
        }

        return result;
    }

    /// <summary>Adjusted Rand index of two labelings.</summary>
    private static double Ari(string[] truth, int[] predicted)
    {
        static double C2(double n) => n * (n - 1) / 2;
        var n = truth.Length;
        var table = new Dictionary<(string, int), int>();
        for (var i = 0; i < n; i++)
        {
            table[(truth[i], predicted[i])] = table.GetValueOrDefault((truth[i], predicted[i])) + 1;
        }

        var sumCells = table.Values.Sum(c => C2(c));
        var sumTruth = truth.GroupBy(t => t).Sum(g => C2(g.Count()));
        var sumPred = predicted.GroupBy(p => p).Sum(g => C2(g.Count()));
        var expected = sumTruth * sumPred / C2(n);
        var max = (sumTruth + sumPred) / 2;
        return (sumCells - expected) / (max - expected);
    }
}
