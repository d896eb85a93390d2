using Harvester.Data;
using Harvester.Data.Stages;
using Npgsql;

namespace Harvester.Embed;

/// <summary>Every statement of the near-copy pass: what it claims, the k-NN query that proposes candidates, and its write transaction.</summary>
public sealed class NearCopyStore(HarvesterDatabase database)
{
    /// <summary>
    /// The curate stage's write lock (CurateStore): duplicate groups change under it, so this pass and curation never
    /// re-elect one group at the same time.
    /// </summary>
    private const long DuplicateWriteLock = 0x6375726174650001;

    /// <summary>Accepted images with a vector of model $1 that the pass has not compared yet, oldest first.</summary>
    public const string Candidates = """
        SELECT e.image_id FROM embeddings e JOIN images i ON i.id = e.image_id
        WHERE e.model_id = $1 AND e.near_copy_checked_at IS NULL AND i.status = 'accepted'
        ORDER BY e.image_id
        """;

    public NpgsqlDataSource DataSource => database.DataSource;

    /// <summary>
    /// For each image, its <paramref name="k"/> nearest accepted images (HNSW, the model's index) at cosine distance at
    /// most <paramref name="maxDistance"/>, with both blobs. Images that are no longer accepted are skipped.
    /// </summary>
    public async Task<List<(long Image, string ImageSha, long Neighbour, string NeighbourSha, double Distance)>> NeighboursAsync(
        RegisteredModel model, IReadOnlyList<long> ids, int k, double maxDistance, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var set = new NpgsqlCommand("SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)", conn, tx))
        {
            set.Parameters.Add(new NpgsqlParameter { Value = Math.Max(40, 4 * k).ToString(System.Globalization.CultureInfo.InvariantCulture) });
            await set.ExecuteNonQueryAsync(ct);
        }

        await using var cmd = new NpgsqlCommand($"""
            SELECT q.image_id, qi.sha256, n.image_id, n.sha256, n.distance
            FROM embeddings q
            JOIN images qi ON qi.id = q.image_id AND qi.status = 'accepted'
            CROSS JOIN LATERAL (
                SELECT e.image_id, i.sha256, e.embedding::{model.Cast} <=> q.embedding::{model.Cast} AS distance
                FROM embeddings e JOIN images i ON i.id = e.image_id
                WHERE e.model_id = {model.Id} AND e.image_id <> q.image_id AND i.status = 'accepted'
                ORDER BY e.embedding::{model.Cast} <=> q.embedding::{model.Cast}
                LIMIT $3) n
            WHERE q.model_id = {model.Id} AND q.image_id = ANY($1) AND n.distance <= $2
            ORDER BY q.image_id, n.distance
            """, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = maxDistance });
        cmd.Parameters.Add(new NpgsqlParameter { Value = k });
        var rows = new List<(long, string, long, string, double)>();
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                rows.Add((r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetDouble(4)));
            }
        }

        await tx.CommitAsync(ct);
        return rows;
    }

    /// <summary>Opens the pass's write transaction under the duplicate-groups write lock.</summary>
    public async Task<(NpgsqlConnection Connection, NpgsqlTransaction Transaction)> BeginWriteAsync(CancellationToken ct)
    {
        var conn = await database.DataSource.OpenConnectionAsync(ct);
        var tx = await conn.BeginTransactionAsync(ct);
        await using var lockCmd = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({DuplicateWriteLock})", conn, tx);
        await lockCmd.ExecuteNonQueryAsync(ct);
        return (conn, tx);
    }

    /// <summary>Records the images as compared and completes their claims (in the write transaction).</summary>
    public static async Task MarkCheckedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, int modelId, string stage, IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using (var cmd = new NpgsqlCommand("UPDATE embeddings SET near_copy_checked_at = now() WHERE model_id = $1 AND image_id = ANY($2)", conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = modelId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
            await cmd.ExecuteNonQueryAsync(ct);
        }

        await StageLeases.CompleteAsync(conn, tx, stage, ids, ct);
    }

    public async Task GiveUpAsync(string stage, IReadOnlyList<(long Id, string Reason)> items, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await StageLeases.GiveUpAsync(conn, null, stage, items, ct);
    }

    public Task ReleaseAsync(string stage, IReadOnlyList<long> ids, CancellationToken ct) => StageLeases.ReleaseAsync(database.DataSource, stage, ids, ct);
}
