using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Harvester.Core;

namespace Harvester.Embed;

/// <summary>
/// Everything needed to turn an image into the tensor a model was trained on and its output into a vector:
/// the JSON next to the .onnx (manifest.json) or an entry under Inference:Manifests.
/// </summary>
public sealed record ModelManifest
{
    /// <summary>Registry name, e.g. "clip-vit-b32".</summary>
    public string Name { get; init; } = "";

    /// <summary>Bump when the weights or the recipe change: vectors of different versions are never mixed.</summary>
    public string Version { get; init; } = "1";

    /// <summary>The ONNX graph: a file name inside the model's directory, or an absolute path to a file anywhere on disk.</summary>
    public string File { get; init; } = "model.onnx";

    public string InputName { get; init; } = "";

    /// <summary>NCHW or NHWC.</summary>
    public string Layout { get; init; } = "NCHW";

    public int Width { get; init; }

    public int Height { get; init; }

    /// <summary>
    /// squash: resize straight to Width x Height. shorter-side-center-crop: resize the shorter side to
    /// <see cref="ResizeShorterSide"/> (aspect kept) then crop the centre Width x Height, as torchvision's
    /// Resize + CenterCrop. iso-crop: ML.NET's ResizeImages defaults (scale to cover, centre, truncating offsets),
    /// drawn as SkiaSharp 2.88 draws it (interpolation skia-high).
    /// </summary>
    public string Resize { get; init; } = "squash";

    /// <summary>Shorter side after resizing, before the centre crop (e.g. 256 for a 224 crop). 0: the crop size.</summary>
    public int ResizeShorterSide { get; init; }

    /// <summary>
    /// bilinear-antialias (PIL / torchvision antialias=True), bilinear (no antialias, half-pixel centres), or
    /// skia-high (Skia m88's FilterQuality.High, with resize iso-crop: ML.NET's pixels bit for bit).
    /// </summary>
    public string Interpolation { get; init; } = "bilinear-antialias";

    /// <summary>RGB or BGR.</summary>
    public string ChannelOrder { get; init; } = "RGB";

    /// <summary>Multiplies the 0..255 pixel before mean/std (1/255 for most models).</summary>
    public float Scale { get; init; } = 1f / 255f;

    public float[] Mean { get; init; } = [0f, 0f, 0f];

    public float[] Std { get; init; } = [1f, 1f, 1f];

    public string OutputName { get; init; } = "";

    /// <summary>none: output is [N, D]; mean: average a [N, C, H, W] map or [N, T, D] tokens; cls: token 0 of [N, T, D].</summary>
    public string Pooling { get; init; } = "none";

    public bool L2Normalize { get; init; } = true;

    public int Dimension { get; init; }

    /// <summary>
    /// Where the .onnx comes from when it is not in the models directory: an http(s) URL to download (cached), or a
    /// file:// URL of a file on disk, used in place.
    /// </summary>
    public string? Url { get; init; }

    /// <summary>SHA-256 (hex) the file must have; required with <see cref="Url"/>, checked whenever it is set.</summary>
    public string? Sha256 { get; init; }

    public string? Description { get; init; }

    /// <summary>
    /// The cosine similarities at which this model's vectors call two images copies or alike. They depend on the
    /// model (each model spreads its vectors differently), are chosen by bench/Harvester.Bench.Embedding, and are not
    /// part of the recipe: changing them needs no new version.
    /// </summary>
    public ModelThresholds? Thresholds { get; init; }

    [JsonIgnore]
    public bool IsNhwc => string.Equals(Layout, "NHWC", StringComparison.OrdinalIgnoreCase);

    [JsonIgnore]
    public bool IsBgr => string.Equals(ChannelOrder, "BGR", StringComparison.OrdinalIgnoreCase);

    [JsonIgnore]
    public bool IsCenterCrop => string.Equals(Resize, "shorter-side-center-crop", StringComparison.OrdinalIgnoreCase);

    [JsonIgnore]
    public bool IsIsoCrop => string.Equals(Resize, "iso-crop", StringComparison.OrdinalIgnoreCase);

    [JsonIgnore]
    public bool IsAntialiased => string.Equals(Interpolation, "bilinear-antialias", StringComparison.OrdinalIgnoreCase);

    [JsonIgnore]
    public int ValuesPerImage => 3 * Width * Height;

    /// <summary>The file a file:// <see cref="Url"/> names, or null for none or an http(s) URL.</summary>
    [JsonIgnore]
    public string? LocalUrlPath =>
        Url is not null && Uri.TryCreate(Url, UriKind.Absolute, out var u) && u.IsFile ? u.LocalPath : null;

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static ModelManifest Parse(string json, string source)
    {
        ModelManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<ModelManifest>(json, Json);
        }
        catch (JsonException e)
        {
            throw new HarvesterException($"Model manifest {source} is not valid JSON: {e.Message}", e);
        }

        if (m is null)
        {
            throw new HarvesterException($"Model manifest {source} is empty.");
        }

