using System.Collections.Concurrent;
using Harvester.Core;
using Harvester.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.Embed;

/// <summary>A row of embedding_models plus the SQL that reaches its HNSW index.</summary>
public sealed record RegisteredModel(int Id, string Name, string Version, string ManifestSha256, int Dimension, string VectorType)
{
    public string IndexName => $"ix_embeddings_m{Id}";

    /// <summary>The cast the index is built on; a query must order by the same expression for the planner to use it.</summary>
    public string Cast => $"{VectorType}({Dimension})";

    public string OperatorClass => VectorType == "halfvec" ? "halfvec_cosine_ops" : "vector_cosine_ops";
}

/// <summary>
/// Registers models (name, version, manifest hash, dimension, vector type) and creates each one's partial expression
/// HNSW index (cosine) when it is registered.
/// </summary>
public sealed class ModelRegistry(HarvesterDatabase database, IOptions<InferenceOptions> options, ILogger<ModelRegistry> logger)
{
    /// <summary>pgvector's HNSW limits per index type.</summary>
    public const int MaxVectorDimension = 2000;
    public const int MaxHalfvecDimension = 4000;

    private readonly ConcurrentDictionary<(string, string), RegisteredModel> _known = new();

    public async Task<RegisteredModel> EnsureAsync(ResolvedModel model, CancellationToken ct)
    {
        var m = model.Manifest;
        if (_known.TryGetValue((m.Name, m.Version), out var cached))
        {
            return cached;
        }

        var vectorType = options.Value.VectorType;
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // Serialise registrations so two workers never race on CREATE INDEX for the same model.
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('harvester:embedding_models'))", conn, tx))
        {
            await lockCmd.ExecuteNonQueryAsync(ct);
        }

        var existing = await FindAsync(conn, tx, m.Name, m.Version, ct);
        RegisteredModel registered;
        if (existing is not null)
        {
            if (existing.ManifestSha256 != model.ManifestSha256 || existing.Dimension != m.Dimension)
            {
                throw new HarvesterException(
                    $"Model '{m.Name}' version {m.Version} is registered (id {existing.Id}, dimension {existing.Dimension}) with a different manifest " +
                    $"(sha256 {existing.ManifestSha256[..12]}…, now {model.ManifestSha256[..12]}…). Vectors from two recipes must not mix: bump the manifest's version.");
            }

            registered = existing;
        }
        else
        {
            CheckDimension(m.Name, m.Dimension, vectorType);
            await using var insert = new NpgsqlCommand(
                "INSERT INTO embedding_models (name, version, manifest_sha256, dimension, vector_type) VALUES ($1, $2, $3, $4, $5) RETURNING id", conn, tx);
            insert.Parameters.AddWithValue(m.Name);
            insert.Parameters.AddWithValue(m.Version);
            insert.Parameters.AddWithValue(model.ManifestSha256);
            insert.Parameters.AddWithValue(m.Dimension);
            insert.Parameters.AddWithValue(vectorType);
            var id = (int)(await insert.ExecuteScalarAsync(ct))!;
            registered = new RegisteredModel(id, m.Name, m.Version, model.ManifestSha256, m.Dimension, vectorType);
        }

        CheckDimension(registered.Name, registered.Dimension, registered.VectorType);
        var o = options.Value;
        await using (var ddl = new NpgsqlCommand(
            $"CREATE INDEX IF NOT EXISTS {registered.IndexName} ON embeddings USING hnsw ((embedding::{registered.Cast}) {registered.OperatorClass}) " +
            $"WITH (m = {o.HnswM}, ef_construction = {o.HnswEfConstruction}) WHERE model_id = {registered.Id}", conn, tx))
        {
            await ddl.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        if (existing is null)
        {
            Log.ModelRegistered(logger, registered.Name, registered.Version, registered.Id, registered.VectorType, registered.Dimension, registered.IndexName);
        }

        _known[(m.Name, m.Version)] = registered;
        return registered;
    }

    public async Task<RegisteredModel?> FindAsync(string name, string version, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        return await FindAsync(conn, null, name, version, ct);
    }

    /// <summary>Registered models with how many vectors each holds.</summary>
    public async Task<IReadOnlyList<(RegisteredModel Model, long Vectors)>> ListAsync(CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(
            """
            SELECT m.id, m.name, m.version, m.manifest_sha256, m.dimension, m.vector_type,
                   (SELECT count(*) FROM embeddings e WHERE e.model_id = m.id)
            FROM embedding_models m ORDER BY m.id
            """, conn);
        var list = new List<(RegisteredModel, long)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add((Read(r), r.GetInt64(6)));
        }

        return list;
    }

    private static async Task<RegisteredModel?> FindAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string name, string version, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT id, name, version, manifest_sha256, dimension, vector_type FROM embedding_models WHERE name = $1 AND version = $2", conn, tx);
        cmd.Parameters.AddWithValue(name);
        cmd.Parameters.AddWithValue(version);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? Read(r) : null;
    }

    private static RegisteredModel Read(NpgsqlDataReader r) =>
        new(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetString(5));

    private static void CheckDimension(string name, int dimension, string vectorType)
    {
        var max = vectorType == "halfvec" ? MaxHalfvecDimension : MaxVectorDimension;
        if (dimension > max)
        {
            throw new HarvesterException(
                $"Model '{name}' has {dimension} dimensions; a pgvector HNSW index on {vectorType} holds at most {max}. " +
                (vectorType == "vector" ? "Set Inference:VectorType to halfvec." : "Use a smaller model."));
        }
    }
}
