using Harvester.Core;
using Npgsql;

namespace Harvester.Data;

/// <summary>
/// The cosine similarities at which a model's vectors call two images copies or alike, from its manifest. Each model
/// spreads its vectors differently, so stages that compare vectors take these rather than one constant.
/// </summary>
public sealed record CosineThresholds(double? NearCopy = null, double? SimilarityGroup = null, double? NearDuplicate = null)
{
    public static CosineThresholds None { get; } = new();
}

/// <summary>A row of embedding_models: which model made a set of vectors, and the SQL that reaches its HNSW index.</summary>
public sealed record RegisteredModel(int Id, string Name, string Version, string ManifestSha256, int Dimension, string VectorType = "vector", CosineThresholds? Thresholds = null)
{
    /// <summary>The manifest's thresholds (none set: all null).</summary>
    public CosineThresholds Cosine => Thresholds ?? CosineThresholds.None;

    /// <summary>"name:version", as commands and run records name a model.</summary>
    public string Label => $"{Name}:{Version}";

    public string IndexName => $"ix_embeddings_m{Id}";

    /// <summary>The cast the model's index is built on; a query must order by the same expression for the planner to use it.</summary>
    public string Cast => $"{(VectorType == "halfvec" ? "halfvec" : "vector")}({Dimension})";

    public string OperatorClass => VectorType == "halfvec" ? "halfvec_cosine_ops" : "vector_cosine_ops";
}

/// <summary>What a stage asks to register: a model's identity, its vectors' shape and its index parameters.</summary>
public sealed record ModelRegistration(string Name, string Version, string ManifestSha256, int Dimension, string VectorType, int HnswM, int HnswEfConstruction, CosineThresholds? Thresholds = null);

/// <summary>
/// The embedding_models table: registering a model (with its partial expression HNSW index, cosine) and finding
/// registered ones. Shared by every stage that reads or writes vectors, so each resolves a model the same way.
/// </summary>
public sealed class ModelStore(HarvesterDatabase database)
{
    /// <summary>pgvector's HNSW limits per index type.</summary>
    public const int MaxVectorDimension = 2000;
    public const int MaxHalfvecDimension = 4000;

    private const string Columns = "id, name, version, manifest_sha256, dimension, vector_type, near_copy_cosine, similarity_group_cosine, near_duplicate_cosine";

    /// <summary>
    /// Registers the model, or returns its row when the same name and version are registered with the same manifest;
    /// a different manifest under the same version is refused. Creates the model's index if it is missing.
    /// Returns the row and whether it was new.
    /// </summary>
    public async Task<(RegisteredModel Model, bool Created)> RegisterAsync(ModelRegistration m, CancellationToken ct)
    {
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
            if (existing.ManifestSha256 != m.ManifestSha256 || existing.Dimension != m.Dimension)
            {
                throw new HarvesterException(
                    $"Model '{m.Name}' version {m.Version} is registered (id {existing.Id}, dimension {existing.Dimension}) with a different manifest " +
                    $"(sha256 {existing.ManifestSha256[..Math.Min(12, existing.ManifestSha256.Length)]}…, now {m.ManifestSha256[..Math.Min(12, m.ManifestSha256.Length)]}…). " +
                    "Vectors from two recipes must not mix: bump the manifest's version.");
            }

            registered = existing;
            var thresholds = m.Thresholds ?? CosineThresholds.None;
            if (existing.Cosine != thresholds)
            {
                // Thresholds are not part of the recipe: a manifest may change them without a new version.
                await using var update = new NpgsqlCommand(
                    $"UPDATE embedding_models SET near_copy_cosine = $2, similarity_group_cosine = $3, near_duplicate_cosine = $4 WHERE id = $1 RETURNING {Columns}", conn, tx);
                update.Parameters.AddWithValue(existing.Id);
                AddThresholds(update, thresholds);
                await using var r = await update.ExecuteReaderAsync(ct);
                await r.ReadAsync(ct);
                registered = Read(r);
            }
        }
        else
        {
            CheckDimension(m.Name, m.Dimension, m.VectorType);
            await using var insert = new NpgsqlCommand(
                $"""
                INSERT INTO embedding_models (name, version, manifest_sha256, dimension, vector_type, near_copy_cosine, similarity_group_cosine, near_duplicate_cosine)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {Columns}
                """, conn, tx);
            insert.Parameters.AddWithValue(m.Name);
            insert.Parameters.AddWithValue(m.Version);
            insert.Parameters.AddWithValue(m.ManifestSha256);
            insert.Parameters.AddWithValue(m.Dimension);
            insert.Parameters.AddWithValue(m.VectorType);
            AddThresholds(insert, m.Thresholds ?? CosineThresholds.None);
            await using var r = await insert.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            registered = Read(r);
        }

