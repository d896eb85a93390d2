using System.ComponentModel.DataAnnotations;
using Harvester.Core.Stages;

namespace Harvester.Embed;

/// <summary>
/// The <c>NearCopies</c> section: the embed stage's second pass, which finds copies the curate stage's hashes missed
/// (mirrored, cropped, overlaid) among each embedded image's nearest neighbours and folds them into duplicate groups.
/// </summary>
public sealed class NearCopyOptions : StageOptions
{
    public const string Section = "NearCopies";

    /// <summary>Model whose vectors propose the candidates; empty: Inference:Model.</summary>
    [RegularExpression("^$|^[a-z0-9][a-z0-9._-]{0,62}$", ErrorMessage = "NearCopies:Model must be empty or a model name.")]
    public string Model { get; set; } = "";

    /// <summary>Nearest neighbours (pgvector k-NN) looked at per image.</summary>
    [Range(1, 100)]
    public int Neighbours { get; set; } = 5;

    /// <summary>Cosine similarity a neighbour needs to be a candidate; unset: the model's manifest (thresholds.nearCopyCosine).</summary>
    [Range(0.0, 1.0)]
    public double? CandidateCosine { get; set; }

    /// <summary>
    /// The pixel check a candidate must pass (<see cref="Imaging.CopyVerifier"/>: best band-passed correlation,
    /// straight or mirrored, over crops keeping 60-100 %). Independent of the model; chosen by the copies benchmark.
    /// </summary>
    [Range(0.0, 1.0)]
    public double PixelScore { get; set; } = 0.7;

    public NearCopyOptions()
    {
        ClaimBatch = 128;
        PollInterval = TimeSpan.FromSeconds(15);
    }
}
