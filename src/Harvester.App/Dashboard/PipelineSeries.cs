using Harvester.Data;
using Npgsql;

namespace Harvester.App.Dashboard;

/// <summary>One named line of a chart: a value per bucket.</summary>
public sealed record Series(string Name, IReadOnlyList<double> Values);

/// <summary>
/// The charts' data over a window, in equal buckets: throughput per stage, curation verdicts, reject reasons and queue
/// depth per stage. Everything is derived from timestamps the stages already write (images.created_at and curated_at,
/// embeddings.created_at, frontier.created_at and updated_at), so history exists for any crawl, whether or not a worker
/// or dashboard ran at the time, and reading it writes nothing.
/// </summary>
public sealed record SeriesSnapshot(
    DateTimeOffset From,
    TimeSpan Bucket,
    IReadOnlyList<DateTimeOffset> Buckets,
    IReadOnlyList<Series> Throughput,
    IReadOnlyList<Series> Verdicts,
    IReadOnlyList<Series> RejectReasons,
    IReadOnlyList<Series> QueueDepth);

/// <summary>Reads <see cref="SeriesSnapshot"/>s: a handful of grouped scans, in one repeatable-read transaction.</summary>
public sealed class PipelineSeries(HarvesterDatabase database)
{
    public const int Buckets = 60;
    public const int TopReasons = 6;

    public static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(1);

