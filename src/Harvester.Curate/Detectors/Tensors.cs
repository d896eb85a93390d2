using Harvester.Imaging;
using OpenCvSharp;

namespace Harvester.Curate.Detectors;

internal static class Tensors
{
    /// <summary>The frame scaled into a square of <paramref name="size"/>, centred on <paramref name="pad"/>.</summary>
    public static Mat LetterboxImage(Mat bgr, Letterbox box, Scalar pad)
    {
        using var scaled = new Mat();
        Cv2.Resize(bgr, scaled, new Size(box.ScaledWidth, box.ScaledHeight), 0, 0, box.Scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
        var square = new Mat(new Size(box.Size, box.Size), MatType.CV_8UC3, pad);
        using (var roi = new Mat(square, new Rect(box.PadX, box.PadY, box.ScaledWidth, box.ScaledHeight)))
        {
            scaled.CopyTo(roi);
        }

        return square;
    }

    /// <summary>NHWC RGB: value * scale + offset.</summary>
    public static void FillNhwcRgb(Mat bgr, Span<float> target, float scale, float offset)
    {
        var src = bgr.AsSpan<byte>();
        for (var i = 0; i < src.Length; i += 3)
        {
            target[i] = (src[i + 2] * scale) + offset;
            target[i + 1] = (src[i + 1] * scale) + offset;
            target[i + 2] = (src[i] * scale) + offset;
        }
    }

    /// <summary>NCHW planes in the given channel order of the BGR source: (value / 255 - mean) / std.</summary>
    public static void FillNchw(Mat bgr, Span<float> target, ReadOnlySpan<int> sourceChannel, ReadOnlySpan<float> mean, ReadOnlySpan<float> std)
    {
        var src = bgr.AsSpan<byte>();
        var plane = bgr.Width * bgr.Height;
        for (var c = 0; c < 3; c++)
        {
            var s = sourceChannel[c];
            var m = mean[c];
            var inv = 1f / (255f * std[c]);
            var mOverStd = m / std[c];
            var dst = target.Slice(c * plane, plane);
            for (var p = 0; p < plane; p++)
            {
                dst[p] = (src[(p * 3) + s] * inv) - mOverStd;
            }
        }
    }
}
