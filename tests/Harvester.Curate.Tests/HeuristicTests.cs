using Harvester.Testing;
using Harvester.Imaging;
using Harvester.DemoSite.Corpus;
using OpenCvSharp;

namespace Harvester.Curate.Tests;

/// <summary>Each heuristic on real photographs and on images generated from them.</summary>
public sealed class HeuristicTests
{
    private static readonly CurationProfile Default = new();

    private static ImageAnalysis Analyze(byte[] data)
    {
        var a = CurateKit.Analyzer.Analyze(data);
        Assert.Null(a.Failure);
        return a;
    }

    private static ImageAnalysis Analyze(Mat m) => Analyze(TestImages.Jpeg(m));

    private static List<string> Reasons(ImageAnalysis a, CurationProfile? profile = null) =>
        Verdicts.Evaluate(profile ?? Default, a.Scores).Select(r => r.Reason).ToList();

    [Fact]
    public void Ordinary_real_photos_pass_the_default_profile()
    {
        foreach (var path in new[] { TestImages.Chelsea, TestImages.Coffee, TestImages.Landscape, TestImages.Astronaut })
        {
            var a = Analyze(File.ReadAllBytes(path));
            Assert.True(Reasons(a).Count == 0, $"{path}: {string.Join(",", Reasons(a))} {string.Join(" ", a.Scores.Select(kv => $"{kv.Key}={kv.Value}"))}");
        }
    }

    [Fact]
    public void A_gaussian_blurred_copy_is_blurry_and_the_original_is_not()
    {
        using var photo = TestImages.Read(TestImages.Coffee);
        using var blurred = new Mat();
        Cv2.GaussianBlur(photo, blurred, new Size(0, 0), 5);
        var sharp = Analyze(photo);
        var soft = Analyze(blurred);
        Assert.DoesNotContain("blurry", Reasons(sharp));
        Assert.Contains("blurry", Reasons(soft));
        Assert.True(soft.Scores["sharpness"] < sharp.Scores["sharpness"] / 10);
        Assert.True(soft.Quality < sharp.Quality);
    }

    [Fact]
    public void Sharpness_does_not_depend_on_the_upload_resolution()
    {
        using var photo = TestImages.Read(TestImages.Landscape);
        using var big = TestImages.Scaled(photo, 1600);
        using var small = TestImages.Scaled(photo, 800);
        var a = PixelMeasures.Sharpness(Grey(big));
        var b = PixelMeasures.Sharpness(Grey(small));
        Assert.InRange(a / b, 0.67, 1.5);
    }

    [Fact]
    public void A_small_sharp_photo_is_not_called_blurry()
    {
        // Upscaling to the analysis size would smear it; smallness is judged by its own reason.
        using var photo = TestImages.Read(TestImages.Landscape);
        using var small = TestImages.Scaled(photo, 340);
        using var blurred = new Mat();
        Cv2.GaussianBlur(small, blurred, new Size(0, 0), 3);
        Assert.DoesNotContain("blurry", Reasons(Analyze(small)));
        Assert.Contains("blurry", Reasons(Analyze(blurred)));
    }

    [Fact]
    public void Darkened_and_washed_out_copies_are_too_dark_and_too_bright()
    {
        using var photo = TestImages.Read(TestImages.Chelsea);
        using var dark = new Mat();
        photo.ConvertTo(dark, MatType.CV_8UC3, 0.12);
        using var bright = new Mat();
        photo.ConvertTo(bright, MatType.CV_8UC3, 0.25, 200);
        Assert.Contains("too-dark", Reasons(Analyze(dark)));
        Assert.Contains("too-bright", Reasons(Analyze(bright)));
        Assert.DoesNotContain("too-dark", Reasons(Analyze(photo)));
    }

    [Fact]
    public void A_flat_image_has_low_entropy_and_a_photo_does_not()
    {
        using var flat = new Mat(480, 640, MatType.CV_8UC3, new Scalar(90, 140, 200));
        using var noise = new Mat(480, 640, MatType.CV_8UC3);
        Cv2.Randn(noise, Scalar.All(0), Scalar.All(1));
        Cv2.Add(flat, noise, flat);
        var a = Analyze(flat);
        Assert.Contains("low-entropy", Reasons(a));
        Assert.True(Analyze(TestImages.Read(TestImages.Chelsea)).Scores["entropy"] > 6);
    }

    [Fact]
    public void A_grey_copy_is_grayscale_when_the_profile_asks_for_colour()
    {
        var colour = new CurationProfile { MinColorfulness = 8 };
        using var photo = TestImages.Read(TestImages.Coffee);
        using var grey = new Mat();
        Cv2.CvtColor(photo, grey, ColorConversionCodes.BGR2GRAY);
        Assert.Contains("grayscale", Reasons(Analyze(grey), colour));
        Assert.DoesNotContain("grayscale", Reasons(Analyze(photo), colour));
        Assert.DoesNotContain("grayscale", Reasons(Analyze(grey)));
    }

