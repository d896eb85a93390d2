using Microsoft.Extensions.Logging;

namespace Harvester.Cluster;

internal static partial class Log
{
    [LoggerMessage(4001, LogLevel.Information, "Clustering run {RunId}: model {Model}, scope {Scope}, {Images} images, k = {K}")]
    public static partial void RunStarted(ILogger logger, long runId, string model, string scope, int images, int k);

    [LoggerMessage(4002, LogLevel.Information, "Clustering run {RunId} completed: k = {K}, inertia {Inertia}, {Iterations} iterations in {Seconds} s")]
    public static partial void RunCompleted(ILogger logger, long runId, int k, double inertia, int iterations, double seconds);

    [LoggerMessage(4003, LogLevel.Error, "Clustering run {RunId} failed")]
    public static partial void RunFailed(ILogger logger, Exception exception, long runId);

    [LoggerMessage(4004, LogLevel.Information, "k sweep: k = {K}, inertia {Inertia}, silhouette {Silhouette}")]
    public static partial void SweepPoint(ILogger logger, int k, double inertia, double silhouette);

    [LoggerMessage(4005, LogLevel.Information, "{Total} vectors exceed the memory budget: k-means runs on a sample of {Sample}, then assigns all while streaming")]
    public static partial void Sampling(ILogger logger, int total, int sample);

    [LoggerMessage(4006, LogLevel.Warning, "Gallery for clustering run {RunId} could not be written")]
    public static partial void GalleryFailed(ILogger logger, Exception exception, long runId);

    [LoggerMessage(4007, LogLevel.Information, "Similarity groups (run {RunId}): {Groups} groups covering {Images} images at cosine >= {Threshold}")]
    public static partial void GroupsWritten(ILogger logger, long runId, int groups, int images, double threshold);

    [LoggerMessage(4008, LogLevel.Information, "Clustering worker: schedule '{Schedule}', after {AfterNew} new embeddings")]
    public static partial void WorkerStarted(ILogger logger, string schedule, int afterNew);

    [LoggerMessage(4009, LogLevel.Information, "Clustering worker idle: neither Clustering:Schedule nor Clustering:AfterNewEmbeddings is set")]
    public static partial void WorkerDisabled(ILogger logger);

    [LoggerMessage(4010, LogLevel.Error, "Scheduled clustering failed; retrying at the next due time")]
    public static partial void WorkerRunFailed(ILogger logger, Exception exception);

    [LoggerMessage(4011, LogLevel.Information, "Warm start from run {PreviousRunId}'s centroids")]
    public static partial void WarmStart(ILogger logger, long previousRunId);

    [LoggerMessage(4012, LogLevel.Information, "Cluster gallery written to {Path}")]
    public static partial void GalleryWritten(ILogger logger, string path);
}
