using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OpenCvSharp;
using OpenCvSharp.ImgHash;

namespace Harvester.DemoSite.Corpus;

/// <summary>A region of a real photograph on disk: the whole file, or one cell of a non-overlapping grid over it.</summary>
public sealed record CorpusPhoto(string Id, string SourcePath, int X, int Y, int Width, int Height)
{
    /// <summary>The Debian package the source file comes from.</summary>
    public string Package { get; init; } = "";

    /// <summary>Near-uniform (grey standard deviation below 6): sky, bokeh, a wall.</summary>
    public bool Flat { get; init; }

    /// <summary>Not flat, and not close to a photo taken before it: in <see cref="PhotoCorpus.Distinct"/> (and, when sharp enough, in <see cref="PhotoCorpus.Showcase"/>).</summary>
    public bool InDemo { get; init; }

    /// <summary>Cut from a file scripts/corpus.lock marks 'demo-only': shown by the demo site, never in <see cref="PhotoCorpus.All"/> or <see cref="PhotoCorpus.Distinct"/>.</summary>
    public bool DemoOnly { get; init; }

    /// <summary>
    /// Variance of the Laplacian as curation measures it (<see cref="Imaging.PixelMeasures.Sharpness"/>): macro shots and
    /// bokeh cut into tiles give many soft ones, which the demo site shows only now and then (<see cref="PhotoCorpus.Showcase"/>).
    /// </summary>
    public double Sharpness { get; init; }
}

/// <summary>How <see cref="PhotoCorpus.Variant"/> derives a copy of a photo.</summary>
public enum VariantKind
{
    JpegQuality,
    Resize,
    Crop,
    Brightness,
    Contrast,
    TextOverlay,
    Png,
    WebP,
}

/// <summary>One file the corpus is cut from, as scripts/corpus.lock records it.</summary>
public sealed record CorpusSource(string Package, string Path, string Sha256)
{
    public CorpusCut Cut { get; init; } = CorpusCut.Default;

    /// <summary>
    /// Photos for the demo site only (the lock's 'demo-only' column): added so the demo has enough sharp photos to show,
    /// kept out of the benchmark and test sets so their recorded figures stay comparable.
    /// </summary>
    public bool DemoOnly { get; init; }
}

/// <summary>
/// Real photographs from Debian packages the setup step installs or extracts, exactly the files scripts/corpus.lock
/// lists, cut into photos: small files whole, large files as a non-overlapping grid of tiles (the lock can say
/// otherwise per file). Two views:
/// <list type="bullet">
/// <item><see cref="All"/>: every photo, hard cases kept: neighbouring tiles of one picture, low-detail and flat tiles.
/// What benchmarks use: real crawls are full of similar-but-distinct photos, and leaving them out inflates precision.</item>
/// <item><see cref="Distinct"/>: a curated subset: flat tiles and tiles perceptually close to one taken before are left
/// out, so every photo is a different picture. What tests take when they need a few different photos.</item>
/// <item><see cref="Showcase"/>: what the demo site shows: the same filter over every source, demo-only files included,
/// and out-of-focus tiles (a curator would never keep them) left out but for one in <see cref="SoftTileEvery"/>, so
/// the demo still has blurry photos to reject.</item>
/// </list>
/// Nothing is taken because it happens to be on the machine: a listed file that is missing or differs is an error, so
/// the same checkout gives the same corpus everywhere.
/// </summary>
public static class PhotoCorpus
{
    /// <summary>Tile size cut from large photos: 4:3, large enough to pass the usual minimum-size heuristics.</summary>
    public const int TileWidth = 352;
    public const int TileHeight = 264;

    private const int Version = 3;

    /// <summary>Variance of the Laplacian under which a tile counts as out of focus for <see cref="Showcase"/> (the default profile's blurry threshold).</summary>
    public const double ShowcaseMinSharpness = 40;

    /// <summary>One out-of-focus tile in this many stays in <see cref="Showcase"/>.</summary>
    public const int SoftTileEvery = 8;
    private const double MinTileStdDev = 6.0;
    private const int MinPerceptualDistance = 10;

