using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using Harvester.Imaging;
using Harvester.Core;
using Harvester.Curate.Detectors;
using OpenCvSharp;

namespace Harvester.Curate.Tests;

public sealed class DetectorTests
{
    private static readonly CurationProfile FaceProfile = new() { MaxFaceAreaRatio = 0.15, MaxFaces = 2 };

    private static ImageAnalysis Analyze(Mat m)
    {
        var a = CurateKit.Analyzer.Analyze(TestImages.Jpeg(m));
        Assert.Null(a.Failure);
        return a;
    }

    [Fact]
    public void BlazeFace_finds_the_one_face_in_the_astronaut_portrait_and_none_in_a_landscape()
    {
        using var astronaut = TestImages.Read(TestImages.Astronaut);
        var a = Analyze(astronaut);
        Assert.Equal(1, a.Scores["faces"]);
        Assert.InRange(a.Scores["face_area_ratio"], 0.01, 0.15);
        var land = Analyze(TestImages.Read(TestImages.Landscape));
        Assert.Equal(0, land.Scores["faces"]);
        Assert.Equal(0, land.Scores["face_area_ratio"]);
    }

    [Fact]
    public void Batched_text_detection_gives_each_image_the_ratio_it_gets_alone()
    {
        // Images of two input shapes in one call: a menu board and photos (landscape and portrait), so the batch path
        // both shares a model run and splits by shape.
        var menu = Cv2.ImDecode(PhotoCorpus.RenderTextImage(["MENU", "Americano 4.50", "Latte 5.00", "Scone 3.80", "Cheesecake 6.80"], 640, 480), ImreadModes.Color);
        using var landscape = TestImages.Read(TestImages.Landscape);
        using var photo = TestImages.Scaled(landscape, 640);
        using var portrait = new Mat();
        Cv2.Transpose(photo, portrait);
        using var captioned = photo.Clone();
        Cv2.PutText(captioned, "TODAY ONLY 50% OFF", new Point(20, 80), HersheyFonts.HersheyDuplex, 1.3, Scalar.White, 3);
        Mat[] images = [menu, photo, portrait, captioned, menu];
        using var detector = new Harvester.Curate.Detectors.TextDetector(OnnxModels.Resolve(CurateKit.ModelsRoot, "ppocr-v4-det.onnx"), 320, 0.3);

        var batched = detector.TextRatios(images);

        // The same pixels through the same network; a few map pixels at the threshold may flip with another batch layout.
        Assert.All(images.Select(detector.TextRatio).Zip(batched), x => Assert.Equal(x.First, x.Second, 0.001));
        Assert.True(batched[0] > 0.08 && batched[1] < batched[3], string.Join(", ", batched));
        menu.Dispose();
    }

    [Fact]
    public void A_close_crop_of_the_real_face_is_face_dominated_and_three_copies_are_too_many_faces()
    {
        using var astronaut = TestImages.Read(TestImages.Astronaut);
        var face = FindFace(astronaut);
        // A selfie-like frame: the face with a margin of half its size.
        var cx = (int)((face.X0 + face.X1) / 2 * astronaut.Width);
        var cy = (int)((face.Y0 + face.Y1) / 2 * astronaut.Height);
        var side = (int)((face.X1 - face.X0) * astronaut.Width * 2);
        var rect = new Rect(Math.Max(0, cx - (side / 2)), Math.Max(0, cy - (side / 2)), side, side) & new Rect(0, 0, astronaut.Width, astronaut.Height);
        using var crop = new Mat(astronaut, rect);
        using var selfie = TestImages.Scaled(crop, 480);
        var s = Analyze(selfie);
        Assert.Equal(1, s.Scores["faces"]);
        Assert.Contains("face-dominated", Verdicts.Evaluate(FaceProfile, s.Scores).Select(r => r.Reason));

        // Three copies of the portrait side by side: a group photo.
        using var group = new Mat();
        Cv2.HConcat([astronaut, astronaut, astronaut], group);
        var g = Analyze(group);
        Assert.Equal(3, g.Scores["faces"]);
        Assert.Contains("too-many-faces", Verdicts.Evaluate(FaceProfile, g.Scores).Select(r => r.Reason));
    }

