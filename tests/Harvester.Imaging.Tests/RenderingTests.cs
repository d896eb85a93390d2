using Harvester.Imaging.Rendering;
using OpenCvSharp;

namespace Harvester.Imaging.Tests;

public sealed class RenderingTests
{
    private const string Photo = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";

    [Fact]
    public void Contact_sheet_lays_out_tiles_in_a_grid_with_the_photos_pixels()
    {
        var photo = File.ReadAllBytes(Photo);
        var tiles = Enumerable.Range(0, 5).Select(i => (photo, $"#{i} d=0.{i}")).ToList();

        var png = ContactSheet.Render(tiles, columns: 3, tileSize: 96, title: "query 42");

        using var sheet = Cv2.ImDecode(png, ImreadModes.Color);
        Assert.False(sheet.Empty());
        // 3 columns x 2 rows of (96 + 8) plus an 8 px margin; a 30 px title band; two caption lines per row.
        Assert.Equal(8 + 3 * 104, sheet.Width);
        Assert.Equal(30 + 8 + 2 * (104 + 32), sheet.Height);

        // The first tile holds the photo (square 512x512 -> fills the 96 px tile): compare its mean colour to the photo's.
        using var original = Cv2.ImDecode(photo, ImreadModes.Color);
        using var tile = new Mat(sheet, new Rect(8, 38, 96, 96));
        var expected = Cv2.Mean(original);
        var got = Cv2.Mean(tile);
        for (var c = 0; c < 3; c++)
        {
            Assert.InRange(got[c], expected[c] - 4, expected[c] + 4);
        }

        // The sixth cell is empty: plain white background.
        using var empty = new Mat(sheet, new Rect(8 + 2 * 104, 38 + 136, 96, 96));
        Assert.Equal(255, Cv2.Mean(empty)[0], 1);
    }

    [Fact]
    public void Undecodable_bytes_become_a_grey_tile_instead_of_failing_the_sheet()
    {
        var png = ContactSheet.Render([("not an image"u8.ToArray(), "broken"), ([], "empty 한글")], columns: 2, tileSize: 64, title: null);

        using var sheet = Cv2.ImDecode(png, ImreadModes.Color);
        Assert.Equal(8 + 2 * 72, sheet.Width);
        using var tile = new Mat(sheet, new Rect(8 + 40, 8 + 2, 20, 20));
        Assert.Equal(200, Cv2.Mean(tile)[1], 1);
    }

    [Fact]
    public void Captions_are_drawn_below_each_tile()
    {
        var photo = File.ReadAllBytes(Photo);
        var withCaption = Cv2.ImDecode(ContactSheet.Render([(photo, "caption text")], 1, 64, null), ImreadModes.Grayscale);
        var without = Cv2.ImDecode(ContactSheet.Render([(photo, "")], 1, 64, null), ImreadModes.Grayscale);
        using var a = new Mat(withCaption, new Rect(0, 8 + 64, withCaption.Width, 32));
        using var b = new Mat(without, new Rect(0, 8 + 64, without.Width, 32));
        Assert.True(Cv2.Mean(a)[0] < Cv2.Mean(b)[0] - 2, "caption pixels darken the caption band");
        withCaption.Dispose();
        without.Dispose();
    }

    [Fact]
    public void Oversized_sheets_and_bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ContactSheet.Render([], 0, 64, null));
        Assert.Throws<ArgumentException>(() => ContactSheet.Render(Enumerable.Repeat((Array.Empty<byte>(), ""), 10_000).ToList(), 10, 2000, null));
    }

    [Fact]
    public void Korean_text_is_drawn_as_its_own_glyphs()
    {
        Assert.True(TextPainter.IsUnicode, "Skia and the system fonts (fonts-noto-cjk, installed by setup) are available");
        using var place = Ink("망원동 카페");
        using var other = Ink("연남동 카페");
        using var unknown = Ink("??? ??");

        // Glyphs were drawn, different names look different, and neither is the '?' placeholder.
        Assert.True(Cv2.CountNonZero(place) > 150, "the text left ink");
        Assert.True(Difference(place, other) > 100, "different Hangul syllables give different pixels");
        Assert.True(Difference(place, unknown) > 100, "Hangul is not drawn as question marks");
    }

    [Fact]
    public void Text_longer_than_its_width_is_cut_with_an_ellipsis_and_stays_inside()
    {
        using var image = new Mat(40, 400, MatType.CV_8UC3, Scalar.White);
        var text = string.Concat(Enumerable.Repeat("성수동 베이커리 ", 20));
        TextPainter.Draw(image, text, new Point(10, 28), 14f, 120, Scalar.Black);

        using var grey = image.CvtColor(ColorConversionCodes.BGR2GRAY);
        using var inside = new Mat(grey, new Rect(10, 0, 120, 40));
        using var outside = new Mat(grey, new Rect(131, 0, 400 - 131, 40));
        using var inkInside = inside.Threshold(250, 255, ThresholdTypes.BinaryInv);
        using var inkOutside = outside.Threshold(250, 255, ThresholdTypes.BinaryInv);
        Assert.True(Cv2.CountNonZero(inkInside) > 100, "the fitted part is drawn");
        Assert.Equal(0, Cv2.CountNonZero(inkOutside));
        Assert.True(TextPainter.Measure(text, 14f) > 120, "the full text would not have fitted");
    }

    [Fact]
    public void Contact_sheet_captions_keep_korean_place_names()
    {
        var photo = File.ReadAllBytes(Photo);
        using var korean = Cv2.ImDecode(ContactSheet.Render([(photo, "망원동 카페")], 1, 96, null), ImreadModes.Grayscale);
        using var marks = Cv2.ImDecode(ContactSheet.Render([(photo, "??? ??")], 1, 96, null), ImreadModes.Grayscale);
        using var a = new Mat(korean, new Rect(0, 8 + 96, korean.Width, 32));
        using var b = new Mat(marks, new Rect(0, 8 + 96, marks.Width, 32));
        using var diff = new Mat();
        Cv2.Absdiff(a, b, diff);
        Assert.True(Cv2.CountNonZero(diff.Threshold(64, 255, ThresholdTypes.Binary)) > 50, "the caption band shows Hangul, not '?'");
    }

    /// <summary>Text drawn black on white, returned as a mask of inked pixels.</summary>
    private static Mat Ink(string text)
    {
        using var image = new Mat(48, 240, MatType.CV_8UC3, Scalar.White);
        TextPainter.Draw(image, text, new Point(8, 34), 24f, 224, Scalar.Black);
        using var grey = image.CvtColor(ColorConversionCodes.BGR2GRAY);
        return grey.Threshold(128, 255, ThresholdTypes.BinaryInv);
    }

    private static int Difference(Mat a, Mat b)
    {
        using var diff = new Mat();
        Cv2.BitwiseXor(a, b, diff);
        return Cv2.CountNonZero(diff);
    }
}
