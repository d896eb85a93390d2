using System.Buffers;
using System.Runtime.CompilerServices;

namespace Harvester.Embed;

/// <summary>
/// What ML.NET 5.0.1's <c>ResizeImages(w, h)</c> computes with its defaults (IsoCrop, centre anchor), bit for bit,
/// without SkiaSharp 2.88. ML.NET scales the image so it covers w x h and draws it with
/// <c>SKPaint.FilterQuality = High</c> into an opaque 8-bit canvas. Inside that Skia (milestone 88) "High" means:
/// <list type="bullet">
/// <item>shrinking: one mipmap level, floor(log2(1 / scale)), built by Skia's box filters ([1,1] taps for an even
/// extent, [1,2,1] for an odd one, truncating), then sampled by the 8-bit bilinear stage (area weights in 1/256,
/// the last one 256 minus the others, rounded (acc + 128) >> 8);</item>
/// <item>growing: bicubic with B = C = 1/3 in float, without fused multiply-adds, rounded half to even;</item>
/// <item>scale exactly 1: a plain crop.</item>
/// </list>
/// SkiaSharp 3 and 4 (the one Harvester links) no longer expose that filter, and none of their sampling options gives
/// the same pixels, hence this port. Pixels outside the drawn rectangle (a one-pixel edge when the scaled size
/// truncates short) are black, as the freshly allocated canvas is in ML.NET.
/// </summary>
public static class MlNetResize
{
    /// <summary>
    /// Resizes interleaved 8-bit pixels (B, G, R and, when <paramref name="channels"/> is 4, premultiplied alpha) to
    /// <paramref name="width"/> x <paramref name="height"/> B, G, R bytes in <paramref name="dst"/>.
    /// </summary>
    public static void Resize(ReadOnlySpan<byte> src, int srcWidth, int srcHeight, int stride, int channels, Span<byte> dst, int width, int height)
    {
        if (channels is not (3 or 4))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "3 (BGR) or 4 (BGRA) channels.");
        }

        if (dst.Length < width * height * 3)
        {
            throw new ArgumentException($"Destination holds {dst.Length} bytes; {width * height * 3} needed.", nameof(dst));
        }

        var image = new Image(src, srcWidth, srcHeight, stride, channels);
        if (srcWidth == width && srcHeight == height)
        {
            // ML.NET hands an image of the target size on untouched.
            Crop(image, 0, 0, 0, width, 0, height, dst, width);
            return;
        }

        // MLImage.ResizeWithCrop, Anchor.Center: the same float expressions, truncated by (int) casts.
        var widthAspect = (float)width / srcWidth;
        var heightAspect = (float)height / srcHeight;
        int destX = 0, destY = 0;
        float aspect;
        if (heightAspect < widthAspect)
        {
            aspect = widthAspect;
            destY = (int)((height - (srcHeight * aspect)) / 2);
        }
        else
        {
            aspect = heightAspect;
            destX = (int)((width - (srcWidth * aspect)) / 2);
        }

        var destW = (int)(srcWidth * aspect);
        var destH = (int)(srcHeight * aspect);

        // Skia maps the destination back into the source through the inverse of RectToRect(src, dest).
        var sx = (float)destW / srcWidth;
        var sy = (float)destH / srcHeight;
        var isx = 1f / sx;
        var isy = 1f / sy;
        var itx = -destX * isx;
        var ity = -destY * isy;

        dst[..(width * height * 3)].Clear();
        int x0 = Math.Max(0, destX), x1 = Math.Min(width, destX + destW);
        int y0 = Math.Max(0, destY), y1 = Math.Min(height, destY + destH);
        if (Math.Min(sx, sy) < 1f)
        {
            var level = 0;
            if (isx > 1f || isy > 1f)
            {
                level = (int)MathF.Floor(-MathF.Log2(Math.Min(1f / isx, 1f / isy)));
            }

            byte[]? rented = null;
            try
            {
                var mip = image;
                for (var i = 0; i < level && (mip.Width > 1 || mip.Height > 1); i++)
                {
                    var next = Downsample(mip, out var w, out var h);
                    if (rented is not null)
                    {
                        ArrayPool<byte>.Shared.Return(rented);
                    }

                    rented = next;
                    mip = new Image(next.AsSpan(0, w * h * mip.Channels), w, h, w * mip.Channels, mip.Channels);
                }

                // The level's own scale, folded into the inverse matrix as SkMipmap does.
                var lsx = (float)mip.Width / srcWidth;
                var lsy = (float)mip.Height / srcHeight;
                Bilerp(mip, isx * lsx, itx * lsx, isy * lsy, ity * lsy, x0, x1, y0, y1, dst, width);
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }
        else if (sx == 1f && sy == 1f)
        {
            Crop(image, destX, destY, x0, x1, y0, y1, dst, width);
        }
        else
        {
            Bicubic(image, isx, itx, isy, ity, x0, x1, y0, y1, dst, width);
        }
    }

    /// <summary>A view of interleaved pixels; alpha is 255 when there are 3 channels.</summary>
    private readonly ref struct Image(ReadOnlySpan<byte> pixels, int width, int height, int stride, int channels)
    {
        public readonly ReadOnlySpan<byte> Pixels = pixels;
        public readonly int Width = width;
        public readonly int Height = height;
        public readonly int Stride = stride;
        public readonly int Channels = channels;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Alpha(int offset) => Channels == 4 ? Pixels[offset + 3] : 255;
    }

    /// <summary>No scaling: destination pixel (x, y) is source pixel (x - destX, y - destY).</summary>
    private static void Crop(Image img, int destX, int destY, int x0, int x1, int y0, int y1, Span<byte> dst, int width)
    {
        for (var y = y0; y < y1; y++)
        {
            var row = (y - destY) * img.Stride;
            for (var x = x0; x < x1; x++)
            {
                var o = row + ((x - destX) * img.Channels);
                var d = (y * width + x) * 3;
                dst[d] = img.Pixels[o];
                dst[d + 1] = img.Pixels[o + 1];
                dst[d + 2] = img.Pixels[o + 2];
            }
        }
    }

    /// <summary>One SkMipmap level: per axis [1,1] taps for an even extent, [1,2,1] for an odd one; sum >> log2(weights).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static byte[] Downsample(Image src, out int dw, out int dh)
    {
        int sw = src.Width, sh = src.Height, c = src.Channels;
        dw = Math.Max(1, sw >> 1);
        dh = Math.Max(1, sh >> 1);
        var owner = ArrayPool<byte>.Shared.Rent(dw * dh * c);
        var d = owner.AsSpan(0, dw * dh * c);
        var s = src.Pixels;
        var stride = src.Stride;
        var tx = sw == 1 ? 1 : (sw & 1) == 0 ? 2 : 3;
        var ty = sh == 1 ? 1 : (sh & 1) == 0 ? 2 : 3;
        if (tx == 2 && ty == 2)
        {
            for (var y = 0; y < dh; y++)
            {
                var r0 = s.Slice(2 * y * stride);
                var r1 = s.Slice((2 * y + 1) * stride);
                var o = d.Slice(y * dw * c, dw * c);
                for (var x = 0; x < dw; x++)
                {
                    var a = 2 * x * c;
                    for (var k = 0; k < c; k++)
                    {
                        o[x * c + k] = (byte)((r0[a + k] + r0[a + c + k] + r1[a + k] + r1[a + c + k]) >> 2);
                    }
                }
            }
        }
        else
        {
            ReadOnlySpan<int> w1 = [1], w2 = [1, 1], w3 = [1, 2, 1];
            var hx = tx == 1 ? w1 : tx == 2 ? w2 : w3;
            var vy = ty == 1 ? w1 : ty == 2 ? w2 : w3;
            var sum = 0;
            foreach (var a in hx)
            {
                foreach (var b in vy)
                {
                    sum += a * b;
                }
            }

            var shift = System.Numerics.BitOperations.Log2((uint)sum);
            for (var y = 0; y < dh; y++)
            {
                for (var x = 0; x < dw; x++)
                {
                    for (var k = 0; k < c; k++)
                    {
                        var acc = 0;
                        for (var j = 0; j < vy.Length; j++)
                        {
                            for (var i = 0; i < hx.Length; i++)
                            {
                                acc += vy[j] * hx[i] * s[(2 * y + j) * stride + (2 * x + i) * c + k];
                            }
                        }

                        d[(y * dw + x) * c + k] = (byte)(acc >> shift);
                    }
                }
            }
        }

        return owner;
    }

    /// <summary>Skia m88's 8-bit bilinear sampling (clamped to the edge).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Bilerp(Image img, float msx, float mtx, float msy, float mty, int x0, int x1, int y0, int y1, Span<byte> dst, int width)
    {
        var p = img.Pixels;
        int rb = img.Stride, c = img.Channels, wMax = img.Width - 1, hMax = img.Height - 1;
        for (var y = y0; y < y1; y++)
        {
            var cy = ((y + 0.5f) * msy) + mty;
            var fy = Fract(cy + 0.5f);
            var ya = Math.Clamp((int)MathF.Floor(cy - 0.5f), 0, hMax) * rb;
            var yb = Math.Clamp((int)MathF.Floor(cy + 0.5f), 0, hMax) * rb;
            for (var x = x0; x < x1; x++)
            {
                var cx = ((x + 0.5f) * msx) + mtx;
                var fx = Fract(cx + 0.5f);
                var xa = Math.Clamp((int)MathF.Floor(cx - 0.5f), 0, wMax) * c;
                var xb = Math.Clamp((int)MathF.Floor(cx + 0.5f), 0, wMax) * c;
                // Samples in Skia's order; the last weight makes the four sum to exactly 256.
                var a00 = (int)((1f - fx) * (1f - fy) * 256f);
                var a10 = (int)(fx * (1f - fy) * 256f);
                var a01 = (int)((1f - fx) * fy * 256f);
                var a11 = 256 - a00 - a10 - a01;
                int o00 = ya + xa, o10 = ya + xb, o01 = yb + xa, o11 = yb + xb;
                var d = (y * width + x) * 3;
                for (var k = 0; k < 3; k++)
                {
                    dst[d + k] = (byte)(((p[o00 + k] * a00) + (p[o10 + k] * a10) + (p[o01 + k] * a01) + (p[o11 + k] * a11) + 128) >> 8);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Fract(float v) => v - MathF.Floor(v);

    // Mitchell-Netravali B = C = 1/3 as Skia m88 writes it (in 18ths). Plain a * b + c: that Skia build does not fuse,
    // and .NET never contracts on its own; with fused multiply-adds a few values in a million differ by one.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Near(float t) => (t * ((t * ((-21 / 18f * t) + (27 / 18f))) + (9 / 18f))) + (1 / 18f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Far(float t) => t * t * ((7 / 18f * t) - (6 / 18f));

    /// <summary>Skia m88's float bicubic (4x4 taps, clamped to the edge, premultiplied clamp, round half to even).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Bicubic(Image img, float msx, float mtx, float msy, float mty, int x0, int x1, int y0, int y1, Span<byte> dst, int width)
    {
        var p = img.Pixels;
        int rb = img.Stride, c = img.Channels, wMax = img.Width - 1, hMax = img.Height - 1;
        Span<float> wx = stackalloc float[4];
        Span<float> wy = stackalloc float[4];
        for (var y = y0; y < y1; y++)
        {
            var cy = ((y + 0.5f) * msy) + mty;
            var fy = Fract(cy + 0.5f);
            wy[0] = Far(1 - fy);
            wy[1] = Near(1 - fy);
            wy[2] = Near(fy);
            wy[3] = Far(fy);
            for (var x = x0; x < x1; x++)
            {
                var cx = ((x + 0.5f) * msx) + mtx;
                var fx = Fract(cx + 0.5f);
                wx[0] = Far(1 - fx);
                wx[1] = Near(1 - fx);
                wx[2] = Near(fx);
                wx[3] = Far(fx);
                float b = 0, g = 0, r = 0, a = 0;
                var sampleY = cy - 1.5f;
                for (var j = 0; j < 4; j++, sampleY += 1f)
                {
                    var row = (int)Math.Clamp(sampleY, 0f, hMax) * rb;
                    var sampleX = cx - 1.5f;
                    for (var i = 0; i < 4; i++, sampleX += 1f)
                    {
                        var o = row + ((int)Math.Clamp(sampleX, 0f, wMax) * c);
                        var w = wx[i] * wy[j];
                        b += w * (p[o] * (1 / 255f));
                        g += w * (p[o + 1] * (1 / 255f));
                        r += w * (p[o + 2] * (1 / 255f));
                        a += w * (img.Alpha(o) * (1 / 255f));
                    }
                }

                a = Math.Clamp(a, 0f, 1f);
                var d = (y * width + x) * 3;
                dst[d] = (byte)MathF.Round(Math.Clamp(b, 0f, a) * 255f, MidpointRounding.ToEven);
                dst[d + 1] = (byte)MathF.Round(Math.Clamp(g, 0f, a) * 255f, MidpointRounding.ToEven);
                dst[d + 2] = (byte)MathF.Round(Math.Clamp(r, 0f, a) * 255f, MidpointRounding.ToEven);
            }
        }
    }
}
