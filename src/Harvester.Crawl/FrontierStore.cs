using System.Text.Json;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Stages;
using Npgsql;

namespace Harvester.Crawl;

/// <summary>What the crawler knows about a frontier item when it is queued; carried down to the photos it leads to.</summary>
public sealed record FrontierContext
{
    public string? Query { get; init; }
    public string? Neighbourhood { get; init; }
    public string? Category { get; init; }
    public string? PhotoType { get; init; }
    public long? PlaceId { get; init; }
    public long? ProductId { get; init; }
    public long? ReviewId { get; init; }
    public int? Rank { get; init; }
    public string? PageUrl { get; init; }
    /// <summary>Pages of a paginated list already read (shop categories), so caps hold across pages.</summary>
    public int? Page { get; init; }

    /// <summary>What a photo is seen at, which makes it its own frontier item: the review, else the place or product.</summary>
    public string Owner => ReviewId is long r ? $"review:{r}" : PlaceId is long p ? $"place:{p}" : ProductId is long d ? $"product:{d}" : "";
}

public sealed record ClaimedItem(long Id, long JobId, FrontierKind Kind, string Url, int Attempts, FrontierContext Context, string? LastError = null);

public sealed record NewFrontierItem(FrontierKind Kind, string Url, FrontierContext Context, long? ParentId = null, int Priority = 0, string Owner = "");

/// <summary>A claim on frontier items: the ones to work on, and the ones claimed more often than MaxAttempts.</summary>
public sealed record FrontierClaim(IReadOnlyList<ClaimedItem> Items, IReadOnlyList<ClaimedItem> Exhausted)
{
    public int Count => Items.Count + Exhausted.Count;
}

