// Scale: nearest-image search at a million images (issue 18). Synthetic but shaped like a crawl: N images with pHashes,
// places in neighbourhoods and sightings; 512-d unit vectors drawn around 2,000 centres (real embeddings cluster;
// uniform noise would be the unrealistic worst case for HNSW). One model's vectors carry two HNSW indexes built the
// same way: vector(512) (the model's own) and halfvec(512) beside it, so both answer the same queries.
// Measures: COPY load time, table and index sizes, HNSW build times (maintenance_work_mem, parallel workers), k-NN
// p50/p95 and recall@10 against an exact search (through harvester.nearest_to_vector, raw index-safe SQL, halfvec,
// halfvec re-ranked with full precision, and a 10 % neighbourhood filter), the exact pHash radius lookup p95, and a
// clustering run (ClusteringService, as the cluster command runs it) over every vector streamed from PostgreSQL under
// each memory budget given: time and the process's peak resident memory.
//
// Usage: dotnet bench/Harvester.Bench.Scale/bin/Release/net10.0/Harvester.Bench.Scale.dll [--images 1000000]
//        [--queries 200] [--centres 2000] [--maintenance-work-mem 6GB] [--parallel-workers 1]
//        [--kmeans-budgets 2048,512] (Clustering:MemoryBudgetMegabytes per run; "" for none) [--skip-knn]
//        [--skip-phash-hnsw] (leave out the pHash HNSW build, 5 min at 1M)
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Harvester.Bench;
using Harvester.Cluster;
using Harvester.Data;
using Harvester.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pgvector;

