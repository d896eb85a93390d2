using Harvester.Imaging;
using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data;
using Harvester.Data.Stages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Curate;

/// <summary>
/// What the curate stage did to a set of images, read from the database after its writes committed (never added up
/// from per-batch guesses, which a later batch's keep decisions would make wrong): their statuses now, the reasons of
/// those rejected, and the duplicate groups they are in. <see cref="ImageIds"/> are the images the passes claimed.
/// </summary>
public sealed record CurationBatchResult(
    int Claimed,
    int Accepted,
    int Rejected,
    int Duplicates,
    IReadOnlyDictionary<string, int> RejectReasons,
    int Groups,
    int CrossPlaceGroups,
    IReadOnlyList<long> ImageIds) : IStageResult<CurationBatchResult>
{
    public static CurationBatchResult Empty { get; } = new(0, 0, 0, 0, new Dictionary<string, int>(), 0, 0, []);

    /// <summary>
    /// Joins two passes' claims. The counts are the sums of what each pass saw at its own commit; a drain that needs
    /// them exact re-reads them for all ids (<see cref="CurationService.RunUntilDoneAsync"/> does).
    /// </summary>
    public CurationBatchResult Add(CurationBatchResult other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var reasons = new Dictionary<string, int>(RejectReasons);
        foreach (var (k, v) in other.RejectReasons)
        {
            reasons[k] = reasons.GetValueOrDefault(k) + v;
        }

        return new CurationBatchResult(Claimed + other.Claimed, Accepted + other.Accepted, Rejected + other.Rejected,
            Duplicates + other.Duplicates, reasons, Groups + other.Groups, CrossPlaceGroups + other.CrossPlaceGroups, [.. ImageIds, .. other.ImageIds]);
    }
}

/// <summary>What a rehash did: hashes recomputed, blobs that could not be read, hash groups re-judged and members that left them.</summary>
public sealed record RehashResult(int Rehashed, int Unreadable, int GroupsJudged, int LeftGroups);