    private static readonly Lazy<CorpusLock> LockFile = new(CorpusLock.LoadEmbedded, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<IReadOnlyList<string>> VerifiedSources = new(VerifySources, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<IReadOnlyList<CorpusPhoto>> Everything = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<IReadOnlyList<CorpusPhoto>> Benchmark = new(() => Interleave(Everything.Value.Where(p => !p.DemoOnly)), LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<IReadOnlyList<CorpusPhoto>> DistinctSubset = new(() => Interleave(Everything.Value.Where(p => p.InDemo && !p.DemoOnly)), LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<IReadOnlyList<CorpusPhoto>> ShowcaseSubset = new(BuildShowcase, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lock RenderLock = new();

    /// <summary>The files scripts/corpus.lock lists, in its order.</summary>
    public static IReadOnlyList<CorpusSource> Sources => LockFile.Value.Sources;

    /// <summary>The fingerprint scripts/corpus.lock records for the corpus built from its sources.</summary>
    public static CorpusFingerprint RecordedFingerprint => LockFile.Value.Fingerprint;

    /// <summary>The fingerprint of the corpus as built on this machine: every photo's id in order (<see cref="All"/>, then the demo-only photos), marked when not flat or close to another.</summary>
    public static CorpusFingerprint Fingerprint => CorpusFingerprint.Of(Everything.Value);

    /// <summary>
    /// The listed photo files, sorted by path, each checked against its recorded SHA-256. Throws
    /// <see cref="Core.HarvesterException"/> naming the first missing or different file and the package it comes from.
    /// </summary>
    public static IReadOnlyList<string> FindSourcePhotos() => VerifiedSources.Value;

    private static IReadOnlyList<string> VerifySources()
    {
        foreach (var source in Sources)
        {
            if (!File.Exists(source.Path))
            {
                throw new Core.HarvesterException(
                    $"Photo corpus source {source.Path} is missing: install Debian's {source.Package} ('./harvester setup' does); scripts/corpus.lock lists it.");
            }

            using var stream = File.OpenRead(source.Path);
            var actual = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (!string.Equals(actual, source.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new Core.HarvesterException(
                    $"Photo corpus source {source.Path} has SHA-256 {actual}, not the {source.Sha256} scripts/corpus.lock records: " +
                    $"this machine has another version of Debian's {source.Package}.");
            }
        }

        return [.. Sources.Select(s => s.Path).Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Different pictures (no flat tile, none perceptually close to one before it), in a deterministic order that
    /// alternates between source files (so any prefix is varied), each with a stable id: "&lt;stem&gt;" for a whole
    /// file, "&lt;stem&gt;-r&lt;row&gt;c&lt;col&gt;" for a tile. Curated: benchmarks use <see cref="All"/>.
    /// </summary>
    public static IReadOnlyList<CorpusPhoto> Distinct(int max = int.MaxValue) => Prefix(DistinctSubset.Value, max);

    /// <summary>
    /// What the demo site shows: <see cref="Distinct"/>'s filter over every source (demo-only files too), in the same
    /// alternating order, without the out-of-focus tiles (sharpness under <see cref="ShowcaseMinSharpness"/>) but for
    /// one in <see cref="SoftTileEvery"/>: macro and bokeh wallpapers cut into tiles are mostly soft, far more so than
    /// the photos people upload, and a demo of them would be a demo of the blurry check.
    /// </summary>
    public static IReadOnlyList<CorpusPhoto> Showcase(int max = int.MaxValue) => Prefix(ShowcaseSubset.Value, max);

    /// <summary>
    /// Every photo of the corpus but the demo-only ones, none filtered out (flat and perceptually close tiles
    /// included, flagged), in the same alternating order: the benchmark set, with the hard cases a real crawl has.
    /// </summary>
    public static IReadOnlyList<CorpusPhoto> All() => Benchmark.Value;

    private static IReadOnlyList<CorpusPhoto> Prefix(IReadOnlyList<CorpusPhoto> photos, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        return max >= photos.Count ? photos : [.. photos.Take(max)];
    }

    private static List<CorpusPhoto> BuildShowcase()
    {
        var soft = 0;
        return Interleave(Everything.Value.Where(p => p.InDemo && (p.Sharpness >= ShowcaseMinSharpness || soft++ % SoftTileEvery == 0)));
    }

    /// <summary>The photo as a baseline JPEG, long side at most <paramref name="maxSide"/>; cached on disk.</summary>
    public static byte[] RenderJpeg(CorpusPhoto photo, int maxSide = 1024, int quality = 90)
    {
        ArgumentNullException.ThrowIfNull(photo);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSide, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);

        var cached = CachePath(photo, maxSide, quality);
        if (TryRead(cached) is { } hit)
        {
            return hit;
        }

        // Decoding a large source dominates; render every corpus photo cut from it while it is in memory.
        lock (RenderLock)
        {
            if (TryRead(cached) is { } raced)
            {
                return raced;
            }

            using var source = ReadSource(photo.SourcePath);
            byte[]? result = null;
            foreach (var sibling in Everything.Value.Where(p => p.SourcePath == photo.SourcePath).Append(photo).DistinctBy(p => p.Id))
            {
                var bytes = EncodeRegion(source, sibling, maxSide, quality);
                WriteAtomically(CachePath(sibling, maxSide, quality), bytes);
                if (sibling.Id == photo.Id)
                {
                    result = bytes;
                }
            }

            return result!;
        }
    }

    /// <summary>A transformed copy of an encoded image; the same (bytes, kind, seed) always gives the same bytes.</summary>
    public static byte[] Variant(byte[] encoded, VariantKind kind, int seed)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        using var image = Cv2.ImDecode(encoded, ImreadModes.Color);
        if (image.Empty())
        {
            throw new ArgumentException("The bytes are not a decodable image.", nameof(encoded));
        }

        var random = new Random(StableHash($"variant:{seed}:{(int)kind}"));
        switch (kind)
        {
            case VariantKind.JpegQuality:
                return EncodeJpeg(image, random.Next(30, 91));
            case VariantKind.Resize:
            {
                // 25-200%, never so close to 100% that the copy is the same size.
                var scale = random.NextDouble() < 0.5 ? 0.25 + (random.NextDouble() * 0.6) : 1.15 + (random.NextDouble() * 0.85);
                var size = new Size(Math.Max(8, (int)Math.Round(image.Width * scale)), Math.Max(8, (int)Math.Round(image.Height * scale)));
                using var resized = new Mat();
                Cv2.Resize(image, resized, size, 0, 0, scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Cubic);
                return EncodeJpeg(resized, 90);
            }

            case VariantKind.Crop:
            {
                var left = (int)(image.Width * (0.02 + (random.NextDouble() * 0.08)));
                var top = (int)(image.Height * (0.02 + (random.NextDouble() * 0.08)));
                var right = (int)(image.Width * random.NextDouble() * 0.05);
                var bottom = (int)(image.Height * random.NextDouble() * 0.05);
                using var cropped = new Mat(image, new Rect(left, top, image.Width - left - right, image.Height - top - bottom));
                return EncodeJpeg(cropped, 90);
            }

            case VariantKind.Brightness:
            {
                var delta = (random.NextDouble() < 0.5 ? -1 : 1) * (0.08 + (random.NextDouble() * 0.12)) * 255;
                using var adjusted = new Mat();
                image.ConvertTo(adjusted, MatType.CV_8UC3, 1.0, delta);
                return EncodeJpeg(adjusted, 90);
            }

            case VariantKind.Contrast:
            {
                var gain = 1 + ((random.NextDouble() < 0.5 ? -1 : 1) * (0.08 + (random.NextDouble() * 0.12)));
                var mean = Cv2.Mean(image);
                var pivot = (mean.Val0 + mean.Val1 + mean.Val2) / 3;
                using var adjusted = new Mat();
                image.ConvertTo(adjusted, MatType.CV_8UC3, gain, pivot * (1 - gain));
                return EncodeJpeg(adjusted, 90);
            }

            case VariantKind.TextOverlay:
            {
                using var marked = image.Clone();
                DrawWatermark(marked, random);
                return EncodeJpeg(marked, 90);
            }

            case VariantKind.Png:
                return image.ImEncode(".png", new ImageEncodingParam(ImwriteFlags.PngCompression, 6));
            case VariantKind.WebP:
                return image.ImEncode(".webp", new ImageEncodingParam(ImwriteFlags.WebPQuality, random.Next(60, 91)));
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown variant kind.");
        }
    }

    /// <summary>A photo-free, text-heavy image (a menu board or receipt) as JPEG: lines of text on a paper background.</summary>
    public static byte[] RenderTextImage(string[] lines, int w, int h)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentOutOfRangeException.ThrowIfLessThan(w, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(h, 64);

        var seed = 17;
        foreach (var line in lines)
        {
            seed = StableHash($"{seed}:{line}");
        }

        var random = new Random(seed);
        var paper = new Scalar(225 + random.Next(25), 225 + random.Next(25), 225 + random.Next(25));
        using var image = new Mat(h, w, MatType.CV_8UC3, paper);
        var ink = new Scalar(random.Next(60), random.Next(60), random.Next(60));
        var usable = Math.Max(1, lines.Length);
        var lineHeight = Math.Clamp((h - 40) / usable, 14, 60);
        var scale = lineHeight / 34.0;
        var thickness = Math.Max(1, (int)Math.Round(scale * 1.6));
        var y = 20 + lineHeight;
        foreach (var line in lines)
        {
            if (y > h - 10)
            {
                break;
            }

            // OpenCvSharp rejects an empty string; a blank line is only vertical space.
            if (line.Length > 0)
            {
                Cv2.PutText(image, Ascii(line), new Point(18, y - (lineHeight / 4)), HersheyFonts.HersheySimplex, scale, ink, thickness, LineTypes.AntiAlias);
            }

            y += lineHeight;
        }

        // A little sensor noise so the image is not a flat synthetic graphic once re-encoded.
        // Seeded from the text (OpenCV's own RNG is process-global), so the same lines give the same bytes; a small
        // grain tile repeated over the page keeps rendering cheap.
        const int grainSide = 128;
        var grain = new byte[grainSide * grainSide * 3];
        random.NextBytes(grain);
        using var flat = new Mat(grainSide, grainSide * 3, MatType.CV_8UC1);
        flat.SetArray(grain);
        using var tile = flat.Reshape(3);
        using var scaledTile = new Mat();
        tile.ConvertTo(scaledTile, MatType.CV_8UC3, 9.0 / 255);
        using var noise = new Mat();
        Cv2.Repeat(scaledTile, (h / grainSide) + 1, (w / grainSide) + 1, noise);
        using var cropped = new Mat(noise, new Rect(0, 0, w, h));
        Cv2.Add(image, cropped, image);
        Cv2.Subtract(image, new Scalar(4, 4, 4), image);
        return EncodeJpeg(image, 88);
    }

    private static IReadOnlyList<CorpusPhoto> Build()
    {
        var sources = FindSourcePhotos();
        var manifest = ManifestPath(sources);
        if (TryReadManifest(manifest, sources) is { } cached)
        {
            return cached;
        }

        var bySource = Sources.ToDictionary(s => s.Path, StringComparer.Ordinal);
        var perSource = new List<List<CorpusPhoto>>();
        // Demo-only files come last: the near-duplicate filter and the interleaving of every other file are the same
        // with or without them, so adding them changes nothing in All() or Distinct().
        sources = [.. sources.OrderBy(path => bySource[path].DemoOnly)];
        var hashes = new List<byte[]>();
        var stems = new HashSet<string>(StringComparer.Ordinal);
        using var phash = PHash.Create();
        foreach (var path in sources)
        {
            using var image = ReadSource(path);
            if (image.Empty() || Math.Min(image.Width, image.Height) < 200)
            {
                continue;
            }

            var source = bySource[path];
            var stem = UniqueStem(path, stems);
            var taken = new List<CorpusPhoto>();
            foreach (var (rect, row, col) in Regions(image.Width, image.Height, source.Cut))
            {
                using var region = new Mat(image, rect);
                var flat = IsFlat(region);
                // The demo subset's filter: a tile close to one taken before (OpenCV pHash under 10 bits) is left out.
                var inDemo = !flat && !IsNearDuplicate(phash, region, hashes);
                var id = row < 0 ? stem : string.Create(CultureInfo.InvariantCulture, $"{stem}-r{row}c{col}");
                taken.Add(new CorpusPhoto(id, path, rect.X, rect.Y, rect.Width, rect.Height)
                {
                    Package = source.Package, Flat = flat, InDemo = inDemo, DemoOnly = source.DemoOnly, Sharpness = Math.Round(SharpnessOf(region), 1),
                });
            }

            perSource.Add(taken);
        }

        var ordered = Interleave(perSource.SelectMany((list, s) => list.Select((p, i) => (p, s, i))).OrderBy(t => t.i).ThenBy(t => t.s).Select(t => t.p));
        WriteManifest(manifest, ordered);
        return ordered;
    }

    /// <summary>Keeps the given order (already alternating between sources); a named step so both views order alike.</summary>
    private static List<CorpusPhoto> Interleave(IEnumerable<CorpusPhoto> photos) => [.. photos];

    private static IEnumerable<(Rect Rect, int Row, int Col)> Regions(int width, int height, CorpusCut cut)
    {
        if (cut.Whole)
        {
            return [(new Rect(0, 0, width, height), -1, -1)];
        }

        // tiles:<long side>: the grid a copy scaled to that long side would have, mapped back onto the full-size file.
        var scale = cut.TileLongSide > 0 ? Math.Max(width, height) / (double)cut.TileLongSide : 1.0;
        var tileW = (int)Math.Round(TileWidth * scale);
        var tileH = (int)Math.Round(TileHeight * scale);
        return width >= 2 * tileW && height >= 2 * tileH
            ? TileRegions(width, height, tileW, tileH)
            : [(new Rect(0, 0, width, height), -1, -1)];
    }

    private static IEnumerable<(Rect Rect, int Row, int Col)> TileRegions(int width, int height, int tileW, int tileH)
    {
        // Centre the grid so the leftover margin is split between both edges.
        var cols = width / tileW;
        var rows = height / tileH;
        var x0 = (width - (cols * tileW)) / 2;
        var y0 = (height - (rows * tileH)) / 2;
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < cols; c++)
            {
                yield return (new Rect(x0 + (c * tileW), y0 + (r * tileH), tileW, tileH), r, c);
            }
        }
    }

    private static double SharpnessOf(Mat region)
    {
        using var grey = new Mat();
        Cv2.CvtColor(region, grey, ColorConversionCodes.BGR2GRAY);
        return Imaging.PixelMeasures.Sharpness(grey);
    }

    private static bool IsFlat(Mat region)
    {
        using var grey = new Mat();
        Cv2.CvtColor(region, grey, ColorConversionCodes.BGR2GRAY);
        Cv2.MeanStdDev(grey, out _, out var std);
        return std.Val0 < MinTileStdDev;
    }

    private static bool IsNearDuplicate(PHash phash, Mat region, List<byte[]> hashes)
    {
        using var hash = new Mat();
        phash.Compute(region, hash);
        var bytes = new byte[hash.Total() * hash.ElemSize()];
        hash.GetArray(out byte[] data);
        data.CopyTo(bytes, 0);
        foreach (var other in hashes)
        {
            var distance = 0;
            for (var i = 0; i < bytes.Length; i++)
            {
                distance += System.Numerics.BitOperations.PopCount((uint)(bytes[i] ^ other[i]));
            }

            if (distance < MinPerceptualDistance)
            {
                return true;
            }
        }

        hashes.Add(bytes);
        return false;
    }

    private static Mat ReadSource(string path)
    {
        var image = Cv2.ImRead(path, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new InvalidDataException($"Corpus source {path} cannot be decoded.");
        }

        return image;
    }

    private static byte[] EncodeRegion(Mat source, CorpusPhoto photo, int maxSide, int quality)
    {
        using var region = new Mat(source, new Rect(photo.X, photo.Y, photo.Width, photo.Height));
        var longSide = Math.Max(photo.Width, photo.Height);
        if (longSide <= maxSide)
        {
            return EncodeJpeg(region, quality);
        }

        var scale = (double)maxSide / longSide;
        using var resized = new Mat();
        Cv2.Resize(region, resized, new Size(Math.Max(1, (int)Math.Round(photo.Width * scale)), Math.Max(1, (int)Math.Round(photo.Height * scale))), 0, 0, InterpolationFlags.Area);
        return EncodeJpeg(resized, quality);
    }

    private static byte[] EncodeJpeg(Mat image, int quality) =>
        image.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, quality));

    private static void DrawWatermark(Mat image, Random random)
    {
        string[] handles = ["@daily_cafe", "@seoul.eats", "cafe_hunter", "@mangwon_log", "photo by jiwoo", "@weekend.table"];
        var text = handles[random.Next(handles.Length)];
        var scale = Math.Max(0.4, image.Width / 900.0);
        var thickness = Math.Max(1, (int)Math.Round(scale * 2));
        var size = Cv2.GetTextSize(text, HersheyFonts.HersheyDuplex, scale, thickness, out var baseline);
        var margin = Math.Max(6, image.Width / 60);
        var corner = random.Next(4);
        var x = corner % 2 == 0 ? margin : image.Width - size.Width - margin;
        var y = corner < 2 ? margin + size.Height : image.Height - margin - baseline;

        // A small round "logo" badge next to the handle, as shop and blog watermarks have.
        var radius = Math.Max(4, size.Height / 2 + 2);
        var badgeX = corner % 2 == 0 ? x + radius : x - radius - 4;
        var badgeCentre = new Point(Math.Clamp(badgeX, radius, image.Width - radius), y - (size.Height / 2));
        x = corner % 2 == 0 ? x + (2 * radius) + 4 : x;
        Cv2.Circle(image, badgeCentre, radius, new Scalar(255, 255, 255), -1, LineTypes.AntiAlias);
        Cv2.Circle(image, badgeCentre, Math.Max(2, radius / 2), new Scalar(40, 90, 220), -1, LineTypes.AntiAlias);
        Cv2.PutText(image, text, new Point(x + 1, y + 1), HersheyFonts.HersheyDuplex, scale, new Scalar(0, 0, 0), thickness + 1, LineTypes.AntiAlias);
        Cv2.PutText(image, text, new Point(x, y), HersheyFonts.HersheyDuplex, scale, new Scalar(255, 255, 255), thickness, LineTypes.AntiAlias);
    }

    private static string Ascii(string line)
    {
        // OpenCV's Hershey fonts draw ASCII only; other characters become '?'.
        var builder = new StringBuilder(line.Length);
        foreach (var ch in line)
        {
            builder.Append(ch is >= ' ' and <= '~' ? ch : '?');
        }

        return builder.ToString();
    }

    private static string UniqueStem(string path, HashSet<string> taken)
    {
        var builder = new StringBuilder();
        foreach (var ch in NameOf(path).ToLowerInvariant())
        {
            builder.Append(char.IsAsciiLetterOrDigit(ch) ? ch : '-');
        }

        var stem = builder.ToString().Trim('-');
        var candidate = stem;
        for (var n = 2; !taken.Add(candidate); n++)
        {
            candidate = string.Create(CultureInfo.InvariantCulture, $"{stem}-{n}");
        }

        return candidate;
    }

    /// <summary>
    /// The file's name without extension; a name that is only a size ("2560x1600", as wallpaper packages name one
    /// picture's resolutions) takes the picture's folder name in front (Path/contents/images/2560x1600.jpg: "Path-2560x1600").
    /// </summary>
    private static string NameOf(string path)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        if (name.Length == 0 || !name.All(ch => char.IsAsciiDigit(ch) || ch == 'x'))
        {
            return name;
        }

        var folder = Path.GetDirectoryName(path);
        while (folder is not null && Path.GetFileName(folder) is "images" or "contents")
        {
            folder = Path.GetDirectoryName(folder);
        }

        return folder is null ? name : $"{Path.GetFileName(folder)}-{name}";
    }

    /// <summary>Same value in every process (HashCode.Combine is randomised per process, which broke determinism).</summary>
    private static int StableHash(string text)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        return BitConverter.ToInt32(digest, 0);
    }

