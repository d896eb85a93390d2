using OpenCvSharp;

namespace Harvester.Imaging.Rendering;

/// <summary>
/// A PNG grid of images with a caption under each (query + neighbours, cluster galleries). Each image is fitted into a
/// square tile keeping its aspect ratio; an image that cannot be decoded becomes a grey tile saying so, so one bad blob
/// never loses the whole sheet.
/// </summary>
public static class ContactSheet
{
    private const int Margin = 8;
    private const int LineHeight = 16;
    private const int CaptionLines = 2;
    private const int TitleHeight = 30;
    private const float CaptionSize = 12f;
    private const float TitleSize = 16f;

    /// <summary>Largest sheet edge accepted; keeps a mistaken tile count from allocating gigabytes.</summary>
    public const int MaxEdge = 16384;

    public static byte[] Render(IReadOnlyList<(byte[] Image, string Caption)> tiles, int columns, int tileSize, string? title)
    {
        ArgumentNullException.ThrowIfNull(tiles);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(tileSize, 16);

        var cols = Math.Min(columns, Math.Max(1, tiles.Count));
        var rows = Math.Max(1, (tiles.Count + cols - 1) / cols);
        var cellW = tileSize + Margin;
        var cellH = tileSize + Margin + CaptionLines * LineHeight;
        var top = string.IsNullOrEmpty(title) ? Margin : TitleHeight + Margin;
        var width = Margin + cols * cellW;
        var height = top + rows * cellH;
        if (width > MaxEdge || height > MaxEdge)
        {
            throw new ArgumentException($"A {cols}x{rows} sheet of {tileSize}px tiles would be {width}x{height} pixels (limit {MaxEdge}); use fewer tiles or smaller ones.", nameof(tiles));
        }

        using var sheet = new Mat(height, width, MatType.CV_8UC3, Scalar.White);
        if (!string.IsNullOrEmpty(title))
        {
            TextPainter.Draw(sheet, title, new Point(Margin, 21), TitleSize, width - 2 * Margin, Scalar.Black);
        }

        for (var i = 0; i < tiles.Count; i++)
        {
            var x = Margin + i % cols * cellW;
            var y = top + i / cols * cellH;
            DrawTile(sheet, tiles[i].Image, new Rect(x, y, tileSize, tileSize));
            var lines = WrapCaption(tiles[i].Caption ?? "", tileSize);
            for (var l = 0; l < lines.Count; l++)
            {
                TextPainter.Draw(sheet, lines[l], new Point(x, y + tileSize + 12 + l * LineHeight), CaptionSize, tileSize, Scalar.Black);
            }
        }

        Cv2.ImEncode(".png", sheet, out var png);
        return png;
    }

    private static void DrawTile(Mat sheet, byte[] bytes, Rect cell)
    {
        using var decoded = bytes is { Length: > 0 } ? Cv2.ImDecode(bytes, ImreadModes.Color) : new Mat();
        if (decoded.Empty())
        {
            using var grey = new Mat(sheet, cell);
            grey.SetTo(new Scalar(200, 200, 200));
            TextPainter.Draw(sheet, "cannot decode", new Point(cell.X + 6, cell.Y + cell.Height / 2), CaptionSize, cell.Width - 12, Scalar.Black);
            return;
        }

        var scale = Math.Min((double)cell.Width / decoded.Width, (double)cell.Height / decoded.Height);
        var w = Math.Max(1, (int)Math.Round(decoded.Width * scale));
        var h = Math.Max(1, (int)Math.Round(decoded.Height * scale));
        using var resized = new Mat();
        Cv2.Resize(decoded, resized, new Size(w, h), 0, 0, scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
        using var background = new Mat(sheet, cell);
        background.SetTo(new Scalar(240, 240, 240));
        using var target = new Mat(sheet, new Rect(cell.X + (cell.Width - w) / 2, cell.Y + (cell.Height - h) / 2, w, h));
        resized.CopyTo(target);
    }

    /// <summary>Splits a caption on explicit newlines, then on spaces, into at most <see cref="CaptionLines"/> lines that fit.</summary>
    private static List<string> WrapCaption(string caption, int width)
    {
        var lines = new List<string>();
        foreach (var paragraph in caption.Split('\n'))
        {
            var current = "";
            foreach (var word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = current.Length == 0 ? word : current + " " + word;
                if (current.Length > 0 && TextPainter.Measure(candidate, CaptionSize) > width)
                {
                    lines.Add(current);
                    current = word;
                }
                else
                {
                    current = candidate;
                }
            }

            lines.Add(current);
        }

        return lines.Take(CaptionLines).ToList();
    }
}
