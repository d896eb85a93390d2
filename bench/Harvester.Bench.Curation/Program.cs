using Harvester.Curate;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Harvester.Data;
using Harvester.Imaging;
using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using Npgsql;
using NpgsqlTypes;
using OpenCvSharp;

// Curation benchmarks: near-duplicate precision/recall per Hamming radius and transform, throughput against
// sharp-phash on the same files, and the pgvector Hamming lookup at 1M hashes.
//   dotnet run -c Release --project bench/Harvester.Bench.Curation -- dedupe [--copies N] [--hash-only] | throughput [--text-sizes 640,480,384,320] [--profile P] [--stage-only] | textbatch | lookup | all
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var mode = args.FirstOrDefault() ?? "all";
int Arg(string name, int fallback) => args.SkipWhile(a => a != name).Skip(1).Select(int.Parse).DefaultIfEmpty(fallback).First();
var modelsRoot = Environment.GetEnvironmentVariable("HARVESTER_MODELS_DIR") is { Length: > 0 } m ? m : Path.Combine(RepoRoot(), ".harvester", "models");

var outDir = Path.Combine(RepoRoot(), "bench", "out", "curation");
Directory.CreateDirectory(outDir);
if (mode is "dedupe" or "all")
{
    await Dedupe.RunAsync(outDir, Arg("--copies", 1), !args.Contains("--hash-only"));
}

if (mode is "throughput" or "all")
{
    var sizes = args.SkipWhile(a => a != "--text-sizes").Skip(1).Select(a => a.Split(',').Select(int.Parse).ToArray()).DefaultIfEmpty([640, 480, 384, 320]).First();
    Throughput.Run(outDir, RepoRoot(), modelsRoot, Arg("--images", 300), Arg("--runs", 3), [.. sizes.Append(640).Distinct()], args.SkipWhile(a => a != "--profile").Skip(1).DefaultIfEmpty("place-interior").First(), args.Contains("--stage-only"));
}

if (mode is "textbatch")
{
    TextBatching.Run(modelsRoot, Arg("--images", 120), Arg("--runs", 3), [640, 320], [1, 4, 8]);
}

if (mode is "lookup" or "all")
{
    await LookupAsync(Arg("--rows", 1_000_000), Arg("--queries", 1000), !args.Contains("--skip-hnsw"));
}

return 0;

static string RepoRoot() => Harvester.Testing.RepoRoot.Path;



