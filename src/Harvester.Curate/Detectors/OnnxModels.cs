using Harvester.Imaging;
using Harvester.Core;
using Microsoft.ML.OnnxRuntime;

namespace Harvester.Curate.Detectors;

/// <summary>Opens detector models: a missing or unreadable file is one clear error naming it and the fix.</summary>
public static class OnnxModels
{
    public static string Resolve(string modelsRoot, string model) =>
        Path.IsPathRooted(model) ? model : Path.Combine(modelsRoot, model);

    /// <summary>
    /// One session per model, shared by all threads (Run is thread-safe); one intra-op thread each because the
    /// stage already analyses one image per core.
    /// </summary>
    public static InferenceSession Open(string path, string purpose)
    {
        if (!File.Exists(path))
        {
            throw new HarvesterException($"The {purpose} model {path} is missing. Run './harvester setup' (it fetches the models pinned in scripts/models.lock), or switch the detector off in appsettings.json.");
        }

        var options = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        try
        {
            return new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new HarvesterException($"The {purpose} model {path} is corrupt or not an ONNX model ({e.Message.Split('\n')[0]}). Run './harvester setup' to fetch it again.", e);
        }
        finally
        {
            options.Dispose();
        }
    }

    public static void RequireRank(InferenceSession session, string path, string purpose, int rank)
    {
        var input = session.InputMetadata.Values.First();
        if (session.InputMetadata.Count != 1 || input.Dimensions.Length != rank)
        {
            session.Dispose();
            throw new HarvesterException($"The {purpose} model {path} does not have the expected single rank-{rank} input. Run './harvester setup' to restore it.");
        }
    }
}
