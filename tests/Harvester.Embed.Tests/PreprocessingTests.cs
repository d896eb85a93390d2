namespace Harvester.Embed.Tests;

public sealed class PreprocessingTests
{
    private static ModelManifest Manifest(string resize = "squash", string interpolation = "bilinear-antialias", string layout = "NCHW", string order = "RGB", int shorter = 0) => new()
    {
        Name = "t",
        InputName = "x",
        OutputName = "y",
        Width = 8,
        Height = 8,
        Resize = resize,
        ResizeShorterSide = shorter,
        Interpolation = interpolation,
        Layout = layout,
        ChannelOrder = order,
        Scale = 1f / 255f,
        Mean = [0.5f, 0.4f, 0.3f],
        Std = [0.2f, 0.25f, 0.3f],
        Dimension = 4,
    };

    /// <summary>Interleaved BGR pixels from a function of (x, y) giving (B, G, R).</summary>
    private static byte[] Image(int w, int h, Func<int, int, (int B, int G, int R)> f)
    {
        var px = new byte[w * h * 3];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var (b, g, r) = f(x, y);
                px[(y * w + x) * 3] = (byte)b;
                px[(y * w + x) * 3 + 1] = (byte)g;
                px[(y * w + x) * 3 + 2] = (byte)r;
            }
        }

        return px;
    }

    private static float Norm(float v, int c, ModelManifest m) => (v * m.Scale - m.Mean[c]) / m.Std[c];

    [Fact]
    public void Antialiased_halving_matches_pillow_coefficients_computed_by_hand()
    {
        // R = 10x, G = 100, B = 150 - 10x on a 16x8 image, squashed to 8x8: only the horizontal pass filters.
        // Pillow's bilinear at scale 2 has support 2: the edges use weights (3,3,1)/7, the inside (1,3,3,1)/8.
        //   x'=0: (0*3 + 10*3 + 20*1)/7 = 7.14 -> 7;  x'=k (1..6): 20k + 5;  x'=7: (130 + 3*140 + 3*150)/7 = 142.86 -> 143.
        var m = Manifest();
        var px = Image(16, 8, (x, _) => (150 - 10 * x, 100, 10 * x));
        var dst = new float[3 * 64];
        new Preprocessor(m).Process(px, 16, 8, 16 * 3, dst);

        int[] red = [7, 25, 45, 65, 85, 105, 125, 143];
        for (var y = 0; y < 8; y++)
        {
            for (var x = 0; x < 8; x++)
            {
                Assert.Equal(Norm(red[x], 0, m), dst[y * 8 + x], 6);
                Assert.Equal(Norm(100, 1, m), dst[64 + y * 8 + x], 6);
                Assert.Equal(Norm(150 - red[x], 2, m), dst[128 + y * 8 + x], 6);
            }
        }
    }

    [Fact]
    public void Center_crop_follows_torchvision_sizes_and_round_half_to_even_offsets()
    {
        var m = Manifest(resize: "shorter-side-center-crop", shorter: 256) with { Width = 224, Height = 224 };
        var p = new Preprocessor(m);
        Assert.Equal((341, 256), p.ResizedSize(640, 480));   // int(256 * 640 / 480) = 341
        Assert.Equal((256, 454), p.ResizedSize(480, 853));   // int(256 * 853 / 480) = int(454.93): truncated
        Assert.Equal(58, Preprocessor.CropOffset(341, 224)); // round(58.5) = 58 in Python
        Assert.Equal(16, Preprocessor.CropOffset(256, 224));
        Assert.Equal(2, Preprocessor.CropOffset(13, 8));     // round(2.5) = 2
        Assert.Equal(4, Preprocessor.CropOffset(15, 8));     // round(3.5) = 4
    }

    [Fact]
    public void Center_crop_without_scaling_takes_the_middle_rows()
    {
        // 8x13: the shorter side is already 8, so nothing is resampled; the crop starts at round(2.5) = 2.
        var m = Manifest(resize: "shorter-side-center-crop");
        var px = Image(8, 13, (x, y) => (x, 0, 10 * y));
        var dst = new float[3 * 64];
        new Preprocessor(m).Process(px, 8, 13, 8 * 3, dst);
        for (var y = 0; y < 8; y++)
        {
            Assert.Equal(Norm(10 * (y + 2), 0, m), dst[y * 8 + 3], 6);
            Assert.Equal(Norm(3, 2, m), dst[128 + y * 8 + 3], 6);
        }
    }

    [Fact]
    public void Nhwc_bgr_layout_interleaves_channels_in_blue_green_red_order()
    {
        var m = Manifest(layout: "NHWC", order: "BGR");
        var px = Image(8, 8, (x, y) => (10 + x, 20 + y, 30));
        var dst = new float[3 * 64];
        new Preprocessor(m).Process(px, 8, 8, 8 * 3, dst);
        var o = (5 * 8 + 2) * 3; // y = 5, x = 2
        Assert.Equal(Norm(12, 0, m), dst[o], 6);
        Assert.Equal(Norm(25, 1, m), dst[o + 1], 6);
        Assert.Equal(Norm(30, 2, m), dst[o + 2], 6);
    }

    [Fact]
    public void Plain_bilinear_upscale_interpolates_between_pixel_centres()
    {
        // 4 -> 8 horizontally: output x' samples source (x' + 0.5) / 2 - 0.5, e.g. x'=3 -> 1.25: 0.75*p1 + 0.25*p2.
        var m = Manifest(interpolation: "bilinear");
        var px = Image(4, 8, (x, _) => (0, 0, 40 * x));
        var dst = new float[3 * 64];
        new Preprocessor(m).Process(px, 4, 8, 4 * 3, dst);
        float[] red = [0, 10, 30, 50, 70, 90, 110, 120];
        for (var x = 0; x < 8; x++)
        {
            Assert.Equal(Norm(red[x], 0, m), dst[8 + x], 5);
        }
    }

    [Fact]
    public void Undecodable_bytes_give_one_clear_error()
    {
        var p = new Preprocessor(GistModel.Manifest);
        var e = Assert.Throws<Harvester.Core.HarvesterException>(() => p.Process("GIF89a but not really"u8, new float[GistModel.Manifest.ValuesPerImage]));
        Assert.Contains("cannot be decoded", e.Message);
    }
}