/// <summary>
/// The persistent crawl frontier, which claims its own rows (FOR UPDATE SKIP LOCKED; see docs/design.md for why the
/// crawl does not use work_leases): several worker processes share jobs, and a killed process's items come back.
/// Every statement on the frontier table is here.
/// </summary>
public sealed class FrontierStore(HarvesterDatabase database)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    /// <summary>Queues items; one already queued for the job (same kind, URL and owner) is left as it is.</summary>
    public async Task<int> EnqueueAsync(long jobId, IReadOnlyCollection<NewFrontierItem> items, CancellationToken ct, NpgsqlConnection? conn = null, NpgsqlTransaction? tx = null)
    {
        if (items.Count == 0)
        {
            return 0;
        }

        const string sql = """
            INSERT INTO frontier (job_id, parent_id, kind, url, owner, state, attempts, context, priority)
            SELECT $1, p, k, u, o, 'pending', 0, c::jsonb, pr
            FROM unnest($2::bigint[], $3::frontier_kind[], $4::text[], $5::text[], $6::text[], $7::int[]) AS t(p, k, u, o, c, pr)
            ON CONFLICT (job_id, kind, url, owner) DO NOTHING
            """;
        var own = conn is null;
        conn ??= await database.DataSource.OpenConnectionAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = items.Select(i => i.ParentId).ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = items.Select(i => i.Kind).ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = items.Select(i => i.Url).ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = items.Select(i => i.Owner).ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = items.Select(i => JsonSerializer.Serialize(i.Context, Json)).ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter { Value = items.Select(i => i.Priority).ToArray() });
            return await cmd.ExecuteNonQueryAsync(ct);
        }
        finally
        {
            if (own)
            {
                await conn.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due items of the given kinds, of one job or (null) of every unfinished job,
    /// oldest job first: pending ones past their backoff, or claimed ones whose lease ran out. Items claimed more than
    /// <paramref name="maxAttempts"/> times come back as <see cref="FrontierClaim.Exhausted"/>, for the caller to give up on.
    /// </summary>
    public async Task<FrontierClaim> ClaimAsync(long? jobId, IReadOnlyCollection<FrontierKind> kinds, int limit, TimeSpan lease, int maxAttempts, CancellationToken ct)
    {
        var sql = $"""
            UPDATE frontier f SET state = 'claimed', claimed_by = $4, lease_until = now() + $5, attempts = f.attempts + 1, updated_at = now()
            WHERE f.id IN (
                SELECT id FROM frontier
                WHERE {(jobId is null ? "job_id IN (SELECT id FROM crawl_jobs WHERE status IN ('pending', 'running'))" : "job_id = $1")}
                  AND kind = ANY($2)
                  AND ((state = 'pending' AND (not_before IS NULL OR not_before <= now())) OR (state = 'claimed' AND lease_until < now()))
                ORDER BY job_id, priority DESC, id
                LIMIT $3
                FOR UPDATE SKIP LOCKED)
            RETURNING f.id, f.job_id, f.kind, f.url, f.attempts, f.context::text, f.last_error
            """;
        await using var cmd = database.DataSource.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)jobId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
        cmd.Parameters.Add(new NpgsqlParameter { Value = kinds.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        cmd.Parameters.Add(new NpgsqlParameter { Value = lease });
        var items = new List<ClaimedItem>();
        var exhausted = new List<ClaimedItem>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var item = new ClaimedItem(
                r.GetInt64(0), r.GetInt64(1), r.GetFieldValue<FrontierKind>(2), r.GetString(3), r.GetInt32(4),
                r.IsDBNull(5) ? new FrontierContext() : JsonSerializer.Deserialize<FrontierContext>(r.GetString(5), Json) ?? new FrontierContext(),
                r.IsDBNull(6) ? null : r.GetString(6));
            (item.Attempts > maxAttempts ? exhausted : items).Add(item);
        }

        return new FrontierClaim([.. items.OrderByDescending(i => i.Kind).ThenBy(i => i.Id)], exhausted);
    }

    /// <summary>
    /// Why a claim found nothing: whether this process still works on items of <paramref name="producers"/> (which may
    /// queue more), and when the earliest item of <paramref name="kinds"/> waiting out a retry backoff becomes due.
    /// </summary>
    public async Task<(bool WorkingHere, DateTimeOffset? NextDue)> IdleStateAsync(long? jobId, IReadOnlyCollection<FrontierKind> kinds, IReadOnlyCollection<FrontierKind> producers, CancellationToken ct)
    {
        var scope = jobId is null ? "job_id IN (SELECT id FROM crawl_jobs WHERE status IN ('pending', 'running'))" : "job_id = $1";
        await using var cmd = database.DataSource.CreateCommand($"""
            SELECT
                EXISTS (SELECT 1 FROM frontier WHERE {scope} AND state = 'claimed' AND claimed_by = $4 AND kind = ANY($3)),
                (SELECT min(not_before) FROM frontier WHERE {scope} AND state = 'pending' AND kind = ANY($2))
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)jobId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
        cmd.Parameters.Add(new NpgsqlParameter { Value = kinds.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = producers.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return (r.GetBoolean(0), r.IsDBNull(1) ? null : r.GetFieldValue<DateTimeOffset>(1));
    }

    public static async Task MarkDoneAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long id, string? note, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "UPDATE frontier SET state = 'done', claimed_by = NULL, lease_until = NULL, last_error = $2, updated_at = now() WHERE id = $1", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)note ?? DBNull.Value });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Records a failure: retried later with backoff while attempts remain, else marked failed with its reason.</summary>
    public async Task MarkFailedAsync(ClaimedItem item, string reason, bool permanent, int maxAttempts, TimeSpan retryDelay, CancellationToken ct)
    {
        var final = permanent || item.Attempts >= maxAttempts;
        await using var cmd = database.DataSource.CreateCommand(final
            ? "UPDATE frontier SET state = 'failed', claimed_by = NULL, lease_until = NULL, last_error = $2, updated_at = now() WHERE id = $1"
            : "UPDATE frontier SET state = 'pending', claimed_by = NULL, lease_until = NULL, last_error = $2, not_before = now() + $3, updated_at = now() WHERE id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = item.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = reason.Length > 2000 ? reason[..2000] : reason });
        if (!final)
        {
            // Exponential backoff with jitter between attempts of the same item.
            var delay = retryDelay * Math.Pow(2, item.Attempts - 1) * (0.5 + Random.Shared.NextDouble());
            cmd.Parameters.Add(new NpgsqlParameter { Value = delay });
        }

        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Gives claimed items back untouched (their job cannot run here now), keeping their attempt counts.</summary>
    public async Task ReleaseAsync(IReadOnlyCollection<long> ids, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            "UPDATE frontier SET state = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = now() WHERE id = ANY($1) AND state = 'claimed'");
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Puts back to pending those of <paramref name="ids"/> that this process still holds (a claim that ran out and
    /// was taken by another worker meanwhile stays theirs). Returns how many.
    /// </summary>
    public async Task<int> ReleaseOwnAsync(IReadOnlyCollection<long> ids, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            "UPDATE frontier SET state = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = now() WHERE id = ANY($1) AND state = 'claimed' AND claimed_by = $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Items claimed by processes of this machine that no longer run go straight back to pending, so a restarted crawl
    /// does not wait for their leases to run out. Returns how many, per job.
    /// </summary>
    public async Task<IReadOnlyDictionary<long, int>> ReclaimDeadOwnersAsync(CancellationToken ct)
    {
        var dead = new List<string>();
        await using (var q = database.DataSource.CreateCommand("SELECT DISTINCT claimed_by FROM frontier WHERE state = 'claimed'"))
        {
            await using var r = await q.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                if (!r.IsDBNull(0) && ProcessIdentity.IsDeadLocalOwner(r.GetString(0)))
                {
                    dead.Add(r.GetString(0));
                }
            }
        }

        var reclaimed = new Dictionary<long, int>();
        if (dead.Count == 0)
        {
            return reclaimed;
        }

        await using var cmd = database.DataSource.CreateCommand("""
            WITH back AS (
                UPDATE frontier SET state = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = now()
                WHERE state = 'claimed' AND claimed_by = ANY($1)
                RETURNING job_id)
            SELECT job_id, count(*)::int FROM back GROUP BY job_id
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = dead.ToArray() });
        await using var rr = await cmd.ExecuteReaderAsync(ct);
        while (await rr.ReadAsync(ct))
        {
            reclaimed[rr.GetInt64(0)] = rr.GetInt32(1);
        }

        return reclaimed;
    }

    /// <summary>Items of a job still to do (pending, or claimed by anyone).</summary>
    public async Task<long> OutstandingAsync(long jobId, CancellationToken ct, NpgsqlConnection? conn = null, NpgsqlTransaction? tx = null)
    {
        const string sql = "SELECT count(*) FROM frontier WHERE job_id = $1 AND state IN ('pending', 'claimed')";
        var own = conn is null;
        conn ??= await database.DataSource.OpenConnectionAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
            return (long)(await cmd.ExecuteScalarAsync(ct))!;
        }
        finally
        {
            if (own)
            {
                await conn.DisposeAsync();
            }
        }
    }
}
