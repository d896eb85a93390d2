using System.Security.Cryptography;
using OpenCvSharp;

namespace Harvester.Imaging;

/// <summary>A decoded photo: 8-bit BGR at a reduced scale whose long side is close to the analysis size.</summary>
public sealed class DecodedImage(ImageHeader header, Mat pixels, byte[] pixelHash) : IDisposable
{
    public ImageHeader Header { get; } = header;

    /// <summary>Displayed (EXIF-oriented) size of the original.</summary>
    public int Width => Header.Width;

    public int Height => Header.Height;

    /// <summary>8-bit BGR, orientation applied, long side at most the analysis size.</summary>
    public Mat Pixels { get; } = pixels;

    /// <summary>SHA-256 of the decoded pixels before resizing: equal for the same photo in another container or with other metadata.</summary>
    public byte[] PixelHash { get; } = pixelHash;

    public void Dispose() => Pixels.Dispose();
}

/// <summary>
/// Decodes untrusted bytes with OpenCV: header first (format, size, bomb cap, truncation), then JPEGs at a reduced
/// DCT scale, everything normalised to 8-bit BGR (grey, CMYK, 16-bit and alpha included) with EXIF orientation.
/// </summary>
public sealed class ImageDecoder(long maxFileBytes, long maxPixels, int analysisSize)
{
    private readonly DecodeLimits _limits = new(maxFileBytes, maxPixels);

    public int AnalysisSize { get; } = analysisSize;

    /// <summary>Decodes or throws <see cref="ImageRejectedException"/> with the reason to record.</summary>
    public DecodedImage Decode(byte[] data)
    {
        var header = _limits.Check(data);
        if (!header.Complete)
        {
            throw new ImageRejectedException("truncated", $"{header.Format} data ends before the end of the image");
        }

        var decoded = header.Format == ImageFormat.Jpeg ? DecodeJpeg(data, header) : DecodeOther(data);
        try
        {
            if (decoded.Empty())
            {
                throw new ImageRejectedException("decode-failed", $"{header.Format} data could not be decoded");
            }

            var hash = PixelHash(decoded);
            var analysis = ResizeToAnalysis(decoded);
            return new DecodedImage(header, analysis, hash);
        }
        finally
        {
            decoded.Dispose();
        }
    }

    /// <summary>Reduced-size decoding: the largest DCT scale (1/2, 1/4, 1/8) that keeps the long side at or above the analysis size.</summary>
    public static int ReductionFor(ImageHeader header, int analysisSize)
    {
        var longSide = Math.Max(header.StoredWidth, header.StoredHeight);
        foreach (var f in (int[])[8, 4, 2])
        {
            if (longSide / f >= analysisSize)
            {
                return f;
            }
        }

        return 1;
    }

    private Mat DecodeJpeg(byte[] data, ImageHeader header)
    {
        var mode = ReductionFor(header, AnalysisSize) switch
        {
            8 => ImreadModes.ReducedColor8,
            4 => ImreadModes.ReducedColor4,
            2 => ImreadModes.ReducedColor2,
            _ => ImreadModes.Color,
        };

        // Colour modes convert grey and CMYK to BGR and apply the EXIF orientation.
        return Cv2.ImDecode(data, mode);
    }

    private static Mat DecodeOther(byte[] data)
    {
        var raw = Cv2.ImDecode(data, ImreadModes.Unchanged);
        if (raw.Empty())
        {
            return raw;
        }

        var m = raw;
        if (m.Depth() != MatType.CV_8U)
        {
            var eight = new Mat();
            var scale = m.Depth() == MatType.CV_16U ? 1.0 / 257.0 : m.Depth() is MatType.CV_32F or MatType.CV_64F ? 255.0 : 1.0;
            m.ConvertTo(eight, MatType.CV_8U, scale);
            m.Dispose();
            m = eight;
        }

        switch (m.Channels())
        {
            case 1:
            {
                var bgr = new Mat();
                Cv2.CvtColor(m, bgr, ColorConversionCodes.GRAY2BGR);
                m.Dispose();
                return bgr;
            }

            case 4:
            {
                var bgr = CompositeOnWhite(m);
                m.Dispose();
                return bgr;
            }

            default:
                return m;
        }
    }

    /// <summary>Transparent areas become white, as a browser shows them on a white page (their stored colour is arbitrary).</summary>
    private static Mat CompositeOnWhite(Mat bgra)
    {
        var channels = bgra.Split();
        try
        {
            using var alpha = new Mat();
            channels[3].ConvertTo(alpha, MatType.CV_32F, 1.0 / 255.0);
            using var inverse = new Mat();
            Cv2.Subtract(Scalar.All(1.0), alpha, inverse);
            var outChannels = new Mat[3];
            for (var c = 0; c < 3; c++)
            {
                using var f = new Mat();
                channels[c].ConvertTo(f, MatType.CV_32F);
                using var blended = new Mat();
                Cv2.Multiply(f, alpha, blended);
                using var white = new Mat();
                Cv2.Multiply(inverse, Scalar.All(255.0), white);
                Cv2.Add(blended, white, blended);
                outChannels[c] = new Mat();
                blended.ConvertTo(outChannels[c], MatType.CV_8U);
            }

            var result = new Mat();
            Cv2.Merge(outChannels, result);
            foreach (var o in outChannels)
            {
                o.Dispose();
            }

            return result;
        }
        finally
        {
            foreach (var c in channels)
            {
                c.Dispose();
            }
        }
    }

    private static byte[] PixelHash(Mat bgr)
    {
        using var continuous = bgr.IsContinuous() ? null : bgr.Clone();
        var m = continuous ?? bgr;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> dims = stackalloc byte[8];
        BitConverter.TryWriteBytes(dims, m.Width);
        BitConverter.TryWriteBytes(dims[4..], m.Height);
        sha.AppendData(dims);
        sha.AppendData(m.AsSpan<byte>());

        return sha.GetHashAndReset();
    }

    private Mat ResizeToAnalysis(Mat bgr)
    {
        var longSide = Math.Max(bgr.Width, bgr.Height);
        if (longSide <= AnalysisSize)
        {
            return bgr.Clone();
        }

        var scale = (double)AnalysisSize / longSide;
        var size = new Size(Math.Max(1, (int)Math.Round(bgr.Width * scale)), Math.Max(1, (int)Math.Round(bgr.Height * scale)));
        var resized = new Mat();
        Cv2.Resize(bgr, resized, size, 0, 0, InterpolationFlags.Area);
        return resized;
    }
}
