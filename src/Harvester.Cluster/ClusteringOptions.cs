using System.ComponentModel.DataAnnotations;
using Harvester.Core.Stages;

namespace Harvester.Cluster;

/// <summary>The "Clustering" section of appsettings.json: the periodic cluster stage (its claims and schedule) and every clustering run.</summary>
public sealed class ClusteringOptions : StageOptions, IValidatableObject
{
    public const string Section = "Clustering";

    /// <summary>Embedding model name (or name:version) to cluster. Empty: the model with the most embeddings.</summary>
    public string Model { get; set; } = "";

    /// <summary>Number of clusters; 0 picks k by the sweep (same as --k auto).</summary>
    [Range(0, 100_000)]
    public int K { get; set; }

    [Range(2, 100_000)]
    public int KMin { get; set; } = 2;

    [Range(2, 100_000)]
    public int KMax { get; set; } = 30;

    [Range(1, 10_000)]
    public int KStep { get; set; } = 1;

    public KMeansAlgorithm Algorithm { get; set; } = KMeansAlgorithm.Lloyd;

    [Range(1, 10_000)]
    public int MaxIterations { get; set; } = 100;

    [Range(0.0, 1.0)]
    public double Tolerance { get; set; } = 1e-4;

    public int Seed { get; set; } = 42;

    [Range(1, 1_000_000)]
    public int MiniBatchSize { get; set; } = 1024;

    /// <summary>Reduce to this many dimensions by PCA before k-means; 0 keeps the embedding's dimension.</summary>
    [Range(0, 100_000)]
    public int PcaDimensions { get; set; }

    /// <summary>Scale every vector to unit length first, so Euclidean k-means ranks like cosine similarity (pgvector &lt;=&gt;).</summary>
    public bool Normalize { get; set; } = true;

    /// <summary>Start from the previous completed run's centroids when model, scope, k and PCA match.</summary>
    public bool WarmStart { get; set; } = true;

    /// <summary>
    /// Vectors above this many megabytes (N x d x 4) are not all held in memory: k-means runs on a seeded sample that
    /// fits, then every vector is assigned while streaming from PostgreSQL.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MemoryBudgetMegabytes { get; set; } = 2048;

    /// <summary>Rows per batch when streaming vectors from PostgreSQL.</summary>
    [Range(16, 1_000_000)]
    public int StreamBatchSize { get; set; } = 8192;

    /// <summary>Silhouette is O(n²): computed on a seeded sample of at most this many vectors.</summary>
    [Range(10, 1_000_000)]
    public int SilhouetteSampleSize { get; set; } = 4000;

    /// <summary>k sweep: iterations per candidate k and the sample it runs on (the chosen k then runs on everything).</summary>
    [Range(1, 10_000)]
    public int SweepMaxIterations { get; set; } = 50;

    [Range(10, 10_000_000)]
    public int SweepSampleSize { get; set; } = 20_000;

    /// <summary>Cron expression (5 fields, UTC) for the worker's periodic run; empty: not on a clock.</summary>
    public string Schedule { get; set; } = "";

    /// <summary>The worker also runs when this many embeddings of the model arrived since the last run; 0: off.</summary>
    [Range(0, int.MaxValue)]
    public int AfterNewEmbeddings { get; set; }

    public ClusteringOptions()
    {
        // The stage claims one model at a time; idle, it looks at its schedule and the embedding count once a minute;
        // a run holds its model's lease for up to six hours.
        ClaimBatch = 1;
        PollInterval = TimeSpan.FromMinutes(1);
        Lease = TimeSpan.FromHours(6);
    }

    /// <summary>Worker: also run the similarity-group pass after each scheduled k-means run.</summary>
    public bool SimilarityGroupsOnSchedule { get; set; }

    /// <summary>
    /// Images whose embeddings have cosine similarity at least this are grouped. Unset (the default): the model's own
    /// (its manifest's thresholds.similarityGroupCosine), else <see cref="FallbackSimilarityThreshold"/>.
    /// </summary>
    [Range(0.0, 1.0)]
    public double? SimilarityThreshold { get; set; }

    /// <summary>For a model whose manifest names no threshold.</summary>
    public const double FallbackSimilarityThreshold = 0.95;

    /// <summary>Nearest neighbours fetched per image (pgvector k-NN) when building similarity groups.</summary>
    [Range(1, 1000)]
    public int SimilarityNeighbours { get; set; } = 16;

    /// <summary>Also record similarity groups as curation's duplicate groups (kind 'embedding'), marking all but the kept image duplicate.</summary>
    public bool SimilarityAsDuplicates { get; set; }

    /// <summary>Write contact sheets, index.html, PCA map and projector TSVs for each run.</summary>
    public bool WriteGalleries { get; set; } = true;

    [Range(0, 1000)]
    public int GalleryNearest { get; set; } = 8;

    [Range(0, 1000)]
    public int GalleryRandom { get; set; } = 8;

    [Range(32, 1024)]
    public int GalleryTileSize { get; set; } = 160;

    [Range(1, 100)]
    public int GalleryColumns { get; set; } = 8;

    /// <summary>Most points drawn on the PCA map and written to the projector files.</summary>
    [Range(10, 10_000_000)]
    public int ProjectorMaxPoints { get; set; } = 20_000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (KMax < KMin)
        {
            yield return new ValidationResult($"Clustering:KMax ({KMax}) must be at least Clustering:KMin ({KMin}).", [nameof(KMax)]);
        }

        if (!string.IsNullOrWhiteSpace(Schedule))
        {
            string? error = null;
            try
            {
                Cronos.CronExpression.Parse(Schedule);
            }
            catch (Cronos.CronFormatException e)
            {
                error = e.Message;
            }

            if (error is not null)
            {
                yield return new ValidationResult($"Clustering:Schedule '{Schedule}' is not a cron expression: {error}", [nameof(Schedule)]);
            }
        }
    }
}
