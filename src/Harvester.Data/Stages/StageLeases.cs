using Npgsql;

namespace Harvester.Data.Stages;

/// <summary>
/// One batch claimed by a stage: the items to work on, and the ones claimed more often than the stage allows
/// (<see cref="Exhausted"/>), which the stage gives up on with their reason instead of trying again.
/// </summary>
public sealed record StageClaim(IReadOnlyList<long> Items, IReadOnlyList<(long Id, int Attempts)> Exhausted)
{
    public static StageClaim None { get; } = new([], []);

    public int Count => Items.Count + Exhausted.Count;

    public IReadOnlyList<long> All => [.. Items, .. Exhausted.Select(e => e.Id)];
}

/// <summary>
/// Claims on items by stages that consume rows they do not own (images to curate, images to embed with a model, a
/// model to cluster): one row per (stage, item) in work_leases, so several worker processes take disjoint batches
/// without a column per stage. A claim is a lease that expires; a stage finishes an item by writing its result and
/// completing the lease in the same transaction. (The crawl frontier keeps its claims on its own rows instead; see
/// docs/design.md.)
/// </summary>
public static class StageLeases
{
    /// <summary>
    /// Claims up to <paramref name="limit"/> ids for <paramref name="stage"/> from <paramref name="candidatesSql"/>
    /// (one bigint column of candidate ids, best first; it may use $1.. from <paramref name="candidateParameters"/>),
    /// skipping items under another live claim and items given up on. Claims of dead processes on this machine are
    /// released first, so a restarted command never waits for their leases to run out.
    /// </summary>
    public static async Task<StageClaim> ClaimAsync(
        NpgsqlDataSource dataSource,
        string stage,
        string candidatesSql,
        int limit,
        TimeSpan lease,
        int maxAttempts,
        CancellationToken ct,
        params object[] candidateParameters)
    {
        await ReclaimDeadOwnersAsync(dataSource, ct);
        var n = candidateParameters.Length;
        var sql = $"""
            WITH cand AS (
                SELECT c.id FROM ({candidatesSql}) AS c(id)
                WHERE NOT EXISTS (SELECT 1 FROM work_leases w WHERE w.stage = ${n + 1} AND w.item_id = c.id
                                  AND (w.lease_until > now() OR w.given_up_at IS NOT NULL))
                LIMIT ${n + 2})
            INSERT INTO work_leases (stage, item_id, claimed_by, lease_until, attempts)
            SELECT ${n + 1}, id, ${n + 3}, now() + ${n + 4}, 1 FROM cand
            ON CONFLICT (stage, item_id) DO UPDATE
                SET claimed_by = excluded.claimed_by, lease_until = excluded.lease_until, attempts = work_leases.attempts + 1
                WHERE work_leases.lease_until <= now() AND work_leases.given_up_at IS NULL
            RETURNING item_id, attempts
            """;
        await using var cmd = dataSource.CreateCommand(sql);
        foreach (var p in candidateParameters)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        }

        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        cmd.Parameters.Add(new NpgsqlParameter { Value = lease });
        var items = new List<long>(limit);
        var exhausted = new List<(long, int)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var (id, attempts) = (r.GetInt64(0), r.GetInt32(1));
            if (attempts > maxAttempts)
            {
                exhausted.Add((id, attempts));
            }
            else
            {
                items.Add(id);
            }
        }

        return new StageClaim(items, exhausted);
    }

    /// <summary>Drops the leases of finished items; pass the transaction that wrote their results.</summary>
    public static async Task CompleteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string stage, IReadOnlyList<long> ids, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return;
        }

        await using var cmd = new NpgsqlCommand("DELETE FROM work_leases WHERE stage = $1 AND item_id = ANY($2)", connection, transaction);
        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Records that the stage gave up on these items and why; they are never claimed by it again.</summary>
    public static async Task GiveUpAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string stage, IReadOnlyList<(long Id, string Reason)> items, CancellationToken ct)
    {
        if (items.Count == 0)
        {
            return;
        }

        await using var cmd = new NpgsqlCommand("""
            UPDATE work_leases w SET given_up_at = now(), lease_until = now(), last_error = x.reason
            FROM unnest($2::bigint[], $3::text[]) AS x(id, reason)
            WHERE w.stage = $1 AND w.item_id = x.id
            """, connection, transaction);
        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = items.Select(i => i.Id).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = items.Select(i => i.Reason.Length > 2000 ? i.Reason[..2000] : i.Reason).ToArray() });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Gives items back before their lease ends (a pass that wrote nothing), keeping their attempt counts.</summary>
    public static async Task ReleaseAsync(NpgsqlDataSource dataSource, string stage, IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE work_leases SET lease_until = now() WHERE stage = $1 AND item_id = ANY($2) AND claimed_by = $3");
        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Gives back every live claim this process holds for <paramref name="stage"/> (and its per-model variants
    /// "stage:…"): after a pass failed half-way, e.g. because the database went away, its claims would otherwise wait
    /// out their lease although nobody works on them.
    /// </summary>
    public static async Task<int> ReleaseOwnAsync(NpgsqlDataSource dataSource, string stage, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("""
            UPDATE work_leases SET lease_until = now()
            WHERE claimed_by = $1 AND lease_until > now() AND (stage = $2 OR stage LIKE $2 || ':%')
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = ProcessIdentity.Current });
        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Ends at once the live leases held by processes of this machine that no longer run. Returns how many.</summary>
    public static async Task<int> ReclaimDeadOwnersAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        var dead = new List<string>();
        await using (var owners = dataSource.CreateCommand("SELECT DISTINCT claimed_by FROM work_leases WHERE lease_until > now()"))
        {
            await using var r = await owners.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var owner = r.GetString(0);
                if (ProcessIdentity.IsDeadLocalOwner(owner))
                {
                    dead.Add(owner);
                }
            }
        }

        if (dead.Count == 0)
        {
            return 0;
        }

        await using var cmd = dataSource.CreateCommand("UPDATE work_leases SET lease_until = now() WHERE lease_until > now() AND claimed_by = ANY($1)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = dead.ToArray() });
        return await cmd.ExecuteNonQueryAsync(ct);
    }
}