    [Fact]
    public void Saliency_counts_one_and_two_real_photo_subjects_on_a_plain_background()
    {
        var detector = new SaliencySubjectDetector(64, 0.03);
        using var cat = TestImages.Read(TestImages.Chelsea);
        using var catSmall = TestImages.Scaled(cat, 260);
        using var one = Background();
        catSmall.CopyTo(new Mat(one, new Rect(190, 140, catSmall.Width, catSmall.Height)));
        var r1 = detector.Detect(one);
        Assert.Equal(1, r1.Count);
        Assert.InRange(r1.Coverage, 0.08, 0.5);

        using var two = Background();
        using var coffee = TestImages.Scaled(TestImages.Read(TestImages.Coffee), 200);
        using var cat2 = TestImages.Scaled(cat, 200);
        cat2.CopyTo(new Mat(two, new Rect(30, 40, cat2.Width, cat2.Height)));
        coffee.CopyTo(new Mat(two, new Rect(400, 300, coffee.Width, coffee.Height)));
        Assert.Equal(2, detector.Detect(two).Count);

        using var big = Background();
        using var resized = new Mat();
        Cv2.Resize(cat, resized, new Size(520, 380));
        resized.CopyTo(new Mat(big, new Rect(60, 50, 520, 380)));
        // Saliency marks detail and outline more than area: it underestimates a large subject, but ranks it clearly larger.
        var large = detector.Detect(big);
        Assert.Equal(1, large.Count);
        Assert.True(large.Coverage >= 0.3 && large.Coverage > r1.Coverage * 1.5, $"{large.Coverage} vs {r1.Coverage}");
    }

    [Fact]
    public void Yolo_detector_decodes_boxes_from_a_model_and_suppresses_overlaps()
    {
        // Input 320x320; v8 layout [1, 4+2, 8]: two overlapping boxes of class 0, one of class 1, one below threshold, four empty.
        float[][] boxes =
        [
            [160, 160, 200, 200, 0.9f, 0.0f],
            [165, 160, 200, 200, 0.8f, 0.0f],
            [60, 160, 40, 40, 0.0f, 0.7f],
            [250, 250, 30, 30, 0.1f, 0.0f],
        ];
        var data = new float[6 * 8];
        for (var i = 0; i < 4; i++)
        {
            for (var a = 0; a < 6; a++)
            {
                data[(a * 8) + i] = boxes[i][a];
            }
        }

        var path = Path.Combine(Path.GetTempPath(), $"yolo-fixture-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, OnnxModelWriter.ConstantOutputModel("images", [1, 3, 320, 320], "output0", [1, 6, 8], data));
        try
        {
            using var yolo = new YoloSubjectDetector(path, 320, 0.35, 0.45, 0.0);
            // A 640x320 frame letterboxes into 320x160 with 80 px of padding above and below.
            using var frame = new Mat(320, 640, MatType.CV_8UC3, Scalar.All(100));
            var r = yolo.Detect(frame);
            Assert.Equal(2, r.Count);
            Assert.Equal("yolo", r.Method);
            var main = r.Subjects[0];
            Assert.Equal(60f / 320, main.X0, 3);
            Assert.Equal(0f, main.Y0, 3);
            Assert.Equal(1f, main.Y1, 3);
            Assert.Equal(260f / 320, main.X1, 3);
            Assert.Equal(200f / 320, r.Coverage, 3);
            Assert.Equal(1, r.Subjects[1].Class);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_missing_or_corrupt_model_is_one_clear_error_naming_the_file_and_the_setup_command()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"models-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var missing = Assert.Throws<HarvesterException>(() => new ImageAnalyzer(new CurationOptions(), dir));
            Assert.Contains(Path.Combine(dir, "blazeface-back-256.onnx"), missing.Message, StringComparison.Ordinal);
            Assert.Contains("./harvester setup", missing.Message, StringComparison.Ordinal);

            File.WriteAllText(Path.Combine(dir, "blazeface-back-256.onnx"), "<html>not a model</html>");
            var corrupt = Assert.Throws<HarvesterException>(() => new ImageAnalyzer(new CurationOptions(), dir));
            Assert.Contains("corrupt", corrupt.Message, StringComparison.Ordinal);
            Assert.Contains("blazeface-back-256.onnx", corrupt.Message, StringComparison.Ordinal);
            Assert.Contains("./harvester setup", corrupt.Message, StringComparison.Ordinal);

            // With both detectors switched off nothing is loaded.
            using var plain = new ImageAnalyzer(new CurationOptions { Faces = { Enabled = false }, Text = { Enabled = false } }, dir);
            Assert.False(plain.HasFaceDetector);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static Box FindFace(Mat photo)
    {
        using var detector = new FaceDetector(Path.Combine(CurateKit.ModelsRoot, "blazeface-back-256.onnx"), 0.7, 0.3);
        return Assert.Single(detector.Detect(photo).Faces);
    }

    private static Mat Background()
    {
        var m = new Mat(480, 640, MatType.CV_8UC3, new Scalar(200, 205, 210));
        using var noise = new Mat(480, 640, MatType.CV_8UC3);
        Cv2.Randn(noise, Scalar.All(0), Scalar.All(3));
        Cv2.Add(m, noise, m);
        return m;
    }
}