    private static string CacheRoot()
    {
        var home = Environment.GetEnvironmentVariable("HARVESTER_HOME");
        var root = string.IsNullOrWhiteSpace(home)
            ? Path.Combine(Path.GetTempPath(), "harvester-corpus")
            : Path.Combine(home, "cache", "corpus");
        Directory.CreateDirectory(root);
        return root;
    }

    private static string CachePath(CorpusPhoto photo, int maxSide, int quality)
    {
        // The key covers the source file's identity, so replacing a file never serves stale bytes.
        var info = new FileInfo(photo.SourcePath);
        var key = string.Create(CultureInfo.InvariantCulture,
            $"{photo.SourcePath}|{info.Length}|{info.LastWriteTimeUtc.Ticks}|{photo.X},{photo.Y},{photo.Width},{photo.Height}|{maxSide}|{quality}");
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16];
        return Path.Combine(CacheRoot(), string.Create(CultureInfo.InvariantCulture, $"{photo.Id}-{maxSide}-q{quality}-{hash}.jpg"));
    }

    private static string ManifestPath(IReadOnlyList<string> sources)
    {
        var key = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"v{Version}|{TileWidth}x{TileHeight}|{MinTileStdDev}|{MinPerceptualDistance}"));
        var bySource = Sources.ToDictionary(s => s.Path, StringComparer.Ordinal);
        foreach (var source in sources)
        {
            var info = new FileInfo(source);
            key.Append(CultureInfo.InvariantCulture, $"|{source}:{info.Length}:{info.LastWriteTimeUtc.Ticks}:{bySource[source].Cut}:{bySource[source].DemoOnly}");
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..16];
        return Path.Combine(CacheRoot(), $"manifest-{hash}.tsv");
    }

    private static List<CorpusPhoto>? TryReadManifest(string path, IReadOnlyList<string> sources)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        var known = Sources.Where(s => sources.Contains(s.Path)).ToDictionary(s => s.Path, StringComparer.Ordinal);
        var photos = new List<CorpusPhoto>();
        foreach (var line in File.ReadAllLines(path))
        {
            var f = line.Split('\t');
            if (f.Length != 10 || !known.TryGetValue(f[1], out var source))
            {
                return null;
            }

            var n = f[2..6].Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            photos.Add(new CorpusPhoto(f[0], f[1], n[0], n[1], n[2], n[3])
            {
                Package = f[6], Flat = f[7] == "1", InDemo = f[8] == "1", DemoOnly = source.DemoOnly, Sharpness = double.Parse(f[9], CultureInfo.InvariantCulture),
            });
        }

        return photos;
    }

    private static void WriteManifest(string path, List<CorpusPhoto> photos)
    {
        var text = string.Join('\n', photos.Select(p => string.Create(CultureInfo.InvariantCulture,
            $"{p.Id}\t{p.SourcePath}\t{p.X}\t{p.Y}\t{p.Width}\t{p.Height}\t{p.Package}\t{(p.Flat ? 1 : 0)}\t{(p.InDemo ? 1 : 0)}\t{p.Sharpness}")));
        WriteAtomically(path, Encoding.UTF8.GetBytes(text));
    }

    private static byte[]? TryRead(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var temp = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
