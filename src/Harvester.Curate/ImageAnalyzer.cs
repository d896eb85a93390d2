using Harvester.Imaging;
using Harvester.Core;
using Harvester.Curate.Detectors;
using Microsoft.Extensions.Options;
using OpenCvSharp;
using TextDetector = Harvester.Curate.Detectors.TextDetector;

namespace Harvester.Curate;

/// <summary>Everything the curate stage learns about one image; <see cref="Failure"/> set means it could not be decoded.</summary>
public sealed record ImageAnalysis
{
    public string? Failure { get; init; }
    public ImageFormat Format { get; init; }
    public int Width { get; init; }
    public int Height { get; init; }
    /// <summary>Balanced pHash (<see cref="PerceptualHash.Recipe"/>).</summary>
    public ulong PHash { get; init; }
    public ulong DHash { get; init; }
    public byte[] PixelHash { get; init; } = [];

    /// <summary>8x8 Lab thumbnail that confirms a pHash match (<see cref="Imaging.ColourLayout"/>).</summary>
    public byte[] ColourLayout { get; init; } = [];

    /// <summary>Lossless or the encoder's quality, from the container (what the keep rule prefers).</summary>
    public EncodingQuality Encoding { get; init; }

    /// <summary>The profile's reasons when the analysis was given one (detectors the verdict did not need were skipped).</summary>
    public IReadOnlyList<RejectReason>? Reasons { get; init; }

    /// <summary>Every score by name (e.g. "sharpness", "text_ratio"); the keys the profiles' checks read.</summary>
    public IReadOnlyDictionary<string, double> Scores { get; init; } = new Dictionary<string, double>();

    /// <summary>Tie-breaker for the keep rule among duplicates: higher is better (sharpness and exposure, 0..1).</summary>
    public double Quality { get; init; }

    public static ImageAnalysis Failed(string reason) => new() { Failure = reason };
}

/// <summary>Decode, hashes, pixel measures and the configured detectors for one image; thread-safe.</summary>
public sealed class ImageAnalyzer : IDisposable
{
    private readonly ImageDecoder _decoder;
    private readonly FaceDetector? _faces;
    private readonly TextDetector? _text;
    private readonly TextDetector? _textConfirm;
    private readonly int _textSize;
    private readonly int _confirmSize;
    private readonly double _confirmFactor;
    private readonly ISubjectDetector _subjects;

    public ImageAnalyzer(IOptions<CurationOptions> options, IOptions<StorageOptions> storage)
        : this(options.Value, storage.Value.ResolveModelsRoot())
    {
    }

    public ImageAnalyzer(CurationOptions options, string modelsRoot)
    {
        ArgumentNullException.ThrowIfNull(options);
        _decoder = new ImageDecoder(options.MaxFileBytes, options.MaxPixels, options.AnalysisSize);
        try
        {
            if (options.Faces.Enabled)
            {
                _faces = new FaceDetector(OnnxModels.Resolve(modelsRoot, options.Faces.Model), options.Faces.ScoreThreshold, options.Faces.IouThreshold);
            }

            if (options.Text.Enabled)
            {
                var t = options.Text;
                _text = new TextDetector(OnnxModels.Resolve(modelsRoot, t.Model), t.InputSize, t.PixelThreshold);
                _textSize = t.InputSize;
                if (t.ConfirmSize > 0 && t.ConfirmSize != t.InputSize)
                {
                    _textConfirm = new TextDetector(OnnxModels.Resolve(modelsRoot, t.Model), t.ConfirmSize, t.PixelThreshold);
                    _confirmSize = t.ConfirmSize;
                    _confirmFactor = t.ConfirmFactor;
                }
            }

            var s = options.Subjects;
            _subjects = string.IsNullOrWhiteSpace(s.Model)
                ? new SaliencySubjectDetector(s.SaliencySize, s.MinSubjectArea)
                : new YoloSubjectDetector(OnnxModels.Resolve(modelsRoot, s.Model), s.InputSize, s.ScoreThreshold, s.IouThreshold, s.MinSubjectArea);
        }
        catch
        {
            _faces?.Dispose();
            _text?.Dispose();
            _textConfirm?.Dispose();
            throw;
        }
    }

