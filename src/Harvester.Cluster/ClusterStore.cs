using System.Runtime.CompilerServices;
using Harvester.Core;
using Harvester.Data;
using Harvester.Data.Stages;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace Harvester.Cluster;

/// <summary>A clustering run as readers see it: what was asked, what was measured, and where it stands.</summary>
public sealed record RunInfo(long Id, int ModelId, string Model, int K, string Scope, RunParameters Parameters, RunMetrics Metrics, RunStatus Status, string? Error);

/// <summary>Every statement of the cluster stage: the vectors it reads, the runs, centroids and assignments it writes.</summary>
public sealed class ClusterStore(HarvesterDatabase database, DuplicateGroups duplicateGroups)
{
    private NpgsqlDataSource Db => database.DataSource;

    /// <summary>Accepted images in scope with a vector of the model.</summary>
    public async Task<int> CountAsync(RegisteredModel model, ImageScope scope, CancellationToken ct)
    {
        var p = new List<object> { model.Id };
        var where = scope.Predicate("i", p);
        await using var cmd = Command($"SELECT count(*) FROM embeddings e JOIN images i ON i.id = e.image_id WHERE e.model_id = $1 AND {where}", p);
        return checked((int)(long)(await cmd.ExecuteScalarAsync(ct))!);
    }

    /// <summary>Ids of the accepted images in scope with a vector of the model, in id order.</summary>
    public async Task<List<long>> ScopeIdsAsync(RegisteredModel model, ImageScope scope, CancellationToken ct)
    {
        var p = new List<object> { model.Id };
        var where = scope.Predicate("i", p);
        await using var cmd = Command($"SELECT e.image_id FROM embeddings e JOIN images i ON i.id = e.image_id WHERE e.model_id = $1 AND {where} ORDER BY e.image_id", p);
        var ids = new List<long>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            ids.Add(r.GetInt64(0));
        }

