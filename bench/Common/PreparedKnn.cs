using System.Diagnostics;
using Npgsql;
using Pgvector;

namespace Harvester.Bench;

/// <summary>Recall@k and latency percentiles of one k-NN statement.</summary>
public sealed record KnnTiming(double Recall, double P50, double P95);

/// <summary>
/// Times a k-NN statement as a user's program sends it: one open connection, <c>hnsw.ef_search</c> and iterative scans
/// set once, the statement prepared, the query vector as its only parameter ($1). Five warm-up queries are not counted.
/// </summary>
public static class PreparedKnn
{
    /// <param name="sql">Returns image ids (bigint, first column) nearest first.</param>
    /// <param name="isExpected">Whether an id is among query i's true k nearest.</param>
    public static async Task<KnnTiming> MeasureAsync(
        NpgsqlDataSource dataSource, string sql, int efSearch, IReadOnlyList<float[]> queries, int k, Func<int, long, bool> isExpected)
    {
        await using var conn = await dataSource.OpenConnectionAsync();
        await using (var set = new NpgsqlCommand($"SET hnsw.ef_search = {efSearch}; SET hnsw.iterative_scan = relaxed_order", conn))
        {
            await set.ExecuteNonQueryAsync();
        }

        await using var cmd = new NpgsqlCommand(sql, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = new Vector(queries[0]) });
        await cmd.PrepareAsync();
        var times = new List<double>();
        double hits = 0;
        for (var j = -5; j < queries.Count; j++)
        {
            cmd.Parameters[0].Value = new Vector(queries[Math.Max(j, 0)]);
            var clock = Stopwatch.StartNew();
            var got = new List<long>();
            await using (var reader = await cmd.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    got.Add(reader.GetInt64(0));
                }
            }

            if (j >= 0)
            {
                times.Add(clock.Elapsed.TotalMilliseconds);
                hits += got.Count(id => isExpected(j, id));
            }
        }

        times.Sort();
        return new KnnTiming(hits / ((double)queries.Count * k), times[queries.Count / 2], times[(int)(queries.Count * 0.95)]);
    }
}
