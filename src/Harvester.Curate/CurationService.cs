using Harvester.Imaging;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
using Harvester.Data.Stages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Curate;

/// <summary>
/// What one pass of the curate stage did: verdicts given to the claimed images (accepted or rejected, or duplicate
/// when they joined a group as a copy), plus kept images displaced by a better copy (counted in Duplicates).
/// </summary>
public sealed record CurationBatchResult(
    int Claimed,
    int Accepted,
    int Rejected,
    int Duplicates,
    IReadOnlyDictionary<string, int> RejectReasons,
    int CrossPlaceGroups) : IStageResult<CurationBatchResult>
{
    public static CurationBatchResult Empty { get; } = new(0, 0, 0, 0, new Dictionary<string, int>(), 0);

    public CurationBatchResult Add(CurationBatchResult other)
    {
        var reasons = new Dictionary<string, int>(RejectReasons);
        foreach (var (k, v) in other.RejectReasons)
        {
            reasons[k] = reasons.GetValueOrDefault(k) + v;
        }

        return new CurationBatchResult(Claimed + other.Claimed, Accepted + other.Accepted, Rejected + other.Rejected,
            Duplicates + other.Duplicates, reasons, CrossPlaceGroups + other.CrossPlaceGroups);
    }
}

/// <summary>
/// The curate stage: claims fetched images, analyses them in parallel outside any transaction, then in one short
/// transaction per batch records verdicts, hashes and scores, folds duplicates into groups and completes the claims.
/// </summary>
public sealed class CurationService(
    HarvesterDatabase database,
    CurateStore store,
    BlobStore blobs,
    ImageAnalyzer analyzer,
    IOptions<CurationOptions> options,
    ILogger<CurationService> logger) : IStage
{
    public const string Stage = "curate";

    private readonly CurationOptions _options = options.Value;

    string IStage.Name => Stage;

    StageOptions IStage.Options => _options;

    async Task<IStageResult> IStage.RunOnceAsync(CancellationToken ct) => await RunOnceAsync(_options.ClaimBatch, null, ct);

    public Task<CurationBatchResult> RunOnceAsync(int batchSize, CancellationToken ct) => RunOnceAsync(batchSize, null, ct);

    /// <summary>One batch; <paramref name="profile"/> overrides each image's job profile when set.</summary>
    public async Task<CurationBatchResult> RunOnceAsync(int batchSize, string? profile, CancellationToken ct)
    {
        if (profile is not null && !_options.HasProfile(profile))
        {
            throw new HarvesterException($"Curation profile '{profile}' is not configured (Curation:Profiles). Known: {string.Join(", ", _options.Profiles.Keys.Append(CurationOptions.DefaultProfile).Distinct(StringComparer.OrdinalIgnoreCase))}.");
        }

        var claim = await StageLeases.ClaimAsync(database.DataSource, Stage, CurateStore.Candidates, batchSize, _options.Lease, _options.MaxAttempts, ct);
        if (claim.Count == 0)
        {
            return CurationBatchResult.Empty;
        }

        // An image claimed more than MaxAttempts times crashed every batch it was in: it is rejected with that reason.
        var exhausted = claim.Exhausted.ToDictionary(e => e.Id, e => e.Attempts);
        var rows = await store.LoadAsync(claim.All, ct);
        var analyses = new ImageAnalysis[rows.Count];
        var parallelism = _options.Parallelism > 0 ? _options.Parallelism : Environment.ProcessorCount;
        await Parallel.ForAsync(0, rows.Count, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (i, token) =>
        {
            var row = rows[i];
            if (exhausted.TryGetValue(row.Id, out var n))
            {
                Log.GivingUp(logger, row.Id, n);
                analyses[i] = ImageAnalysis.Failed($"curation-failed: gave up after {n - 1} attempts");
                return;
            }

            analyses[i] = await AnalyzeAsync(row, token);
            if (analyses[i].Failure is { } failure)
            {
                Log.ImageFailed(logger, row.Id, failure);
            }
        });

        var result = await WriteAsync(rows, analyses, profile, claim.All, ct);
        Log.BatchCurated(logger, result.Claimed, result.Accepted, result.Rejected, result.Duplicates);
        return result;
    }

    /// <summary>Runs batches until no fetched image is left to claim; returns the totals. <paramref name="totals"/> gets images done of all claimable.</summary>
    public Task<CurationBatchResult> RunUntilDoneAsync(
        int batchSize, string? profile, CancellationToken ct, IProgress<CurationBatchResult>? progress = null, IProgress<StageProgress>? totals = null) =>
        StageRunner.DrainAsync(token => RunOnceAsync(batchSize, profile, token), ct, progress is null ? null : progress.Report,
            totals is null ? null : new DrainProgress(Stage, token => StageLeases.CountClaimableAsync(database.DataSource, Stage, CurateStore.Candidates, token), totals, "images"));

    private async Task<ImageAnalysis> AnalyzeAsync(CurateStore.Row row, CancellationToken ct)
    {
        byte[] bytes;
        try
        {
            bytes = await blobs.ReadAsync(row.Sha256, ct);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return ImageAnalysis.Failed("blob-missing: no bytes in the blob store for " + row.Sha256);
        }

        try
        {
            return analyzer.Analyze(bytes);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            // One bad image never stops the batch: whatever a decoder or model throws becomes its reject reason.
            return ImageAnalysis.Failed($"analysis-failed: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
        }
    }

    private async Task<CurationBatchResult> WriteAsync(
        List<CurateStore.Row> rows, ImageAnalysis[] analyses, string? profileOverride, IReadOnlyList<long> claimed, CancellationToken ct)
    {
        int accepted = 0, rejected = 0, duplicates = 0, crossPlace = 0;
        var reasonCounts = new Dictionary<string, int>();
        await using var batch = await store.BeginBatchAsync(ct);
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var a = analyses[i];
            if (a.Failure is { } failure)
            {
                await batch.RejectFailedAsync(row.Id, failure, ct);
                rejected++;
                var code = failure.Split(':')[0];
                reasonCounts[code] = reasonCounts.GetValueOrDefault(code) + 1;
                continue;
            }

            var profileName = profileOverride ?? (string.IsNullOrEmpty(row.Profile) ? CurationOptions.DefaultProfile : row.Profile);
            if (!_options.HasProfile(profileName))
            {
                Log.UnknownProfile(logger, profileName, row.Id);
            }

            var reasons = Verdicts.Evaluate(_options.ProfileFor(profileName), a.Scores);
            var status = reasons.Count == 0 ? ImageStatus.Accepted : ImageStatus.Rejected;
            await batch.WriteVerdictAsync(row.Id, a, status, reasons, profileName, ct);
            foreach (var reason in reasons)
            {
                reasonCounts[reason.Reason] = reasonCounts.GetValueOrDefault(reason.Reason) + 1;
            }

            var final = status;
            if (await FindDuplicateAsync(batch, row.Id, a, ct) is { } m)
            {
                var (newStatus, groupId) = await MergeAsync(batch, row.Id, status, a, m, ct);
                final = newStatus;
                if (newStatus != ImageStatus.Duplicate)
                {
                    // The newcomer displaced the group's kept image, which is a duplicate now.
                    duplicates++;
                }

                if (await batch.SpansPlacesAsync(groupId, ct))
                {
                    crossPlace++;
                }
            }

            switch (final)
            {
                case ImageStatus.Accepted: accepted++; break;
                case ImageStatus.Rejected: rejected++; break;
                default: duplicates++; break;
            }
        }

        await StageLeases.CompleteAsync(batch.Connection, batch.Transaction, Stage, claimed, ct);
        await batch.CommitAsync(ct);
        return new CurationBatchResult(claimed.Count, accepted, rejected, duplicates, reasonCounts, crossPlace);
    }

    private readonly record struct Match(long Id, DuplicateKind Kind);

    /// <summary>
    /// The group representative this image duplicates: same decoded pixels first, else the nearest pHash within the
    /// radius (then the optional dHash check). Rows written earlier in this transaction are visible, so duplicates
    /// inside one batch are found too.
    /// </summary>
    private async Task<Match?> FindDuplicateAsync(CurateStore.Batch batch, long id, ImageAnalysis a, CancellationToken ct)
    {
        if (await batch.FindSamePixelsAsync(a.PixelHash, id, ct) is { } same)
        {
            return new Match(same, DuplicateKind.ExactPixels);
        }

        foreach (var n in await batch.WithinRadiusAsync(a.PHash, _options.HammingRadius, _options.NeighbourLimit, id, ct))
        {
            if (_options.DHashRadius is { } dr && (n.DHash is null || PerceptualHash.Hamming(PerceptualHash.FromBits(n.DHash), a.DHash) > dr))
            {
                continue;
            }

            return new Match(n.Id, DuplicateKind.PerceptualHash);
        }

        return null;
    }

    /// <summary>
    /// Folds the new image into the representative's group. The keep rule decides which of the two heads it; the
    /// other becomes a 'duplicate' of it (when the newcomer wins, the old head's copies point to the newcomer too).
    /// </summary>
    private static async Task<(ImageStatus Status, long GroupId)> MergeAsync(
        CurateStore.Batch batch, long id, ImageStatus status, ImageAnalysis a, Match m, CancellationToken ct)
    {
        var kept = await batch.ReadKeptAsync(m.Id, ct);
        var g = kept.GroupId ?? await batch.CreateGroupAsync(m.Kind, m.Id, ct);
        var newcomer = new Candidate(id, status == ImageStatus.Accepted, (long)a.Width * a.Height, a.Quality);
        if (KeepRule.Prefer(newcomer, kept.Candidate))
        {
            await batch.ReplaceKeptAsync(g, id, m.Id, ct);
            return (status, g);
        }

        await batch.AddCopyAsync(g, id, m.Id, ct);
        return (ImageStatus.Duplicate, g);
    }
}

/// <summary>A member of a duplicate group as the keep rule sees it.</summary>
public readonly record struct Candidate(long Id, bool Accepted, long Pixels, double Quality);

public static class KeepRule
{
    /// <summary>True when <paramref name="a"/> should be kept over <paramref name="b"/>.</summary>
    public static bool Prefer(Candidate a, Candidate b)
    {
        if (a.Accepted != b.Accepted)
        {
            return a.Accepted;
        }

        if (a.Pixels != b.Pixels)
        {
            return a.Pixels > b.Pixels;
        }

        if (Math.Abs(a.Quality - b.Quality) > 1e-9)
        {
            return a.Quality > b.Quality;
        }

        return a.Id < b.Id;
    }
}