    public bool HasFaceDetector => _faces is not null;

    public bool HasTextDetector => _text is not null;

    /// <summary>Every score, every detector (what benchmarks and tools that want all scores call).</summary>
    public ImageAnalysis Analyze(byte[] data) => Analyze(data, null);

    /// <summary>
    /// Never throws for bad input: a file that cannot be used comes back as <see cref="ImageAnalysis.Failed"/>. With a
    /// <paramref name="profile"/>, checks run cheap-first and a detector runs only while the verdict is still open and
    /// the profile has a check that reads it (its score is then absent); <see cref="ImageAnalysis.Reasons"/> is the verdict.
    /// </summary>
    public ImageAnalysis Analyze(byte[] data, CurationProfile? profile)
    {
        ArgumentNullException.ThrowIfNull(data);
        DecodedImage decoded;
        try
        {
            decoded = _decoder.Decode(data);
        }
        catch (ImageRejectedException e)
        {
            return ImageAnalysis.Failed(e.Message);
        }
        catch (OpenCVException e)
        {
            return ImageAnalysis.Failed("decode-failed: " + e.Message);
        }

        using (decoded)
        {
            return Analyze(decoded, profile) with { Encoding = EncodingQuality.Read(data) };
        }
    }

    public ImageAnalysis Analyze(DecodedImage decoded) => Analyze(decoded, null);

    /// <summary>Hashes, colour layout and encoding only (what a rehash needs); null when the bytes cannot be decoded.</summary>
    public ImageAnalysis? Fingerprint(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        try
        {
            using var decoded = _decoder.Decode(data);
            using var grey = new Mat();
            Cv2.CvtColor(decoded.Pixels, grey, ColorConversionCodes.BGR2GRAY);
            return FingerprintOf(decoded, grey) with { Encoding = EncodingQuality.Read(data) };
        }
        catch (Exception e) when (e is ImageRejectedException or OpenCVException)
        {
            return null;
        }
    }

    public ImageAnalysis Analyze(DecodedImage decoded, CurationProfile? profile)
    {
        ArgumentNullException.ThrowIfNull(decoded);
        var px = decoded.Pixels;
        using var grey = new Mat();
        Cv2.CvtColor(px, grey, ColorConversionCodes.BGR2GRAY);
        var pixel = PixelMeasures.Measure(px, grey);
        var scores = new Dictionary<string, double>
        {
            ["width"] = decoded.Width,
            ["height"] = decoded.Height,
            ["min_side"] = Math.Min(decoded.Width, decoded.Height),
            ["aspect"] = (double)Math.Max(decoded.Width, decoded.Height) / Math.Max(1, Math.Min(decoded.Width, decoded.Height)),
            ["sharpness"] = Math.Round(pixel.Sharpness, 3),
            ["mean_luma"] = Math.Round(pixel.MeanLuma, 3),
            ["dark_fraction"] = Math.Round(pixel.DarkFraction, 5),
            ["bright_fraction"] = Math.Round(pixel.BrightFraction, 5),
            ["entropy"] = Math.Round(pixel.Entropy, 4),
            ["colorfulness"] = Math.Round(pixel.Colorfulness, 3),
        };

        // Cheapest first: the pixel checks, then saliency, faces (a few ms) and text (the most expensive). With a
        // profile, a detector runs only while no check has failed yet and the profile has a check that reads it.
        List<RejectReason>? reasons = profile is null ? null : Verdicts.Evaluate(profile, scores);
        bool Needed(bool usedByProfile) => profile is null || (reasons!.Count == 0 && usedByProfile);

        // Saliency is cheap (a 64 px map): its scores are kept for every image still in the running.
        if (profile is null || reasons!.Count == 0)
        {
            var subjects = _subjects.Detect(px);
            scores["subject_coverage"] = Math.Round(subjects.Coverage, 5);
            scores["subjects"] = subjects.Count;
            if (profile is not null)
            {
                reasons = Verdicts.Evaluate(profile, scores);
            }
        }

        if (_faces is not null && Needed(profile is { } pf && (pf.MaxFaces is not null || pf.MaxFaceAreaRatio is not null)))
        {
            var f = _faces.Detect(px);
            scores["faces"] = f.Count;
            scores["face_area_ratio"] = Math.Round(f.LargestAreaRatio, 5);
            if (profile is not null)
            {
                reasons = Verdicts.Evaluate(profile, scores);
            }
        }

        if (_text is not null && Needed(profile?.MaxTextRatio is not null))
        {
            // A ratio near the profile's threshold is measured again at the larger size, where small text that the
            // first size misses counts; clear cases (no text, a menu board) keep the cheap first answer.
            var ratio = _text.TextRatio(px);
            var size = _textSize;
            if (_textConfirm is not null && profile?.MaxTextRatio is { } limit && ratio > limit / _confirmFactor && ratio < limit * _confirmFactor)
            {
                ratio = _textConfirm.TextRatio(px);
                size = _confirmSize;
            }

            scores["text_ratio"] = Math.Round(ratio, 5);
            scores["text_input_size"] = size;
            if (profile is not null)
            {
                reasons = Verdicts.Evaluate(profile, scores);
            }
        }

        return FingerprintOf(decoded, grey) with { Scores = scores, Quality = QualityOf(pixel), Reasons = reasons };
    }

