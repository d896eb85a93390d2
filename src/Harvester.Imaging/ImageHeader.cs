using System.Buffers.Binary;
using System.Text;

namespace Harvester.Imaging;

public enum ImageFormat
{
    Unknown = 0,
    Jpeg,
    Png,
    WebP,
    Gif,
    Bmp,
}

/// <summary>
/// What the container says before any pixel is decoded: format, stored size, EXIF orientation and whether the file
/// ends where its format says it should. Lets the decoder refuse bombs and truncated files cheaply.
/// </summary>
public sealed record ImageHeader(ImageFormat Format, int StoredWidth, int StoredHeight, int Orientation, bool Complete)
{
    /// <summary>Orientations 5-8 rotate by 90 degrees: the displayed image is the stored one transposed.</summary>
    public bool SwapsAxes => Orientation is >= 5 and <= 8;

    public int Width => SwapsAxes ? StoredHeight : StoredWidth;

    public int Height => SwapsAxes ? StoredWidth : StoredHeight;

    public long Pixels => (long)StoredWidth * StoredHeight;

    /// <summary>Reads the header, or throws <see cref="ImageRejectedException"/> naming why the bytes are not a usable image.</summary>
    public static ImageHeader Read(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            throw new ImageRejectedException("empty-file", "zero bytes");
        }

        if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        {
            return ReadJpeg(data);
        }

        if (data.Length >= 8 && data[..8].SequenceEqual(PngSignature))
        {
            return ReadPng(data);
        }

        if (data.Length >= 6 && (data[..6].SequenceEqual("GIF87a"u8) || data[..6].SequenceEqual("GIF89a"u8)))
        {
            Require(data, 10);
            return new ImageHeader(ImageFormat.Gif, BinaryPrimitives.ReadUInt16LittleEndian(data[6..]), BinaryPrimitives.ReadUInt16LittleEndian(data[8..]), 1,
                data[^1] == 0x3B);
        }

        if (data.Length >= 12 && data[..4].SequenceEqual("RIFF"u8) && data[8..12].SequenceEqual("WEBP"u8))
        {
            return ReadWebP(data);
        }

        if (data.Length >= 2 && data[0] == (byte)'B' && data[1] == (byte)'M')
        {
            Require(data, 26);
            var declared = BinaryPrimitives.ReadUInt32LittleEndian(data[2..]);
            return new ImageHeader(ImageFormat.Bmp, BinaryPrimitives.ReadInt32LittleEndian(data[18..]),
                Math.Abs(BinaryPrimitives.ReadInt32LittleEndian(data[22..])), 1, declared <= data.Length);
        }

