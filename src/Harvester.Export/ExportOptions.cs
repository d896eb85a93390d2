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

/// <summary>How images enter the ImageFolder tree.</summary>
public enum ExportFiles
{
    /// <summary>A reflink (copy-on-write clone) where the filesystem has them, else a hard link to the blob, else a copy.</summary>
    Link,

    /// <summary>Always an independent copy of the blob.</summary>
    Copy,
}

/// <summary>What the Parquet files hold in their image column.</summary>
public enum ParquetImages
{
    /// <summary>The image bytes themselves: one self-contained file per split.</summary>
    Embed,

    /// <summary>The image's path relative to the export folder; the ImageFolder files are written for them to point at.</summary>
    Path,
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

    /// <summary>Layouts to write, comma-separated: imagefolder, webdataset, parquet.</summary>
    [Required]
    public string Formats { get; set; } = "imagefolder";

    /// <summary>Samples per WebDataset shard (&lt;split&gt;-000000.tar, …).</summary>
    [Range(1, int.MaxValue)]
    public int ShardSize { get; set; } = 10_000;

    public ParquetImages ParquetImages { get; set; } = ParquetImages.Embed;

    /// <summary>Link (reflink, else hard link, else copy) or Copy.</summary>
    public ExportFiles Files { get; set; } = ExportFiles.Link;

    /// <summary>At most this many images per label, the best by quality score; empty: no cap.</summary>
    [Range(1, int.MaxValue)]
    public int? MaxPerLabel { get; set; }

    /// <summary>At most this many images per place or product, the best by quality score; empty: no cap.</summary>
    [Range(1, int.MaxValue)]
    public int? MaxPerSource { get; set; }

    /// <summary>Fail instead of warning when a label cannot be in every split.</summary>
    public bool RequireEveryLabel { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Error(() => SplitPlanner.ParseSplits(Splits)) is { } splits)
        {
            yield return new ValidationResult($"Export:Splits: {splits}", [nameof(Splits)]);
        }

        if (Error(() => ExportFormatNames.Parse(Formats, "Export:Formats")) is { } formats)
        {
            yield return new ValidationResult(formats, [nameof(Formats)]);
        }
    }

    private static string? Error(Action check)
    {
        try
        {
            check();
            return null;
        }
        catch (Harvester.Core.HarvesterException e)
        {
            return e.Message;
        }
    }
}