        m.Validate(source);
        return m;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>
    /// Hash of the canonical JSON of the recipe (thresholds left out: they do not change a vector): the registry keeps
    /// it so a changed recipe under the same version is caught.
    /// </summary>
    public string ComputeSha256() => Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes((this with { Thresholds = null }).ToJson())));

    /// <summary>Throws one message listing every problem, each naming the field.</summary>
    public void Validate(string source)
    {
        var errors = new List<string>();
        if (!System.Text.RegularExpressions.Regex.IsMatch(Name, "^[a-z0-9][a-z0-9._-]{0,62}$"))
        {
            errors.Add("name must be a lower-case name of letters, digits, '.', '_' or '-'");
        }

        if (string.IsNullOrWhiteSpace(Version) || Version.Length > 32)
        {
            errors.Add("version is required (at most 32 characters)");
        }

        var plainName = !File.Contains('/', StringComparison.Ordinal) && !File.Contains('\\', StringComparison.Ordinal) && !File.StartsWith('.');
        if (string.IsNullOrWhiteSpace(File) || !(plainName || (Path.IsPathFullyQualified(File) && !File.EndsWith('/'))))
        {
            errors.Add($"file must be a plain file name inside the model's directory or an absolute path ('{File}' is neither)");
        }

        if (string.IsNullOrWhiteSpace(InputName))
        {
            errors.Add("inputName is required");
        }

        if (string.IsNullOrWhiteSpace(OutputName))
        {
            errors.Add("outputName is required");
        }

        if (Layout is not ("NCHW" or "NHWC"))
        {
            errors.Add($"layout '{Layout}' must be NCHW or NHWC");
        }

        if (Width is < 8 or > 4096 || Height is < 8 or > 4096)
        {
            errors.Add($"width/height {Width}x{Height} must be between 8 and 4096");
        }

        if (Resize is not ("squash" or "shorter-side-center-crop" or "iso-crop"))
        {
            errors.Add($"resize '{Resize}' must be squash, shorter-side-center-crop or iso-crop");
        }

        if ((Resize == "iso-crop") != (Interpolation == "skia-high"))
        {
            errors.Add($"resize iso-crop and interpolation skia-high go together (ML.NET's ResizeImages); got resize '{Resize}' with interpolation '{Interpolation}'");
        }

        if (IsCenterCrop && ResizeShorterSide != 0 && ResizeShorterSide < Math.Max(Width, Height))
        {
            errors.Add($"resizeShorterSide {ResizeShorterSide} must be at least the crop size {Math.Max(Width, Height)}");
        }

        if (Interpolation is not ("bilinear-antialias" or "bilinear" or "skia-high"))
        {
            errors.Add($"interpolation '{Interpolation}' must be bilinear-antialias, bilinear or skia-high");
        }

        if (ChannelOrder is not ("RGB" or "BGR"))
        {
            errors.Add($"channelOrder '{ChannelOrder}' must be RGB or BGR");
        }

        if (!(Scale > 0) || float.IsInfinity(Scale))
        {
            errors.Add("scale must be a positive number");
        }

        if (Mean is not { Length: 3 } || Mean.Any(v => !float.IsFinite(v)))
        {
            errors.Add("mean must have 3 finite values");
        }

        if (Std is not { Length: 3 } || Std.Any(v => !(v > 0) || !float.IsFinite(v)))
        {
            errors.Add("std must have 3 positive values");
        }

        if (Pooling is not ("none" or "mean" or "cls"))
        {
            errors.Add($"pooling '{Pooling}' must be none, mean or cls");
        }

        if (Dimension is < 1 or > 4000)
        {
            errors.Add($"dimension {Dimension} must be between 1 and 4000 (pgvector's HNSW limit for halfvec)");
        }

        if (Url is not null)
        {
            if (!Uri.TryCreate(Url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https" or "file"))
            {
                errors.Add($"url '{Url}' must be an absolute http(s) or file:// URL");
            }

            if (Sha256 is null)
            {
                errors.Add("sha256 is required when url is set (model files are verified)");
            }
        }

        if (Sha256 is not null && (Sha256.Length != 64 || !Sha256.All(char.IsAsciiHexDigit)))
        {
            errors.Add("sha256 must be 64 hex digits");
        }

        if (Thresholds is { } t)
        {
            foreach (var (key, value) in new[] { ("nearCopyCosine", t.NearCopyCosine), ("similarityGroupCosine", t.SimilarityGroupCosine), ("nearDuplicateCosine", t.NearDuplicateCosine) })
            {
                if (value is { } v && !(v is > 0 and <= 1))
                {
                    errors.Add($"thresholds.{key} {v} must be a cosine similarity in (0, 1]");
                }
            }
        }

        if (errors.Count > 0)
        {
            throw new HarvesterException($"Model manifest {source} is invalid: {string.Join("; ", errors)}.");
        }
    }
}

/// <summary>A model's cosine-similarity thresholds (see <see cref="ModelManifest.Thresholds"/>).</summary>
public sealed record ModelThresholds
{
    /// <summary>Curation: an accepted image this close to another is a copy of it (mirror, crop, overlay) and joins its duplicate group.</summary>
    public double? NearCopyCosine { get; init; }

    /// <summary>Clustering's similarity groups (harvester cluster groups) when --threshold and Clustering:SimilarityThreshold are unset.</summary>
    public double? SimilarityGroupCosine { get; init; }

    /// <summary>Export: near-copies that must share a split, when --near-duplicate-cosine and Export:NearDuplicateCosine are unset.</summary>
    public double? NearDuplicateCosine { get; init; }
}
