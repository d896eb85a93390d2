using System.Buffers;
using System.Runtime.CompilerServices;
using Harvester.Core;
using OpenCvSharp;

namespace Harvester.Embed;

/// <summary>
/// Turns decoded pixels into one image's slice of the model's input tensor, following the manifest's recipe.
/// "bilinear-antialias" reproduces Pillow's BILINEAR resize bit for bit (the fixed-point separable filter with
/// 8-bit rounding after each pass that torchvision's Resize applies to PIL images when ImageNet/CLIP models are
/// trained); "bilinear" is the float half-pixel filter without antialiasing (torch interpolate, antialias=False).
/// The centre crop uses torchvision's offsets (round half to even).
/// </summary>
public sealed class Preprocessor(ModelManifest manifest)
{
    private const int PrecisionBits = 32 - 8 - 2;

    public ModelManifest Manifest { get; } = manifest;

    /// <summary>Decodes image bytes (EXIF orientation applied) and writes the tensor slice.</summary>
    public void Process(ReadOnlySpan<byte> encoded, Span<float> destination)
    {
        using var mat = Manifest.IsIsoCrop ? DecodeKeepingAlpha(encoded) : Decode(encoded);
        Process(mat, destination);
    }

    public static Mat Decode(ReadOnlySpan<byte> encoded) => Decode(encoded, ImreadModes.Color);

    /// <summary>
    /// As <see cref="Decode(ReadOnlySpan{byte})"/>, except that a PNG or WebP with an alpha channel comes back as BGRA
    /// with premultiplied colour, which is how Skia decodes it for ML.NET: a transparent pixel counts as black, whatever
    /// colour the file stores under it. Everything else decodes as BGR.
    /// </summary>
    public static Mat DecodeKeepingAlpha(ReadOnlySpan<byte> encoded)
    {
        var png = encoded.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G']);
        var webp = encoded.Length > 12 && encoded[..4].SequenceEqual("RIFF"u8) && encoded.Slice(8, 4).SequenceEqual("WEBP"u8);
        if (!png && !webp)
        {
            return Decode(encoded);
        }

        var raw = Decode(encoded, ImreadModes.Unchanged);
        if (raw.Type() != MatType.CV_8UC4)
        {
            raw.Dispose();
            return Decode(encoded);
        }

        Premultiply(raw);
        return raw;
    }

    private static Mat Decode(ReadOnlySpan<byte> encoded, ImreadModes mode)
    {
        Mat mat;
        try
        {
            mat = encoded.IsEmpty ? new Mat() : Cv2.ImDecode(encoded, mode);
        }
        catch (OpenCVException e)
        {
            throw new HarvesterException($"The image cannot be decoded ({encoded.Length} bytes): {e.Message}", e);
        }

        if (mat.Empty())
        {
            mat.Dispose();
            throw new HarvesterException($"The image cannot be decoded ({encoded.Length} bytes): not a JPEG, PNG, WebP, BMP or TIFF that OpenCV reads.");
        }

        return mat;
    }

    /// <summary>Colour times alpha / 255, rounded, as Skia's decoders premultiply.</summary>
    private static unsafe void Premultiply(Mat bgra)
    {
        var rows = bgra.Rows;
        var width = bgra.Cols;
        var step = (int)bgra.Step();
        var p = new Span<byte>((void*)bgra.Data, step * rows);
        for (var y = 0; y < rows; y++)
        {
            var row = p.Slice(y * step, width * 4);
            for (var x = 0; x < row.Length; x += 4)
            {
                int a = row[x + 3];
                if (a == 255)
                {
                    continue;
                }

                row[x] = (byte)(((row[x] * a) + 127) / 255);
                row[x + 1] = (byte)(((row[x + 1] * a) + 127) / 255);
                row[x + 2] = (byte)(((row[x + 2] * a) + 127) / 255);
            }
        }
    }

    public unsafe void Process(Mat image, Span<float> destination)
    {
        var type = image.Type();
        if (type != MatType.CV_8UC3 && !(type == MatType.CV_8UC4 && Manifest.IsIsoCrop))
        {
            throw new ArgumentException("Expected an 8-bit, 3-channel BGR image.", nameof(image));
        }

        var stride = (int)image.Step();
        var pixels = new ReadOnlySpan<byte>((void*)image.Data, stride * image.Rows);
        Process(pixels, image.Width, image.Height, stride, destination, image.Channels());
    }

