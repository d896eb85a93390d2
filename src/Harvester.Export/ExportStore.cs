using System.Collections;
using Harvester.Core;
using Harvester.Data;
using Npgsql;

namespace Harvester.Export;

/// <summary>An accepted image as the export sees it: its bytes' identity, its provenance and the keys that group it.</summary>
public sealed record ExportImage(
    long Id,
    string Sha256,
    int? Width,
    int? Height,
    string? Format,
    double? Quality,
    string SourceUrl,
    long? DuplicateGroup,
    long? PlaceId,
    long? ProductId,
    string? Site,
    string? PlaceName,
    string? ProductName,
    string? Category,
    string? Neighbourhood,
    ulong? PHash);

/// <summary>A place or product an image was also seen at (a shared photo joins the groups of both).</summary>
public sealed record ExportSighting(long ImageId, long? PlaceId, long? ProductId);

/// <summary>
/// Every statement the export runs. The export only reads: accepted images with their provenance, sightings, how many
/// of them have a vector, and a clustering run's assignments. Nearest-neighbour pairs come from the shared
/// <see cref="VectorNeighbours"/> query.
/// </summary>
public sealed class ExportStore(HarvesterDatabase database)
{
    /// <summary>The accepted images in <paramref name="scope"/>, by id, with their place or product and its site.</summary>
    public async Task<List<ExportImage>> ImagesAsync(ImageScope scope, CancellationToken ct)
    {
        var p = new List<object>();
        var where = scope.Predicate("i", p);
        await using var cmd = database.DataSource.CreateCommand($"""
            SELECT i.id, i.sha256, i.width, i.height, i.format, i.quality_score, i.source_url, i.duplicate_group_id,
                   i.place_id, i.product_id, t.key, pl.name, pr.name, COALESCE(pl.category, pr.category), pl.neighbourhood, i.phash
            FROM images i
            LEFT JOIN places pl ON pl.id = i.place_id
            LEFT JOIN products pr ON pr.id = i.product_id
            LEFT JOIN sites t ON t.id = COALESCE(pl.site_id, pr.site_id,
                (SELECT s.site_id FROM image_sightings s WHERE s.image_id = i.id ORDER BY s.id LIMIT 1))
            WHERE {where}
            ORDER BY i.id
            """);
        foreach (var a in p)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }

        var rows = new List<ExportImage>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            T? Get<T>(int i) => r.IsDBNull(i) ? default : r.GetFieldValue<T>(i);
            rows.Add(new ExportImage(
                r.GetInt64(0), r.GetString(1), Get<int?>(2), Get<int?>(3), Get<string>(4), Get<double?>(5), r.GetString(6),
                Get<long?>(7), Get<long?>(8), Get<long?>(9), Get<string>(10), Get<string>(11), Get<string>(12), Get<string>(13), Get<string>(14),
                r.IsDBNull(15) ? null : Imaging.PerceptualHash.FromBits(r.GetFieldValue<BitArray>(15))));
        }

        return rows;
    }

    /// <summary>Every place and product the given images were seen at.</summary>
    public async Task<List<ExportSighting>> SightingsAsync(IReadOnlyCollection<long> imageIds, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT image_id, place_id, product_id FROM image_sightings WHERE image_id = ANY($1)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = imageIds.ToArray() });
        var sightings = new List<ExportSighting>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            sightings.Add(new ExportSighting(r.GetInt64(0), r.IsDBNull(1) ? null : r.GetInt64(1), r.IsDBNull(2) ? null : r.GetInt64(2)));
        }

        return sightings;
    }

    /// <summary>How many of the given images have a vector for the model.</summary>
    public async Task<int> CountVectorsAsync(RegisteredModel model, IReadOnlyCollection<long> imageIds, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT count(*) FROM embeddings WHERE model_id = $1 AND image_id = ANY($2)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = model.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = imageIds.ToArray() });
        return (int)(long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Each image's nearest neighbours for the model within the scope (no distance cut).</summary>
    public Task<List<(long A, long B, double Distance)>> NeighbourPairsAsync(RegisteredModel model, ImageScope scope, int neighbours, CancellationToken ct) =>
        VectorNeighbours.PairsAsync(database.DataSource, model, scope, 2.0, neighbours, ct);

    /// <summary>The run's status, or null when there is no such run.</summary>
    public async Task<RunStatus?> ClusteringRunStatusAsync(long run, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT status FROM clustering_runs WHERE id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = run });
        return await cmd.ExecuteScalarAsync(ct) is RunStatus status ? status : null;
    }

    /// <summary>Image id → cluster index of a clustering run.</summary>
    public async Task<Dictionary<long, int>> ClusterAssignmentsAsync(long run, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("SELECT image_id, cluster_index FROM cluster_assignments WHERE run_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = run });
        var labels = new Dictionary<long, int>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            labels[r.GetInt64(0)] = r.GetInt32(1);
        }

        return labels;
    }
}
