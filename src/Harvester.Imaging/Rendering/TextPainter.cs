using System.Collections.Concurrent;
using System.Text;
using OpenCvSharp;
using SkiaSharp;

namespace Harvester.Imaging.Rendering;

/// <summary>
/// Draws Unicode text (Korean place names, product titles) onto OpenCV images with Skia and the system's fonts,
/// falling back glyph by glyph to whichever installed font covers a character (fontconfig), so "망원동 카페" is drawn
/// as itself rather than as "?". When Skia or fonts are unavailable, OpenCV's Hershey font draws the ASCII part.
/// </summary>
public static class TextPainter
{
    private static readonly Lazy<SKTypeface?> Primary = new(LoadPrimary);
    private static readonly ConcurrentDictionary<int, SKTypeface?> Fallbacks = new();

    /// <summary>True when Skia and at least one font loaded, so non-ASCII text keeps its glyphs.</summary>
    public static bool IsUnicode => Primary.Value is not null;

    /// <summary>Width in pixels of <paramref name="text"/> at <paramref name="size"/> px.</summary>
    public static int Measure(string text, float size)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        if (!IsUnicode)
        {
            return Cv2.GetTextSize(ToAscii(text), HersheyFonts.HersheySimplex, HersheyScale(size), 1, out _).Width;
        }

        var width = 0f;
        foreach (var (run, typeface) in Runs(text))
        {
            using var font = new SKFont(typeface, size);
            width += font.MeasureText(run);
        }