/// <summary>
/// The curate stage: claims fetched images, analyses them in parallel outside any transaction, then in one short
/// transaction per batch records verdicts, hashes and scores, folds duplicates into groups and completes the claims.
/// </summary>
public sealed class CurationService(
    HarvesterDatabase database,
    CurateStore store,
    IBlobStore blobs,
    DuplicateGroups groups,
    ImageAnalyzer analyzer,
    IOptions<CurationOptions> options,
    ILogger<CurationService> logger) : IStage
{
    public const string Stage = "curate";

    private readonly CurationOptions _options = options.Value;
    private readonly NearDuplicateRule _rule = new(options.Value.HammingRadius, options.Value.ColourThreshold);
    private readonly System.Collections.Concurrent.ConcurrentQueue<IReadOnlyList<long>> _abandoned = new();

    string IStage.Name => Stage;

    StageOptions IStage.Options => _options;

    int IStage.Concurrency => _options.Passes;

    async Task<IStageResult> IStage.RunOnceAsync(CancellationToken ct) => await RunOnceAsync(_options.ClaimBatch, null, ct);

    public Task<CurationBatchResult> RunOnceAsync(int batchSize, CancellationToken ct) => RunOnceAsync(batchSize, null, ct);

    /// <summary>One batch; <paramref name="profile"/> overrides each image's job profile when set.</summary>
    public async Task<CurationBatchResult> RunOnceAsync(int batchSize, string? profile, CancellationToken ct)
    {
        if (profile is not null && !_options.HasProfile(profile))
        {
            throw new HarvesterException($"Curation profile '{profile}' is not configured (Curation:Profiles). Known: {string.Join(", ", _options.Profiles.Keys.Append(CurationOptions.DefaultProfile).Distinct(StringComparer.OrdinalIgnoreCase))}.");
        }

        await ReleaseAbandonedAsync(ct);
        var claim = await StageLeases.ClaimAsync(database.DataSource, Stage, CurateStore.Candidates, batchSize, _options.Lease, _options.MaxAttempts, ct);
        if (claim.Count == 0)
        {
            return CurationBatchResult.Empty;
        }

        try
        {
            return await WorkAsync(claim, profile, ct);
        }
        catch (Exception e) when (TransientDatabaseErrors.Is(e))
        {
            // The database went away mid-pass: this pass's claims go back as soon as it is reachable again, rather than
            // when their lease runs out. Only this pass's: other passes of this process may hold live claims.
            _abandoned.Enqueue(claim.All);
            throw;
        }
    }

    /// <summary>Gives back the claims of passes a database outage broke (those still held by this process).</summary>
    private async Task ReleaseAbandonedAsync(CancellationToken ct)
    {
        while (_abandoned.TryDequeue(out var ids))
        {
            try
            {
                await StageLeases.ReleaseAsync(database.DataSource, Stage, ids, ct);
            }
            catch
            {
                _abandoned.Enqueue(ids); // still unreachable: the next pass tries again
                throw;
            }
        }
    }

    private async Task<CurationBatchResult> WorkAsync(StageClaim claim, string? profile, CancellationToken ct)
    {
        // An image claimed more than MaxAttempts times crashed every batch it was in: it is rejected with that reason.
        var exhausted = claim.Exhausted.ToDictionary(e => e.Id, e => e.Attempts);
        var rows = await store.LoadAsync(claim.All, ct);
        foreach (var name in rows.Select(r => ProfileName(r, profile)).Distinct(StringComparer.OrdinalIgnoreCase).Where(n => !_options.HasProfile(n)))
        {
            Log.UnknownProfile(logger, name, rows.First(r => ProfileName(r, profile) == name).Id);
        }

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

            analyses[i] = await AnalyzeAsync(row, _options.ProfileFor(ProfileName(row, profile)), token);
            if (analyses[i].Failure is { } failure)
            {
                Log.ImageFailed(logger, row.Id, failure);
            }
        });

        await WriteAsync(rows, analyses, profile, claim.All, ct);
        var result = await store.SummarizeAsync(claim.All, ct);
        Log.BatchCurated(logger, result.Claimed, result.Accepted, result.Rejected, result.Duplicates);
        return result;
    }

    /// <summary>
    /// Runs batches until no fetched image is left to claim; the totals are read back for every claimed image.
    /// <paramref name="totals"/> gets images done of all claimable.
    /// </summary>
    public async Task<CurationBatchResult> RunUntilDoneAsync(
        int batchSize, string? profile, CancellationToken ct, IProgress<CurationBatchResult>? progress = null, IProgress<StageProgress>? totals = null)
    {
        var passes = await StageRunner.DrainAsync(token => RunOnceAsync(batchSize, profile, token), _options.Passes, ct, progress is null ? null : progress.Report,
            totals is null ? null : new DrainProgress(Stage, token => StageLeases.CountClaimableAsync(database.DataSource, Stage, CurateStore.Candidates, token), totals, "images"));
        return passes.Claimed == 0 ? passes : await store.SummarizeAsync(passes.ImageIds, ct);
    }

    /// <summary>
    /// The migration path when the hash recipe changes (<see cref="PerceptualHash.Recipe"/>): recomputes the hashes,
    /// colour layout and encoding of every curated image whose hash is of an older recipe from its blob, one committed
    /// batch at a time (so a killed run resumes where it stopped), then re-judges every hash group against its kept
    /// image with the current rule (re-electing the kept image; members out of range leave and are looked up again).
    /// Until it has run, older hashes are never compared with new ones.
    /// </summary>
    public async Task<RehashResult> RehashAsync(int batchSize, CancellationToken ct, IProgress<int>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        int rehashed = 0, unreadable = 0, groupsJudged = 0, left = 0;
        var parallelism = _options.Parallelism > 0 ? _options.Parallelism : Environment.ProcessorCount;
        while (await store.StaleHashesAsync(batchSize, ct) is { Count: > 0 } rows)
        {
            var fingerprints = new ImageAnalysis?[rows.Count];
            await Parallel.ForAsync(0, rows.Count, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (i, token) =>
            {
                try
                {
                    fingerprints[i] = analyzer.Fingerprint(await blobs.ReadAsync(rows[i].Sha256, token));
                }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
                {
                    fingerprints[i] = null;
                }
            });

            await using var batch = await store.BeginBatchAsync(ct);
            for (var i = 0; i < rows.Count; i++)
            {
                await CurateStore.WriteRehashAsync(batch.Connection, batch.Transaction, rows[i].Id, fingerprints[i], ct);
            }

            await batch.CommitAsync(ct);
            rehashed += fingerprints.Count(f => f is not null);
            unreadable += fingerprints.Count(f => f is null);
            progress?.Report(rehashed + unreadable);
        }

        var membership = new HashMembership(_rule);
        long after = 0;
        while (await store.HashGroupsAsync(after, batchSize, ct) is { Count: > 0 } page)
        {
            await using var batch = await store.BeginBatchAsync(ct);
            foreach (var (group, kept) in page)
            {
                var change = await groups.MergeAsync(batch.Connection, batch.Transaction, [kept], DuplicateKind.PerceptualHash, membership, ct);
                groupsJudged++;
                left += change.Left.Count;
                foreach (var id in change.Left)
                {
                    await DedupeAsync(batch, id, ct);
                }
            }

            await batch.CommitAsync(ct);
            after = page[^1].Group;
        }

        return new RehashResult(rehashed, unreadable, groupsJudged, left);
    }

    private async Task<ImageAnalysis> AnalyzeAsync(CurateStore.Row row, CurationProfile profile, CancellationToken ct)
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
            return analyzer.Analyze(bytes, profile);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            // One bad image never stops the batch: whatever a decoder or model throws becomes its reject reason.
            return ImageAnalysis.Failed($"analysis-failed: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
        }
    }

    private string ProfileName(CurateStore.Row row, string? profileOverride) =>
        profileOverride ?? (string.IsNullOrEmpty(row.Profile) ? CurationOptions.DefaultProfile : row.Profile);

    private async Task WriteAsync(
        List<CurateStore.Row> rows, ImageAnalysis[] analyses, string? profileOverride, IReadOnlyList<long> claimed, CancellationToken ct)
    {
        await using var batch = await store.BeginBatchAsync(ct);
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var a = analyses[i];
            if (a.Failure is { } failure)
            {
                await batch.RejectFailedAsync(row.Id, failure, ct);
                continue;
            }

            var profileName = ProfileName(row, profileOverride);
            var reasons = a.Reasons?.ToList() ?? Verdicts.Evaluate(_options.ProfileFor(profileName), a.Scores);
            var status = reasons.Count == 0 ? ImageStatus.Accepted : ImageStatus.Rejected;
            await batch.WriteVerdictAsync(row.Id, a, status, reasons, profileName, ct);
            await DedupeAsync(batch, row.Id, ct);
        }

        await StageLeases.CompleteAsync(batch.Connection, batch.Transaction, Stage, claimed, ct);
        await batch.CommitAsync(ct);
    }

    /// <summary>
    /// Finds the kept (or ungrouped) image this one copies and joins its group: the shared rule re-elects the kept
    /// image and sends away members that are not within range of it. Those are looked up again, one at a time, and may
    /// join another group; each image is re-examined at most once per newcomer, so the work stays bounded.
    /// </summary>
    private async Task DedupeAsync(CurateStore.Batch batch, long id, CancellationToken ct)
    {
        var queue = new Queue<long>([id]);
        var seen = new HashSet<long> { id };
        var membership = new HashMembership(_rule);
        while (queue.TryDequeue(out var x))
        {
            var me = (await DuplicateGroups.ReadMembersAsync(batch.Connection, batch.Transaction, [x], ct)).First(m => m.Id == x);
            if (await FindDuplicateAsync(batch, me, ct) is not { } m)
            {
                continue;
            }

            var change = await groups.JoinAsync(batch.Connection, batch.Transaction, x, m.Id, m.Kind, membership, ct);
            foreach (var left in change.Left)
            {
                if (seen.Add(left))
                {
                    Log.LeftGroup(logger, left, change.KeptId);
                    queue.Enqueue(left);
                }
            }
        }
    }

    private readonly record struct Match(long Id, DuplicateKind Kind);

    /// <summary>
    /// The image this one copies among kept and ungrouped images (never a group's other members: membership is judged
    /// against the kept image alone): same decoded pixels first, else the nearest pHash within the radius whose colour
    /// layout confirms it. Rows written earlier in this transaction are visible, so copies inside one batch are found.
    /// </summary>
    private async Task<Match?> FindDuplicateAsync(CurateStore.Batch batch, GroupMember me, CancellationToken ct)
    {
        if (me.PixelHash is { Length: > 0 } pixels && await batch.FindSamePixelsAsync(pixels, me.Id, ct) is { } same)
        {
            return new Match(same, DuplicateKind.ExactPixels);
        }

        if (me.PHash is not { } hash)
        {
            return null;
        }

        foreach (var n in await batch.WithinRadiusAsync(hash, _rule.Radius, _options.NeighbourLimit, me.Id, ct))
        {
            if (_rule.Matches(hash, me.ColourLayout, n.PHash, n.ColourLayout))
            {
                return new Match(n.Id, DuplicateKind.PerceptualHash);
            }
        }

        return null;
    }
}