        return ids;
    }

    /// <summary>Every (image id, vector) in scope in id order, through one open cursor (one row at a time in memory).</summary>
    public async IAsyncEnumerable<(long Id, float[] Vector)> StreamVectorsAsync(RegisteredModel model, ImageScope scope, [EnumeratorCancellation] CancellationToken ct)
    {
        var p = new List<object> { model.Id };
        var where = scope.Predicate("i", p);
        await using var conn = await Db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using var cmd = new NpgsqlCommand(
            $"SELECT e.image_id, e.embedding FROM embeddings e JOIN images i ON i.id = e.image_id WHERE e.model_id = $1 AND {where} ORDER BY e.image_id", conn, tx);
        foreach (var a in p)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        await using var r = await cmd.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, ct);
        while (await r.ReadAsync(ct))
        {
            yield return (r.GetInt64(0), r.GetFieldValue<Vector>(1).ToArray());
        }
    }

    public async Task<Dictionary<long, float[]>> VectorsAsync(RegisteredModel model, long[] ids, CancellationToken ct)
    {
        var result = new Dictionary<long, float[]>();
        await using var cmd = Command("SELECT image_id, embedding FROM embeddings WHERE model_id = $1 AND image_id = ANY($2)", [model.Id, ids]);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            result[r.GetInt64(0)] = r.GetFieldValue<Vector>(1).ToArray();
        }

        return result;
    }

    /// <summary>The latest completed k-means run of the model and scope (warm start and drift compare with it).</summary>
    public async Task<(long Id, int K, RunParameters Parameters)?> PreviousKMeansRunAsync(RegisteredModel model, ImageScope scope, CancellationToken ct)
    {
        await using var cmd = Command("""
            SELECT id, k, parameters::text FROM clustering_runs
            WHERE model_id = $1 AND scope = $2::jsonb AND status = 'completed' AND parameters->>'method' = 'kmeans'
            ORDER BY id DESC LIMIT 1
            """, [model.Id, scope.ToJson()]);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? (r.GetInt64(0), r.GetInt32(1), RunParameters.Parse(r.GetString(2))) : null;
    }

    public async Task<VectorMatrix> CentroidsAsync(long runId, int dimension, CancellationToken ct)
    {
        await using var cmd = Command("SELECT centroid FROM cluster_centroids WHERE run_id = $1 ORDER BY cluster_index", [runId]);
        var rows = new List<float[]>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(r.GetFieldValue<Vector>(0).ToArray());
        }

        return rows.Count == 0 ? new VectorMatrix(0, dimension) : VectorMatrix.FromRows(rows);
    }

    /// <summary>Records a run as running, owned by this process (so it can be swept if the process dies), and returns its id.</summary>
    public async Task<long> StartRunAsync(RegisteredModel model, ImageScope scope, int k, RunParameters parameters, long? previousId, CancellationToken ct)
    {
        await using var cmd = Command("""
            INSERT INTO clustering_runs (model_id, scope, k, parameters, status, previous_run_id, started_at, owner)
            VALUES ($1, $2::jsonb, $3, $4::jsonb, 'running', $5, now(), $6) RETURNING id
            """, [model.Id, scope.ToJson(), k, parameters.ToJson(), new NpgsqlParameter { Value = (object?)previousId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint }, ProcessIdentity.Current]);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Centroids and assignments by binary COPY, and the run marked completed, in one transaction.</summary>
    public async Task CompleteRunAsync(long runId, int k, VectorMatrix centroids, int[] sizes, long[] ids, int[] labels, float[] squared, RunMetrics metrics, CancellationToken ct)
    {
        await using var conn = await Db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var w = await conn.BeginBinaryImportAsync("COPY cluster_centroids (run_id, cluster_index, centroid, size) FROM STDIN (FORMAT BINARY)", ct))
        {
            for (var c = 0; c < k; c++)
            {
                await w.StartRowAsync(ct);
                await w.WriteAsync(runId, NpgsqlDbType.Bigint, ct);
                await w.WriteAsync(c, NpgsqlDbType.Integer, ct);
                await w.WriteAsync(new Vector(centroids.Row(c).ToArray()), ct);
                await w.WriteAsync(sizes[c], NpgsqlDbType.Integer, ct);
            }

            await w.CompleteAsync(ct);
        }

        await using (var w = await conn.BeginBinaryImportAsync("COPY cluster_assignments (run_id, image_id, cluster_index, distance) FROM STDIN (FORMAT BINARY)", ct))
        {
            for (var i = 0; i < ids.Length; i++)
            {
                await w.StartRowAsync(ct);
                await w.WriteAsync(runId, NpgsqlDbType.Bigint, ct);
                await w.WriteAsync(ids[i], NpgsqlDbType.Bigint, ct);
                await w.WriteAsync(labels[i], NpgsqlDbType.Integer, ct);
                await w.WriteAsync(Math.Sqrt(squared[i]), NpgsqlDbType.Double, ct);
            }

            await w.CompleteAsync(ct);
        }

        await using (var cmd = new NpgsqlCommand(
            "UPDATE clustering_runs SET status = 'completed', k = $2, metrics = $3::jsonb, finished_at = now(), error = NULL WHERE id = $1", conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = runId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = k });
            cmd.Parameters.Add(new NpgsqlParameter { Value = metrics.ToJson() });
            await cmd.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
    }

    public async Task FailRunAsync(long runId, string error)
    {
        await using var cmd = Command("UPDATE clustering_runs SET status = 'failed', error = $2, finished_at = now() WHERE id = $1 AND status = 'running'", [runId, error]);
        await cmd.ExecuteNonQueryAsync(CancellationToken.None);
    }

    /// <summary>
    /// Runs left 'running' by a process of this machine that no longer runs become 'failed' with that reason, so no
    /// reader waits on a run that will never finish. Returns how many.
    /// </summary>
    public async Task<int> SweepAbandonedRunsAsync(CancellationToken ct)
    {
        var dead = new List<string>();
        await using (var owners = Command("SELECT DISTINCT owner FROM clustering_runs WHERE status = 'running' AND owner IS NOT NULL", []))
        {
            await using var r = await owners.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                if (ProcessIdentity.IsDeadLocalOwner(r.GetString(0)))
                {
                    dead.Add(r.GetString(0));
                }
            }
        }

        if (dead.Count == 0)
        {
            return 0;
        }

        await using var cmd = Command("""
            UPDATE clustering_runs SET status = 'failed', finished_at = now(),
                error = 'the process running it (' || owner || ') stopped before it finished'
            WHERE status = 'running' AND owner = ANY($1)
            """, [dead.ToArray()]);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<Dictionary<long, int>> AssignmentsAsync(long runId, CancellationToken ct)
    {
        var assigned = new Dictionary<long, int>();
        await using var cmd = Command("SELECT image_id, cluster_index FROM cluster_assignments WHERE run_id = $1", [runId]);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            assigned[r.GetInt64(0)] = r.GetInt32(1);
        }

        return assigned;
    }

    /// <summary>Each run member with its distance to its centroid and its blob, by cluster.</summary>
    public async Task<Dictionary<int, List<(long ImageId, double Distance, string Sha256)>>> MembersAsync(long runId, CancellationToken ct)
    {
        var result = new Dictionary<int, List<(long, double, string)>>();
        await using var cmd = Command("""
            SELECT a.cluster_index, a.image_id, a.distance, i.sha256 FROM cluster_assignments a JOIN images i ON i.id = a.image_id
            WHERE a.run_id = $1 ORDER BY a.cluster_index, a.image_id
            """, [runId]);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var c = r.GetInt32(0);
            if (!result.TryGetValue(c, out var list))
            {
                result[c] = list = [];
            }

            list.Add((r.GetInt64(1), r.GetDouble(2), r.GetString(3)));
        }

        return result;
    }

    /// <summary>A seeded, stable subset of a run's vectors (image id order) when the run is larger than <paramref name="max"/>.</summary>
    public async Task<List<(long Id, float[] Vector, int Cluster, double Distance)>> ProjectorRowsAsync(RunInfo run, int max, CancellationToken ct)
    {
        await using var cmd = Command("""
            SELECT a.image_id, e.embedding, a.cluster_index, a.distance FROM cluster_assignments a
            JOIN embeddings e ON e.image_id = a.image_id AND e.model_id = $2
            WHERE a.run_id = $1 ORDER BY md5(a.image_id::text || ':' || a.run_id::text) LIMIT $3
            """, [run.Id, run.ModelId, max]);
        var rows = new List<(long, float[], int, double)>();
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                rows.Add((r.GetInt64(0), r.GetFieldValue<Vector>(1).ToArray(), r.GetInt32(2), r.GetDouble(3)));
            }
        }

        rows.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return rows;
    }

    public async Task<RunInfo> RunAsync(long runId, CancellationToken ct)
    {
        await SweepAbandonedRunsAsync(ct);
        await using var cmd = Command("""
            SELECT r.id, r.model_id, m.name || ':' || m.version, r.k, coalesce(r.scope::text, '{}'), coalesce(r.metrics::text, '{}'),
                   coalesce(r.parameters::text, '{}'), r.status, r.error
            FROM clustering_runs r JOIN embedding_models m ON m.id = r.model_id WHERE r.id = $1
            """, [runId]);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            throw new HarvesterException($"There is no clustering run {runId}; list runs with: SELECT id, status, k FROM clustering_runs ORDER BY id.");
        }

        return new RunInfo(r.GetInt64(0), r.GetInt32(1), r.GetString(2), r.GetInt32(3), r.GetString(4),
            RunParameters.Parse(r.GetString(6)), RunMetrics.Parse(r.GetString(5)), r.GetFieldValue<RunStatus>(7), r.IsDBNull(8) ? null : r.GetString(8));
    }

    /// <summary>Which of <paramref name="ids"/> are images of this database.</summary>
    public async Task<HashSet<long>> ExistingImagesAsync(long[] ids, CancellationToken ct)
    {
        var known = new HashSet<long>();
        await using var cmd = Command("SELECT id FROM images WHERE id = ANY($1)", [ids]);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            known.Add(r.GetInt64(0));
        }

        return known;
    }

    /// <summary>(image id, place or product id) for the run's members that have one.</summary>
    public async Task<List<(long, string)>> SourceLabelsAsync(long runId, bool product, CancellationToken ct)
    {
        var column = product ? "product_id" : "place_id";
        await using var cmd = Command(
            $"SELECT i.id, i.{column}::text FROM cluster_assignments a JOIN images i ON i.id = a.image_id WHERE a.run_id = $1 AND i.{column} IS NOT NULL", [runId]);
        var result = new List<(long, string)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            result.Add((r.GetInt64(0), r.GetString(1)));
        }

        return result;
    }

    /// <summary>Vectors of the model added since its last completed k-means run (what Clustering:AfterNewEmbeddings counts).</summary>
    public async Task<long> NewEmbeddingsSinceLastRunAsync(RegisteredModel model, CancellationToken ct)
    {
        await using var cmd = Command("""
            SELECT count(*) FROM embeddings e WHERE e.model_id = $1 AND e.created_at >
                coalesce((SELECT max(started_at) FROM clustering_runs r WHERE r.model_id = $1 AND r.status = 'completed' AND r.parameters->>'method' = 'kmeans'), '-infinity')
            """, [model.Id]);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Similarity groups recorded as duplicate groups through the shared rule (<see cref="DuplicateGroups"/>): each
    /// set and the groups its images are already in become one group (kind 'embedding' when it is new), the keep rule
    /// elects the real original, and the others become its duplicates. The similarity groups were judged here already,
    /// so every member of a set belongs.
    /// </summary>
    public async Task<int> WriteEmbeddingDuplicateGroupsAsync(List<long[]> groups, CancellationToken ct)
    {
        if (groups.Count == 0)
        {
            return 0;
        }

        await using var conn = await Db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var written = new HashSet<long>();
        foreach (var g in groups)
        {
            var change = await duplicateGroups.MergeAsync(conn, tx, g, DuplicateKind.Embedding, GivenSets.Instance, ct);
            if (change.GroupId is { } id)
            {
                written.Add(id);
            }
        }

        await tx.CommitAsync(ct);
        return written.Count;
    }

    /// <summary>Membership for sets already judged by similarity: every member stays.</summary>
    private sealed class GivenSets : IGroupMembership
    {
        public static readonly GivenSets Instance = new();

        public bool Belongs(GroupMember kept, GroupMember member) => true;
    }

    /// <summary>
    /// Records a person's 1–5 rating of a cluster's coherence (a second rating by the same rater replaces the first).
    /// Returns false when the run or the cluster does not exist; nothing is stored then.
    /// </summary>
    public async Task<bool> RateAsync(long runId, int cluster, string rater, int rating, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rating, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rating, 5);
        await using var cmd = Command("""
            INSERT INTO cluster_ratings (run_id, cluster_index, rater, rating, rated_at)
            SELECT $1, $2, $3, $4, now() WHERE EXISTS (SELECT 1 FROM cluster_centroids c WHERE c.run_id = $1 AND c.cluster_index = $2)
            ON CONFLICT (run_id, cluster_index, rater) DO UPDATE SET rating = excluded.rating, rated_at = excluded.rated_at
            """, [runId, cluster, rater, rating]);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>Mean rating and number of raters of every cluster of a run (clusters nobody rated included, with 0 ratings).</summary>
    public async Task<List<(int Cluster, int Size, double? Mean, int Ratings)>> RatingsAsync(long runId, CancellationToken ct)
    {
        await using var cmd = Command("""
            SELECT c.cluster_index, c.size, avg(r.rating)::float8, count(r.rating)::int
            FROM cluster_centroids c LEFT JOIN cluster_ratings r ON r.run_id = c.run_id AND r.cluster_index = c.cluster_index
            WHERE c.run_id = $1 GROUP BY c.cluster_index, c.size ORDER BY c.cluster_index
            """, [runId]);
        var rows = new List<(int, int, double?, int)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add((r.GetInt32(0), r.GetInt32(1), r.IsDBNull(2) ? null : r.GetDouble(2), r.GetInt32(3)));
        }

        return rows;
    }

    private NpgsqlCommand Command(string sql, IEnumerable<object> args)
    {
        var cmd = Db.CreateCommand(sql);
        foreach (var a in args)
        {
            cmd.Parameters.Add(a as NpgsqlParameter ?? new NpgsqlParameter { Value = a });
        }

        return cmd;
    }
}