        CheckDimension(registered.Name, registered.Dimension, registered.VectorType);
        if (existing is null)
        {
            // A new model has no vectors yet, so an index under its name is another model's that had its id before
            // the ids were restarted (possibly of another dimension): it goes, and the right one is built below.
            await using var stale = new NpgsqlCommand($"DROP INDEX IF EXISTS {registered.IndexName}", conn, tx);
            await stale.ExecuteNonQueryAsync(ct);
        }

        await using (var ddl = new NpgsqlCommand(
            $"CREATE INDEX IF NOT EXISTS {registered.IndexName} ON embeddings USING hnsw ((embedding::{registered.Cast}) {registered.OperatorClass}) " +
            $"WITH (m = {m.HnswM}, ef_construction = {m.HnswEfConstruction}) WHERE model_id = {registered.Id}", conn, tx))
        {
            await ddl.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return (registered, existing is null);
    }

    public async Task<RegisteredModel?> FindAsync(string name, string version, CancellationToken ct)
    {
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        return await FindAsync(conn, null, name, version, ct);
    }

    /// <summary>
    /// A registered model by "name" (its newest version) or "name:version"; empty: the model with the most vectors.
    /// Throws one clear error when there is none.
    /// </summary>
    public async Task<RegisteredModel> ResolveAsync(string? model, CancellationToken ct)
    {
        string sql;
        var args = new List<object>();
        if (string.IsNullOrWhiteSpace(model))
        {
            sql = $"""
                SELECT {Columns} FROM embedding_models m
                ORDER BY (SELECT count(*) FROM embeddings e WHERE e.model_id = m.id) DESC, m.id DESC LIMIT 1
                """;
        }
        else
        {
            var colon = model.LastIndexOf(':');
            if (colon > 0 && colon < model.Length - 1)
            {
                sql = $"SELECT {Columns} FROM embedding_models WHERE (name = $1 AND version = $2) OR name = $3 ORDER BY (name = $1 AND version = $2) DESC, id DESC LIMIT 1";
                args.Add(model[..colon]);
                args.Add(model[(colon + 1)..]);
                args.Add(model);
            }
            else
            {
                sql = $"SELECT {Columns} FROM embedding_models WHERE name = $1 ORDER BY id DESC LIMIT 1";
                args.Add(model);
            }
        }

        await using var cmd = database.DataSource.CreateCommand(sql);
        foreach (var a in args)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            throw new HarvesterException(string.IsNullOrWhiteSpace(model)
                ? "No embedding model is registered: embed images first (harvester embed)."
                : $"No embedding model named '{model}' is registered; list them with 'harvester models'.");
        }

        return Read(r);
    }

    /// <summary>Registered models with how many vectors each holds.</summary>
    public async Task<IReadOnlyList<(RegisteredModel Model, long Vectors)>> ListAsync(CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand(
            $"SELECT {Columns}, (SELECT count(*) FROM embeddings e WHERE e.model_id = m.id) FROM embedding_models m ORDER BY m.id");
        var list = new List<(RegisteredModel, long)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add((Read(r), r.GetInt64(9)));
        }

        return list;
    }

    private static async Task<RegisteredModel?> FindAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string name, string version, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM embedding_models WHERE name = $1 AND version = $2", conn, tx);
        cmd.Parameters.AddWithValue(name);
        cmd.Parameters.AddWithValue(version);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? Read(r) : null;
    }

    private static RegisteredModel Read(NpgsqlDataReader r) =>
        new(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetString(5),
            new CosineThresholds(Nullable(r, 6), Nullable(r, 7), Nullable(r, 8)));

    private static double? Nullable(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDouble(i);

    private static void AddThresholds(NpgsqlCommand cmd, CosineThresholds t)
    {
        foreach (var v in new[] { t.NearCopy, t.SimilarityGroup, t.NearDuplicate })
        {
            cmd.Parameters.Add(new NpgsqlParameter<double?> { TypedValue = v, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Double });
        }
    }

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
