using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace Harvester.Cluster;

public sealed record SimilarityGroupsResult(long RunId, RegisteredModel Model, int Images, int Groups, int GroupedImages, int DuplicateGroupsWritten, IReadOnlyList<long[]> Members);

/// <summary>
/// Groups images whose embeddings have cosine similarity ≥ a threshold: k nearest neighbours per image through the
/// model's HNSW index, then union-find over the qualifying pairs (so groups are the connected components).
/// Recorded as a clustering run with method "similarity" (cluster = group, distance = cosine distance to the group
/// mean); optionally also as curation's duplicate groups of kind 'embedding'.
/// </summary>
public sealed class SimilarityGrouper(HarvesterDatabase database, ModelStore models, IOptions<ClusteringOptions> options, ILogger<SimilarityGrouper> logger)
{
    public async Task<SimilarityGroupsResult> RunAsync(string? model, ImageScope scope, double? threshold, bool? asDuplicates, CancellationToken ct)
    {
        var o = options.Value;
        var chosen = threshold ?? o.SimilarityThreshold;
        if (chosen is { } given && (given is < 0 or > 1 || double.IsNaN(given)))
        {
            throw new HarvesterException($"Similarity threshold {given} is outside [0, 1] (cosine similarity).");
        }

        var db = database.DataSource;
        var m = await models.ResolveAsync(model ?? o.Model, ct);
        var t = chosen ?? m.Cosine.SimilarityGroup ?? ClusteringOptions.FallbackSimilarityThreshold;
        var inScope = await ScopeIdsAsync(db, m, scope, ct);
        if (inScope.Count == 0)
        {
            throw new HarvesterException($"Scope '{scope}' has no accepted images with {m.Label} embeddings: embed them first or widen --scope.");
        }

        var pairs = await VectorNeighbours.PairsAsync(db, m, scope, 1 - t, o.SimilarityNeighbours, ct);
        var index = inScope.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        var sets = new UnionFind(inScope.Count);
        foreach (var (a, b, _) in pairs)
        {
            if (index.TryGetValue(a, out var ia) && index.TryGetValue(b, out var ib))
            {
                sets.Union(ia, ib);
            }
        }

        var groups = Enumerable.Range(0, inScope.Count)
            .GroupBy(sets.Find)
            .Where(g => g.Count() > 1)
            .Select(g => g.Select(i => inScope[i]).Order().ToArray())
            .OrderBy(g => g[0])
            .ToList();

        var vectors = await VectorsAsync(db, m, groups.SelectMany(g => g).ToArray(), ct);
        var centroids = new VectorMatrix(Math.Max(1, groups.Count), m.Dimension);
        var ids = new List<long>();
        var labels = new List<int>();
        var squared = new List<float>();
        for (var g = 0; g < groups.Count; g++)
        {
            var c = centroids.Row(g);
            foreach (var id in groups[g])
            {
                var v = vectors[id];
                var norm = TensorPrimitives.Norm<float>(v);
                for (var d = 0; d < c.Length; d++)
                {
                    c[d] += norm > 0 ? v[d] / norm : 0;
                }
            }

            var cn = TensorPrimitives.Norm<float>(c);
            if (cn > 0)
            {
                TensorPrimitives.Divide(c, cn, c);
            }

            foreach (var id in groups[g])
            {
                // Stored as a distance; for groups it is the cosine distance, so the square root is undone below.
                var dist = 1 - TensorPrimitives.CosineSimilarity(vectors[id], c);
                ids.Add(id);
                labels.Add(g);
                squared.Add(Math.Max(0, dist) * Math.Max(0, dist));
            }
        }

        var parameters = new JsonObject
        {
            ["method"] = "similarity",
            ["threshold"] = t,
            ["neighbours"] = o.SimilarityNeighbours,
            ["asDuplicates"] = asDuplicates ?? o.SimilarityAsDuplicates,
        };
        var runId = await InsertRunAsync(db, m, scope, groups.Count, parameters, ct);
        var duplicateGroups = 0;
        try
        {
            var sizes = groups.Select(g => g.Length).ToArray();
            var metrics = new JsonObject
            {
                ["images"] = inScope.Count,
                ["groups"] = groups.Count,
                ["groupedImages"] = ids.Count,
                ["pairs"] = pairs.Count,
                ["largestGroup"] = sizes.Length == 0 ? 0 : sizes.Max(),
                ["sizes"] = new JsonArray([.. sizes.Select(s => (JsonNode)s)]),
            };
            await ClusteringService.WriteResultAsync(db, runId, groups.Count, centroids, sizes, [.. ids], [.. labels], [.. squared], metrics, ct);
            if (asDuplicates ?? o.SimilarityAsDuplicates)
            {
                duplicateGroups = await WriteDuplicateGroupsAsync(db, groups, ct);
            }
        }
        catch (Exception e)
        {
            Log.RunFailed(logger, e, runId);
            await ClusteringService.MarkFailedAsync(db, runId, e is OperationCanceledException ? "cancelled" : e.Message);
            throw;
        }

        Log.GroupsWritten(logger, runId, groups.Count, ids.Count, t);
        return new SimilarityGroupsResult(runId, m, inScope.Count, groups.Count, ids.Count, duplicateGroups, groups);
    }

