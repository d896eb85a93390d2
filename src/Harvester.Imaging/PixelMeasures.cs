using OpenCvSharp;

namespace Harvester.Imaging;

/// <summary>Scores computed from the pixels alone (no model): sharpness, exposure, information and colour.</summary>
public sealed record PixelScores(double Sharpness, double MeanLuma, double DarkFraction, double BrightFraction, double Entropy, double Colorfulness);

public static class PixelMeasures
{
    /// <summary>Long side the sharpness is measured at, so the score does not depend on the upload's resolution.</summary>
    public const int SharpnessSize = 512;
    public const int DarkLevel = 40;
    public const int BrightLevel = 215;

    public static PixelScores Measure(Mat bgr)
    {
        ArgumentNullException.ThrowIfNull(bgr);
        using var grey = new Mat();
        Cv2.CvtColor(bgr, grey, ColorConversionCodes.BGR2GRAY);
        return Measure(bgr, grey);
    }

    /// <summary>The same scores when the caller already has the grey image (it also feeds the hashes).</summary>
    public static PixelScores Measure(Mat bgr, Mat grey)
    {
        ArgumentNullException.ThrowIfNull(bgr);
        ArgumentNullException.ThrowIfNull(grey);
        var (dark, bright, entropy) = Exposure(grey);
        return new PixelScores(Sharpness(grey), Cv2.Mean(grey).Val0, dark, bright, entropy, Colorfulness(bgr));
    }

    /// <summary>
    /// Variance of the Laplacian of the grey image, brought down to a long side of at most <see cref="SharpnessSize"/>
    /// so large photos are judged at a common scale. Smaller images are measured as they are: upscaling would
    /// manufacture blur and reject sharp small photos as blurry (smallness has its own reason, too-small).
    /// </summary>
    public static double Sharpness(Mat grey)
    {
        var longSide = Math.Max(grey.Width, grey.Height);
        var scale = Math.Min(1.0, (double)SharpnessSize / longSide);
        using var norm = new Mat();
        Cv2.Resize(grey, norm, new Size(Math.Max(1, (int)Math.Round(grey.Width * scale)), Math.Max(1, (int)Math.Round(grey.Height * scale))), 0, 0,
            scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
        using var lap = new Mat();
        Cv2.Laplacian(norm, lap, MatType.CV_64F);
        Cv2.MeanStdDev(lap, out _, out var std);
        return std.Val0 * std.Val0;
    }

    /// <summary>Mean of max(B,G,R) - min(B,G,R): 0 for a grey image, tens for ordinary colour photos.</summary>
    public static double Colorfulness(Mat bgr)
    {
        var ch = bgr.Split();
        try
        {
            using var max = new Mat();
            using var min = new Mat();
            Cv2.Max(ch[0], ch[1], max);
            Cv2.Max(max, ch[2], max);
            Cv2.Min(ch[0], ch[1], min);
            Cv2.Min(min, ch[2], min);
            using var chroma = new Mat();
            Cv2.Subtract(max, min, chroma);
            return Cv2.Mean(chroma).Val0;
        }
        finally
        {
            foreach (var c in ch)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>Shares of near-black and near-white pixels and the Shannon entropy of the luma histogram.</summary>
    private static (double Dark, double Bright, double Entropy) Exposure(Mat grey)
    {
        using var hist = new Mat();
        Cv2.CalcHist([grey], [0], null, hist, 1, [256], [new Rangef(0, 256)]);
        hist.GetArray(out float[] h);
        double total = grey.Total();
        double dark = 0, bright = 0, entropy = 0;
        for (var i = 0; i < 256; i++)
        {
            var p = h[i] / total;
            if (i < DarkLevel)
            {
                dark += p;
            }

            if (i > BrightLevel)
            {
                bright += p;
            }

            if (p > 0)
            {
                entropy -= p * Math.Log2(p);
            }
        }

        return (dark, bright, entropy);
    }
}
