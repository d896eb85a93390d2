namespace Harvester.Core;

/// <summary>Where an image stands in the pipeline: crawl → curate → embed.</summary>
public enum ImageStatus
{
    /// <summary>Bytes are in the blob store; not yet curated.</summary>
    Fetched = 0,
    Accepted = 1,
    Rejected = 2,
    Duplicate = 3,
}

/// <summary>State of a frontier row (search page, place, product, photo URL).</summary>
public enum FrontierState
{
    Pending = 0,
    Claimed = 1,
    Done = 2,
    Failed = 3,
}

public enum FrontierKind
{
    Search = 0,
    Place = 1,
    Category = 2,
    Product = 3,
    Photo = 4,
}

public enum JobStatus
{
    Pending = 0,
    Running = 1,
    /// <summary>Every item finished and none failed.</summary>
    Completed = 2,
    /// <summary>Nothing was stored and items failed (every item, or every one that could have led to a photo).</summary>
    Failed = 3,
    Cancelled = 4,
    /// <summary>Every item finished; some failed, with their reasons on the frontier, and photos were stored.</summary>
    CompletedWithFailures = 5,
}

public enum RunStatus
{
    Running = 0,
    Completed = 1,
    Failed = 2,
}

/// <summary>How a duplicate group was found.</summary>
public enum DuplicateKind
{
    ExactBytes = 0,
    ExactPixels = 1,
    PerceptualHash = 2,
    Embedding = 3,
}
