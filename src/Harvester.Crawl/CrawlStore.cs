using Harvester.Data;
using Npgsql;

namespace Harvester.Crawl;

public sealed record PlaceInfo(string ExternalId, string Name, string? Category, string? Neighbourhood, string? Query, string? Address, double? Latitude, double? Longitude, string Url);

public sealed record ProductInfo(string ExternalId, string Name, string? Category, int? Rank, string Url);

public sealed record ReviewInfo(string ExternalId, string? Text, double? Rating);

/// <summary>Writes of what the crawler finds: sites, places, products, reviews, and photos with their sightings.</summary>
public sealed class CrawlStore(HarvesterDatabase database, IBlobStore blobs)
{
    public async Task<long> EnsureSiteAsync(string key, string adapter, string baseUrl, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("""
            INSERT INTO sites (key, adapter, base_url) VALUES ($1, $2, $3)
            ON CONFLICT (key) DO UPDATE SET adapter = excluded.adapter, base_url = excluded.base_url
            RETURNING id
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = key });
        cmd.Parameters.Add(new NpgsqlParameter { Value = adapter });
        cmd.Parameters.Add(new NpgsqlParameter { Value = baseUrl });
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    public async Task<long> UpsertPlaceAsync(long siteId, PlaceInfo p, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("""
            INSERT INTO places (site_id, external_id, name, category, neighbourhood, query, address, latitude, longitude, url)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (site_id, external_id) DO UPDATE SET
                name = excluded.name, category = COALESCE(excluded.category, places.category),
                neighbourhood = COALESCE(places.neighbourhood, excluded.neighbourhood), query = COALESCE(places.query, excluded.query),
                address = COALESCE(excluded.address, places.address), latitude = COALESCE(excluded.latitude, places.latitude),
                longitude = COALESCE(excluded.longitude, places.longitude), url = excluded.url
            RETURNING id
            """);
        Add(cmd, siteId, p.ExternalId, p.Name, p.Category, p.Neighbourhood, p.Query, p.Address, p.Latitude, p.Longitude, p.Url);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    public async Task<long> UpsertProductAsync(long siteId, ProductInfo p, CancellationToken ct)
    {
        await using var cmd = database.DataSource.CreateCommand("""
            INSERT INTO products (site_id, external_id, name, category, rank, url) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (site_id, external_id) DO UPDATE SET name = excluded.name,
                category = COALESCE(excluded.category, products.category), rank = COALESCE(excluded.rank, products.rank), url = excluded.url
            RETURNING id
            """);
        Add(cmd, siteId, p.ExternalId, p.Name, p.Category, p.Rank, p.Url);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    public async Task<Dictionary<string, long>> UpsertReviewsAsync(long siteId, long? placeId, long? productId, IReadOnlyList<ReviewInfo> reviews, CancellationToken ct)
    {
        var ids = new Dictionary<string, long>();
        if (reviews.Count == 0)
        {
            return ids;
        }

        await using var cmd = database.DataSource.CreateCommand("""
            INSERT INTO reviews (site_id, place_id, product_id, external_id, text, rating)
            SELECT $1, $2, $3, e, t, r FROM unnest($4::text[], $5::text[], $6::float8[]) AS x(e, t, r)
            ON CONFLICT (site_id, external_id) DO UPDATE SET text = excluded.text, rating = excluded.rating
            RETURNING external_id, id
            """);
        Add(cmd, siteId, placeId, productId, reviews.Select(r => r.ExternalId).ToArray(), reviews.Select(r => r.Text).ToArray(), reviews.Select(r => r.Rating).ToArray());
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            ids[r.GetString(0)] = r.GetInt64(1);
        }

        return ids;
    }

    /// <summary>
    /// Stores a downloaded photo: bytes to the blob store first (fsynced), then in one transaction the image row (one per
    /// distinct SHA-256), where it was seen, and the frontier item marked done. Returns whether the bytes were new.
    /// </summary>
    public async Task<bool> StorePhotoAsync(long jobId, long siteId, ClaimedItem item, Download download, CancellationToken ct)
    {
        var sha = await blobs.PutAsync(download.Bytes, ct);
        var c = item.Context;
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        long imageId;
        bool inserted;
        await using (var cmd = new NpgsqlCommand("""
            INSERT INTO images (sha256, byte_size, content_type, format, source_url, page_url, place_id, product_id, review_id, job_id, status, photo_type)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'fetched', $11)
            ON CONFLICT (sha256) DO UPDATE SET sha256 = excluded.sha256
            RETURNING id, (xmax = 0)
            """, conn, tx))
        {
            Add(cmd, sha, (long)download.Bytes!.Length, download.ContentType, download.Format, item.Url, c.PageUrl, c.PlaceId, c.ProductId, c.ReviewId, jobId, c.PhotoType);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            imageId = r.GetInt64(0);
            inserted = r.GetBoolean(1);
        }

        await using (var cmd = new NpgsqlCommand("""
            INSERT INTO image_sightings (image_id, job_id, site_id, place_id, product_id, review_id, source_url, page_url, query, photo_type)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (image_id, source_url, place_id, product_id) DO UPDATE SET job_id = excluded.job_id, seen_at = now()
            """, conn, tx))
        {
            Add(cmd, imageId, jobId, siteId, c.PlaceId, c.ProductId, c.ReviewId, item.Url, c.PageUrl, c.Query, c.PhotoType);
            await cmd.ExecuteNonQueryAsync(ct);
        }

        await FrontierStore.MarkDoneAsync(conn, tx, item.Id, inserted ? null : "same bytes as an image already stored", ct);
        await tx.CommitAsync(ct);
        return inserted;
    }

    /// <summary>
    /// When this job already stored the bytes of <paramref name="item"/>'s URL for another place or review, records this
    /// sighting too and marks the item done, without downloading again. False when the URL is new to the job.
    /// </summary>
    public async Task<bool> TryAddSightingOfKnownUrlAsync(long siteId, ClaimedItem item, CancellationToken ct)
    {
        var c = item.Context;
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand("""
            INSERT INTO image_sightings (image_id, job_id, site_id, place_id, product_id, review_id, source_url, page_url, query, photo_type)
            SELECT s.image_id, $1, $2, $3, $4, $5, $6, $7, $8, $9
            FROM image_sightings s WHERE s.job_id = $1 AND s.source_url = $6
            LIMIT 1
            ON CONFLICT (image_id, source_url, place_id, product_id) DO UPDATE SET job_id = excluded.job_id, seen_at = now()
            """, conn, tx))
        {
            Add(cmd, item.JobId, siteId, c.PlaceId, c.ProductId, c.ReviewId, item.Url, c.PageUrl, c.Query, c.PhotoType);
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return false;
            }
        }

        await FrontierStore.MarkDoneAsync(conn, tx, item.Id, "same URL as a photo already stored for this job", ct);
        await tx.CommitAsync(ct);
        return true;
    }

    private static void Add(NpgsqlCommand cmd, params object?[] values)
    {
        foreach (var v in values)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = v ?? DBNull.Value });
        }
    }
}