        return (int)Math.Ceiling(width);
    }

    /// <summary>
    /// Draws one line with its baseline starting at <paramref name="origin"/> (as <c>Cv2.PutText</c>), shortened with
    /// an ellipsis to fit <paramref name="maxWidth"/> pixels.
    /// </summary>
    public static void Draw(Mat image, string text, Point origin, float size, int maxWidth, Scalar colour)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (string.IsNullOrEmpty(text) || maxWidth < 1)
        {
            return;
        }

        if (image.Type() != MatType.CV_8UC3)
        {
            throw new ArgumentException("Expected an 8-bit, 3-channel BGR image.", nameof(image));
        }

        text = Fit(text, size, maxWidth);
        if (!IsUnicode)
        {
            Cv2.PutText(image, ToAscii(text), origin, HersheyFonts.HersheySimplex, HersheyScale(size), colour, 1, LineTypes.AntiAlias);
            return;
        }

        DrawWithSkia(image, text, origin, size, maxWidth, colour);
    }

    private static void DrawWithSkia(Mat image, string text, Point origin, float size, int maxWidth, Scalar colour)
    {
        // The band the glyphs can touch: from the tallest ascent to the deepest descent of the fonts in use.
        var runs = Runs(text);
        float ascent = 0, descent = 0;
        foreach (var (_, typeface) in runs)
        {
            using var font = new SKFont(typeface, size);
            ascent = Math.Min(ascent, font.Metrics.Ascent);
            descent = Math.Max(descent, font.Metrics.Descent);
        }

        var top = origin.Y + (int)Math.Floor(ascent) - 1;
        var bottom = origin.Y + (int)Math.Ceiling(descent) + 1;
        var band = new Rect(origin.X, top, maxWidth + 2, bottom - top).Intersect(new Rect(0, 0, image.Width, image.Height));
        if (band.Width < 1 || band.Height < 1)
        {
            return;
        }

        // Skia draws onto a BGRA copy of the band (its anti-aliasing blends with the pixels already there).
        using var roi = new Mat(image, band);
        using var bgra = new Mat();
        Cv2.CvtColor(roi, bgra, ColorConversionCodes.BGR2BGRA);
        using (var bitmap = new SKBitmap())
        {
            bitmap.InstallPixels(new SKImageInfo(band.Width, band.Height, SKColorType.Bgra8888, SKAlphaType.Premul), bgra.Data, (int)bgra.Step());
            using var canvas = new SKCanvas(bitmap);
            using var paint = new SKPaint { IsAntialias = true, Color = new SKColor((byte)colour.Val2, (byte)colour.Val1, (byte)colour.Val0) };
            float x = origin.X - band.X;
            float y = origin.Y - band.Y;
            foreach (var (run, typeface) in runs)
            {
                using var font = new SKFont(typeface, size) { Edging = SKFontEdging.Antialias, Subpixel = true };
                canvas.DrawText(run, x, y, SKTextAlign.Left, font, paint);
                x += font.MeasureText(run);
            }

            canvas.Flush();
        }

        Cv2.CvtColor(bgra, roi, ColorConversionCodes.BGRA2BGR);
    }

    /// <summary>The longest prefix of <paramref name="text"/> (whole characters) that fits, with "…" when cut.</summary>
    private static string Fit(string text, float size, int maxWidth)
    {
        if (Measure(text, size) <= maxWidth)
        {
            return text;
        }

        var ellipsis = IsUnicode ? "…" : "~";
        var elements = System.Globalization.StringInfo.GetTextElementEnumerator(text);
        var boundaries = new List<int>();
        while (elements.MoveNext())
        {
            boundaries.Add(elements.ElementIndex);
        }

        // Binary search over text-element boundaries for the longest prefix that fits with the ellipsis.
        int lo = 0, hi = boundaries.Count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (Measure(text[..boundaries[mid]] + ellipsis, size) <= maxWidth)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo == 0 ? ellipsis : text[..boundaries[lo]].TrimEnd() + ellipsis;
    }

    /// <summary>Splits text into runs that one typeface draws: the primary font where it has the glyph, else a fallback.</summary>
    private static List<(string Text, SKTypeface Typeface)> Runs(string text)
    {
        var primary = Primary.Value!;
        var runs = new List<(string, SKTypeface)>();
        var current = new StringBuilder();
        SKTypeface? currentFace = null;
        foreach (var rune in text.EnumerateRunes())
        {
            var face = rune.Value < 0x80 || Covers(primary, rune.Value) ? primary : Fallbacks.GetOrAdd(rune.Value, FindFallback);
            var piece = face is null ? "?" : rune.ToString();
            face ??= primary;
            if (currentFace is not null && !ReferenceEquals(face, currentFace))
            {
                runs.Add((current.ToString(), currentFace));
                current.Clear();
            }

            currentFace = face;
            current.Append(piece);
        }

        if (currentFace is not null)
        {
            runs.Add((current.ToString(), currentFace));
        }

        return runs;
    }

    private static SKTypeface? FindFallback(int codepoint)
    {
        var face = SKFontManager.Default.MatchCharacter(codepoint);
        return face is not null && Covers(face, codepoint) ? face : null;
    }

    private static SKTypeface? LoadPrimary()
    {
        try
        {
            foreach (var family in new[] { "DejaVu Sans", "Noto Sans", "Liberation Sans" })
            {
                var face = SKFontManager.Default.MatchFamily(family);
                if (face is not null && Covers(face, 'A'))
                {
                    return face;
                }
            }

            var fallback = SKTypeface.Default;
            return fallback is not null && Covers(fallback, 'A') ? fallback : null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            // No native Skia here: captions fall back to OpenCV's ASCII font.
            return null;
        }
    }

    private static bool Covers(SKTypeface face, int codepoint)
    {
        using var font = new SKFont(face);
        return font.ContainsGlyph(codepoint);
    }

    /// <summary>Hershey Simplex scale whose cap height roughly matches a <paramref name="size"/> px font.</summary>
    private static double HersheyScale(float size) => size / 30.0;

    /// <summary>OpenCV's Hershey fonts draw ASCII only; accents are dropped and other characters become '?'.</summary>
    public static string ToAscii(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text.Normalize(NormalizationForm.FormD))
        {
            if (char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.NonSpacingMark)
            {
                continue;
            }

            sb.Append(c is >= ' ' and <= '~' ? c : '?');
        }

        return sb.ToString();
    }
}
