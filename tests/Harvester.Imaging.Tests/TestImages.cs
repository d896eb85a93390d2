using Harvester.Imaging.Corpus;
using OpenCvSharp;

namespace Harvester.Imaging.Tests;

/// <summary>Real photographs from the Debian packages, the installed detector models and encoding helpers.</summary>
internal static class TestImages
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

    /// <summary>The models directory that scripts/setup.sh fills: $HARVESTER_MODELS_DIR, $HARVESTER_HOME/models, else the checkout's .harvester/models.</summary>
    public static string ModelsRoot
    {
        get
        {
            if (Environment.GetEnvironmentVariable("HARVESTER_MODELS_DIR") is { Length: > 0 } dir)
            {
                return dir;
            }

            if (Environment.GetEnvironmentVariable("HARVESTER_HOME") is { Length: > 0 } home)
            {
                return Path.Combine(home, "models");
            }

            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "Harvester.sln")))
            {
                d = d.Parent;
            }

            Assert.NotNull(d);
            return Path.Combine(d.FullName, ".harvester", "models");
        }
    }

    public static CurationOptions Options(Action<CurationOptions>? configure = null)
    {
        var o = new CurationOptions();
        configure?.Invoke(o);
        return o;
    }

    private static readonly Lazy<ImageAnalyzer> SharedAnalyzer = new(() => new ImageAnalyzer(Options(), ModelsRoot));

    /// <summary>One analyzer with both detectors for the whole test run (the models take a moment to load).</summary>
    public static ImageAnalyzer Analyzer => SharedAnalyzer.Value;

    public static IReadOnlyList<CorpusPhoto> Corpus(int n) => PhotoCorpus.Distinct(n);
}
