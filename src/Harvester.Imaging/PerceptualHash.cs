using System.Collections;
using System.Numerics;
using OpenCvSharp;
using OpenCvSharp.ImgHash;

namespace Harvester.Imaging;

/// <summary>
/// 64-bit perceptual hashes. As <c>ulong</c> the most significant bit is hash bit 0; as <see cref="BitArray"/> (the
/// pgvector <c>bit(64)</c> column) index 0 is that same bit, so <c>phash::text</c> reads like the binary of the ulong
/// and <c>&lt;~&gt;</c> in SQL equals <see cref="Hamming"/> here.
/// </summary>
public static class PerceptualHash
{
    /// <summary>OpenCV img_hash pHash: DCT of the 32x32 grey image, 8x8 low frequencies against their median.</summary>
    public static ulong PHash(Mat bgr)
    {
        using var hasher = OpenCvSharp.ImgHash.PHash.Create();
        using var hash = new Mat();
        hasher.Compute(bgr, hash);
        var bytes = new byte[8];
        hash.GetArray(out byte[] raw);
        raw.AsSpan(0, 8).CopyTo(bytes);
        ulong value = 0;
        foreach (var b in bytes)
        {
            value = (value << 8) | b;
        }

        return value;
    }

    /// <summary>Difference hash: 9x8 grey thumbnail, one bit per horizontal neighbour pair (left brighter than right).</summary>
    public static ulong DHash(Mat bgr)
    {
        using var grey = new Mat();
        if (bgr.Channels() == 1)
        {
            bgr.CopyTo(grey);
        }
        else
        {
            Cv2.CvtColor(bgr, grey, ColorConversionCodes.BGR2GRAY);
        }

        using var small = new Mat();
        Cv2.Resize(grey, small, new Size(9, 8), 0, 0, InterpolationFlags.Area);
        ulong value = 0;
        for (var y = 0; y < 8; y++)
        {
            for (var x = 0; x < 8; x++)
            {
                value = (value << 1) | (small.At<byte>(y, x) > small.At<byte>(y, x + 1) ? 1UL : 0UL);
            }
        }

        return value;
    }

    public static int Hamming(ulong a, ulong b) => BitOperations.PopCount(a ^ b);

    public static BitArray ToBits(ulong value)
    {
        var bits = new BitArray(64);
        for (var i = 0; i < 64; i++)
        {
            bits[i] = ((value >> (63 - i)) & 1UL) != 0;
        }

        return bits;
    }

    public static ulong FromBits(BitArray bits)
    {
        ArgumentNullException.ThrowIfNull(bits);
        if (bits.Length != 64)
        {
            throw new ArgumentException("Expected 64 bits.", nameof(bits));
        }

        ulong value = 0;
        for (var i = 0; i < 64; i++)
        {
            value = (value << 1) | (bits[i] ? 1UL : 0UL);
        }

        return value;
    }
}