    /// <summary>What identifies an image among its copies: size, hashes of its grey version and its colour layout.</summary>
    private static ImageAnalysis FingerprintOf(DecodedImage decoded, Mat grey) => new()
    {
        Format = decoded.Header.Format,
        Width = decoded.Width,
        Height = decoded.Height,
        PHash = PerceptualHash.PHashFromGrey(grey),
        DHash = PerceptualHash.DHashFromGrey(grey),
        ColourLayout = ColourLayout.Compute(decoded.Pixels),
        PixelHash = decoded.PixelHash,
    };

    /// <summary>Sharpness saturating at a Laplacian variance of 1000, discounted by clipped shadows and highlights.</summary>
    public static double QualityOf(PixelScores p) =>
        Math.Round(Math.Min(1.0, Math.Log10(1 + p.Sharpness) / 3.0) * (1.0 - (0.5 * Math.Min(1.0, p.DarkFraction + p.BrightFraction))), 6);

    public void Dispose()
    {
        _faces?.Dispose();
        _text?.Dispose();
        _textConfirm?.Dispose();
        _subjects.Dispose();
    }
}

/// <summary>One failed check: reason code, the image's score and the threshold it missed.</summary>
public sealed record RejectReason(string Reason, double? Score, double? Threshold);

public static class Verdicts
{
    /// <summary>The checks a profile switches on, against the analysis scores; empty means accepted.</summary>
    public static List<RejectReason> Evaluate(CurationProfile profile, IReadOnlyDictionary<string, double> scores)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(scores);
        var reasons = new List<RejectReason>();
        void Below(string reason, string key, double? threshold)
        {
            if (threshold is { } t && scores.TryGetValue(key, out var s) && s < t)
            {
                reasons.Add(new RejectReason(reason, s, t));
            }
        }

        void Above(string reason, string key, double? threshold)
        {
            if (threshold is { } t && scores.TryGetValue(key, out var s) && s > t)
            {
                reasons.Add(new RejectReason(reason, s, t));
            }
        }

        Below("too-small", "min_side", profile.MinSide);
        Above("odd-aspect", "aspect", profile.MaxAspect);
        Below("blurry", "sharpness", profile.MinSharpness);
        Above("too-dark", "dark_fraction", profile.MaxDarkFraction);
        Above("too-bright", "bright_fraction", profile.MaxBrightFraction);
        Below("low-entropy", "entropy", profile.MinEntropy);
        Below("grayscale", "colorfulness", profile.MinColorfulness);
        Above("text-heavy", "text_ratio", profile.MaxTextRatio);
        Above("too-many-faces", "faces", profile.MaxFaces);
        Above("face-dominated", "face_area_ratio", profile.MaxFaceAreaRatio);
        Below("subject-too-small", "subject_coverage", profile.MinSubjectCoverage);
        Below("too-few-subjects", "subjects", profile.MinSubjects);
        Above("too-many-subjects", "subjects", profile.MaxSubjects);
        return reasons;
    }
}
