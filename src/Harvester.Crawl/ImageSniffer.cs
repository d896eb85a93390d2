namespace Harvester.Crawl;

/// <summary>Identifies image bytes by their signature, not by what the server claimed.</summary>
public static class ImageSniffer
{
    public static string? Format(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        {
            return "jpeg";
        }

        if (b.Length >= 8 && b[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return "png";
        }

        if (b.Length >= 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8')
        {
            return "gif";
        }

        if (b.Length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' && b[9] == 'E' && b[10] == 'B' && b[11] == 'P')
        {
            return "webp";
        }

        if (b.Length >= 2 && b[0] == 'B' && b[1] == 'M')
        {
            return "bmp";
        }

        if (b.Length >= 12 && b[4] == 'f' && b[5] == 't' && b[6] == 'y' && b[7] == 'p' && (b[8..12].SequenceEqual("avif"u8) || b[8..12].SequenceEqual("heic"u8) || b[8..12].SequenceEqual("mif1"u8)))
        {
            return "heif";
        }

        return null;
    }

    /// <summary>A short description of non-image bytes for the reject reason.</summary>
    public static string Describe(ReadOnlySpan<byte> b)
    {
        if (b.Length == 0)
        {
            return "empty body";
        }

        var head = System.Text.Encoding.UTF8.GetString(b[..Math.Min(b.Length, 256)]).TrimStart().ToLowerInvariant();
        if (head.StartsWith("<!doctype html", StringComparison.Ordinal) || head.StartsWith("<html", StringComparison.Ordinal))
        {
            return "html";
        }

        if (head.StartsWith("<svg", StringComparison.Ordinal) || (head.StartsWith("<?xml", StringComparison.Ordinal) && head.Contains("<svg", StringComparison.Ordinal)))
        {
            return "svg";
        }

        return head.StartsWith('{') || head.StartsWith('[') ? "json" : "unknown bytes";
    }
}
