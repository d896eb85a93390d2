using OpenCvSharp;

using Xunit;

namespace Harvester.Testing;

/// <summary>Named real photographs from the corpus's locked sources, and encoding helpers.</summary>
public static class TestImages
{
    public const string Skimage = "/usr/lib/python3/dist-packages/skimage/data";

    /// <summary>A real photograph with one frontal face (NASA portrait of Eileen Collins).</summary>
    public static string Astronaut => Path.Combine(Skimage, "astronaut.png");

    public static string Chelsea => Path.Combine(Skimage, "chelsea.png");

    public static string Coffee => Path.Combine(Skimage, "coffee.png");

    /// <summary>A large landscape photograph (no people, no text).</summary>
    public static string Landscape => "/usr/share/backgrounds/mate/nature/Garden.jpg";

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static Mat Read(string path)
    {
        var m = Cv2.ImRead(path, ImreadModes.Color);
        Assert.False(m.Empty(), $"cannot read {path}");
        return m;
    }

    public static byte[] Jpeg(Mat m, int quality = 92) => m.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, quality));

    public static byte[] Png(Mat m) => m.ImEncode(".png");

    /// <summary>The photo scaled so its long side is <paramref name="longSide"/>.</summary>
    public static Mat Scaled(Mat m, int longSide)
    {
        var s = (double)longSide / Math.Max(m.Width, m.Height);
        var r = new Mat();
        Cv2.Resize(m, r, new Size((int)Math.Round(m.Width * s), (int)Math.Round(m.Height * s)), 0, 0, s < 1 ? InterpolationFlags.Area : InterpolationFlags.Cubic);
        return r;
    }
}