static async Task LookupAsync(int rows, int queries, bool hnsw)
{
    var fixture = new PostgresFixture();
    await fixture.InitializeAsync();
    try
    {
        await using var db = await fixture.CreateDatabaseAsync("bench");
        var ds = db.DataSource;
        var random = new Random(42);
        var stored = new ulong[rows];
        var sw = Stopwatch.StartNew();
        await using (var conn = await ds.OpenConnectionAsync())
        {
            // Load without the indexes, then build them once (as a bulk import would).
            await Exec(conn, "DROP INDEX ix_images_phash_hnsw, ix_images_phash_chunk0, ix_images_phash_chunk1, ix_images_phash_chunk2, ix_images_phash_chunk3");
            await using (var copy = await conn.BeginBinaryImportAsync("COPY images (sha256, byte_size, source_url, status, phash, hash_version) FROM STDIN (FORMAT BINARY)"))
            {
                for (var i = 0; i < rows; i++)
                {
                    stored[i] = (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63);
                    await copy.StartRowAsync();
                    await copy.WriteAsync(i.ToString("x64", CultureInfo.InvariantCulture), NpgsqlDbType.Char);
                    await copy.WriteAsync(1000L, NpgsqlDbType.Bigint);
                    await copy.WriteAsync("https://example.test/" + i.ToString(CultureInfo.InvariantCulture), NpgsqlDbType.Text);
                    await copy.WriteAsync("accepted", NpgsqlDbType.Text);
                    await copy.WriteAsync(PerceptualHash.ToBits(stored[i]), NpgsqlDbType.Bit);
                    await copy.WriteAsync((short)PerceptualHash.Recipe, NpgsqlDbType.Smallint);
                }

                await copy.CompleteAsync();
            }

            var loaded = sw.Elapsed.TotalSeconds;
            await Exec(conn, "SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = 1");
            sw.Restart();
            for (var c = 0; c < HashChunks.Count; c++)
            {
                await Exec(conn, $"CREATE INDEX ix_images_phash_chunk{c} ON images (phash_chunk{c}) INCLUDE (phash, id)");
            }

            var chunks = sw.Elapsed.TotalSeconds;
            var built = 0.0;
            if (hnsw)
            {
                sw.Restart();
                await Exec(conn, "CREATE INDEX ix_images_phash_hnsw ON images USING hnsw (phash bit_hamming_ops)");
                built = sw.Elapsed.TotalSeconds;
            }

            await Exec(conn, "VACUUM ANALYZE images");
            Console.WriteLine($"\n## Hamming lookup at {rows:N0} stored hashes (COPY {loaded:F1} s, 4 chunk indexes {chunks:F1} s, HNSW build {(hnsw ? built.ToString("F1", CultureInfo.InvariantCulture) + " s" : "skipped")})\n");
        }

        Console.WriteLine("| lookup | p50 ms | p95 ms | p99 ms | planted copy (d<=6) found | mean rows returned |");
        Console.WriteLine("|---|---|---|---|---|---|");

        // Each query is a stored hash with 1-6 bits flipped: a near-duplicate arriving at ingest.
        (ulong Query, ulong Target)[] MakeQueries(int seed)
        {
            var rng = new Random(seed);
            var list = new (ulong, ulong)[queries];
            for (var q = 0; q < queries; q++)
            {
                var target = stored[rng.Next(rows)];
                var query = target;
                for (var f = rng.Next(1, 7); f > 0; f--)
                {
                    query ^= 1UL << rng.Next(64);
                }

                list[q] = (query, target);
            }

            return list;
        }

        async Task Measure(string name, NpgsqlConnection conn, int seed, Func<ulong, Task<List<CurateStore.Neighbour>>> lookup)
        {
            var times = new List<double>();
            var found = 0;
            long returned = 0;
            foreach (var (query, target) in MakeQueries(seed))
            {
                var t = Stopwatch.GetTimestamp();
                var near = await lookup(query);
                times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                returned += near.Count;
                if (near.Any(n => n.Distance <= PerceptualHash.Hamming(query, target)))
                {
                    found++;
                }
            }

            times.Sort();
            Console.WriteLine($"| {name} | {times[times.Count / 2]:F2} | {times[(int)(times.Count * 0.95)]:F2} | {times[(int)(times.Count * 0.99)]:F2} | {(double)found / queries:P1} | {(double)returned / queries:F1} |");
        }

        await using (var conn = await ds.OpenConnectionAsync())
        {
            // The curate stage's lookup: exact, everything within the radius (k = 10 nearest of them).
            await Measure("warm-up (exact, radius 6; not a result)", conn, 1, q => CurateStore.WithinRadiusAsync(conn, null, q, 6, 10, -1, CancellationToken.None));
            foreach (var radius in new[] { 6, 8, 11 })
            {
                await Measure($"exact, chunk indexes, radius {radius}", conn, 100 + radius, q => CurateStore.WithinRadiusAsync(conn, null, q, radius, 10, -1, CancellationToken.None));
            }
        }

        if (hnsw)
        {
            foreach (var ef in new[] { 40, 64, 100 })
            {
                await using var conn = await ds.OpenConnectionAsync();
                await Exec(conn, $"SET hnsw.ef_search = {ef}; SET hnsw.iterative_scan = relaxed_order");
                await Measure($"HNSW k-NN, k 10, ef_search {ef}", conn, 200 + ef, q => CurateStore.NearestAsync(conn, null, q, 10, -1, CancellationToken.None));
            }
        }
    }
    finally
    {
        await fixture.DisposeAsync();
    }
}

static async Task Exec(NpgsqlConnection conn, string sql)
{
    await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
    await cmd.ExecuteNonQueryAsync();
}
