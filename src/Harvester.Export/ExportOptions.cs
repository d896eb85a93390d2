using System.ComponentModel.DataAnnotations;

namespace Harvester.Export;

/// <summary>How images are kept together so that no split learns from another's near-copies.</summary>
public enum ExportGrouping
{
    /// <summary>Photos of the same place or the same product stay in one split (the default).</summary>
    Source,

    /// <summary>Photos of the same place stay together; shop photos are grouped only by near-duplicates.</summary>
    Place,

    /// <summary>Photos of the same product stay together; map photos are grouped only by near-duplicates.</summary>
    Product,

    /// <summary>Only near-duplicates (embeddings and duplicate groups) are kept together.</summary>
    None,
}

/// <summary>What names the class folder each image goes to.</summary>
public enum ExportLabel
{
    /// <summary>The place's or product's category (e.g. 카페), as found by the crawl.</summary>
    Category,

    /// <summary>The cluster the image was assigned to in a clustering run (--run).</summary>
    Cluster,

    /// <summary>No classes: every image goes to "unlabelled".</summary>
    None,
}

/// <summary>The "Export" section of appsettings.json.</summary>
public sealed class ExportOptions : IValidatableObject
{
    public const string Section = "Export";

    /// <summary>Split names and fractions of the images, e.g. "train=0.8,val=0.1,test=0.1".</summary>
    [Required]
    public string Splits { get; set; } = "train=0.8,val=0.1,test=0.1";

    public ExportGrouping GroupBy { get; set; } = ExportGrouping.Source;

    public ExportLabel Label { get; set; } = ExportLabel.Category;

    /// <summary>
    /// Embedding model whose vectors find near-duplicates (name or name:version). Empty: Clustering:Model, else the model
    /// with the most embeddings. Images without a vector for it are exported but can only be grouped by their source.
    /// </summary>
    public string Model { get; set; } = "";

    /// <summary>
    /// Cosine similarity at or above which two images are near-copies and must share a split. Unset (the default):
    /// the model's own (its manifest's thresholds.nearDuplicateCosine), else <see cref="FallbackNearDuplicateCosine"/>.
    /// Model-dependent: each model spreads its vectors differently.
    /// </summary>
    [Range(0.0, 1.0)]
    public double? NearDuplicateCosine { get; set; }

    /// <summary>For a model whose manifest names no threshold: strict, so distinct photos are not joined.</summary>
    public const double FallbackNearDuplicateCosine = 0.995;

    /// <summary>Nearest neighbours looked at per image, for grouping and for the leakage report.</summary>
    [Range(1, 1000)]
    public int Neighbours { get; set; } = 10;

    /// <summary>Same seed, same data: same splits.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>The pHash audit compares every cross-split pair in memory; above this many images it is skipped.</summary>
    [Range(0, 1_000_000)]
    public int HashAuditLimit { get; set; } = 20_000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        string? error = null;
        try
        {
            SplitPlanner.ParseSplits(Splits);
        }
        catch (Harvester.Core.HarvesterException e)
        {
            error = e.Message;
        }

        if (error is not null)
        {
            yield return new ValidationResult($"Export:Splits: {error}", [nameof(Splits)]);
        }
    }
}