    [Fact]
    public void Small_and_odd_aspect_images_are_rejected()
    {
        using var photo = TestImages.Read(TestImages.Landscape);
        using var tiny = TestImages.Scaled(photo, 150);
        using var strip = new Mat(photo, new Rect(0, photo.Height / 2, photo.Width, photo.Width / 5));
        Assert.Contains("too-small", Reasons(Analyze(tiny)));
        Assert.Contains("odd-aspect", Reasons(Analyze(strip.Clone())));
        var a = Analyze(strip.Clone());
        Assert.Equal(5.0, a.Scores["aspect"], 0.05);
    }

    [Fact]
    public void Rendered_menu_text_is_text_heavy_and_photos_are_not()
    {
        var menu = PhotoCorpus.RenderTextImage(
            ["CAFE MENU", "Americano  4.50", "Cafe latte  5.00", "Flat white  5.20", "Cold brew  5.50", "Cheesecake  6.80", "Croissant  3.90", "Open 8:00 - 22:00"], 640, 480);
        var profile = new CurationProfile { MaxTextRatio = 0.08 };
        var text = Analyze(menu);
        Assert.Contains("text-heavy", Reasons(text, profile));
        foreach (var path in new[] { TestImages.Chelsea, TestImages.Landscape, TestImages.Coffee })
        {
            var a = Analyze(File.ReadAllBytes(path));
            Assert.True(a.Scores["text_ratio"] < 0.08, $"{path}: {a.Scores["text_ratio"]}");
        }

        // Text written over a real photo raises its ratio too.
        using var photo = TestImages.Read(TestImages.Landscape);
        using var scaled = TestImages.Scaled(photo, 640);
        for (var line = 0; line < 8; line++)
        {
            Cv2.PutText(scaled, "TODAY ONLY 50% OFF", new Point(20, 50 + (line * 50)), HersheyFonts.HersheyDuplex, 1.3, Scalar.White, 3);
        }

        var overlaid = Analyze(scaled);
        Assert.True(overlaid.Scores["text_ratio"] > text.Scores["text_ratio"] / 4, $"{overlaid.Scores["text_ratio"]}");
        Assert.Contains("text-heavy", Reasons(overlaid, profile));
    }

    [Fact]
    public void A_text_ratio_near_the_profile_threshold_is_measured_again_at_the_confirm_size_and_clear_cases_are_not()
    {
        // A real photo with one to eight lines of small caption text: the ratio climbs through the profile's threshold.
        var profile = new CurationProfile { MaxTextRatio = 0.05 };
        using var photo = TestImages.Read(TestImages.Landscape);
        var candidates = Enumerable.Range(0, 9).Select(lines =>
        {
            using var scaled = TestImages.Scaled(photo, 640);
            for (var line = 0; line < lines; line++)
            {
                Cv2.PutText(scaled, "Open daily 8:00 - 22:00, free wifi", new Point(16, 40 + (line * 52)), HersheyFonts.HersheySimplex, 0.8, Scalar.White, 2);
            }

            return TestImages.Jpeg(scaled);
        }).ToList();
        var options = CurateKit.Options();
        using var first = new Harvester.Curate.Detectors.TextDetector(Harvester.Curate.Detectors.OnnxModels.Resolve(CurateKit.ModelsRoot, options.Text.Model), options.Text.InputSize, options.Text.PixelThreshold);
        using var confirm = new Harvester.Curate.Detectors.TextDetector(Harvester.Curate.Detectors.OnnxModels.Resolve(CurateKit.ModelsRoot, options.Text.Model), options.Text.ConfirmSize, options.Text.PixelThreshold);
        var seen = new List<string>();
        var (near, clear) = (0, 0);
        foreach (var jpeg in candidates)
        {
            using var m = Cv2.ImDecode(jpeg, ImreadModes.Color);
            var r = first.TextRatio(m);
            var a = CurateKit.Analyzer.Analyze(jpeg, profile);
            seen.Add($"{r:F4}->{a.Scores.GetValueOrDefault("text_ratio"):F4}@{a.Scores.GetValueOrDefault("text_input_size")}");
            if (r > profile.MaxTextRatio / options.Text.ConfirmFactor && r < profile.MaxTextRatio * options.Text.ConfirmFactor)
            {
                near++;
                Assert.Equal(options.Text.ConfirmSize, a.Scores["text_input_size"]);
                Assert.Equal(Math.Round(confirm.TextRatio(m), 5), a.Scores["text_ratio"]);
            }
            else
            {
                clear++;
                Assert.Equal(options.Text.InputSize, a.Scores["text_input_size"]);
                Assert.Equal(Math.Round(r, 5), a.Scores["text_ratio"]);
            }
        }

        Assert.True(near > 0 && clear > 0, "the captions did not span the threshold band: " + string.Join(", ", seen));
    }

    private static Mat Grey(Mat bgr)
    {
        var g = new Mat();
        Cv2.CvtColor(bgr, g, ColorConversionCodes.BGR2GRAY);
        return g;
    }
}