const int Dim = 512, K = 10;
var n = Arg("--images", 1_000_000);
var q = Arg("--queries", 200);
var centreCount = Arg("--centres", 2000);
var mwm = ArgText("--maintenance-work-mem", "6GB");
var parallel = Arg("--parallel-workers", 1);
var kmeansBudgets = (ArgText("--kmeans-budgets", "2048,512") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
    .Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray();
var skipKnn = Environment.GetCommandLineArgs().Contains("--skip-knn");
var skipPhashHnsw = Environment.GetCommandLineArgs().Contains("--skip-phash-hnsw");

var fixture = new PostgresFixture();
await fixture.InitializeAsync();
try
{
    await using var db = await fixture.CreateDatabaseAsync("bench_scale");
    Console.WriteLine($"Scale benchmark: {n:N0} images x {Dim}-d, {q} queries; machine {Environment.ProcessorCount} cores, " +
                      $"{GC.GetGCMemoryInfo().TotalAvailableMemoryBytes >> 30} GiB, {DateTime.UtcNow:yyyy-MM-dd}, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");

    // Vectors: centres, then each image a centre plus noise; queries are fresh draws of the same kind.
    var random = new Random(18);
    var centres = Enumerable.Range(0, centreCount).Select(_ => Unit(Gaussian(random, 1f))).ToArray();
    float[] Draw() => Unit(Add(centres[random.Next(centreCount)], Gaussian(random, 0.045f)));
    var data = new float[n][];
    for (var i = 0; i < n; i++)
    {
        data[i] = Draw();
    }

    var queries = Enumerable.Range(0, q).Select(_ => Draw()).ToArray();

    var (model, _) = await new ModelStore(db).RegisterAsync(new ModelRegistration("scale-model", "1", "bench", Dim, "vector", 16, 64), CancellationToken.None);
    await Exec(db, $"DROP INDEX {model.IndexName}");

    var table = new List<(string What, string Value)>();
    void Note((string What, string Value) row)
    {
        table.Add(row);
        Console.WriteLine($"  {row.What}: {row.Value}");
    }

    // A bulk load drops the pHash HNSW index and builds it once afterwards, as it would any index: inserted row by row
    // it held a first attempt of this load to about 450 rows/s by half a million images.
    await Exec(db, "DROP INDEX ix_images_phash_hnsw");
    var clock = Stopwatch.StartNew();
    await Exec(db, $"""
        INSERT INTO sites (key, adapter, base_url) VALUES ('scale-map', 'map', 'http://scale.test/');
        INSERT INTO places (site_id, external_id, name, category, neighbourhood)
        SELECT 1, 'p' || g, 'Place ' || g, (ARRAY['카페', '베이커리', '식당', '브런치'])[1 + g % 4], 'n' || (g % 10)
        FROM generate_series(1, 20000) g;
        """);
    await using (var conn = await db.DataSource.OpenConnectionAsync())
    {
        await using (var copy = await conn.BeginBinaryImportAsync("COPY images (sha256, byte_size, source_url, status, place_id, phash) FROM STDIN (FORMAT BINARY)"))
        {
            var bits = new byte[8];
            for (var i = 0; i < n; i++)
            {
                random.NextBytes(bits);
                await copy.StartRowAsync();
                await copy.WriteAsync(i.ToString("x64", CultureInfo.InvariantCulture));
                await copy.WriteAsync(100_000L);
                await copy.WriteAsync($"http://scale.test/photo/{i}.jpg");
                await copy.WriteAsync("accepted", NpgsqlTypes.NpgsqlDbType.Unknown);
                await copy.WriteAsync((long)(1 + i % 20000));
                await copy.WriteAsync(new System.Collections.BitArray(bits), NpgsqlTypes.NpgsqlDbType.Bit);
            }

            await copy.CompleteAsync();
        }

        await Exec(db, "INSERT INTO image_sightings (image_id, site_id, place_id, source_url) SELECT id, 1, place_id, source_url FROM images");
        var imagesSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        await using (var copy = await conn.BeginBinaryImportAsync("COPY embeddings (image_id, model_id, embedding) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < n; i++)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync((long)(i + 1));
                await copy.WriteAsync(model.Id);
                await copy.WriteAsync(new Vector(data[i]));
            }

            await copy.CompleteAsync();
        }

        Note(("load: images + sightings (COPY, INSERT SELECT)", $"{imagesSeconds:F0} s"));
        Console.WriteLine($"loaded {n:N0} images, sightings and vectors");
        Note(("load: vectors (COPY)", $"{clock.Elapsed.TotalSeconds:F0} s ({n / clock.Elapsed.TotalSeconds:N0} rows/s)"));
    }

    await Exec(db, "VACUUM ANALYZE");
    if (!skipKnn)
    {
        await SearchAsync();
    }

    // Clustering as the cluster command runs it (k chosen by the sweep, as configured by default), over every vector,
    // streamed from PostgreSQL; the exact-search copy of the vectors is dropped first so the peak is the run's own.
    data = null!;
    GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    foreach (var budget in kmeansBudgets)
    {
        var settingsFor = new Dictionary<string, string?>
        {
            ["Storage:Root"] = Path.Combine(fixture.StateRoot, "scale-kmeans"),
            ["Clustering:WriteGalleries"] = "false",
            ["Clustering:MemoryBudgetMegabytes"] = budget.ToString(CultureInfo.InvariantCulture),
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settingsFor).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddOptions<Harvester.Core.StorageOptions>().BindConfiguration(Harvester.Core.StorageOptions.Section);
        services.AddSingleton<BlobStore>().AddSingleton<IBlobStore>(sp => sp.GetRequiredService<BlobStore>());
        services.AddSingleton(db);
        services.AddHarvesterCluster(configuration);
        await using var sp = services.BuildServiceProvider();
        var baseline = ProcStatusMiB("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM, the peak resident set, to the current size
        var sw = Stopwatch.StartNew();
        var run = await sp.GetRequiredService<ClusteringService>().RunAsync(new ClusterRequest { WarmStart = false, WriteGallery = false }, CancellationToken.None);
        Note(($"clustering {run.Images:N0} vectors streamed from PostgreSQL (k by the sweep, as configured), Clustering:MemoryBudgetMegabytes {budget}",
            $"{sw.Elapsed.TotalSeconds:F0} s, k = {run.K}, {run.Iterations} iterations; peak resident {ProcStatusMiB("VmHWM"):N0} MiB (before the run {baseline:N0} MiB)"));
        Console.WriteLine($"    sizes: {run.Sizes.Length} clusters, largest {run.Sizes.Max():N0}, smallest {run.Sizes.Min():N0}");
    }

    async Task SearchAsync()
    {
        var settings = $"SET maintenance_work_mem = '{mwm}'; SET max_parallel_maintenance_workers = {parallel};";
        clock.Restart();
        if (!skipPhashHnsw)
        {
            await Exec(db, $"{settings} CREATE INDEX ix_images_phash_hnsw ON images USING hnsw (phash bit_hamming_ops)");
            Note(($"HNSW build, pHash bit(64) bit_hamming_ops (the report's near-miss probes), maintenance_work_mem {mwm}", $"{clock.Elapsed.TotalSeconds:F0} s"));
        }

        clock.Restart();
        await Exec(db, $"{settings} CREATE INDEX {model.IndexName} ON embeddings USING hnsw ((embedding::vector({Dim})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE model_id = {model.Id}");
        Note(($"HNSW build, vector({Dim}), m 16, ef_construction 64, maintenance_work_mem {mwm}, {parallel} parallel worker(s)", $"{clock.Elapsed.TotalSeconds:F0} s"));
        clock.Restart();
        await Exec(db, $"{settings} CREATE INDEX ix_scale_halfvec ON embeddings USING hnsw ((embedding::halfvec({Dim})) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE model_id = {model.Id}");
        Note(($"HNSW build, halfvec({Dim}), same settings", $"{clock.Elapsed.TotalSeconds:F0} s"));
        await Exec(db, "ANALYZE");

        foreach (var (what, rel) in new[] { ("table embeddings (heap + TOAST)", "embeddings"), ("table images", "images"), ($"index vector({Dim})", model.IndexName), ($"index halfvec({Dim})", "ix_scale_halfvec"), ("pHash chunk indexes (4)", "ix_images_phash_chunk%"), ("pHash HNSW index", "ix_images_phash_hnsw") }.Where(r => !skipPhashHnsw || r.Item2 != "ix_images_phash_hnsw"))
        {
            var bytes = await Scalar<long>(db, rel.EndsWith('%')
                ? $"SELECT sum(pg_relation_size(indexrelid)) FROM pg_index WHERE indexrelid::regclass::text LIKE '{rel}'"
                : $"SELECT pg_total_relation_size('{rel}')");
            Note(("size: " + what, $"{bytes / 1048576.0:N0} MiB"));
        }

        // Exact answers: brute force over every vector (and over the 10 % of images in neighbourhood n3).
        clock.Restart();
        var truth = new HashSet<long>[q];
        var truthFiltered = new HashSet<long>[q];
        Parallel.For(0, q, j =>
        {
            var all = new PriorityQueue<long, float>();
            var filtered = new PriorityQueue<long, float>();
            for (var i = 0; i < n; i++)
            {
                var sim = TensorPrimitives.Dot(queries[j], data[i]);
                Push(all, i + 1, sim);
                if (((i % 20000) + 1) % 10 == 3) // image i+1 is at place 1 + i % 20000, in neighbourhood 'n' || (place % 10)
                {
                    Push(filtered, i + 1, sim);
                }
            }

            truth[j] = all.UnorderedItems.Select(x => x.Element).ToHashSet();
            truthFiltered[j] = filtered.UnorderedItems.Select(x => x.Element).ToHashSet();
        });
        Console.WriteLine($"exact search: {clock.Elapsed.TotalMilliseconds / q:F0} ms/query (C#, {Environment.ProcessorCount} threads)");

        Console.WriteLine();
        foreach (var (what, value) in table)
        {
            Console.WriteLine($"{what}: {value}");
        }

        Console.WriteLine();
        Console.WriteLine("| query path | ef_search | recall@10 | p50 ms | p95 ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        var vectorSql = $"SELECT image_id FROM embeddings WHERE model_id = {model.Id} ORDER BY embedding::vector({Dim}) <=> $1 LIMIT {K}";
        var halfSql = $"SELECT image_id FROM embeddings WHERE model_id = {model.Id} ORDER BY embedding::halfvec({Dim}) <=> $1::halfvec({Dim}) LIMIT {K}";
        var rerankSql = $"""
            SELECT image_id FROM (SELECT image_id, embedding FROM embeddings WHERE model_id = {model.Id}
                                  ORDER BY embedding::halfvec({Dim}) <=> $1::halfvec({Dim}) LIMIT {4 * K}) c
            ORDER BY embedding::vector({Dim}) <=> $1 LIMIT {K}
            """;
        // Every index read once before anything is timed: the first path measured must not pay for a cold cache.
        await PreparedKnn.MeasureAsync(db.DataSource, vectorSql, 100, queries, K, (_, _) => false);
        await PreparedKnn.MeasureAsync(db.DataSource, halfSql, 100, queries, K, (_, _) => false);
        await PrintFilteredPlanAsync();
        foreach (var ef in new[] { 40, 100, 200, 400 })
        {
            await Measure("harvester.nearest_to_vector (function)", ef, $"SELECT image_id FROM harvester.nearest_to_vector($1, {K}, p_ef_search => {ef})", truth);
            await Measure("raw SQL, vector (prepared, one round trip)", ef, vectorSql, truth);
            await Measure("raw SQL, halfvec", ef, halfSql, truth);
            await Measure($"halfvec top {4 * K} re-ranked with full vectors", ef, rerankSql, truth);
            await Measure("function, 10 % filter (neighbourhood, iterative scan)", ef, $"SELECT image_id FROM harvester.nearest_to_vector($1, {K}, p_neighbourhood => 'n3', p_ef_search => {ef})", truthFiltered);
        }

        // pHash: every hash within 6 bits of a stored one, exactly, through the chunk indexes (the curate stage's lookup).
        var lat = new List<double>();
        await using (var conn = await db.DataSource.OpenConnectionAsync())
        {
            for (var j = 0; j < q; j++)
            {
                await using var cmd = new NpgsqlCommand("""
                    WITH h AS (SELECT * FROM images WHERE id = $1)
                    SELECT i.id FROM images i, h WHERE (i.phash_chunk0 = h.phash_chunk0 OR i.phash_chunk1 = h.phash_chunk1
                       OR i.phash_chunk2 = h.phash_chunk2 OR i.phash_chunk3 = h.phash_chunk3) AND i.phash <~> h.phash <= 6
                    """, conn);
                cmd.Parameters.AddWithValue((long)(1 + (j * 4999L % n)));
                var t = Stopwatch.StartNew();
                await using (var r = await cmd.ExecuteReaderAsync())
                {
                    while (await r.ReadAsync())
                    {
                    }
                }

                lat.Add(t.Elapsed.TotalMilliseconds);
            }
        }

        lat.Sort();
        Console.WriteLine();
        Console.WriteLine($"pHash exact radius-6 lookup: p50 {lat[q / 2]:F2} ms, p95 {lat[(int)(q * 0.95)]:F2} ms");

        // The plan of the filtered function's statement (harvester.nearest_sql, run with the values as the function's
        // EXECUTE does), so a slow filter can be told apart from a slow graph search.
        async Task PrintFilteredPlanAsync()
        {
            var statement = await Scalar<string>(db, $"SELECT harvester.nearest_sql({model.Id}, {Dim}, 'vector')");
            string[] values = [$"'{new Vector(queries[0])}'", "10", "NULL::bigint", "NULL::text", "NULL::text", "'n3'", "NULL::bigint", "NULL::bigint", "NULL::bigint", "NULL::int", "false"];
            for (var i = values.Length; i >= 1; i--)
            {
                statement = statement.Replace("$" + i.ToString(CultureInfo.InvariantCulture), values[i - 1], StringComparison.Ordinal);
            }

            await using var conn = await db.DataSource.OpenConnectionAsync();
            await using var explain = new NpgsqlCommand(
                $"SET hnsw.ef_search = 100; SET hnsw.iterative_scan = relaxed_order; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {statement}", conn);
            Console.WriteLine("plan of the 10 % filter query (ef_search 100):");
            await using var reader = await explain.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                Console.WriteLine("    " + reader.GetString(0));
            }
        }

        async Task Measure(string name, int ef, string sql, HashSet<long>[] expected)
        {
            var m = await PreparedKnn.MeasureAsync(db.DataSource, sql, ef, queries, K, (j, id) => expected[j].Contains(id));
            Console.WriteLine($"| {name} | {ef} | {m.Recall:F3} | {m.P50:F2} | {m.P95:F2} |");
        }
    }

    Console.WriteLine();
    foreach (var (what, value) in table)
    {
        Console.WriteLine($"{what}: {value}");
    }
}
finally
{
    await fixture.DisposeAsync();
}

return 0;

static double ProcStatusMiB(string key) =>
    File.ReadLines("/proc/self/status").Where(l => l.StartsWith(key + ":", StringComparison.Ordinal))
        .Select(l => double.Parse(l.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024).First();


static void Push(PriorityQueue<long, float> top, long id, float sim)
{
    if (top.Count < K)
    {
        top.Enqueue(id, sim);
    }
    else if (top.TryPeek(out _, out var least) && sim > least)
    {
        top.DequeueEnqueue(id, sim);
    }
}

static float[] Gaussian(Random r, float sigma)
{
    var v = new float[Dim];
    for (var i = 0; i < Dim; i++)
    {
        v[i] = sigma * (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()));
    }

    return v;
}

static float[] Add(float[] a, float[] b)
{
    var v = new float[a.Length];
    TensorPrimitives.Add(a, b, v);
    return v;
}

static float[] Unit(float[] v)
{
    TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
    return v;
}

static async Task Exec(HarvesterDatabase db, string sql)
{
    await using var conn = await db.DataSource.OpenConnectionAsync();
    await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
    await cmd.ExecuteNonQueryAsync();
}

static async Task<T> Scalar<T>(HarvesterDatabase db, string sql)
{
    await using var cmd = db.DataSource.CreateCommand(sql);
    return (T)Convert.ChangeType((await cmd.ExecuteScalarAsync())!, typeof(T), CultureInfo.InvariantCulture);
}

static int Arg(string name, int fallback) => ArgText(name, null) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

static string? ArgText(string name, string? fallback)
{
    var a = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(a, name);
    return i >= 0 && i + 1 < a.Length ? a[i + 1] : fallback;
}
