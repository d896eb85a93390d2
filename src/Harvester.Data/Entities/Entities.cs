using System.Collections;
using System.Text.Json;
using Harvester.Core;
using Pgvector;

namespace Harvester.Data.Entities;

/// <summary>A website Harvester crawls, identified by its adapter key.</summary>
public sealed class Site
{
    public long Id { get; set; }
    public required string Key { get; set; }
    public required string Adapter { get; set; }
    public string BaseUrl { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class CrawlJob
{
    public long Id { get; set; }
    public long SiteId { get; set; }
    public Site? Site { get; set; }
    public required string Name { get; set; }
    /// <summary>Expanded queries, e.g. "망원동 카페" (map sites) or category names (shops).</summary>
    public List<string> Queries { get; set; } = [];
    /// <summary>Caps, politeness and adapter parameters as given, for reproducibility.</summary>
    public JsonDocument? Parameters { get; set; }
    /// <summary>Curation profile applied to this job's images.</summary>
    public string Profile { get; set; } = "default";
    public JobStatus Status { get; set; }
    public int PagesVisited { get; set; }
    public int PlacesFound { get; set; }
    public int ProductsFound { get; set; }
    public int PhotosFound { get; set; }
    public int PhotosStored { get; set; }
    public int Failures { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
}

/// <summary>
/// One due time of a crawl schedule that a worker acted on: its key (schedule, due time) makes a tick fire once across
/// every worker; the job it created, if any.
/// </summary>
public sealed class CrawlScheduleTick
{
    public required string Schedule { get; set; }
    public DateTimeOffset DueAt { get; set; }
    public long? JobId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>One unit of crawl work; its state makes a job resumable after a kill.</summary>
public sealed class FrontierItem
{
    public long Id { get; set; }
    public long JobId { get; set; }
    public long? ParentId { get; set; }
    public FrontierKind Kind { get; set; }
    public required string Url { get; set; }
    /// <summary>
    /// What a photo URL was seen at ("place:12", "review:7", "product:3"; empty for pages): the same URL shown by two
    /// places is two items, so each place keeps its sighting.
    /// </summary>
    public string Owner { get; set; } = "";
    public FrontierState State { get; set; }
    public int Attempts { get; set; }
    public string? ClaimedBy { get; set; }
    public DateTimeOffset? LeaseUntil { get; set; }
    public DateTimeOffset? NotBefore { get; set; }
    public string? LastError { get; set; }
    /// <summary>What the adapter knows at this point (query, place id, review text...).</summary>
    public JsonDocument? Context { get; set; }
    public int Priority { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

public sealed class Place
{
    public long Id { get; set; }
    public long SiteId { get; set; }
    public required string ExternalId { get; set; }
    public string Name { get; set; } = "";
    public string? Category { get; set; }
    public string? Neighbourhood { get; set; }
    public string? Query { get; set; }
    public string? Address { get; set; }
    public double? Latitude { get; set; }
    public double? Longitude { get; set; }
    public string? Url { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class Product
{
    public long Id { get; set; }
    public long SiteId { get; set; }
    public required string ExternalId { get; set; }
    public string Name { get; set; } = "";
    public string? Category { get; set; }
    public int? Rank { get; set; }
    public string? Url { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class Review
{
    public long Id { get; set; }
    public long SiteId { get; set; }
    public long? PlaceId { get; set; }
    public long? ProductId { get; set; }
    public required string ExternalId { get; set; }
    public string? Text { get; set; }
    public double? Rating { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>One distinct photo (by SHA-256 of its bytes); where it was seen lives in <see cref="ImageSighting"/>.</summary>
public sealed class Image
{
    public long Id { get; set; }
    /// <summary>SHA-256 of the stored bytes, lower-case hex; the blob path derives from it.</summary>
    public required string Sha256 { get; set; }
    public long ByteSize { get; set; }
    public string? ContentType { get; set; }
    public string? Format { get; set; }
    public int? Width { get; set; }
    public int? Height { get; set; }
    /// <summary>First URL the bytes came from (all of them are in sightings).</summary>
    public required string SourceUrl { get; set; }
    public string? PageUrl { get; set; }
    public long? PlaceId { get; set; }
    public long? ProductId { get; set; }
    public long? ReviewId { get; set; }
    public long? JobId { get; set; }
    public ImageStatus Status { get; set; }
    /// <summary>Reject reasons with score and threshold, e.g. [{"reason":"blurry","score":12.3,"threshold":60}].</summary>
    public JsonDocument? RejectReasons { get; set; }
    /// <summary>Every heuristic's score, accepted or not.</summary>
    public JsonDocument? Scores { get; set; }
    public double? QualityScore { get; set; }
    /// <summary>Hash of decoded pixels: same photo in another container or with other metadata.</summary>
    public byte[]? PixelHash { get; set; }
    public BitArray? PHash { get; set; }
    public BitArray? DHash { get; set; }
    /// <summary>The pHash recipe of <see cref="PHash"/> (Harvester.Imaging.PerceptualHash.Recipe); other recipes are never compared.</summary>
    public short? HashVersion { get; set; }
    /// <summary>8x8 CIE Lab thumbnail (192 bytes) that confirms a pHash match.</summary>
    public byte[]? ColourLayout { get; set; }
    /// <summary>Encoding quality from the container: 101 lossless, else the JPEG/WebP quality 1-100; null unknown.</summary>
    public float? EncodeQuality { get; set; }
    /// <summary>The JPEG's tables are exactly IJG's at <see cref="EncodeQuality"/>.</summary>
    public bool? EncodeExact { get; set; }
    public long? DuplicateOfId { get; set; }
    public long? DuplicateGroupId { get; set; }
    public string? PhotoType { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? CuratedAt { get; set; }
}

/// <summary>Where a photo was seen: the same bytes posted by two places are one image seen twice.</summary>
public sealed class ImageSighting
{
    public long Id { get; set; }
    public long ImageId { get; set; }
    public long? JobId { get; set; }
    public long SiteId { get; set; }
    public long? PlaceId { get; set; }
    public long? ProductId { get; set; }
    public long? ReviewId { get; set; }
    public required string SourceUrl { get; set; }
    public string? PageUrl { get; set; }
    public string? Query { get; set; }
    public string? PhotoType { get; set; }
    public DateTimeOffset SeenAt { get; set; }
}

/// <summary>Images judged the same photo; written by the hash pass (curation) and the embedding pass (clustering).</summary>
public sealed class DuplicateGroup
{
    public long Id { get; set; }
    public DuplicateKind Kind { get; set; }
    public long KeptImageId { get; set; }
    public int Size { get; set; }
    /// <summary>The keep rule's deciding criterion for the kept image ("lossless", "higher quality", "no overlay"...).</summary>
    public string? KeepReason { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A registered embedding model; embeddings are keyed by (image, model) so several coexist.</summary>
public sealed class EmbeddingModel
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public required string Version { get; set; }
    public required string ManifestSha256 { get; set; }
    public int Dimension { get; set; }
    /// <summary>"vector" or "halfvec".</summary>
    public string VectorType { get; set; } = "vector";
    /// <summary>The model's manifest thresholds (cosine similarity); null where the manifest sets none.</summary>
    public double? NearCopyCosine { get; set; }
    public double? SimilarityGroupCosine { get; set; }
    public double? NearDuplicateCosine { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class Embedding
{
    public long ImageId { get; set; }
    public int ModelId { get; set; }
    /// <summary>Untyped pgvector column; each model's HNSW index casts it to that model's dimension.</summary>
    public required Vector Vector { get; set; }
    /// <summary>When the embed stage's near-copy pass compared this image with its nearest neighbours (null: not yet).</summary>
    public DateTimeOffset? NearCopyCheckedAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class ClusteringRun
{
    public long Id { get; set; }
    public int ModelId { get; set; }
    public JsonDocument? Scope { get; set; }
    public int K { get; set; }
    public JsonDocument? Parameters { get; set; }
    public JsonDocument? Metrics { get; set; }
    public RunStatus Status { get; set; }
    public long? PreviousRunId { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>The process running it (host:pid:start); a running run whose owner died is swept to failed.</summary>
    public string? Owner { get; set; }
}

/// <summary>A person's 1–5 rating of how coherent one cluster of a run looks (one row per run, cluster and rater).</summary>
public sealed class ClusterRating
{
    public long RunId { get; set; }
    public int ClusterIndex { get; set; }
    public required string Rater { get; set; }
    public int Rating { get; set; }
    public DateTimeOffset RatedAt { get; set; }
}

public sealed class ClusterCentroid
{
    public long RunId { get; set; }
    public int ClusterIndex { get; set; }
    public required Vector Centroid { get; set; }
    public int Size { get; set; }
}

public sealed class ClusterAssignment
{
    public long RunId { get; set; }
    public long ImageId { get; set; }
    public int ClusterIndex { get; set; }
    public double Distance { get; set; }
}

/// <summary>
/// A claim on one item by one stage (curate, embed:model…): lets several worker processes share work without
/// a column per stage; an expired lease is free to take again.
/// </summary>
public sealed class WorkLease
{
    public required string Stage { get; set; }
    public long ItemId { get; set; }
    public required string ClaimedBy { get; set; }
    public DateTimeOffset LeaseUntil { get; set; }
    public int Attempts { get; set; }

    /// <summary>Set when the stage gave up on the item (claimed more than its MaxAttempts); it is not claimed again.</summary>
    public DateTimeOffset? GivenUpAt { get; set; }

    /// <summary>Why the stage gave up.</summary>
    public string? LastError { get; set; }
}

/// <summary>
/// A worker process and its heartbeat: registered when <c>harvester worker</c> starts, beaten every
/// Worker:HeartbeatInterval, marked stopped on a clean exit. The dashboard judges it alive, silent or gone from its
/// last beat; claims of a gone worker are reclaimed at once (see <c>WorkerRegistry</c>).
/// </summary>
public sealed class WorkerProcess
{
    /// <summary>The claim owner it writes on leases: "host:pid:start".</summary>
    public required string Id { get; set; }
    public required string Host { get; set; }
    public int Pid { get; set; }
    public required string Version { get; set; }
    public List<string> Stages { get; set; } = [];
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset LastBeatAt { get; set; }
    public TimeSpan HeartbeatInterval { get; set; }
    public long ItemsDone { get; set; }
    public DateTimeOffset? StoppedAt { get; set; }
}
