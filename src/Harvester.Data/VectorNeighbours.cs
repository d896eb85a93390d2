using System.Globalization;
using Npgsql;

namespace Harvester.Data;

/// <summary>k-nearest-neighbour pairs over one model's vectors, through its HNSW index (similarity groups, export leakage).</summary>
public static class VectorNeighbours
{
    /// <summary>
    /// (a, b, cosine distance) for each image's <paramref name="neighbours"/> nearest neighbours within <paramref name="maxDistance"/>. The model id and cast are literals so the
    /// planner matches the model's partial HNSW index; scope filters apply to the probing side here and to the
    /// neighbour side by the caller.
    /// </summary>
    public static async Task<List<(long A, long B, double Distance)>> PairsAsync(NpgsqlDataSource db, RegisteredModel m, ImageScope scope, double maxDistance, int neighbours, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var pairs = await PairsAsync(conn, tx, m, scope, maxDistance, neighbours, ct);
        await tx.CommitAsync(ct);
        return pairs;
    }

    /// <inheritdoc cref="PairsAsync(NpgsqlDataSource, RegisteredModel, ImageScope, double, int, CancellationToken)"/>
    /// <remarks>Sets hnsw.ef_search and hnsw.iterative_scan for the rest of <paramref name="tx"/>.</remarks>
    public static async Task<List<(long A, long B, double Distance)>> PairsAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, RegisteredModel m, ImageScope scope, double maxDistance, int neighbours, CancellationToken ct)
    {
        var p = new List<object>();
        var where = scope.Predicate("i", p);
        var id = m.Id.ToString(CultureInfo.InvariantCulture);
        var cast = m.Cast;
        var sql = $"""
            SELECT a.image_id, b.image_id, b.dist FROM embeddings a JOIN images i ON i.id = a.image_id
            CROSS JOIN LATERAL (
                SELECT e.image_id, e.embedding::{cast} <=> a.embedding::{cast} AS dist FROM embeddings e
                WHERE e.model_id = {id} AND e.image_id <> a.image_id
                ORDER BY e.embedding::{cast} <=> a.embedding::{cast}
                LIMIT {neighbours.ToString(CultureInfo.InvariantCulture)}) b
            WHERE a.model_id = {id} AND {where} AND b.dist <= {maxDistance.ToString("R", CultureInfo.InvariantCulture)}
            """;
        await using (var set = new NpgsqlCommand("SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)", conn, tx))
        {
            set.Parameters.Add(new NpgsqlParameter { Value = Math.Clamp(neighbours * 4, 40, 1000).ToString(CultureInfo.InvariantCulture) });
            await set.ExecuteNonQueryAsync(ct);
        }

        var pairs = new List<(long, long, double)>();
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var a in p)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                pairs.Add((r.GetInt64(0), r.GetInt64(1), r.GetDouble(2)));
            }
        }

        return pairs;
    }
}
