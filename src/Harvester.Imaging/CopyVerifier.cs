using OpenCvSharp;

namespace Harvester.Imaging;

/// <summary>
/// Pixel-level confirmation that two images show the same photograph: one may be a mirrored, cropped (by up to
/// <see cref="MinScale"/> of each side kept), re-encoded, resized, recoloured or overlaid copy of the other. Meant for
/// the few candidate pairs an embedding's nearest neighbours propose: embeddings find copies that hashes miss, but
/// also call distinct photos of one scene (two tiles of a meadow) near-identical, while pixels of distinct photos do
/// not line up. The score is the best normalised cross-correlation (insensitive to brightness and contrast) of the
/// smaller image's thumbnail slid over the larger one's, over a range of scales, straight and mirrored. Thumbnails are
/// band-passed first (minus a blur of themselves): two photos of one smooth sky correlate on their gradient alone,
/// while a copy keeps the structure in between.
/// </summary>
public static class CopyVerifier
{
    /// <summary>Thumbnail width: enough structure to tell photos apart, small enough for a few thousand pairs a second.</summary>
    public const int ThumbnailWidth = 64;

    /// <summary>Smallest share of the larger image's width that the other may cover (a crop removing up to 40 %).</summary>
    public const double MinScale = 0.6;

    private const double ScaleStep = 0.05;

    /// <summary>Gaussian blur subtracted from each thumbnail, in thumbnail pixels.</summary>
    private const double LowPassSigma = 3.0;

    /// <summary>
    /// The thumbnail of encoded image bytes, decoded as the curate stage decodes (EXIF orientation, reduced JPEG
    /// decoding); throws <see cref="ImageRejectedException"/> for bytes that are not an image.
    /// </summary>
    public static Mat Thumbnail(byte[] encoded)
    {
        using var decoded = new ImageDecoder(long.MaxValue, long.MaxValue, 4 * ThumbnailWidth).Decode(encoded);
        return Thumbnail(decoded.Pixels);
    }

    /// <summary>A band-passed grey thumbnail <see cref="ThumbnailWidth"/> wide (aspect kept).</summary>
    public static Mat Thumbnail(Mat bgr)
    {
        ArgumentNullException.ThrowIfNull(bgr);
        using var grey = new Mat();
        if (bgr.Channels() == 1)
        {
            bgr.CopyTo(grey);
        }
        else
        {
            Cv2.CvtColor(bgr, grey, ColorConversionCodes.BGR2GRAY);
        }

        var height = Math.Max(8, (int)Math.Round((double)ThumbnailWidth * bgr.Height / bgr.Width));
        var thumb = new Mat();
        Cv2.Resize(grey, thumb, new Size(ThumbnailWidth, height), 0, 0, InterpolationFlags.Area);
        using var f = new Mat();
        thumb.ConvertTo(f, MatType.CV_32F);
        thumb.Dispose();
        using var low = new Mat();
        Cv2.GaussianBlur(f, low, new Size(0, 0), LowPassSigma, LowPassSigma, BorderTypes.Reflect101);
        var band = new Mat();
        Cv2.Subtract(f, low, band);
        return band;
    }

    /// <summary>The best correlation in [-1, 1] of either thumbnail found inside the other (straight or mirrored, at <see cref="MinScale"/> to 1).</summary>
    public static double Score(Mat a, Mat b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return Math.Max(Inside(a, b), Inside(b, a));
    }

    /// <summary>How well <paramref name="part"/> (straight or mirrored), scaled to cover 60-100 % of <paramref name="whole"/>'s width, matches somewhere in it.</summary>
    private static double Inside(Mat whole, Mat part)
    {
        var best = -1.0;
        using var mirrored = new Mat();
        Cv2.Flip(part, mirrored, FlipMode.Y);
        foreach (var candidate in new[] { part, mirrored })
        {
            for (var scale = 1.0; scale >= MinScale - 1e-9; scale -= ScaleStep)
            {
                var w = (int)Math.Round(whole.Width * scale);
                var h = (int)Math.Round((double)w * candidate.Height / candidate.Width);
                if (h > whole.Height || h < 8 || w < 8)
                {
                    continue;
                }

                using var resized = new Mat();
                Cv2.Resize(candidate, resized, new Size(w, h), 0, 0, InterpolationFlags.Area);
                using var result = new Mat();
                Cv2.MatchTemplate(whole, resized, result, TemplateMatchModes.CCoeffNormed);
                result.MinMaxLoc(out double _, out double max);
                if (double.IsFinite(max) && max > best)
                {
                    best = max;
                }
            }
        }

        return best;
    }
}