    private static async Task<List<long>> ScopeIdsAsync(NpgsqlDataSource db, RegisteredModel m, ImageScope scope, CancellationToken ct)
    {
        var p = new List<object> { m.Id };
        var where = scope.Predicate("i", p);
        await using var cmd = db.CreateCommand($"SELECT e.image_id FROM embeddings e JOIN images i ON i.id = e.image_id WHERE e.model_id = $1 AND {where} ORDER BY e.image_id");
        foreach (var a in p)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        var ids = new List<long>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            ids.Add(r.GetInt64(0));
        }

        return ids;
    }

    private static async Task<Dictionary<long, float[]>> VectorsAsync(NpgsqlDataSource db, RegisteredModel m, long[] ids, CancellationToken ct)
    {
        var result = new Dictionary<long, float[]>();
        await using var cmd = db.CreateCommand("SELECT image_id, embedding FROM embeddings WHERE model_id = $1 AND image_id = ANY($2)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = m.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ids });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            result[r.GetInt64(0)] = r.GetFieldValue<Vector>(1).ToArray();
        }

        return result;
    }

    private static async Task<long> InsertRunAsync(NpgsqlDataSource db, RegisteredModel m, ImageScope scope, int k, JsonObject parameters, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            INSERT INTO clustering_runs (model_id, scope, k, parameters, status, started_at)
            VALUES ($1, $2::jsonb, $3, $4::jsonb, 'running', now()) RETURNING id
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = m.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = scope.ToJson() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = k });
        cmd.Parameters.Add(new NpgsqlParameter { Value = parameters.ToJsonString() });
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Curation's keep rule (largest resolution, then best quality score, then earliest id): the kept image stays
    /// accepted, the others become 'duplicate' of it; all join the new group. A kept image already in a hash group keeps that group.
    /// </summary>
    private static async Task<int> WriteDuplicateGroupsAsync(NpgsqlDataSource db, List<long[]> groups, CancellationToken ct)
    {
        if (groups.Count == 0)
        {
            return 0;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var g in groups)
        {
            long kept;
            await using (var pick = new NpgsqlCommand("""
                SELECT id FROM images WHERE id = ANY($1)
                ORDER BY coalesce(width::bigint * height, 0) DESC, quality_score DESC NULLS LAST, id LIMIT 1
                """, conn, tx))
            {
                pick.Parameters.Add(new NpgsqlParameter { Value = g });
                kept = (long)(await pick.ExecuteScalarAsync(ct))!;
            }

            long groupId;
            await using (var insert = new NpgsqlCommand(
                "INSERT INTO duplicate_groups (kind, kept_image_id, size, created_at) VALUES ('embedding', $1, $2, now()) RETURNING id", conn, tx))
            {
                insert.Parameters.Add(new NpgsqlParameter { Value = kept });
                insert.Parameters.Add(new NpgsqlParameter { Value = g.Length });
                groupId = (long)(await insert.ExecuteScalarAsync(ct))!;
            }

            await using (var losers = new NpgsqlCommand(
                "UPDATE images SET status = 'duplicate', duplicate_of_id = $1, duplicate_group_id = $2 WHERE id = ANY($3) AND id <> $1", conn, tx))
            {
                losers.Parameters.Add(new NpgsqlParameter { Value = kept });
                losers.Parameters.Add(new NpgsqlParameter { Value = groupId });
                losers.Parameters.Add(new NpgsqlParameter { Value = g });
                await losers.ExecuteNonQueryAsync(ct);
            }

            await using var keeper = new NpgsqlCommand("UPDATE images SET duplicate_group_id = $2 WHERE id = $1 AND duplicate_group_id IS NULL", conn, tx);
            keeper.Parameters.Add(new NpgsqlParameter { Value = kept });
            keeper.Parameters.Add(new NpgsqlParameter { Value = groupId });
            await keeper.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return groups.Count;
    }
}
