using Harvester.DemoSite.Corpus;
using OpenCvSharp;

namespace Harvester.Imaging.Tests;

/// <summary>The balanced hash, its colour confirmation, and the keep rule's signals, on real photos from the corpus.</summary>
public sealed class NearDuplicateTests
{
    private sealed record Tile(CorpusPhoto Photo, ulong Legacy, ulong Balanced, byte[] Layout);

    private static readonly Lazy<List<Tile>> Tiles = new(() =>
    {
        var all = PhotoCorpus.All().Where(p => p.Package == "mate-backgrounds").ToList();
        var tiles = new Tile[all.Count];
        Parallel.For(0, all.Count, i =>
        {
            using var m = Cv2.ImDecode(PhotoCorpus.RenderJpeg(all[i], 640), ImreadModes.Color);
            tiles[i] = new Tile(all[i], PerceptualHash.LegacyPHash(m), PerceptualHash.PHash(m), ColourLayout.Compute(m));
        });
        return [.. tiles];
    });

    /// <summary>Pairs of different tiles of one photo whose OpenCV hashes are saturated (≤ 10 or ≥ 54 bits set) and within the old radius 6.</summary>
    internal static List<(CorpusPhoto A, CorpusPhoto B)> SaturatedNeighbours()
    {
        static bool Saturated(ulong h) => ulong.PopCount(h) is <= 10 or >= 54;
        var t = Tiles.Value;
        var pairs = new List<(CorpusPhoto, CorpusPhoto)>();
        for (var i = 0; i < t.Count; i++)
        {
            for (var j = i + 1; j < t.Count; j++)
            {
                if (t[i].Photo.SourcePath == t[j].Photo.SourcePath && !t[i].Photo.Flat && !t[j].Photo.Flat
                    && Saturated(t[i].Legacy) && Saturated(t[j].Legacy) && PerceptualHash.Hamming(t[i].Legacy, t[j].Legacy) <= 6)
                {
                    pairs.Add((t[i].Photo, t[j].Photo));
                }
            }
        }

        return pairs;
    }

    [Fact]
    public void Balanced_hashes_set_31_bits_and_saturated_neighbouring_tiles_are_not_matched()
    {
        Assert.All(Tiles.Value, t => Assert.Equal(31, (int)ulong.PopCount(t.Balanced)));

        // The old recipe's failure on these photos: distinct neighbouring tiles of one low-detail photo, hashes saturated and a few bits apart.
        var pairs = SaturatedNeighbours();
        Assert.True(pairs.Count >= 5, $"only {pairs.Count} saturated neighbour pairs");
        var byId = Tiles.Value.ToDictionary(t => t.Photo.Id);
        var matched = pairs.Where(p => NearDuplicateRule.Default.Matches(byId[p.A.Id].Balanced, byId[p.A.Id].Layout, byId[p.B.Id].Balanced, byId[p.B.Id].Layout)).ToList();
        Assert.True(matched.Count == 0, $"{matched.Count} of {pairs.Count} matched: " + string.Join(", ", matched.Take(5).Select(p => $"{p.A.Id}~{p.B.Id}")));
    }

    [Fact]
    public void Mild_copies_match_and_the_colour_layout_ignores_brightness_and_contrast()
    {
        var photos = PhotoCorpus.Distinct(40);
        var missed = new List<string>();
        foreach (var (p, i) in photos.Select((p, i) => (p, i)))
        {
            var original = PhotoCorpus.RenderJpeg(p, 640);
            using var o = Cv2.ImDecode(original, ImreadModes.Color);
            foreach (var kind in new[] { VariantKind.JpegQuality, VariantKind.Resize, VariantKind.Brightness, VariantKind.Contrast, VariantKind.Png, VariantKind.WebP })
            {
                using var c = Cv2.ImDecode(PhotoCorpus.Variant(original, kind, i), ImreadModes.Color);
                if (!NearDuplicateRule.Default.Matches(PerceptualHash.PHash(o), ColourLayout.Compute(o), PerceptualHash.PHash(c), ColourLayout.Compute(c)))
                {
                    missed.Add($"{p.Id}/{kind}");
                }
            }
        }

        Assert.True(missed.Count <= photos.Count * 6 / 20, "missed: " + string.Join(", ", missed));
        using var photo = Cv2.ImDecode(PhotoCorpus.RenderJpeg(photos[3], 640), ImreadModes.Color);
        using var edited = new Mat();
        photo.ConvertTo(edited, MatType.CV_8UC3, 1.15, 20);
        Assert.True(ColourLayout.Distance(ColourLayout.Compute(photo), ColourLayout.Compute(edited)) < NearDuplicateRule.DefaultColourThreshold / 2);
    }

