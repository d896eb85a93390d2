using System.ComponentModel.DataAnnotations;
using Harvester.Core.Stages;

namespace Harvester.Embed;

/// <summary>The <c>Inference</c> section (the embed stage): its claims, which model embeds, how it runs, and how its vectors are indexed and searched.</summary>
public sealed class InferenceOptions : StageOptions
{
    public const string Section = "Inference";

    /// <summary>Model the embed stage and searches use: the generated default, a manifest in the models directory, or one under <see cref="Manifests"/>.</summary>
    [Required]
    [RegularExpression("^[a-z0-9][a-z0-9._-]{0,62}$", ErrorMessage = "Inference:Model must be a lower-case name of letters, digits, '.', '_' or '-'.")]
    public string Model { get; set; } = ResNet18Model.Name;

    /// <summary>Extra model manifests by name (the same JSON as a manifest.json next to the .onnx).</summary>
    public Dictionary<string, ModelManifest> Manifests { get; set; } = [];

    /// <summary>auto: try CUDA, fall back to CPU with a warning; cuda: fail when CUDA is unavailable; cpu.</summary>
    [Required]
    [RegularExpression("^(auto|cuda|cpu)$", ErrorMessage = "Inference:ExecutionProvider must be auto, cuda or cpu.")]
    public string ExecutionProvider { get; set; } = "auto";

    [Range(0, 64)]
    public int CudaDeviceId { get; set; }

    /// <summary>
    /// Images per InferenceSession.Run for every provider; 0 (the default): <see cref="CpuModelBatch"/> or
    /// <see cref="CudaModelBatch"/>, whichever provider the session runs on. A graph whose batch dimension is fixed runs
    /// in runs of that size whatever this says.
    /// </summary>
    [Range(0, 1024)]
    public int ModelBatch { get; set; }

    /// <summary>Images per run on the CPU: past the point where the operators' threads are busy, larger batches only cost memory.</summary>
    [Range(1, 1024)]
    public int CpuModelBatch { get; set; } = 16;

    /// <summary>Images per run on CUDA: a GPU needs large batches to be busy, and its memory bounds them.</summary>
    [Range(1, 1024)]
    public int CudaModelBatch { get; set; } = 64;

    /// <summary>Threads ONNX Runtime uses inside one operator. 0: one per core.</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Let ONNX Runtime's idle intra-op threads busy-wait for the next operator (its default). Off here: the embed
    /// stage decodes the next batch while the model runs, and spinning threads would take the cores decoding needs.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>Images decoded and preprocessed at once. 0: one per core.</summary>
    [Range(0, 256)]
    public int DecodeParallelism { get; set; }

    public InferenceOptions()
    {
        ClaimBatch = 256;
        PollInterval = TimeSpan.FromSeconds(15);
    }

    /// <summary>Index type of new models' HNSW index: vector (float32) or halfvec (float16, half the size).</summary>
    [Required]
    [RegularExpression("^(vector|halfvec)$", ErrorMessage = "Inference:VectorType must be vector or halfvec.")]
    public string VectorType { get; set; } = "vector";

    [Range(2, 100)]
    public int HnswM { get; set; } = 16;

    [Range(4, 1000)]
    public int HnswEfConstruction { get; set; } = 64;

    /// <summary>hnsw.ef_search for queries (candidate list size; higher = better recall, slower).</summary>
    [Range(1, 1000)]
    public int EfSearch { get; set; } = 100;

    /// <summary>hnsw.max_scan_tuples: how far an iterative scan may go to satisfy a filter before the exact fallback.</summary>
    [Range(1, int.MaxValue)]
    public int MaxScanTuples { get; set; } = 20_000;

    /// <summary>Model downloads and query URLs.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "02:00:00")]
    public TimeSpan DownloadTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Largest query image fetched from a URL.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxQueryImageBytes { get; set; } = 50 * 1024 * 1024;

    /// <summary>The batch for a session on <paramref name="provider"/> ("cpu" or "cuda").</summary>
    public int ModelBatchFor(string provider) => ModelBatch > 0 ? ModelBatch : provider == "cuda" ? CudaModelBatch : CpuModelBatch;

    public int EffectiveDecodeParallelism => DecodeParallelism > 0 ? DecodeParallelism : Environment.ProcessorCount;

    public int EffectiveIntraOpThreads => IntraOpThreads > 0 ? IntraOpThreads : Environment.ProcessorCount;
}
