using Harvester.DemoSite.Corpus;
using OpenCvSharp;

namespace Harvester.DemoSite.Tests;

public sealed class CorpusTests
{
    [Fact]
    public void Corpus_offers_at_least_300_distinct_photos_from_the_installed_packages()
    {
        Assert.NotEmpty(PhotoCorpus.FindSourcePhotos());
        var photos = PhotoCorpus.Distinct();

        Assert.True(photos.Count >= 300, $"only {photos.Count} distinct photos");
        Assert.Equal(photos.Count, photos.Select(p => p.Id).Distinct(StringComparer.Ordinal).Count());
        Assert.DoesNotContain(photos, p => p.SourcePath.EndsWith(".svg", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(photos, p => Path.GetFileName(p.SourcePath) is "text.png" or "horse.png" or "checker_bilevel.png" or "chessboard_GRAY.png");
    }

    [Fact]
    public void All_keeps_every_tile_of_every_source_including_the_close_and_flat_ones_the_demo_subset_leaves_out()
    {
        var all = PhotoCorpus.All();
        var demo = PhotoCorpus.Distinct();

        Assert.Equal(all.Count(p => p.InDemo), demo.Count);
        Assert.Equal(demo, all.Where(p => p.InDemo));
        Assert.Contains(all, p => p.Flat);
        Assert.Contains(all, p => !p.Flat && !p.InDemo);
        Assert.DoesNotContain(demo, p => p.Flat);
        Assert.All(PhotoCorpus.Sources.Where(s => s.Cut.Whole), s => Assert.Single(all, p => p.SourcePath == s.Path));
        // Every held-out package the benchmarks report on contributes photos.
        Assert.All(PhotoCorpus.Sources.Where(s => !s.DemoOnly).Select(s => s.Package).Distinct(), pkg => Assert.Contains(all, p => p.Package == pkg));
        Assert.DoesNotContain(all, p => p.DemoOnly);
        // A tiled source is cut into a full grid: every cell of the grid is there, close or not.
        var garden = all.Where(p => p.SourcePath.EndsWith("/Garden.jpg", StringComparison.Ordinal)).ToList();
        var rows = garden.Max(p => p.Y) / garden[0].Height;
        Assert.True(garden.Count >= 16 && garden.Count % (rows + 1) == 0, $"{garden.Count} tiles");
    }

    [Fact]
    public void Showcase_adds_the_demo_only_files_and_drops_most_out_of_focus_tiles_but_not_all()
    {
        var showcase = PhotoCorpus.Showcase();
        var distinct = PhotoCorpus.Distinct();
        var demoOnly = PhotoCorpus.Sources.Where(s => s.DemoOnly).Select(s => s.Path).ToHashSet(StringComparer.Ordinal);

        Assert.NotEmpty(demoOnly);
        Assert.DoesNotContain(distinct, p => p.DemoOnly);
        Assert.All(showcase, p => Assert.Equal(demoOnly.Contains(p.SourcePath), p.DemoOnly));
        Assert.Contains(showcase, p => p.DemoOnly);
        Assert.All(showcase, p => Assert.True(p.InDemo && !p.Flat, p.Id));
        Assert.Equal(showcase.Count, showcase.Select(p => p.Id).Distinct(StringComparer.Ordinal).Count());
        // Every sharp distinct photo is shown; of the soft ones one in eight, so blurry photos still reach curation.
        Assert.Empty(distinct.Where(p => p.Sharpness >= PhotoCorpus.ShowcaseMinSharpness).Except(showcase));
        // The one-in-eight count runs over every file's tiles in showcase order, so the files Distinct() draws from keep
        // about an eighth of their soft tiles.
        var softInDistinct = distinct.Count(p => p.Sharpness < PhotoCorpus.ShowcaseMinSharpness);
        var softKept = showcase.Count(p => !p.DemoOnly && p.Sharpness < PhotoCorpus.ShowcaseMinSharpness);
        Assert.InRange(softKept * PhotoCorpus.SoftTileEvery, softInDistinct / 2, softInDistinct * 3 / 2);
        Assert.Contains(showcase, p => p.DemoOnly && p.Sharpness < PhotoCorpus.ShowcaseMinSharpness);
        Assert.True(showcase.Select(p => p.SourcePath).Take(40).Distinct().Count() >= 20, "the first photos should come from many files");
    }

    [Fact]
    public void Recorded_sharpness_is_what_curation_measures_on_the_served_photo()
    {
        // Clear cases only (JPEG re-encoding moves the value a little): soft stays soft, sharp stays sharp.
        var clear = PhotoCorpus.Showcase().Where(p => p.Sharpness < 20 || p.Sharpness > 80).Take(40).ToList();
        Assert.Contains(clear, p => p.Sharpness < 20);
        foreach (var photo in clear)
        {
            using var image = Cv2.ImDecode(PhotoCorpus.RenderJpeg(photo), ImreadModes.Grayscale);
            var measured = Imaging.PixelMeasures.Sharpness(image);
            Assert.True(measured < PhotoCorpus.ShowcaseMinSharpness == photo.Sharpness < PhotoCorpus.ShowcaseMinSharpness,
                $"{photo.Id}: recorded {photo.Sharpness}, measured on the served JPEG {measured:F1}");
        }
    }

    [Fact]
    public void Crops_of_the_same_source_never_overlap()
    {
        foreach (var group in PhotoCorpus.All().GroupBy(p => p.SourcePath))
        {
            var regions = group.Select(p => new Rect(p.X, p.Y, p.Width, p.Height)).ToList();
            for (var i = 0; i < regions.Count; i++)
            {
                for (var j = i + 1; j < regions.Count; j++)
                {
                    var overlap = regions[i] & regions[j];
                    Assert.True(overlap.Width <= 0 || overlap.Height <= 0, $"{group.Key}: {regions[i]} overlaps {regions[j]}");
                }
            }
        }
    }

    [Fact]
    public void Order_ids_and_rendered_bytes_are_deterministic_and_any_prefix_mixes_sources()
    {
        var first = PhotoCorpus.Distinct(40);
        var again = PhotoCorpus.Distinct(40);
        Assert.Equal(first, again);
        Assert.True(first.Select(p => p.SourcePath).Distinct().Count() >= 20, "the first photos should come from many files");

        var photo = first[3];
        var a = PhotoCorpus.RenderJpeg(photo, maxSide: 300, quality: 85);
        var b = PhotoCorpus.RenderJpeg(photo, maxSide: 300, quality: 85);
        Assert.Equal(a, b);
        using var decoded = Cv2.ImDecode(a, ImreadModes.Color);
        Assert.True(Math.Max(decoded.Width, decoded.Height) <= 300);
        Assert.True(decoded.Width > 100 && decoded.Height > 100);
    }

    [Fact]
    public void Corpus_is_built_from_the_locked_sources_and_matches_the_recorded_fingerprint()
    {
        Assert.Equal(PhotoCorpus.Sources.Select(s => s.Path).Order(StringComparer.Ordinal), PhotoCorpus.FindSourcePhotos());
        Assert.All(PhotoCorpus.Distinct(), p => Assert.Contains(p.SourcePath, PhotoCorpus.FindSourcePhotos()));
        Assert.Equal(PhotoCorpus.RecordedFingerprint, PhotoCorpus.Fingerprint);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Distinct_photos_differ_far_more_than_a_reencoded_copy_differs_from_its_original(bool showcase)
    {
        // Judged on pixels (32x32 grey), not on a hash: low-detail tiles of different photos can share an 8x8 average
        // hash by chance, while the same picture twice (a repeated source, overlapping or duplicated tiles) cannot hide
        // from a pixel difference. The bar is relative to what a JPEG re-encode of one photo moves.
        var photos = showcase ? PhotoCorpus.Showcase() : PhotoCorpus.Distinct();
        var thumbs = photos.Select(p => Thumbnail(PhotoCorpus.RenderJpeg(p, 256))).ToList();
        var reencodeShift = photos.Take(60).Select((p, i) =>
            MeanAbsoluteDifference(thumbs[i], Thumbnail(PhotoCorpus.Variant(PhotoCorpus.RenderJpeg(p, 256), VariantKind.JpegQuality, seed: 3)))).Max();

        var closest = (Difference: double.MaxValue, A: "", B: "");
        for (var i = 0; i < thumbs.Count; i++)
        {
            for (var j = i + 1; j < thumbs.Count; j++)
            {
                var d = MeanAbsoluteDifference(thumbs[i], thumbs[j]);
                if (d < closest.Difference)
                {
                    closest = (d, photos[i].Id, photos[j].Id);
                }
            }
        }

        Assert.True(reencodeShift < 1.0, $"a re-encode moved a photo by {reencodeShift:F2} grey levels");
        Assert.True(closest.Difference > Math.Max(2.0, 4 * reencodeShift),
            $"{closest.A} and {closest.B} differ by only {closest.Difference:F2} grey levels on average (a re-encode moves {reencodeShift:F2})");
    }

    [Theory]
    [InlineData(VariantKind.JpegQuality)]
    [InlineData(VariantKind.Resize)]
    [InlineData(VariantKind.Crop)]
    [InlineData(VariantKind.Brightness)]
    [InlineData(VariantKind.Contrast)]
    [InlineData(VariantKind.TextOverlay)]
    [InlineData(VariantKind.Png)]
    [InlineData(VariantKind.WebP)]
    public void Variants_decode_differ_from_the_original_and_are_deterministic(VariantKind kind)
    {
        var original = PhotoCorpus.RenderJpeg(PhotoCorpus.Distinct(10)[5]);
        var variant = PhotoCorpus.Variant(original, kind, seed: 7);

        Assert.Equal(variant, PhotoCorpus.Variant(original, kind, seed: 7));
        Assert.NotEqual(original, variant);
        using var a = Cv2.ImDecode(original, ImreadModes.Color);
        using var b = Cv2.ImDecode(variant, ImreadModes.Color);
        Assert.False(b.Empty());

        // Still the same picture: the average hash moves by a few bits at most (a crop or overlay shifts it a little).
        Assert.True(ulong.PopCount(AverageHash(original) ^ AverageHash(variant)) <= 12);
        switch (kind)
        {
            case VariantKind.Png:
                Assert.Equal(0x89, variant[0]);
                break;
            case VariantKind.WebP:
                Assert.Equal("RIFF"u8.ToArray(), variant[..4]);
                break;
            case VariantKind.Resize:
                Assert.NotEqual(a.Width, b.Width);
                break;
            case VariantKind.Crop:
                Assert.True(b.Width < a.Width && b.Height < a.Height);
                break;
            default:
                Assert.Equal(a.Size(), b.Size());
                Assert.True(Cv2.Norm(a, b, NormTypes.L1) > 0);
                break;
        }
    }

    [Fact]
    public void Text_image_is_a_photo_free_page_of_dark_lines_on_paper()
    {
        string[] lines = ["MENU", "", "Americano 4,500", "Cafe latte 5,000", "Vanilla latte 5,500", "Croissant 4,000", "Scone 3,800"];
        var jpeg = PhotoCorpus.RenderTextImage(lines, 600, 800);

        Assert.Equal(jpeg, PhotoCorpus.RenderTextImage(lines, 600, 800));
        using var image = Cv2.ImDecode(jpeg, ImreadModes.Grayscale);
        Assert.Equal(new Size(600, 800), image.Size());
        Assert.True(Cv2.Mean(image).Val0 > 180, "mostly paper");
        using var dark = new Mat();
        Cv2.Threshold(image, dark, 100, 255, ThresholdTypes.BinaryInv);
        Assert.True(Cv2.CountNonZero(dark) > 2000, "has ink");
    }

    private static float[] Thumbnail(byte[] encoded)
    {
        using var image = Cv2.ImDecode(encoded, ImreadModes.Grayscale);
        using var small = new Mat();
        Cv2.Resize(image, small, new Size(32, 32), 0, 0, InterpolationFlags.Area);
        small.GetArray(out byte[] pixels);
        return [.. pixels.Select(b => (float)b)];
    }

    private static double MeanAbsoluteDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Average();

    private static ulong AverageHash(byte[] encoded)
    {
        using var image = Cv2.ImDecode(encoded, ImreadModes.Grayscale);
        using var small = new Mat();
        Cv2.Resize(image, small, new Size(8, 8), 0, 0, InterpolationFlags.Area);
        var mean = Cv2.Mean(small).Val0;
        ulong hash = 0;
        for (var y = 0; y < 8; y++)
        {
            for (var x = 0; x < 8; x++)
            {
                if (small.At<byte>(y, x) > mean)
                {
                    hash |= 1UL << ((y * 8) + x);
                }
            }
        }

        return hash;
    }
}