    public async Task<SeriesSnapshot> ReadAsync(TimeSpan window, CancellationToken ct)
    {
        var bucket = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(window.TotalSeconds / Buckets)));
        await using var conn = await database.DataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);

        // Buckets aligned on the bucket width, the last one holding now.
        DateTimeOffset now;
        await using (var clock = new NpgsqlCommand("SELECT now()", conn, tx))
        await using (var r = await clock.ExecuteReaderAsync(ct))
        {
            // Read as DateTimeOffset explicitly: a timestamptz comes back as a UTC DateTime otherwise.
            await r.ReadAsync(ct);
            now = r.GetFieldValue<DateTimeOffset>(0);
        }

        var lastStart = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % bucket.Ticks), TimeSpan.Zero);
        var from = lastStart - (bucket * (Buckets - 1));
        var starts = Enumerable.Range(0, Buckets).Select(i => from + (bucket * i)).ToList();

        async Task<double[]> Counts(string sql)
        {
            var values = new double[Buckets];
            foreach (var (i, _, n) in await Grouped(sql))
            {
                values[i] += n;
            }

            return values;
        }

        async Task<List<(int Bucket, string Key, long Count)>> Grouped(string sql)
        {
            var rows = new List<(int, string, long)>();
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter { Value = from });
            cmd.Parameters.Add(new NpgsqlParameter { Value = bucket });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var i = (int)r.GetInt64(0);
                if (i is >= 0 and < Buckets)
                {
                    rows.Add((i, r.IsDBNull(1) ? "" : r.GetString(1), r.GetInt64(2)));
                }
            }

            return rows;
        }

        // $1 = window start, $2 = bucket width; each query yields (bucket index, key, count).
        const string B = "floor(extract(epoch FROM ({0} - $1)) / extract(epoch FROM $2::interval))::bigint";
        string Idx(string column) => string.Format(System.Globalization.CultureInfo.InvariantCulture, B, column);

        var stored = await Counts($"SELECT {Idx("created_at")}, '', count(*) FROM images WHERE created_at >= $1 GROUP BY 1");
        var pages = await Counts($"SELECT {Idx("updated_at")}, '', count(*) FROM frontier WHERE kind <> 'photo' AND state = 'done' AND updated_at >= $1 GROUP BY 1");
        var embedded = await Counts($"SELECT {Idx("created_at")}, '', count(*) FROM embeddings WHERE created_at >= $1 GROUP BY 1");
        var verdictRows = await Grouped($"SELECT {Idx("curated_at")}, status::text, count(*) FROM images WHERE curated_at >= $1 GROUP BY 1, 2");
        var reasonRows = await Grouped($"""
            SELECT {Idx("i.curated_at")}, r->>'reason', count(*)
            FROM images i, jsonb_array_elements(COALESCE(i.reject_reasons, '[]'::jsonb)) r
            WHERE i.status = 'rejected' AND i.curated_at >= $1 GROUP BY 1, 2
            """);
        var frontierIn = await Counts($"SELECT {Idx("created_at")}, '', count(*) FROM frontier WHERE created_at >= $1 GROUP BY 1");
        var frontierOut = await Counts($"SELECT {Idx("updated_at")}, '', count(*) FROM frontier WHERE state IN ('done', 'failed') AND updated_at >= $1 GROUP BY 1");

        // The embed queue follows the model with the most vectors (the one operators run).
        long? model = null;
        await using (var m = new NpgsqlCommand("SELECT model_id FROM embeddings GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1", conn, tx))
        {
            model = await m.ExecuteScalarAsync(ct) is int id ? id : null;
        }

        var acceptedIn = await Counts($"SELECT {Idx("curated_at")}, '', count(*) FROM images WHERE status = 'accepted' AND curated_at >= $1 GROUP BY 1");
        var embedOut = model is null ? new double[Buckets] : await Counts($"""
            SELECT {Idx("e.created_at")}, '', count(*) FROM embeddings e JOIN images i ON i.id = e.image_id
            WHERE e.model_id = {model} AND i.status = 'accepted' AND e.created_at >= $1 GROUP BY 1
            """);

        // Depth at the window's start, then carried forward by what arrived and left in each bucket.
        long crawlStart = 0, curateStart = 0, embedStart = 0;
        await using (var cmd = new NpgsqlCommand($"""
            SELECT (SELECT count(*) FROM frontier WHERE created_at < $1 AND NOT (state IN ('done', 'failed') AND updated_at < $1)),
                   (SELECT count(*) FROM images WHERE created_at < $1 AND (curated_at IS NULL OR curated_at >= $1)),
                   (SELECT count(*) FROM images i WHERE i.status = 'accepted' AND i.curated_at < $1
                      AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = i.id AND e.model_id = {model ?? -1} AND e.created_at < $1))
            """, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = from });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            (crawlStart, curateStart, embedStart) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
        }

        await tx.CommitAsync(ct);

        var verdictNames = new[] { "accepted", "rejected", "duplicate" };
        var verdicts = verdictNames.Select(v => new Series(v, Sum(verdictRows.Where(x => x.Key == v)))).ToList();
        var curated = new double[Buckets];
        foreach (var (i, _, n) in verdictRows)
        {
            curated[i] += n;
        }

        var top = reasonRows.GroupBy(x => x.Key).OrderByDescending(g => g.Sum(x => x.Count)).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => g.Key).Take(TopReasons).ToList();
        var reasons = top.Select(k => new Series(k, Sum(reasonRows.Where(x => x.Key == k)))).ToList();
        var rest = reasonRows.Where(x => !top.Contains(x.Key)).ToList();
        if (rest.Count > 0)
        {
            reasons.Add(new Series("other", Sum(rest)));
        }

        return new SeriesSnapshot(
            from, bucket, starts,
            [new Series("pages visited", pages), new Series("photos stored", stored), new Series("curated", curated), new Series("embedded", embedded)],
            verdicts,
            reasons,
            [
                new Series("crawl frontier", Depth(crawlStart, frontierIn, frontierOut)),
                new Series("curate", Depth(curateStart, stored, curated)),
                new Series("embed", Depth(embedStart, acceptedIn, embedOut)),
            ]);
    }

    private static double[] Sum(IEnumerable<(int Bucket, string Key, long Count)> rows)
    {
        var values = new double[Buckets];
        foreach (var (i, _, n) in rows)
        {
            values[i] += n;
        }

        return values;
    }

    /// <summary>Queue depth at the end of each bucket: the depth before the window plus arrivals minus departures.</summary>
    internal static double[] Depth(long start, double[] arrived, double[] left)
    {
        var depth = new double[arrived.Length];
        double d = start;
        for (var i = 0; i < depth.Length; i++)
        {
            d = Math.Max(0, d + arrived[i] - left[i]);
            depth[i] = d;
        }

        return depth;
    }
}
