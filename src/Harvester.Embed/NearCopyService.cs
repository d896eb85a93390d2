using System.Collections.Concurrent;
using System.Diagnostics;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
using Harvester.Data.Stages;
using Harvester.Imaging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenCvSharp;

namespace Harvester.Embed;

/// <summary>What one near-copy pass did.</summary>
public sealed record NearCopyResult(string Model, int Claimed, int Checked, int Candidates, int Confirmed, int GroupsChanged, TimeSpan Elapsed)
    : IStageResult<NearCopyResult>
{
    public static NearCopyResult Empty { get; } = new("", 0, 0, 0, 0, 0, TimeSpan.Zero);

    public NearCopyResult Add(NearCopyResult other) => new(
        other.Model.Length > 0 ? other.Model : Model, Claimed + other.Claimed, Checked + other.Checked, Candidates + other.Candidates,
        Confirmed + other.Confirmed, GroupsChanged + other.GroupsChanged, Elapsed + other.Elapsed);
}

/// <summary>
/// The embed stage's near-copy pass (leases under "nearcopy:&lt;model&gt;"): hashes miss mirrored copies, crops and
/// overlays, so after embedding each accepted image's nearest neighbours by the model's vectors (pgvector k-NN, cosine
/// at least the model's near-copy threshold) are candidates, and a candidate is a copy when its pixels line up with the
/// image's (<see cref="CopyVerifier"/>, straight or mirrored, over crops): embeddings alone also call two photos of one
/// scene copies. Copies join the same duplicate groups as the curate stage's, through the shared
/// <see cref="DuplicateGroups"/> and its keep rule, under the curate stage's write lock; a member stays in a group
/// while it is a hash match or a pixel match of the kept image. Every image is compared once per model (recorded on
/// its vector) and the results commit with the claims' completion.
/// </summary>
public sealed class NearCopyService(
    NearCopyStore store,
    IBlobStore blobs,
    DuplicateGroups groups,
    ModelHost models,
    ModelRegistry registry,
    IOptions<NearCopyOptions> options,
    IOptions<InferenceOptions> inference,
    ILogger<NearCopyService> logger) : IStage
{
    public const string Stage = "nearcopy";

    string IStage.Name => Stage;

    StageOptions IStage.Options => options.Value;

    async Task<IStageResult> IStage.RunOnceAsync(CancellationToken ct) => await RunOnceAsync(null, options.Value.ClaimBatch, ct);

    public static string StageName(string model) => Stage + ":" + model;

    /// <summary>Passes until nothing is left to check for the model; <paramref name="totals"/> gets images checked of all claimable.</summary>
    public Task<NearCopyResult> RunUntilDoneAsync(string? model, int batchSize, CancellationToken ct, IProgress<StageProgress>? totals = null) =>
        StageRunner.DrainAsync(token => RunOnceAsync(model, batchSize, token), ct, null,
            totals is null ? null : new DrainProgress("near-copies", token => CountClaimableAsync(model, token), totals, "images"));

    private async Task<long> CountClaimableAsync(string? model, CancellationToken ct)
    {
        var o = options.Value;
        var registered = await registry.EnsureAsync(await models.GetAsync(model ?? (o.Model.Length > 0 ? o.Model : inference.Value.Model), ct), ct);
        return await StageLeases.CountClaimableAsync(store.DataSource, StageName(registered.Name), NearCopyStore.Candidates, ct, registered.Id);
    }

    public async Task<NearCopyResult> RunOnceAsync(string? model, int batchSize, CancellationToken ct)
    {
        var o = options.Value;
        var clock = Stopwatch.StartNew();
        var name = model ?? (o.Model.Length > 0 ? o.Model : inference.Value.Model);
        var registered = await registry.EnsureAsync(await models.GetAsync(name, ct), ct);
        var stage = StageName(registered.Name);
        var claim = await StageLeases.ClaimAsync(store.DataSource, stage, NearCopyStore.Candidates, batchSize, o.Lease, o.MaxAttempts, ct, registered.Id);
        if (claim.Count == 0)
        {
            return NearCopyResult.Empty with { Model = registered.Name };
        }

        if (claim.Exhausted.Count > 0)
        {
            await store.GiveUpAsync(stage, [.. claim.Exhausted.Select(e => (e.Id, $"near-copy check failed {e.Attempts - 1} times"))], ct);
        }

        var ids = claim.Items;
        if (ids.Count == 0)
        {
            return NearCopyResult.Empty with { Model = registered.Name, Claimed = claim.Count };
        }

        try
        {
            var cosine = o.CandidateCosine ?? registered.Cosine.NearCopy
                ?? throw new HarvesterException($"Model '{registered.Name}' names no thresholds.nearCopyCosine in its manifest; set NearCopies:CandidateCosine.");
            var candidates = await store.NeighboursAsync(registered, ids, o.Neighbours, 1 - cosine, ct);
            using var thumbnails = new Thumbnails(blobs);
            var confirmed = new List<(long A, long B)>();
            foreach (var c in candidates)
            {
                var a = thumbnails.Get(c.ImageSha);
                var b = thumbnails.Get(c.NeighbourSha);
                if (a is null || b is null)
                {
                    Log.NearCopyUnreadable(logger, c.Image, c.Neighbour, "a blob is missing or cannot be decoded");
                    continue;
                }

                if (CopyVerifier.Score(a, b) >= o.PixelScore)
                {
                    confirmed.Add((Math.Min(c.Image, c.Neighbour), Math.Max(c.Image, c.Neighbour)));
                }
            }

            var membership = new PixelMembership(new HashMembership(NearDuplicateRule.Default), thumbnails, o.PixelScore);
            var changed = 0;
            var (conn, tx) = await store.BeginWriteAsync(ct);
            await using (conn)
            await using (tx)
            {
                foreach (var (a, b) in confirmed.Distinct())
                {
                    var change = await groups.MergeAsync(conn, tx, [a, b], DuplicateKind.Embedding, membership, ct);
                    changed += change.GroupId is null ? 0 : 1;
                }

                await NearCopyStore.MarkCheckedAsync(conn, tx, registered.Id, stage, ids, ct);
                await tx.CommitAsync(ct);
            }

            var result = new NearCopyResult(registered.Name, claim.Count, ids.Count, candidates.Count, confirmed.Distinct().Count(), changed, clock.Elapsed);
            Log.NearCopyPass(logger, registered.Name, ids.Count, candidates.Count, result.Confirmed, changed, clock.Elapsed);
            return result;
        }
        catch
        {
            await store.ReleaseAsync(stage, ids, CancellationToken.None);
            throw;
        }
    }

    /// <summary>Membership judged against the kept image: a hash match (the curate stage's rule) or a pixel match.</summary>
    private sealed class PixelMembership(IGroupMembership hashes, Thumbnails thumbnails, double score) : IGroupMembership
    {
        public bool Belongs(GroupMember kept, GroupMember member)
        {
            if (hashes.Belongs(kept, member))
            {
                return true;
            }

            var a = thumbnails.Get(kept.Sha256);
            var b = thumbnails.Get(member.Sha256);
            return a is not null && b is not null && CopyVerifier.Score(a, b) >= score;
        }
    }

    /// <summary>Each blob's verifier thumbnail, decoded once per pass (null when the blob is gone or undecodable).</summary>
    private sealed class Thumbnails(IBlobStore blobs) : IDisposable
    {
        private readonly ConcurrentDictionary<string, Mat?> _cache = new(StringComparer.Ordinal);

        public Mat? Get(string sha) => _cache.GetOrAdd(sha, s =>
        {
            try
            {
                return CopyVerifier.Thumbnail(File.ReadAllBytes(blobs.LocalPath(s)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ImageRejectedException or OpenCVException)
            {
                return null;
            }
        });

        public void Dispose()
        {
            foreach (var m in _cache.Values)
            {
                m?.Dispose();
            }
        }
    }
}
