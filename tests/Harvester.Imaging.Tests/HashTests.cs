using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using Npgsql;
using NpgsqlTypes;
using OpenCvSharp;

namespace Harvester.Imaging.Tests;

public sealed class HashTests
{
    private static (ulong P, ulong D) Hashes(byte[] encoded)
    {
        using var m = Cv2.ImDecode(encoded, ImreadModes.Color);
        return (PerceptualHash.PHash(m), PerceptualHash.DHash(m));
    }

    [Fact]
    public void Re_encoded_resized_and_brightened_copies_stay_within_a_small_hamming_distance_while_distinct_photos_do_not()
    {
        var photos = PhotoCorpus.Distinct(30);
        var within = new List<int>();
        foreach (var (p, i) in photos.Select((p, i) => (p, i)))
        {
            var original = PhotoCorpus.RenderJpeg(p, 640);
            var h = Hashes(original);
            foreach (var kind in new[] { VariantKind.JpegQuality, VariantKind.Resize, VariantKind.Brightness, VariantKind.Png, VariantKind.WebP })
            {
                within.Add(PerceptualHash.Hamming(h.P, Hashes(PhotoCorpus.Variant(original, kind, i)).P));
            }
        }

        var hashes = photos.Select(p => Hashes(PhotoCorpus.RenderJpeg(p, 640)).P).ToList();
        var between = new List<int>();
        for (var i = 0; i < hashes.Count; i++)
        {
            for (var j = i + 1; j < hashes.Count; j++)
            {
                between.Add(PerceptualHash.Hamming(hashes[i], hashes[j]));
            }
        }

        Assert.True(within.Count(d => d <= 8) >= within.Count * 0.9, "copies: " + string.Join(",", within));
        Assert.True(between.Count(d => d <= 8) <= between.Count * 0.01, "distinct: " + string.Join(",", between.Order().Take(20)));
    }

    [Fact]
    public void DHash_bits_follow_the_brightness_gradient()
    {
        using var ramp = new Mat(64, 72, MatType.CV_8UC3);
        for (var x = 0; x < 72; x++)
        {
            using var column = ramp.ColRange(x, x + 1);
            column.SetTo(Scalar.All(255 - (x * 3)));
        }

        Assert.Equal(ulong.MaxValue, PerceptualHash.DHash(ramp));
        using var flipped = new Mat();
        Cv2.Flip(ramp, flipped, FlipMode.Y);
        Assert.Equal(0UL, PerceptualHash.DHash(flipped));
    }

    [Fact]
    public void Bits_round_trip_with_bit_0_as_the_most_significant_bit()
    {
        const ulong v = 0x8000_0000_0000_0001UL;
        var bits = PerceptualHash.ToBits(v);
        Assert.True(bits[0]);
        Assert.True(bits[63]);
        Assert.False(bits[1]);
        Assert.Equal(v, PerceptualHash.FromBits(bits));
    }
}