        throw ClassifyNonImage(data);
    }

    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static ImageHeader ReadJpeg(ReadOnlySpan<byte> data)
    {
        var orientation = 1;
        var pos = 2;
        while (pos + 4 <= data.Length)
        {
            if (JpegMarkers.NextSegment(data, ref pos) is not { } marker)
            {
                if (pos + 4 <= data.Length)
                {
                    throw new ImageRejectedException("corrupt", "JPEG marker expected");
                }

                break;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(data[(pos + 2)..]);
            if (length < 2 || pos + 2 + length > data.Length)
            {
                throw new ImageRejectedException("truncated", "JPEG segment runs past the end of the file");
            }

            var segment = data.Slice(pos + 4, length - 2);
            if (marker == 0xE1 && segment.Length > 6 && segment[..6].SequenceEqual("Exif\0\0"u8))
            {
                orientation = ExifOrientation(segment[6..]);
            }
            else if (marker is >= 0xC0 and <= 0xCF && marker is not (0xC4 or 0xC8 or 0xCC))
            {
                Require(segment, 5);
                var height = BinaryPrimitives.ReadUInt16BigEndian(segment[1..]);
                var width = BinaryPrimitives.ReadUInt16BigEndian(segment[3..]);
                // Entropy-coded data follows; a whole file ends with EOI (a few padding bytes after it are common).
                var tail = data[Math.Max(pos, data.Length - 1024)..];
                return new ImageHeader(ImageFormat.Jpeg, width, height, orientation, tail.IndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) >= 0);
            }

            pos += 2 + length;
        }

        throw new ImageRejectedException("truncated", "JPEG ends before its frame header");
    }

    /// <summary>Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block; 1 when absent or malformed.</summary>
    private static int ExifOrientation(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8)
        {
            return 1;
        }

        var little = tiff[0] == (byte)'I';
        ushort U16(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s);
        uint U32(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);
        var ifd = U32(tiff[4..]);
        if (ifd + 2 > tiff.Length)
        {
            return 1;
        }

        var count = U16(tiff[(int)ifd..]);
        for (var i = 0; i < count; i++)
        {
            var entry = (int)ifd + 2 + (i * 12);
            if (entry + 12 > tiff.Length)
            {
                return 1;
            }

            if (U16(tiff[entry..]) == 0x0112)
            {
                var value = U16(tiff[(entry + 8)..]);
                return value is >= 1 and <= 8 ? value : 1;
            }
        }

        return 1;
    }

    private static ImageHeader ReadPng(ReadOnlySpan<byte> data)
    {
        Require(data, 24);
        if (!data[12..16].SequenceEqual("IHDR"u8))
        {
            throw new ImageRejectedException("corrupt", "PNG without IHDR");
        }

        var width = BinaryPrimitives.ReadUInt32BigEndian(data[16..]);
        var height = BinaryPrimitives.ReadUInt32BigEndian(data[20..]);
        var tail = data[Math.Max(0, data.Length - 64)..];
        return new ImageHeader(ImageFormat.Png, ClampDimension(width), ClampDimension(height), 1, tail.IndexOf("IEND"u8) >= 0);
    }

    private static ImageHeader ReadWebP(ReadOnlySpan<byte> data)
    {
        Require(data, 30);
        var declared = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]) + 8L;
        var complete = declared <= data.Length;
        var chunk = data[12..16];
        if (chunk.SequenceEqual("VP8X"u8))
        {
            var w = 1 + (data[24] | (data[25] << 8) | (data[26] << 16));
            var h = 1 + (data[27] | (data[28] << 8) | (data[29] << 16));
            return new ImageHeader(ImageFormat.WebP, w, h, 1, complete);
        }

        if (chunk.SequenceEqual("VP8L"u8))
        {
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(data[21..]);
            return new ImageHeader(ImageFormat.WebP, (int)(bits & 0x3FFF) + 1, (int)((bits >> 14) & 0x3FFF) + 1, 1, complete);
        }

        if (chunk.SequenceEqual("VP8 "u8))
        {
            return new ImageHeader(ImageFormat.WebP, BinaryPrimitives.ReadUInt16LittleEndian(data[26..]) & 0x3FFF,
                BinaryPrimitives.ReadUInt16LittleEndian(data[28..]) & 0x3FFF, 1, complete);
        }

        throw new ImageRejectedException("corrupt", "WebP without a VP8/VP8L/VP8X chunk");
    }

    private static ImageRejectedException ClassifyNonImage(ReadOnlySpan<byte> data)
    {
        var head = Encoding.UTF8.GetString(data[..Math.Min(data.Length, 1024)]).TrimStart('\uFEFF', ' ', '\t', '\r', '\n').ToLowerInvariant();
        if (head.Contains("<svg", StringComparison.Ordinal))
        {
            return new ImageRejectedException("svg", "vector image (SVG) is not a photo");
        }

        if (head.StartsWith("<!doctype html", StringComparison.Ordinal) || head.StartsWith("<html", StringComparison.Ordinal) ||
            head.Contains("<head", StringComparison.Ordinal) || head.Contains("<body", StringComparison.Ordinal))
        {
            return new ImageRejectedException("html", "an HTML page was served as the image");
        }

        if ((data.Length >= 4 && (data[..4].SequenceEqual("II*\0"u8) || data[..4].SequenceEqual("MM\0*"u8))) ||
            (data.Length >= 12 && data[4..8].SequenceEqual("ftyp"u8)))
        {
            return new ImageRejectedException("unsupported-format", "TIFF/HEIF/AVIF containers are not accepted");
        }

        return new ImageRejectedException("not-an-image", "no known image signature");
    }

    private static int ClampDimension(uint value) => value > int.MaxValue ? int.MaxValue : (int)value;

    private static void Require(ReadOnlySpan<byte> data, int length)
    {
        if (data.Length < length)
        {
            throw new ImageRejectedException("truncated", "header is cut short");
        }
    }
}

/// <summary>An image the decoder refuses; <see cref="Reason"/> is the short code recorded on the image row.</summary>
public sealed class ImageRejectedException : Exception
{
    public ImageRejectedException(string reason, string detail) : base($"{reason}: {detail}")
    {
        Reason = reason;
        Detail = detail;
    }

    public ImageRejectedException() : this("decode-failed", "unknown")
    {
    }

    public ImageRejectedException(string message, Exception inner) : base(message, inner)
    {
        Reason = "decode-failed";
        Detail = message;
    }

    public string Reason { get; } = "decode-failed";

    public string Detail { get; } = "";
}
