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
}

public sealed record ClaimedItem(long Id, long JobId, FrontierKind Kind, string Url, int Attempts, FrontierContext Context);

public sealed record NewFrontierItem(FrontierKind Kind, string Url, FrontierContext Context, long? ParentId = null, int Priority = 0);

/// <summary>
/// The persistent crawl frontier. Items are claimed with leases (FOR UPDATE SKIP LOCKED), so several worker processes
/// share a job and a killed one's items come back; an item is marked done only in the transaction that stored its output.
/// </summary>
public sealed class FrontierStore(HarvesterDatabase database)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    /// <summary>Queues items; an item already queued for the job (same kind and URL) is left as it is.</summary>
    public async Task<int> EnqueueAsync(long jobId, IReadOnlyCollection<NewFrontierItem> items, CancellationToken ct, NpgsqlConnection? conn = null, NpgsqlTransaction? tx = null)
    {
        if (items.Count == 0)
        {
            return 0;
        }

        const string sql = """
            INSERT INTO frontier (job_id, parent_id, kind, url, state, attempts, context, priority)
            SELECT $1, p, k, u, 'pending', 0, c::jsonb, pr FROM unnest($2::bigint[], $3::frontier_kind[], $4::text[], $5::text[], $6::int[]) AS t(p, k, u, c, pr)
            ON CONFLICT (job_id, kind, url) DO NOTHING
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

    /// <summary>Claims up to <paramref name="limit"/> due items of the given kinds: pending ones, or claimed ones whose lease ran out.</summary>
    public async Task<IReadOnlyList<ClaimedItem>> ClaimAsync(long jobId, IReadOnlyCollection<FrontierKind> kinds, int limit, TimeSpan lease, CancellationToken ct)
    {
        const string sql = """
            UPDATE frontier f SET state = 'claimed', claimed_by = $4, lease_until = now() + $5, attempts = f.attempts + 1, updated_at = now()
            WHERE f.id IN (
                SELECT id FROM frontier
                WHERE job_id = $1 AND kind = ANY($2)
                  AND ((state = 'pending' AND (not_before IS NULL OR not_before <= now())) OR (state = 'claimed' AND lease_until < now()))
                ORDER BY priority DESC, id
                LIMIT $3
                FOR UPDATE SKIP LOCKED)
            RETURNING f.id, f.job_id, f.kind, f.url, f.attempts, f.context::text
            """;
        await using var cmd = database.DataSource.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = kinds.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        cmd.Parameters.Add(new NpgsqlParameter { Value = lease });
        var items = new List<ClaimedItem>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            items.Add(new ClaimedItem(
                r.GetInt64(0), r.GetInt64(1), r.GetFieldValue<FrontierKind>(2), r.GetString(3), r.GetInt32(4),
                r.IsDBNull(5) ? new FrontierContext() : JsonSerializer.Deserialize<FrontierContext>(r.GetString(5), Json) ?? new FrontierContext()));
        }

        return items.OrderByDescending(i => i.Kind).ThenBy(i => i.Id).ToList();
    }

    public static async Task MarkDoneAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long id, string? note, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "UPDATE frontier SET state = 'done', claimed_by = NULL, lease_until = NULL, last_error = $2, updated_at = now() WHERE id = $1", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)note ?? DBNull.Value });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task MarkDoneAsync(long id, string? note, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await MarkDoneAsync(conn, null, id, note, ct);
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

    /// <summary>
    /// Items claimed by a process on this machine that no longer exists go straight back to pending, so a restarted crawl
    /// does not wait for their leases to run out.
    /// </summary>
    public async Task<int> ReclaimOrphansAsync(long jobId, CancellationToken ct)
    {
        var prefix = Environment.MachineName + ":";
        var dead = new List<string>();
        await using (var q = database.DataSource.CreateCommand("SELECT DISTINCT claimed_by FROM frontier WHERE job_id = $1 AND state = 'claimed' AND claimed_by LIKE $2"))
        {
            q.Parameters.Add(new NpgsqlParameter { Value = jobId });
            q.Parameters.Add(new NpgsqlParameter { Value = prefix + "%" });
            await using var r = await q.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var owner = r.GetString(0);
                if (int.TryParse(owner.AsSpan(prefix.Length), out var pid) && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}"))
                {
                    dead.Add(owner);
                }
            }
        }

        if (dead.Count == 0)
        {
            return 0;
        }

        await using var cmd = database.DataSource.CreateCommand(
            "UPDATE frontier SET state = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = now() WHERE job_id = $1 AND state = 'claimed' AND claimed_by = ANY($2)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = dead.ToArray() });
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Items of these kinds still to do (pending, or claimed by anyone).</summary>
    public async Task<long> OutstandingAsync(long jobId, IReadOnlyCollection<FrontierKind> kinds, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            "SELECT count(*) FROM frontier WHERE job_id = $1 AND kind = ANY($2) AND state IN ('pending', 'claimed')");
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = kinds.ToArray() });
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