    /// <summary>Core of the recipe on interleaved 8-bit BGR rows (<paramref name="stride"/> bytes apart; BGRA with premultiplied colour for iso-crop).</summary>
    public void Process(ReadOnlySpan<byte> bgr, int width, int height, int stride, Span<float> destination, int channels = 3)
    {
        var m = Manifest;
        if (destination.Length < m.ValuesPerImage)
        {
            throw new ArgumentException($"Destination holds {destination.Length} values; the model needs {m.ValuesPerImage}.", nameof(destination));
        }

        if (width < 1 || height < 1)
        {
            throw new ArgumentException("Empty image.", nameof(width));
        }

        if (m.IsIsoCrop)
        {
            ResizeMlNet(bgr, width, height, stride, channels, destination);
            return;
        }

        var (rw, rh) = ResizedSize(width, height);
        var left = m.IsCenterCrop ? CropOffset(rw, m.Width) : 0;
        var top = m.IsCenterCrop ? CropOffset(rh, m.Height) : 0;
        if (m.IsAntialiased)
        {
            ResizePil(bgr, width, height, stride, rw, rh, left, top, destination);
        }
        else
        {
            ResizeFloat(bgr, width, height, stride, rw, rh, left, top, destination);
        }
    }

    /// <summary>ML.NET's ResizeImages (iso-crop, skia-high) into 8-bit pixels, then the manifest's scale, mean and layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ResizeMlNet(ReadOnlySpan<byte> src, int width, int height, int stride, int channels, Span<float> dst)
    {
        var m = Manifest;
        var plane = m.Width * m.Height;
        var resized = ArrayPool<byte>.Shared.Rent(plane * 3);
        try
        {
            MlNetResize.Resize(src, width, height, stride, channels, resized, m.Width, m.Height);
            for (var y = 0; y < m.Height; y++)
            {
                var row = y * m.Width;
                for (var x = 0; x < m.Width; x++)
                {
                    var o = (row + x) * 3;
                    Store(dst, plane, y, x, resized[o], resized[o + 1], resized[o + 2]);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(resized);
        }
    }

    /// <summary>Size after the resize step, before the centre crop (torchvision: the longer side is truncated).</summary>
    public (int Width, int Height) ResizedSize(int width, int height)
    {
        var m = Manifest;
        if (!m.IsCenterCrop)
        {
            return (m.Width, m.Height);
        }

        var shorter = m.ResizeShorterSide > 0 ? m.ResizeShorterSide : Math.Max(m.Width, m.Height);
        return width <= height
            ? (shorter, (int)((long)shorter * height / width))
            : ((int)((long)shorter * width / height), shorter);
    }

    /// <summary>torchvision CenterCrop: int(round((size - crop) / 2.0)) with Python's round half to even.</summary>
    public static int CropOffset(int size, int crop) => (int)Math.Round((size - crop) / 2.0, MidpointRounding.ToEven);

    // The resize kernels run 10^5-10^6 multiply-adds per image and call Store/Clip8 for every output pixel. Left to
    // tiered compilation they start as unoptimised code with a call per pixel, and in a fresh process (where the rest
    // of the app is still being compiled) their promotion waits for seconds of work; so they are compiled fully
    // optimised at once, with the per-pixel helpers inlined.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ResizePil(ReadOnlySpan<byte> src, int width, int height, int stride, int rw, int rh, int left, int top, Span<float> dst)
    {
        var m = Manifest;
        var (xStart, xCount, xWeights, xTaps) = FixedCoefficients(width, rw, left, m.Width);
        var (yStart, yCount, yWeights, yTaps) = FixedCoefficients(height, rh, top, m.Height);
        var rowLo = yStart[0];
        var rowHi = yStart[m.Height - 1] + yCount[m.Height - 1];
        for (var i = 0; i < m.Height; i++)
        {
            rowLo = Math.Min(rowLo, yStart[i]);
            rowHi = Math.Max(rowHi, yStart[i] + yCount[i]);
        }

        var rows = rowHi - rowLo;
        var tmp = ArrayPool<byte>.Shared.Rent(rows * m.Width * 3);
        try
        {
            // Horizontal pass on the rows the vertical pass reads, rounded to 8 bits as Pillow does.
            for (var r = 0; r < rows; r++)
            {
                var line = src.Slice((rowLo + r) * stride, width * 3);
                var outLine = tmp.AsSpan(r * m.Width * 3, m.Width * 3);
                for (var x = 0; x < m.Width; x++)
                {
                    int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                    var w = xWeights.AsSpan(x * xTaps, xCount[x]);
                    var p = line[(xStart[x] * 3)..];
                    for (var t = 0; t < w.Length; t++)
                    {
                        s0 += p[t * 3] * w[t];
                        s1 += p[t * 3 + 1] * w[t];
                        s2 += p[t * 3 + 2] * w[t];
                    }

                    outLine[x * 3] = Clip8(s0);
                    outLine[x * 3 + 1] = Clip8(s1);
                    outLine[x * 3 + 2] = Clip8(s2);
                }
            }

            var plane = m.Width * m.Height;
            for (var y = 0; y < m.Height; y++)
            {
                var w = yWeights.AsSpan(y * yTaps, yCount[y]);
                var first = yStart[y] - rowLo;
                for (var x = 0; x < m.Width; x++)
                {
                    int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                    for (var t = 0; t < w.Length; t++)
                    {
                        var o = ((first + t) * m.Width + x) * 3;
                        s0 += tmp[o] * w[t];
                        s1 += tmp[o + 1] * w[t];
                        s2 += tmp[o + 2] * w[t];
                    }

                    Store(dst, plane, y, x, Clip8(s0), Clip8(s1), Clip8(s2));
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(tmp);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ResizeFloat(ReadOnlySpan<byte> src, int width, int height, int stride, int rw, int rh, int left, int top, Span<float> dst)
    {
        var m = Manifest;
        var (xStart, xCount, xWeights, xTaps) = FloatCoefficients(width, rw, left, m.Width, antialias: false);
        var (yStart, yCount, yWeights, yTaps) = FloatCoefficients(height, rh, top, m.Height, antialias: false);
        var plane = m.Width * m.Height;
        for (var y = 0; y < m.Height; y++)
        {
            for (var x = 0; x < m.Width; x++)
            {
                double s0 = 0, s1 = 0, s2 = 0;
                for (var ty = 0; ty < yCount[y]; ty++)
                {
                    var wy = yWeights[y * yTaps + ty];
                    var line = src[((yStart[y] + ty) * stride)..];
                    for (var tx = 0; tx < xCount[x]; tx++)
                    {
                        var w = wy * xWeights[x * xTaps + tx];
                        var o = (xStart[x] + tx) * 3;
                        s0 += line[o] * w;
                        s1 += line[o + 1] * w;
                        s2 += line[o + 2] * w;
                    }
                }

                Store(dst, plane, y, x, (float)s0, (float)s1, (float)s2);
            }
        }
    }

    /// <summary>Writes one pixel (given as B, G, R in 0..255) normalised, in the model's channel order and layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Store(Span<float> dst, int plane, int y, int x, float b, float g, float r)
    {
        var m = Manifest;
        var (c0, c2) = m.IsBgr ? (b, r) : (r, b);
        var v0 = (c0 * m.Scale - m.Mean[0]) / m.Std[0];
        var v1 = (g * m.Scale - m.Mean[1]) / m.Std[1];
        var v2 = (c2 * m.Scale - m.Mean[2]) / m.Std[2];
        if (m.IsNhwc)
        {
            var o = (y * m.Width + x) * 3;
            dst[o] = v0;
            dst[o + 1] = v1;
            dst[o + 2] = v2;
        }
        else
        {
            var o = y * m.Width + x;
            dst[o] = v0;
            dst[plane + o] = v1;
            dst[2 * plane + o] = v2;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Clip8(int v)
    {
        var s = v >> PrecisionBits;
        return (byte)Math.Clamp(s, 0, 255);
    }

    /// <summary>Pillow's precompute_coeffs + normalize_coeffs_8bpc for output indices [first, first + count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (int[] Start, int[] Count, int[] Weights, int Taps) FixedCoefficients(int inSize, int outSize, int first, int count)
    {
        var (start, n, weights, taps) = FloatCoefficients(inSize, outSize, first, count, antialias: true);
        var fixedWeights = new int[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            var k = weights[i] * (1 << PrecisionBits);
            fixedWeights[i] = (int)(k < 0 ? k - 0.5 : k + 0.5);
        }

        return (start, n, fixedWeights, taps);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (int[] Start, int[] Count, double[] Weights, int Taps) FloatCoefficients(int inSize, int outSize, int first, int count, bool antialias)
    {
        var scale = (double)inSize / outSize;
        var filterScale = antialias ? Math.Max(scale, 1.0) : 1.0;
        var support = filterScale;
        var taps = (int)Math.Ceiling(support) * 2 + 1;
        var start = new int[count];
        var n = new int[count];
        var weights = new double[count * taps];
        for (var i = 0; i < count; i++)
        {
            var center = (first + i + 0.5) * scale;
            var ss = 1.0 / filterScale;
            var xmin = Math.Max((int)(center - support + 0.5), 0);
            var xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            xmax = Math.Min(xmax, taps);
            double total = 0;
            for (var x = 0; x < xmax; x++)
            {
                var w = Triangle((x + xmin - center + 0.5) * ss);
                weights[i * taps + x] = w;
                total += w;
            }

            if (total != 0)
            {
                for (var x = 0; x < xmax; x++)
                {
                    weights[i * taps + x] /= total;
                }
            }

            start[i] = xmin;
            n[i] = Math.Max(xmax, 0);
        }

        return (start, n, weights, taps);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Triangle(double x)
    {
        x = Math.Abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }
}
