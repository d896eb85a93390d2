using Npgsql;

namespace Harvester.Data;

/// <summary>
/// Batch claiming for pipeline stages: several worker processes take disjoint batches of items; a claim is a lease
/// that expires, so a crashed worker's items return to the pool. A stage finishes an item by writing its result and
/// calling <see cref="CompleteAsync"/> in the same transaction.
/// </summary>
public static class WorkLeases
{
    public static string WorkerId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>
    /// Claims up to <paramref name="limit"/> ids for <paramref name="stage"/> from <paramref name="candidatesSql"/>
    /// (a query returning one bigint column of candidate ids, best first; it may use parameters $1.. given in
    /// <paramref name="candidateParameters"/>), skipping items another worker holds an unexpired lease on.
    /// </summary>
    public static async Task<IReadOnlyList<long>> ClaimAsync(
        NpgsqlDataSource dataSource,
        string stage,
        string candidatesSql,
        int limit,
        TimeSpan lease,
        CancellationToken ct,
        params object[] candidateParameters)
    {
        var n = candidateParameters.Length;
        var sql = $"""
            WITH cand AS (
                SELECT c.id FROM ({candidatesSql}) AS c(id)
                WHERE NOT EXISTS (SELECT 1 FROM work_leases w WHERE w.stage = ${n + 1} AND w.item_id = c.id AND w.lease_until > now())
                LIMIT ${n + 2})
            INSERT INTO work_leases (stage, item_id, claimed_by, lease_until, attempts)
            SELECT ${n + 1}, id, ${n + 3}, now() + ${n + 4}, 1 FROM cand
            ON CONFLICT (stage, item_id) DO UPDATE
                SET claimed_by = excluded.claimed_by, lease_until = excluded.lease_until, attempts = work_leases.attempts + 1
                WHERE work_leases.lease_until <= now()
            RETURNING item_id
            """;
        await using var cmd = dataSource.CreateCommand(sql);
        foreach (var p in candidateParameters)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        }

        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        cmd.Parameters.Add(new NpgsqlParameter { Value = WorkerId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = lease });
        var ids = new List<long>(limit);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            ids.Add(r.GetInt64(0));
        }

        return ids;
    }

    /// <summary>How many times each item has been claimed (a poison item keeps coming back: give up on it after N).</summary>
    public static async Task<Dictionary<long, int>> AttemptsAsync(NpgsqlDataSource dataSource, string stage, IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("SELECT item_id, attempts FROM work_leases WHERE stage = $1 AND item_id = ANY($2)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        var result = new Dictionary<long, int>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            result[r.GetInt64(0)] = r.GetInt32(1);
        }

        return result;
    }

    /// <summary>Drops the leases of finished items; pass the transaction that wrote their results.</summary>
    public static async Task CompleteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string stage, IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("DELETE FROM work_leases WHERE stage = $1 AND item_id = ANY($2)", connection, transaction);
        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Gives items back before their lease ends (e.g. on shutdown), keeping their attempt counts.</summary>
    public static async Task ReleaseAsync(NpgsqlDataSource dataSource, string stage, IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE work_leases SET lease_until = now() WHERE stage = $1 AND item_id = ANY($2) AND claimed_by = $3");
        cmd.Parameters.Add(new NpgsqlParameter { Value = stage });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = WorkerId });
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
