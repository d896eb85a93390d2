using System.Collections;
using System.Numerics;
using OpenCvSharp;

namespace Harvester.Imaging;

/// <summary>
/// 64-bit perceptual hashes. As <c>ulong</c> the most significant bit is hash bit 0; as <see cref="BitArray"/> (the
/// pgvector <c>bit(64)</c> column) index 0 is that same bit, so <c>phash::text</c> reads like the binary of the ulong
/// and <c>&lt;~&gt;</c> in SQL equals <see cref="Hamming"/> here.
/// </summary>
public static class PerceptualHash
{
    /// <summary>
    /// The recipe <see cref="PHash"/> implements, stored with every hash (<c>images.hash_version</c>): hashes of
    /// different recipes are never compared, and older ones are recomputed from their blobs (<c>harvester curate --rehash</c>).
    /// 1 = OpenCV img_hash PHash (<see cref="LegacyPHash"/>); 2 = the balanced median recipe.
    /// </summary>
    public const int Recipe = 2;

    private const int Side = 32;
    private const int Block = 8;
    private static readonly float[] Basis = BuildBasis();

    /// <summary>
    /// Balanced pHash of an 8-bit BGR (or grey) image: grey (BT.601) at full size, box-averaged (INTER_AREA) to 32x32,
    /// the 8x8 lowest frequencies of its orthonormal DCT, each of the 63 AC coefficients against their <b>median</b>;
    /// the DC slot is a constant 0 bit. Every hash therefore has 31 bits set, so low-detail images cannot saturate.
    /// OpenCV's img_hash compares against the mean with DC zeroed: one dominant low-frequency coefficient (a sky
    /// gradient) drags the mean so that almost every bit falls on one side, and unrelated smooth photos collide.
    /// Hamming distances between balanced hashes are always even.
    /// </summary>
    public static ulong PHash(Mat bgr)
    {
        ArgumentNullException.ThrowIfNull(bgr);
        if (bgr.Channels() == 1)
        {
            return PHashFromGrey(bgr);
        }

        using var grey = new Mat();
        Cv2.CvtColor(bgr, grey, bgr.Channels() == 4 ? ColorConversionCodes.BGRA2GRAY : ColorConversionCodes.BGR2GRAY);
        return PHashFromGrey(grey);
    }

    /// <summary><see cref="PHash"/> of an 8-bit single-channel image (reuse the grey image the pixel measures made).</summary>
    public static ulong PHashFromGrey(Mat grey)
    {
        ArgumentNullException.ThrowIfNull(grey);
        using var small = new Mat();
        Cv2.Resize(grey, small, new Size(Side, Side), 0, 0, InterpolationFlags.Area);
        Span<float> px = stackalloc float[Side * Side];
        var bytes = small.AsSpan<byte>();
        for (var i = 0; i < px.Length; i++)
        {
            px[i] = bytes[i];
        }

        // Separable DCT of the low block only: rows first (32x8), then columns (8x8).
        Span<float> rows = stackalloc float[Side * Block];
        for (var y = 0; y < Side; y++)
        {
            for (var u = 0; u < Block; u++)
            {
                float acc = 0;
                for (var x = 0; x < Side; x++)
                {
                    acc += px[(y * Side) + x] * Basis[(u * Side) + x];
                }

                rows[(y * Block) + u] = acc;
            }
        }

        Span<float> c = stackalloc float[Block * Block];
        for (var v = 0; v < Block; v++)
        {
            for (var u = 0; u < Block; u++)
            {
                float acc = 0;
                for (var y = 0; y < Side; y++)
                {
                    acc += Basis[(v * Side) + y] * rows[(y * Block) + u];
                }

                c[(v * Block) + u] = acc;
            }
        }

        Span<float> ac = stackalloc float[63];
        c[1..].CopyTo(ac);
        ac.Sort();
        var median = ac[31];
        ulong hash = 0;
        for (var k = 1; k < 64; k++)
        {
            if (c[k] > median)
            {
                hash |= 1UL << (63 - k);
            }
        }

        return hash;
    }

    /// <summary>
    /// Recipe 1, OpenCV img_hash PHash (bilinear resize without antialiasing, 8x8 low frequencies against their mean
    /// with DC zeroed). Kept to compare recipes in benchmarks; hashes of this recipe saturate on low-detail images.
    /// </summary>
    public static ulong LegacyPHash(Mat bgr)
    {
        using var hasher = OpenCvSharp.ImgHash.PHash.Create();
        using var hash = new Mat();
        hasher.Compute(bgr, hash);
        hash.GetArray(out byte[] raw);
        ulong value = 0;
        for (var i = 0; i < 8; i++)
        {
            value = (value << 8) | raw[i];
        }

        return value;
    }

    /// <summary>Difference hash: 9x8 grey thumbnail, one bit per horizontal neighbour pair (left brighter than right).</summary>
    public static ulong DHash(Mat bgr)
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

        return DHashFromGrey(grey);
    }

    public static ulong DHashFromGrey(Mat grey)
    {
        ArgumentNullException.ThrowIfNull(grey);
        using var small = new Mat();
        Cv2.Resize(grey, small, new Size(9, 8), 0, 0, InterpolationFlags.Area);
        var p = small.AsSpan<byte>();
        ulong value = 0;
        for (var y = 0; y < 8; y++)
        {
            for (var x = 0; x < 8; x++)
            {
                value = (value << 1) | (p[(y * 9) + x] > p[(y * 9) + x + 1] ? 1UL : 0UL);
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

    private static float[] BuildBasis()
    {
        var b = new float[Block * Side];
        for (var u = 0; u < Block; u++)
        {
            var s = u == 0 ? Math.Sqrt(1.0 / Side) : Math.Sqrt(2.0 / Side);
            for (var x = 0; x < Side; x++)
            {
                b[(u * Side) + x] = (float)(s * Math.Cos(Math.PI * ((2 * x) + 1) * u / (2.0 * Side)));
            }
        }

        return b;
    }
}
