using Microsoft.Extensions.Logging;

namespace Harvester.Export;

internal static partial class Log
{
    [LoggerMessage(6001, LogLevel.Information, "Exported {Images} images in {Groups} leakage groups to {Directory}")]
    public static partial void Exported(ILogger logger, int images, int groups, string directory);

    [LoggerMessage(6002, LogLevel.Warning, "{Count} accepted images have no blob in the store and are left out of the export")]
    public static partial void MissingBlobs(ILogger logger, int count);

    [LoggerMessage(6003, LogLevel.Warning, "No embeddings yet: the export groups images by source and duplicate groups only, not by near-copies")]
    public static partial void NoVectors(ILogger logger);

    [LoggerMessage(6004, LogLevel.Warning, "{Count} labels cannot be in every split: {Labels}")]
    public static partial void LabelsNotInEverySplit(ILogger logger, int count, string labels);

    [LoggerMessage(6005, LogLevel.Information, "Caps left out {BySource} images of {Sources} places or products and {ByLabel} images of {Labels} labels")]
    public static partial void Capped(ILogger logger, int bySource, int sources, int byLabel, int labels);

    [LoggerMessage(6006, LogLevel.Information, "Removed {Count} half-written export folders that killed exports left beside {Directory}")]
    public static partial void RemovedAbandonedStaging(ILogger logger, int count, string directory);
}
