using System.Buffers.Binary;
using OpenCvSharp;

namespace Harvester.Imaging;

/// <summary>
/// How faithfully a file stores its pixels, read from the container alone (no decoding): lossless (PNG, BMP, lossless
/// WebP), or the encoder's quality on the IJG 1-100 scale (JPEG from its quantisation tables, lossy WebP from its VP8
/// quantiser). The keep rule prefers lossless, then higher quality: a sharpness score would rate JPEG blocking and
/// overlaid text as "sharper".
/// </summary>
/// <param name="Lossless">PNG, BMP or lossless WebP.</param>
/// <param name="Quality">101 for lossless, else the estimated quality 1..100; 0 when unknown (GIF, unreadable tables).</param>
/// <param name="Exact">The JPEG's tables are exactly IJG's tables at that quality (libjpeg, OpenCV, most cameras).</param>
public readonly record struct EncodingQuality(bool Lossless, double Quality, bool Exact)
{
    public const double LosslessQuality = 101;

    public static EncodingQuality Unknown => new(false, 0, false);

    public static EncodingQuality Read(ReadOnlySpan<byte> d)
    {
        if (d.Length > 3 && d[0] == 0xFF && d[1] == 0xD8)
        {
            return Jpeg(d);
        }

        if ((d.Length > 8 && d[0] == 0x89 && d[1] == (byte)'P' && d[2] == (byte)'N' && d[3] == (byte)'G') || (d.Length > 2 && d[0] == (byte)'B' && d[1] == (byte)'M'))
        {
            return new(true, LosslessQuality, true);
        }

        if (d.Length > 16 && d[..4].SequenceEqual("RIFF"u8) && d.Slice(8, 4).SequenceEqual("WEBP"u8))
        {
            return WebP(d);
        }

        return Unknown;
    }

    // JPEG Annex K example tables (IJG's defaults), natural order.
    private static readonly int[] StdLuma =
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ];

    private static readonly int[] StdChroma = BuildStdChroma();

    // Zig-zag position -> natural index (DQT stores tables in zig-zag order).
    private static readonly int[] ZigZag =
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    ];

    private static int[] BuildStdChroma()
    {
        var t = Enumerable.Repeat(99, 64).ToArray();
        int[] top = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 99, 47, 66, 99, 99];
        for (var r = 0; r < 4; r++)
        {
            for (var c = 0; c < 4; c++)
            {
                t[(r * 8) + c] = top[(r * 4) + c];
            }
        }

        return t;
    }

    /// <summary>
    /// The DQT tables up to the first scan, matched against IJG's tables scaled to each quality 1..100 (least absolute
    /// difference over luma and chroma). Custom tables (some phones, editors) get the nearest IJG equivalent, which still
    /// ranks by table magnitude, all that the keep rule needs.
    /// </summary>
    private static EncodingQuality Jpeg(ReadOnlySpan<byte> d)
    {
        var luma = new int[64];
        var chroma = new int[64];
        bool hasLuma = false, hasChroma = false;
        var pos = 2;
        while (JpegMarkers.NextSegment(d, ref pos) is { } marker)
        {
            if (marker is 0xDA or 0xD9)
            {
                break;
            }

            var len = BinaryPrimitives.ReadUInt16BigEndian(d[(pos + 2)..]);
            var end = Math.Min(d.Length, pos + 2 + len);
            if (marker == 0xDB)
            {
                var p = pos + 4;
                while (p < end)
                {
                    var precision = d[p] >> 4;
                    var id = d[p] & 15;
                    p++;
                    var size = precision == 0 ? 64 : 128;
                    if (p + size > end)
                    {
                        break;
                    }

                    var target = id == 0 ? luma : id == 1 ? chroma : null;
                    if (target is not null)
                    {
                        for (var k = 0; k < 64; k++)
                        {
                            target[ZigZag[k]] = precision == 0 ? d[p + k] : BinaryPrimitives.ReadUInt16BigEndian(d[(p + (2 * k))..]);
                        }

                        hasLuma |= id == 0;
                        hasChroma |= id == 1;
                    }

                    p += size;
                }
            }

            pos += 2 + len;
        }

        if (!hasLuma)
        {
            return Unknown;
        }

        var best = 0;
        var bestErr = long.MaxValue;
        for (var q = 1; q <= 100; q++)
        {
            var scale = q < 50 ? 5000 / q : 200 - (2 * q);
            long err = 0;
            for (var i = 0; i < 64; i++)
            {
                err += Math.Abs(Scaled(StdLuma[i], scale) - luma[i]);
                if (hasChroma)
                {
                    err += Math.Abs(Scaled(StdChroma[i], scale) - chroma[i]);
                }
            }

            if (err < bestErr)
            {
                bestErr = err;
                best = q;
            }
        }

        return new(false, best, bestErr == 0);

        static int Scaled(int std, int scale) => Math.Clamp(((std * scale) + 50) / 100, 1, 255);
    }

    private static EncodingQuality WebP(ReadOnlySpan<byte> d)
    {
        var p = 12;
        while (p + 8 <= d.Length)
        {
            var tag = d.Slice(p, 4);
            var size = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(d[(p + 4)..]), int.MaxValue - 16);
            if (tag.SequenceEqual("VP8L"u8))
            {
                return new(true, LosslessQuality, true);
            }

            if (tag.SequenceEqual("VP8 "u8))
            {
                var qi = Vp8QuantIndex(d.Slice(p + 8, Math.Min(size, d.Length - p - 8)));
                return qi < 0 ? Unknown : new(false, Math.Round(WebPQuality(qi), 1), false);
            }

            p += 8 + size + (size & 1);
        }

        return Unknown;
    }

    /// <summary>Mean luma AC quantiser index of a VP8 key frame (RFC 6386 §9.2-9.6), or -1.</summary>
    internal static double Vp8QuantIndex(ReadOnlySpan<byte> vp8)
    {
        if (vp8.Length < 12 || (vp8[0] & 1) != 0 || vp8[3] != 0x9d || vp8[4] != 0x01 || vp8[5] != 0x2a)
        {
            return -1;
        }

        var firstPartSize = (vp8[0] | (vp8[1] << 8) | (vp8[2] << 16)) >> 5;
        var br = new BoolReader(vp8.Slice(10, Math.Min(firstPartSize, vp8.Length - 10)));
        br.Literal(1); // colour space
        br.Literal(1); // clamping type
        Span<int> segment = stackalloc int[4];
        var segmented = false;
        var absolute = false;
        if (br.Literal(1) == 1)
        {
            var updateMap = br.Literal(1) == 1;
            if (br.Literal(1) == 1)
            {
                segmented = true;
                absolute = br.Literal(1) == 1;
                for (var i = 0; i < 4; i++)
                {
                    segment[i] = br.Literal(1) == 1 ? br.Signed(7) : 0;
                }

                for (var i = 0; i < 4; i++)
                {
                    if (br.Literal(1) == 1)
                    {
                        br.Signed(6);
                    }
                }
            }

            if (updateMap)
            {
                for (var i = 0; i < 3; i++)
                {
                    if (br.Literal(1) == 1)
                    {
                        br.Literal(8);
                    }
                }
            }
        }

        br.Literal(1); // filter type
        br.Literal(6); // loop filter level
        br.Literal(3); // sharpness
        if (br.Literal(1) == 1 && br.Literal(1) == 1)
        {
            for (var i = 0; i < 8; i++)
            {
                if (br.Literal(1) == 1)
                {
                    br.Signed(6);
                }
            }
        }

        br.Literal(2); // partitions
        var yac = br.Literal(7);
        if (!segmented)
        {
            return yac;
        }

        double sum = 0;
        for (var i = 0; i < 4; i++)
        {
            sum += Math.Clamp(absolute ? segment[i] : yac + segment[i], 0, 127);
        }

        return sum / 4;
    }

    private static readonly Lazy<double[]> QiTable = new(CalibrateWebP);

    /// <summary>WebP quality for a mean quantiser index, by interpolating a table read back from libwebp itself.</summary>
    private static double WebPQuality(double qi)
    {
        var table = QiTable.Value;
        for (var q = 1; q <= 100; q++)
        {
            if (table[q] >= 0 && table[q] <= qi)
            {
                if (q == 1 || table[q - 1] < 0 || table[q - 1] <= table[q])
                {
                    return q;
                }

                return q - 1 + ((table[q - 1] - qi) / (table[q - 1] - table[q]));
            }
        }

        return 100;
    }

    /// <summary>Encodes one fixed textured picture at qualities 1..100 with libwebp (through OpenCV) and reads back each quantiser index.</summary>
    private static double[] CalibrateWebP()
    {
        var rng = new Random(7);
        var px = new byte[128 * 128 * 3];
        rng.NextBytes(px);
        using var flat = new Mat(128, 128 * 3, MatType.CV_8UC1);
        flat.SetArray(px);
        using var noise = flat.Reshape(3);
        using var test = new Mat();
        Cv2.GaussianBlur(noise, test, new Size(0, 0), 2.0);
        var table = new double[101];
        for (var q = 1; q <= 100; q++)
        {
            var bytes = test.ImEncode(".webp", new ImageEncodingParam(ImwriteFlags.WebPQuality, Math.Min(q, 99)));
            table[q] = -1;
            var p = 12;
            while (p + 8 <= bytes.Length)
            {
                var size = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(p + 4));
                if (bytes.AsSpan(p, 4).SequenceEqual("VP8 "u8))
                {
                    table[q] = Vp8QuantIndex(bytes.AsSpan(p + 8, Math.Min(size, bytes.Length - p - 8)));
                    break;
                }

                p += 8 + size + (size & 1);
            }
        }

        return table;
    }

    /// <summary>RFC 6386 boolean entropy decoder, for the fixed-probability literals of a frame header.</summary>
    private ref struct BoolReader
    {
        private readonly ReadOnlySpan<byte> _data;
        private int _pos;
        private uint _value;
        private uint _range;
        private int _bitCount;

        public BoolReader(ReadOnlySpan<byte> data)
        {
            _data = data;
            _pos = 2;
            _value = data.Length >= 2 ? (uint)((data[0] << 8) | data[1]) : 0;
            _range = 255;
            _bitCount = 0;
        }

        private int Bool(int prob)
        {
            var split = 1 + (((_range - 1) * (uint)prob) >> 8);
            var bigSplit = split << 8;
            int bit;
            if (_value >= bigSplit)
            {
                bit = 1;
                _range -= split;
                _value -= bigSplit;
            }
            else
            {
                bit = 0;
                _range = split;
            }

            while (_range < 128)
            {
                _value <<= 1;
                _range <<= 1;
                if (++_bitCount == 8)
                {
                    _bitCount = 0;
                    if (_pos < _data.Length)
                    {
                        _value |= _data[_pos++];
                    }
                }
            }

            return bit;
        }

        public int Literal(int n)
        {
            var v = 0;
            while (n-- > 0)
            {
                v = (v << 1) | Bool(128);
            }

            return v;
        }

        public int Signed(int n)
        {
            var v = Literal(n);
            return Literal(1) == 1 ? -v : v;
        }
    }
}
