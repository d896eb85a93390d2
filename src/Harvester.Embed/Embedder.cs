using System.Buffers;
using System.Numerics.Tensors;
using Harvester.Core;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Harvester.Embed;

/// <summary>
/// One model loaded in one <see cref="InferenceSession"/> (thread-safe, shared by all callers): preprocessing into
/// pooled batch buffers, batched Run, pooling and L2 normalisation of the output per the manifest.
/// </summary>
public sealed class Embedder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly int _decodeParallelism;

    private Embedder(ResolvedModel model, InferenceSession session, string provider, int decodeParallelism, int fixedBatch, int batch)
    {
        FixedBatch = fixedBatch;
        Batch = batch;
        Model = model;
        Manifest = model.Manifest;
        Preprocessor = new Preprocessor(model.Manifest);
        Provider = provider;
        _session = session;
        _inputNames = [model.Manifest.InputName];
        _outputNames = [model.Manifest.OutputName];
        _decodeParallelism = decodeParallelism;
    }

    public ResolvedModel Model { get; }

    public ModelManifest Manifest { get; }

    public Preprocessor Preprocessor { get; }

    /// <summary>"cuda" or "cpu": where the session runs.</summary>
    public string Provider { get; }

    public int Dimension => Manifest.Dimension;

    /// <summary>The batch size the graph's input fixes (many exported models take exactly 1), or 0 when it is free.</summary>
    public int FixedBatch { get; }

    /// <summary>Images per model run on this session's provider (Inference:ModelBatch, CpuModelBatch or CudaModelBatch).</summary>
    public int Batch { get; }

    public static Embedder Load(ResolvedModel model, InferenceOptions options, ILogger logger)
    {
        if (!File.Exists(model.ModelPath))
        {
            throw new HarvesterException($"Model file {model.ModelPath} for '{model.Manifest.Name}' is missing.");
        }

        using var sessionOptions = CreateSessionOptions(options, logger, out var provider);
        InferenceSession session;
        try
        {
            session = new InferenceSession(model.ModelPath, sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            throw new HarvesterException($"ONNX Runtime cannot load {model.ModelPath} for '{model.Manifest.Name}': {e.Message}", e);
        }

        Embedder embedder;
        try
        {
            var fixedBatch = CheckSignature(model.Manifest, session);
            embedder = new Embedder(model, session, provider, options.EffectiveDecodeParallelism, fixedBatch, options.ModelBatchFor(provider));
            embedder.Probe();
        }
        catch
        {
            session.Dispose();
            throw;
        }

        Log.ModelLoaded(logger, model.Manifest.Name, model.Manifest.Version, provider, model.Manifest.InputName, model.Manifest.OutputName, model.Manifest.Dimension);
        return embedder;
    }

    /// <summary>
    /// Session options for the configured provider. The CUDA provider is always attempted for auto and cuda: with the
    /// CPU build of ONNX Runtime the call fails, which is an error for cuda and a logged fallback for auto.
    /// </summary>
    public static SessionOptions CreateSessionOptions(InferenceOptions options, ILogger logger, out string provider)
    {
        var so = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = 1,
        };
        // Spinning threads answer a lone Run a little sooner but burn their cores between operators; the embed stage
        // runs the model beside image decoding, which wants those cores.
        var spin = options.AllowSpinning ? "1" : "0";
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", spin);
        so.AddSessionConfigEntry("session.inter_op.allow_spinning", spin);
        provider = "cpu";
        if (options.ExecutionProvider is "auto" or "cuda")
        {
            try
            {
                so.AppendExecutionProvider_CUDA(options.CudaDeviceId);
                provider = "cuda";
            }
            catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                if (options.ExecutionProvider == "cuda")
                {
                    so.Dispose();
                    throw new HarvesterException(
                        $"Inference:ExecutionProvider is 'cuda' but CUDA is unavailable: {e.Message.Trim()} " +
                        "Install the GPU build of ONNX Runtime (see docs/embedding.md, 'GPU'), or set Inference:ExecutionProvider to auto or cpu.", e);
                }

                Log.CudaFallback(logger, e.Message.Trim());
            }
        }

        return so;
    }

    /// <summary>
    /// Checks the graph against the manifest and returns the batch size its input fixes (0 when symbolic). An image
    /// model takes one float tensor of rank 4 with 3 colour channels; anything else (a text model's token ids, a
    /// tabular model's rows) is refused here, before anything is registered.
    /// </summary>
    private static int CheckSignature(ModelManifest m, InferenceSession session)
    {
        if (!session.InputMetadata.TryGetValue(m.InputName, out var input))
        {
            throw new HarvesterException($"Model '{m.Name}' has no input '{m.InputName}' (manifest inputName); it has: {string.Join(", ", session.InputMetadata.Keys)}.");
        }

        if (!session.OutputMetadata.TryGetValue(m.OutputName, out var output))
        {
            throw new HarvesterException($"Model '{m.Name}' has no output '{m.OutputName}' (manifest outputName); it has: {string.Join(", ", session.OutputMetadata.Keys)}.");
        }

        var dims = input.Dimensions;
        int[] expected = m.IsNhwc ? [-1, m.Height, m.Width, 3] : [-1, 3, m.Height, m.Width];
        if (!input.IsTensor || input.ElementDataType != TensorElementType.Float || dims.Length != 4 || dims[m.IsNhwc ? 3 : 1] is > 0 and not 3)
        {
            var type = input.IsTensor ? input.ElementDataType.ToString().ToLowerInvariant() : input.OnnxValueType.ToString();
            throw new HarvesterException(
                $"Model '{m.Name}' is not an image model: its input '{m.InputName}' is {type}[{string.Join(",", dims)}], not a float image batch {m.Layout} [N,{string.Join(",", expected.Skip(1))}].");
        }

        if (Enumerable.Range(1, 3).Any(i => dims[i] > 0 && dims[i] != expected[i]))
        {
            throw new HarvesterException(
                $"Model '{m.Name}' input '{m.InputName}' has shape [{string.Join(",", dims)}] but the manifest describes {m.Layout} [N,{string.Join(",", expected.Skip(1))}].");
        }

        if (!output.IsTensor || output.ElementDataType != TensorElementType.Float)
        {
            throw new HarvesterException($"Model '{m.Name}' output '{m.OutputName}' is not a float tensor; an embedding model outputs float vectors.");
        }

        var outDims = output.Dimensions;
        var channelAxis = m.Pooling == "none" || outDims.Length == 3 ? outDims.Length - 1 : 1;
        if (outDims.Length > 1 && outDims[channelAxis] > 0 && outDims[channelAxis] != m.Dimension)
        {
            throw new HarvesterException(
                $"Model '{m.Name}' output '{m.OutputName}' has dimension {outDims[channelAxis]} but its manifest says {m.Dimension}; fix the manifest's dimension (and version).");
        }

        return dims[0] > 0 ? dims[0] : 0;
    }

    /// <summary>
    /// Runs the graph once on blank images, before the model is registered, so a model that cannot give one vector
    /// per image fails here with one line instead of on the first real batch. A graph whose input fixes the batch is
    /// fine (it runs in runs of that size); what is refused is a batch fixed inside the graph where the input says it
    /// is free (a Reshape to a constant batch of 1, say), which would mix images or fail on any batch but its own.
    /// </summary>
    private void Probe()
    {
        var batch = FixedBatch > 0 ? FixedBatch : 2;
        var per = Manifest.ValuesPerImage;
        var input = new float[batch * per];
        try
        {
            var result = new float[batch][];
            RunBatch(input, batch, batch, result, 0, checkRows: true);
        }
        catch (OnnxRuntimeException e)
        {
            throw new HarvesterException(FixedBatch > 0
                ? $"Model '{Manifest.Name}' fails on its own fixed batch of {batch} blank images: {FirstLine(e.Message)}"
                : $"Model '{Manifest.Name}' declares a free batch dimension on input '{Manifest.InputName}' but fails on a batch of 2 images, so the batch is fixed inside the graph: {FirstLine(e.Message)}. " +
                  "Export it with a dynamic batch axis, or give its input a fixed batch of 1 so Harvester runs it one image at a time.", e);
        }
    }

    private static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();

    /// <summary>Embeds encoded images (JPEG, PNG...). Throws <see cref="HarvesterException"/> for an image that cannot be decoded.</summary>
    public float[][] Embed(IReadOnlyList<ReadOnlyMemory<byte>> images, CancellationToken ct)
    {
        var per = Manifest.ValuesPerImage;
        var buffer = ArrayPool<float>.Shared.Rent(Math.Max(1, images.Count) * per);
        try
        {
            try
            {
                Parallel.For(0, images.Count, new ParallelOptions { MaxDegreeOfParallelism = _decodeParallelism, CancellationToken = ct },
                    i => Preprocessor.Process(images[i].Span, buffer.AsSpan(i * per, per)));
            }
            catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is HarvesterException) is { } first)
            {
                throw new HarvesterException(first.Message, e);
            }

            return Run(buffer.AsMemory(0, images.Count * per), images.Count);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Runs the model on <paramref name="count"/> preprocessed images laid out back to back in <paramref name="input"/>,
    /// in runs of the graph's fixed batch size when it has one (the last run padded when that size is above 1).
    /// </summary>
    public float[][] Run(Memory<float> input, int count)
    {
        var result = new float[count][];
        if (FixedBatch == 0)
        {
            RunBatch(input, count, count, result, 0);
            return result;
        }

        var per = Manifest.ValuesPerImage;
        float[]? padded = null;
        try
        {
            for (var start = 0; start < count; start += FixedBatch)
            {
                var n = Math.Min(FixedBatch, count - start);
                var chunk = input.Slice(start * per, n * per);
                if (n < FixedBatch)
                {
                    padded = ArrayPool<float>.Shared.Rent(FixedBatch * per);
                    Array.Clear(padded, 0, FixedBatch * per);
                    chunk.Span.CopyTo(padded);
                    chunk = padded.AsMemory(0, FixedBatch * per);
                }

                RunBatch(chunk, FixedBatch, n, result, start);
            }
        }
        finally
        {
            if (padded is not null)
            {
                ArrayPool<float>.Shared.Return(padded);
            }
        }

        return result;
    }

    private void RunBatch(Memory<float> input, int batch, int used, float[][] result, int offset, bool checkRows = false)
    {
        if (used == 0)
        {
            return;
        }

        var m = Manifest;
        long[] shape = m.IsNhwc ? [batch, m.Height, m.Width, 3] : [batch, 3, m.Height, m.Width];
        using var tensor = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input[..(batch * m.ValuesPerImage)], shape);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, _inputNames, [tensor], _outputNames);
        var output = outputs[0];
        var outShape = output.GetTensorTypeAndShape().Shape;
        if (checkRows && (outShape.Length == 0 || outShape[0] != batch))
        {
            throw new HarvesterException(
                $"Model '{m.Name}' gave output '{m.OutputName}' of shape [{string.Join(",", outShape)}] for a batch of {batch} images: its batch dimension is fixed inside the graph " +
                (FixedBatch > 0 ? "differently from its input's." : "although its input declares it free. Export it with a dynamic batch axis, or give its input a fixed batch of 1."));
        }

        var data = output.GetTensorDataAsSpan<float>();
        for (var i = 0; i < used; i++)
        {
            var vector = result[offset + i] = Pool(data, outShape, i);
            if (m.L2Normalize)
            {
                var norm = TensorPrimitives.Norm(vector);
                if (norm > 0)
                {
                    TensorPrimitives.Divide(vector, norm, vector);
                }
            }
        }
    }

    private float[] Pool(ReadOnlySpan<float> data, long[] shape, int index)
    {
        var m = Manifest;
        int dim;
        float[] v;
        switch (m.Pooling, shape.Length)
        {
            case ("none", 2):
                dim = (int)shape[1];
                CheckDimension(dim);
                return data.Slice(index * dim, dim).ToArray();
            case ("mean", 4):
                {
                    dim = (int)shape[1];
                    CheckDimension(dim);
                    var hw = (int)(shape[2] * shape[3]);
                    v = new float[dim];
                    var img = data.Slice(index * dim * hw, dim * hw);
                    for (var c = 0; c < dim; c++)
                    {
                        v[c] = TensorPrimitives.Sum(img.Slice(c * hw, hw)) / hw;
                    }

                    return v;
                }

            case ("mean", 3):
                {
                    dim = (int)shape[2];
                    CheckDimension(dim);
                    var tokens = (int)shape[1];
                    v = new float[dim];
                    var seq = data.Slice(index * tokens * dim, tokens * dim);
                    for (var t = 0; t < tokens; t++)
                    {
                        TensorPrimitives.Add(v, seq.Slice(t * dim, dim), v);
                    }

                    TensorPrimitives.Divide(v, tokens, v);
                    return v;
                }

            case ("cls", 3):
                dim = (int)shape[2];
                CheckDimension(dim);
                return data.Slice(index * (int)shape[1] * dim, dim).ToArray();
            default:
                throw new HarvesterException(
                    $"Model '{m.Name}' output '{m.OutputName}' has shape [{string.Join(",", shape)}], which pooling '{m.Pooling}' cannot turn into one vector per image.");
        }
    }

    private void CheckDimension(int actual)
    {
        if (actual != Manifest.Dimension)
        {
            throw new HarvesterException(
                $"Model '{Manifest.Name}' produced {actual}-dimensional vectors but its manifest says {Manifest.Dimension}; nothing was stored. Fix the manifest's dimension (and version).");
        }
    }

    public void Dispose() => _session.Dispose();
}
