using System.Buffers;
using System.Diagnostics;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
using Harvester.Data.Stages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Embed;

/// <summary>What one embed pass did, with where its time went.</summary>
public sealed record EmbedResult(
    string Model,
    int Claimed,
    int Embedded,
    int Failed,
    TimeSpan Elapsed,
    TimeSpan ReadAndDecode,
    TimeSpan Inference,
    TimeSpan Write) : IStageResult<EmbedResult>
{
    public static EmbedResult Empty { get; } = new("", 0, 0, 0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);

    public EmbedResult Add(EmbedResult other) => new(
        other.Model.Length > 0 ? other.Model : Model, Claimed + other.Claimed, Embedded + other.Embedded, Failed + other.Failed,
        Elapsed + other.Elapsed, ReadAndDecode + other.ReadAndDecode, Inference + other.Inference, Write + other.Write);
}

/// <summary>
/// The embed stage (leases under "embed:&lt;model&gt;"): claims accepted images without a vector for the model, reads
/// and preprocesses them in parallel, runs batched inference, and stores the vectors with the leases' completion in
/// one transaction. A model whose output does not match its registered dimension stores nothing. An image that fails
/// more than Inference:MaxAttempts times is given up with its reason on its lease.
/// </summary>
public sealed class EmbedService(
    EmbedStore store,
    IBlobStore blobs,
    ModelHost models,
    ModelRegistry registry,
    IOptions<InferenceOptions> options,
    ILogger<EmbedService> logger) : IStage
{
    public const string Stage = "embed";

    string IStage.Name => Stage;

    StageOptions IStage.Options => options.Value;

    async Task<IStageResult> IStage.RunOnceAsync(CancellationToken ct) => await RunOnceAsync(null, options.Value.ClaimBatch, ct);

    /// <summary>Leases are per model: vectors of two models are two pieces of work on one image.</summary>
    public static string StageName(string model) => Stage + ":" + model;

    public Task<EmbedResult> RunOnceAsync(int batchSize, CancellationToken ct) => RunOnceAsync(null, batchSize, ct);

    /// <summary>Passes until nothing is left to claim for <paramref name="model"/>; the totals. <paramref name="totals"/> gets images done of all claimable.</summary>
    public Task<EmbedResult> RunUntilDoneAsync(string? model, int batchSize, CancellationToken ct, Action<EmbedResult>? progress = null, IProgress<StageProgress>? totals = null) =>
        StageRunner.DrainAsync(token => RunOnceAsync(model, batchSize, token), ct, progress,
            totals is null ? null : new DrainProgress(Stage, token => CountClaimableAsync(model, token), totals, "images"));

    private async Task<long> CountClaimableAsync(string? model, CancellationToken ct)
    {
        var registered = await registry.EnsureAsync(await models.GetAsync(model, ct), ct);
        return await StageLeases.CountClaimableAsync(store.DataSource, StageName(registered.Name), EmbedStore.Candidates, ct, registered.Id);
    }

    /// <summary>One pass: claims up to <paramref name="batchSize"/> images and embeds them with <paramref name="model"/> (default: Inference:Model).</summary>
    public async Task<EmbedResult> RunOnceAsync(string? model, int batchSize, CancellationToken ct)
    {
        var o = options.Value;
        var embedder = await models.GetAsync(model, ct);
        var registered = await registry.EnsureAsync(embedder, ct);
        var stage = StageName(registered.Name);
        var total = Stopwatch.StartNew();
        var claim = await StageLeases.ClaimAsync(store.DataSource, stage, EmbedStore.Candidates, batchSize, o.Lease, o.MaxAttempts, ct, registered.Id);
        if (claim.Count == 0)
        {
            return EmbedResult.Empty with { Model = registered.Name };
        }

        if (claim.Exhausted.Count > 0)
        {
            await store.GiveUpAsync(stage, [.. claim.Exhausted.Select(e => (e.Id, $"failed to embed {e.Attempts - 1} times"))], ct);
            foreach (var (id, attempts) in claim.Exhausted)
            {
                Log.GivingUp(logger, id, registered.Name, attempts - 1);
            }
        }

        var ids = claim.Items;
        if (ids.Count == 0)
        {
            return EmbedResult.Empty with { Model = registered.Name, Claimed = claim.Count, Failed = claim.Exhausted.Count };
        }

        try
        {
            var result = await EmbedClaimedAsync(embedder, registered, stage, ids, ct);
            Log.BatchEmbedded(logger, result.Embedded, registered.Name, result.Failed, total.Elapsed);
            return result with { Claimed = claim.Count, Failed = result.Failed + claim.Exhausted.Count, Elapsed = total.Elapsed };
        }
        catch
        {
            // Nothing was written: give the items back at once instead of waiting out the lease.
            await store.ReleaseAsync(stage, ids, CancellationToken.None);
            throw;
        }
    }

    private async Task<EmbedResult> EmbedClaimedAsync(Embedder embedder, RegisteredModel registered, string stage, IReadOnlyList<long> ids, CancellationToken ct)
    {
        var o = options.Value;
        var shas = await store.BlobsAsync(ids, ct);
        var modelBatch = embedder.Batch;
        var per = embedder.Manifest.ValuesPerImage;
        var okIds = new List<long>(ids.Count);
        var vectors = new List<float[]>(ids.Count);
        var failed = new List<(long Id, string Reason)>();
        var decodeTime = new Stopwatch();
        var inferTime = new Stopwatch();
        var chunkSize = Math.Min(modelBatch, ids.Count);
        // When decoders and model threads fit on the cores together, the next chunk is decoded while the current one
        // runs through the model (two pooled buffers; the model on a thread of its own so decoding keeps all of its
        // workers). When they do not fit (2 cores: 2 decoders + 2 model threads), overlapping only makes both wait
        // on each other's time slices and caches, and measured slower than running them in turn.
        var overlap = o.EffectiveDecodeParallelism + o.EffectiveIntraOpThreads <= Environment.ProcessorCount;
        var buffers = new[] { ArrayPool<float>.Shared.Rent(chunkSize * per), ArrayPool<float>.Shared.Rent(chunkSize * per) };
        Task<float[][]>? running = null;
        List<long>? runningIds = null;
        try
        {
            var which = 0;
            for (var start = 0; start < ids.Count; start += modelBatch)
            {
                var chunk = ids.Skip(start).Take(modelBatch).ToArray();
                var buffer = buffers[which];
                which ^= 1;
                decodeTime.Start();
                var errors = new string?[chunk.Length];
                await Parallel.ForAsync(0, chunk.Length, new ParallelOptions { MaxDegreeOfParallelism = o.EffectiveDecodeParallelism, CancellationToken = ct },
                    async (i, token) =>
                    {
                        try
                        {
                            if (!shas.TryGetValue(chunk[i], out var sha))
                            {
                                errors[i] = "its blob is missing from the blob store";
                                return;
                            }

                            var bytes = await blobs.ReadAsync(sha, token);
                            embedder.Preprocessor.Process(bytes, buffer.AsSpan(i * per, per));
                        }
                        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
                        {
                            errors[i] = "its blob is missing from the blob store";
                        }
                        catch (HarvesterException e)
                        {
                            errors[i] = e.Message;
                        }
                    });

                // Compact the decoded images to the front so one Run covers them all.
                var n = 0;
                var batchIds = new List<long>(chunk.Length);
                for (var i = 0; i < chunk.Length; i++)
                {
                    if (errors[i] is { } reason)
                    {
                        failed.Add((chunk[i], reason));
                        continue;
                    }

                    if (n != i)
                    {
                        buffer.AsSpan(i * per, per).CopyTo(buffer.AsSpan(n * per, per));
                    }

                    batchIds.Add(chunk[i]);
                    n++;
                }

                decodeTime.Stop();
                if (running is not null)
                {
                    inferTime.Start();
                    vectors.AddRange(await running);
                    inferTime.Stop();
                    okIds.AddRange(runningIds!);
                }

                var count = n;
                if (overlap)
                {
                    running = Task.Factory.StartNew(() => embedder.Run(buffer.AsMemory(0, count * per), count), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                    runningIds = batchIds;
                }
                else
                {
                    inferTime.Start();
                    vectors.AddRange(embedder.Run(buffer.AsMemory(0, count * per), count));
                    inferTime.Stop();
                    okIds.AddRange(batchIds);
                }
            }

            if (running is not null)
            {
                inferTime.Start();
                vectors.AddRange(await running);
                inferTime.Stop();
                okIds.AddRange(runningIds!);
            }
        }
        finally
        {
            if (running is not null)
            {
                await running.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            ArrayPool<float>.Shared.Return(buffers[0]);
            ArrayPool<float>.Shared.Return(buffers[1]);
        }

        foreach (var v in vectors)
        {
            if (v.Length != registered.Dimension)
            {
                throw new HarvesterException(
                    $"Model '{registered.Name}' produced {v.Length}-dimensional vectors but embedding_models says {registered.Dimension} (id {registered.Id}); nothing was stored.");
            }
        }

        foreach (var (id, reason) in failed)
        {
            Log.ImageFailed(logger, id, reason);
        }

        var writeTime = Stopwatch.StartNew();
        await WriteAsync(registered, stage, okIds, vectors, ct);
        writeTime.Stop();
        return new EmbedResult(registered.Name, ids.Count, okIds.Count, failed.Count, TimeSpan.Zero, decodeTime.Elapsed, inferTime.Elapsed, writeTime.Elapsed);
    }

    /// <summary>Stores vectors and completes their leases in one transaction (failed items keep their lease until it expires).</summary>
    public async Task WriteAsync(RegisteredModel registered, string stage, IReadOnlyList<long> ids, IReadOnlyList<float[]> vectors, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return;
        }

        await store.WriteAsync(registered.Id, stage, ids, vectors, ct);
    }
}
