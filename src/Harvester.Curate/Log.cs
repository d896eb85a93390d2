using Harvester.Imaging;
using Microsoft.Extensions.Logging;

namespace Harvester.Curate;

internal static partial class Log
{
    [LoggerMessage(2001, LogLevel.Information, "Curated batch of {Count}: {Accepted} accepted, {Rejected} rejected, {Duplicates} duplicates")]
    public static partial void BatchCurated(ILogger logger, int count, int accepted, int rejected, int duplicates);

    [LoggerMessage(2002, LogLevel.Warning, "Image {ImageId} could not be analysed: {Reason}")]
    public static partial void ImageFailed(ILogger logger, long imageId, string reason);

    [LoggerMessage(2003, LogLevel.Warning, "Curation profile '{Profile}' is not configured; image {ImageId} uses 'default'")]
    public static partial void UnknownProfile(ILogger logger, string profile, long imageId);

    [LoggerMessage(2004, LogLevel.Information, "Loaded {Detector} model {Path}")]
    public static partial void ModelLoaded(ILogger logger, string detector, string path);

    [LoggerMessage(2005, LogLevel.Error, "Curation batch failed; its leases expire and another pass retries it")]
    public static partial void BatchFailed(ILogger logger, Exception exception);

    [LoggerMessage(2006, LogLevel.Warning, "Image {ImageId} failed curation {Attempts} times; rejecting it")]
    public static partial void GivingUp(ILogger logger, long imageId, int attempts);

    [LoggerMessage(2007, LogLevel.Debug, "Image {ImageId} is out of range of its group's new kept image {KeptId}; looking it up again")]
    public static partial void LeftGroup(ILogger logger, long imageId, long keptId);
}