    [Fact]
    public void Encoding_quality_reads_jpeg_quality_exactly_and_knows_lossless_containers()
    {
        using var photo = Cv2.ImDecode(PhotoCorpus.RenderJpeg(PhotoCorpus.Distinct(5)[2], 640), ImreadModes.Color);
        foreach (var q in new[] { 30, 55, 60, 75, 88, 90, 95 })
        {
            var e = EncodingQuality.Read(photo.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, q)));
            Assert.Equal((false, (double)q, true), (e.Lossless, e.Quality, e.Exact));
        }

        Assert.True(EncodingQuality.Read(photo.ImEncode(".png")).Lossless);
        Assert.True(EncodingQuality.Read(photo.ImEncode(".bmp")).Lossless);
        Assert.True(EncodingQuality.Read(photo.ImEncode(".webp", new ImageEncodingParam(ImwriteFlags.WebPQuality, 101))).Lossless);
        var low = EncodingQuality.Read(photo.ImEncode(".webp", new ImageEncodingParam(ImwriteFlags.WebPQuality, 60)));
        var high = EncodingQuality.Read(photo.ImEncode(".webp", new ImageEncodingParam(ImwriteFlags.WebPQuality, 90)));
        // Lossy WebP's quality is estimated from its quantiser (approximate): it ranks, which is what the keep rule needs.
        Assert.False(low.Lossless);
        Assert.False(high.Lossless);
        Assert.True(high.Quality >= low.Quality + 8, $"q60 read as {low.Quality}, q90 as {high.Quality}");
        Assert.Equal(0, EncodingQuality.Read("GIF89a........"u8).Quality);
    }

    [Fact]
    public void Detail_gain_tells_an_upscale_from_a_real_larger_original()
    {
        using var original = Cv2.ImDecode(PhotoCorpus.RenderJpeg(PhotoCorpus.Distinct(8)[6], 640), ImreadModes.Color);
        using var smaller = new Mat();
        Cv2.Resize(original, smaller, new Size((int)(original.Width * 0.6), (int)(original.Height * 0.6)), 0, 0, InterpolationFlags.Area);
        using var upscaled = new Mat();
        Cv2.Resize(original, upscaled, new Size((int)(original.Width * 1.6), (int)(original.Height * 1.6)), 0, 0, InterpolationFlags.Cubic);
        using var other = new Mat();
        Cv2.Flip(smaller, other, FlipMode.Y);

        Assert.True(KeepSignals.DetailGain(original, smaller) >= KeepSignals.UpscaleGain);
        Assert.True(KeepSignals.DetailGain(upscaled, original) < KeepSignals.UpscaleGain);
        Assert.True(double.IsNaN(KeepSignals.DetailGain(original, other)), "a mirror is not a resample");
    }

    [Fact]
    public void The_copy_with_a_watermark_is_the_one_flagged_as_overlaid()
    {
        var original = PhotoCorpus.RenderJpeg(PhotoCorpus.Distinct(12)[9], 640);
        using var clean = Cv2.ImDecode(original, ImreadModes.Color);
        using var marked = Cv2.ImDecode(PhotoCorpus.Variant(original, VariantKind.TextOverlay, 4), ImreadModes.Color);
        using var reencoded = Cv2.ImDecode(PhotoCorpus.Variant(original, VariantKind.JpegQuality, 4), ImreadModes.Color);

        Assert.Equal([false, true, false], KeepSignals.Overlays([KeepSignals.Thumb(clean), KeepSignals.Thumb(marked), KeepSignals.Thumb(reencoded)]));
        Assert.Equal([false, false], KeepSignals.Overlays([KeepSignals.Thumb(clean), KeepSignals.Thumb(reencoded)]));
    }

    [Fact]
    public void Overlay_evidence_from_cached_thumbnails_decides_as_a_fresh_decode_does_without_decoding_again()
    {
        var original = PhotoCorpus.RenderJpeg(PhotoCorpus.Distinct(12)[9], 640);
        byte[][] copies = [original, PhotoCorpus.Variant(original, VariantKind.TextOverlay, 4), PhotoCorpus.Variant(original, VariantKind.JpegQuality, 4)];
        var decodes = 0;
        Mat Load(int i)
        {
            Interlocked.Increment(ref decodes);
            return Cv2.ImDecode(copies[i], ImreadModes.Color);
        }

        bool[] Flags(PixelKeepEvidence e) => [.. Enumerable.Range(0, copies.Length).Select(e.HasOverlay)];
        var cache = new KeepThumbCache(capacity: 4);
        bool[] fresh, first, second;
        using (var e = new PixelKeepEvidence(copies.Length, Load))
        {
            fresh = Flags(e);
        }

        using (var e = new PixelKeepEvidence(copies.Length, Load, cache, i => $"copy{i}@640"))
        {
            first = Flags(e);
        }

        var afterFirst = decodes;
        using (var e = new PixelKeepEvidence(copies.Length, Load, cache, i => $"copy{i}@640"))
        {
            second = Flags(e);
        }

        Assert.Equal([false, true, false], fresh);
        Assert.Equal(fresh, first);
        Assert.Equal(fresh, second);
        Assert.Equal(6, afterFirst); // three without the cache, three to fill it
        Assert.Equal(afterFirst, decodes); // the second election decoded nothing

        // Bounded: the oldest entries leave first.
        cache.Add("a", new float[1]);
        cache.Add("b", new float[1]);
        Assert.Equal(4, cache.Count);
        Assert.False(cache.TryGet("copy0@640", out _));
        Assert.True(cache.TryGet("b", out _));
    }

    private sealed class Evidence(bool[] overlays, Func<int, int, double> gain) : IKeepEvidence
    {
        public bool HasOverlay(int index) => overlays[index];

        public double DetailGain(int larger, int smaller) => gain(larger, smaller);
    }

    [Fact]
    public void Keep_rule_prefers_accepted_lossless_higher_quality_no_overlay_native_resolution_then_the_earliest()
    {
        var q90 = new EncodingQuality(false, 90, true);
        KeepCandidate C(long id, EncodingQuality e, int w = 640, bool accepted = true) => new(id, accepted, e, w, w * 3 / 4, null);
        static double NoGain(int a, int b) => double.NaN;

        Assert.Equal((1, "accepted"), Pick([C(1, q90, 320, accepted: false), C(2, q90, 320)], [false, false], NoGain));
        Assert.Equal((1, "lossless"), Pick([C(1, q90, 1280), C(2, new(true, 101, true), 320)], [false, false], NoGain));
        Assert.Equal((0, "higher quality"), Pick([C(1, q90), C(2, new(false, 88, true))], [false, false], NoGain));
        Assert.Equal((1, "no overlay"), Pick([C(1, q90), C(2, q90)], [true, false], NoGain));
        // A 1.6x upscale shows no more detail than the original it was made from: the smaller original is kept.
        Assert.Equal((0, "native resolution"), Pick([C(1, q90, 640), C(2, q90, 1024)], [false, false], (a, b) => 1.02));
        Assert.Equal((1, "larger resolution"), Pick([C(1, q90, 384), C(2, q90, 640)], [false, false], (a, b) => 2.5));
        Assert.Equal((0, "earliest seen"), Pick([C(1, q90), C(2, q90)], [false, false], NoGain));
        // Unknown or inexact estimates within 3 are a tie.
        Assert.Equal((0, "earliest seen"), Pick([C(1, new(false, 88, false)), C(2, new(false, 90, false))], [false, false], NoGain));

        static (int, string) Pick(KeepCandidate[] members, bool[] overlays, Func<int, int, double> gain)
        {
            var d = KeepRule.Elect(members, new Evidence(overlays, gain));
            return (d.Index, d.Reason);
        }
    }
}
