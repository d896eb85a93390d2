using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using Harvester.Bench;
using Harvester.Core;
using Harvester.Data;
using Harvester.Embed;
using Harvester.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using OpenCvSharp;
using Pgvector;

// Embedding benchmarks, both models side by side in one run:
//   stage    the embed stage from JPEG blobs to stored vectors, beside its parts measured alone, and ML.NET's
//            DnnImageFeaturizer pipeline (ResNet18) on the same files and thread count, alternating with the stage;
//   copies   near-copy precision/recall per transform: pHash alone, embedding alone, combined;
//   content  nearest-neighbour precision@5 and k-means ARI against source-photo labels, with contact sheets;
//   knn      k-NN over 100,000 vectors in pgvector (HNSW) vs exact search and hnswlib-node.
// Usage: dotnet bench/Harvester.Bench.Embedding/bin/Release/net10.0/Harvester.Bench.Embedding.dll [stage|copies|content|knn|all]
//        [--images 160] [--reps 5] [--photos 400] [--vectors 100000] [--queries 200]
//        [--intra-op N] [--decode N] [--batch N] [--spinning]   (Inference:IntraOpThreads / DecodeParallelism / ModelBatch / AllowSpinning)
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var mode = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal) && !int.TryParse(a, out _)) ?? "all";
int Arg(string name, int fallback) => args.SkipWhile(a => a != name).Skip(1).Select(int.Parse).DefaultIfEmpty(fallback).First();
var imageCount = Arg("--images", 160);
var reps = Arg("--reps", 5);
var photoCount = Arg("--photos", 400);
var vectorCount = Arg("--vectors", 100_000);
var queryCount = Arg("--queries", 200);
var repoRoot = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
var overrides = new Dictionary<string, string?>();
if (args.Contains("--intra-op"))
{
    overrides["Inference:IntraOpThreads"] = Arg("--intra-op", 0).ToString(CultureInfo.InvariantCulture);
}

if (args.Contains("--decode"))
{
    overrides["Inference:DecodeParallelism"] = Arg("--decode", 0).ToString(CultureInfo.InvariantCulture);
}

if (args.Contains("--batch"))
{
    overrides["Inference:ModelBatch"] = Arg("--batch", 16).ToString(CultureInfo.InvariantCulture);
}

if (args.Contains("--spinning"))
{
    overrides["Inference:AllowSpinning"] = "true";
}

string[] models = [ResNet18Model.Name, GistModel.Name];
var fixture = new PostgresFixture();
await fixture.InitializeAsync();
try
{
    Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1 << 30)} GB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    if (mode is "stage" or "all")
    {
        foreach (var model in models)
        {
            await StageBenchmark(fixture, model, imageCount, reps, overrides, model == ResNet18Model.Name);
        }
    }

    if (mode is "copies" or "content" or "all")
    {
        await using var db = await fixture.CreateDatabaseAsync("bench_quality");
        await using var sp = Services(db, Path.Combine(fixture.StateRoot, "quality"), overrides);
        var host = sp.GetRequiredService<ModelHost>();
        var embedders = new Dictionary<string, Embedder>();
        foreach (var m in models)
        {
            embedders[m] = await host.GetAsync(m, CancellationToken.None);
        }

        if (mode is "copies" or "all")
        {
            Quality.Copies(embedders, photoCount);
        }

        if (mode is "content" or "all")
        {
            Quality.Content(embedders, photoCount, Path.Combine(repoRoot, "bench", "results"));
        }
    }

    if (mode is "knn" or "all")
    {
        await KnnBenchmark(fixture, vectorCount, queryCount, repoRoot);
    }

    Console.WriteLine($"load average at the end: {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
}
finally
{
    await fixture.DisposeAsync();
}

static ServiceProvider Services(HarvesterDatabase db, string root, Dictionary<string, string?>? overrides = null)
{
    var settings = new Dictionary<string, string?>
    {
        ["Storage:Root"] = root,
        ["Inference:ExecutionProvider"] = "cpu",
    };
    foreach (var (k, v) in overrides ?? [])
    {
        settings[k] = v;
    }

    var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
    var services = new ServiceCollection();
    services.AddLogging(b => b.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Warning).AddSimpleConsole());
    services.AddSingleton<IConfiguration>(configuration);
    services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section);
    services.AddSingleton<BlobStore>().AddSingleton<IBlobStore>(sp => sp.GetRequiredService<BlobStore>());
    services.AddSingleton(db);
    services.AddHarvesterEmbed(configuration);
    return services.BuildServiceProvider();
}

static List<byte[]> MakeJpegs(int count)
{
    string[] roots = ["/usr/share/backgrounds/mate/nature", "/usr/share/backgrounds/mate/abstract", "/usr/lib/python3/dist-packages/skimage/data"];
    var bases = new List<Mat>();
    foreach (var p in roots.Where(Directory.Exists).SelectMany(r => Directory.EnumerateFiles(r)).Where(p => p.EndsWith(".jpg", StringComparison.Ordinal) || p.EndsWith(".png", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
    {
        var m = Cv2.ImRead(p, ImreadModes.Color);
        if (m.Width < 300 || m.Height < 300)
        {
            m.Dispose();
            continue;
        }

        // Typical web photo size: longest side 1024.
        var s = 1024.0 / Math.Max(m.Width, m.Height);
        var r = new Mat();
        Cv2.Resize(m, r, new Size(0, 0), s, s, InterpolationFlags.Area);
        m.Dispose();
        bases.Add(r);
    }

    var list = new List<byte[]>(count);
    var seen = new HashSet<string>();
    for (var i = 0; list.Count < count; i++)
    {
        var b = bases[i % bases.Count];
        var shift = i / bases.Count;
        using var crop = new Mat(b, new Rect(shift % 20, shift % 13, b.Width - 20, b.Height - 13));
        var jpeg = crop.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 85 + i % 10));
        if (seen.Add(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(jpeg))))
        {
            list.Add(jpeg);
        }
    }

    foreach (var b in bases)
    {
        b.Dispose();
    }

    return list;
}

static async Task StageBenchmark(PostgresFixture fixture, string modelName, int n, int reps, Dictionary<string, string?> overrides, bool withPeer)
{
    var jpegs = MakeJpegs(n);
    await using var db = await fixture.CreateDatabaseAsync("bench_stage_" + modelName.Replace('-', '_'));
    var root = Path.Combine(fixture.StateRoot, "stage-" + modelName);
    await using var sp = Services(db, root, new Dictionary<string, string?>(overrides) { ["Inference:Model"] = modelName });
    var blobs = sp.GetRequiredService<BlobStore>();
    var ids = new List<long>();
    var shas = new List<string>();
    await using (var ctx = db.CreateDbContext())
    {
        foreach (var j in jpegs)
        {
            var sha = await blobs.PutAsync(j, CancellationToken.None);
            shas.Add(sha);
            ctx.Images.Add(new Harvester.Data.Entities.Image { Sha256 = sha, SourceUrl = "http://bench/" + sha, Status = ImageStatus.Accepted, ByteSize = j.Length });
        }

        await ctx.SaveChangesAsync();
        ids.AddRange(ctx.Images.Select(i => i.Id).OrderBy(i => i));
    }

    var service = sp.GetRequiredService<EmbedService>();
    var embedder = await sp.GetRequiredService<ModelHost>().GetAsync(modelName, CancellationToken.None);
    var options = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<InferenceOptions>>().Value;
    var registered = await sp.GetRequiredService<ModelRegistry>().EnsureAsync(embedder, CancellationToken.None);
    Console.WriteLine($"\n== Embed stage, {modelName} ({embedder.Dimension}-d): {n} JPEGs (longest side 1024, mean {jpegs.Average(j => j.Length) / 1024:F0} KB) ==");
    Console.WriteLine($"settings: IntraOpThreads {options.IntraOpThreads} (0 = one per core), DecodeParallelism {options.EffectiveDecodeParallelism}, AllowSpinning {options.AllowSpinning}, model batch {embedder.Batch} ({embedder.Provider}), ClaimBatch {options.ClaimBatch}");

    // ML.NET reads files: the very blob files the stage reads.
    MlNetPeer? peer = null;
    if (withPeer)
    {
        var list = Path.Combine(root, "files.txt");
        await File.WriteAllLinesAsync(list, shas.Select(blobs.PathFor));
        peer = await MlNetPeer.StartAsync(list, "dnn", Environment.ProcessorCount);
    }

    // Warm-up: full passes over every image until the JIT is quiet. Tiered compilation keeps promoting methods
    // (EF Core, Npgsql, the stage's own code) for a while after their first calls, and on 2 cores that background
    // compilation takes CPU from the measured work; a worker runs in the quiet state, so both the stage and its parts
    // are measured there. Stop when a pass compiles fewer than 20 methods (at most 8 passes).
    var warmups = 0;
    var jitBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
    while (warmups < 8)
    {
        await Exec(db, "DELETE FROM embeddings; DELETE FROM work_leases;");
        while ((await service.RunOnceAsync(modelName, options.ClaimBatch, CancellationToken.None)).Claimed > 0)
        {
        }

        await Task.Delay(300); // past the tiering delay (100 ms), so pending promotions are queued
        warmups++;
        var jitNow = System.Runtime.JitInfo.GetCompiledMethodCount();
        var grew = jitNow - jitBefore;
        jitBefore = jitNow;
        if (warmups > 1 && grew < 20)
        {
            break;
        }
    }

    Console.WriteLine($"warm-up: {warmups} full passes until a pass compiled fewer than 20 methods");

    // Stage, parts and the peer take turns, repetition by repetition, so all see the same machine state.
    var per = embedder.Manifest.ValuesPerImage;
    var stageRates = new List<double>();
    var splits = new List<(double Decode, double Infer, double Write)>();
    var decodeRates = new List<double>();
    var inferRates = new List<double>();
    var writeRates = new List<double>();
    var peerRates = new List<double>();
    var tensors = new float[n * per];
    for (var rep = 0; rep < reps; rep++)
    {
        await Exec(db, "DELETE FROM embeddings; DELETE FROM work_leases;");
        var sw = Stopwatch.StartNew();
        double dec = 0, inf = 0, wr = 0;
        while (true)
        {
            var r = await service.RunOnceAsync(modelName, options.ClaimBatch, CancellationToken.None);
            if (r.Claimed == 0)
            {
                break;
            }

            dec += r.ReadAndDecode.TotalSeconds;
            inf += r.Inference.TotalSeconds;
            wr += r.Write.TotalSeconds;
        }

        stageRates.Add(n / sw.Elapsed.TotalSeconds);
        splits.Add((dec, inf, wr));

        if (peer is not null)
        {
            peerRates.Add(await peer.PassAsync());
        }

        // Parts alone, same files, same threads.
        sw.Restart();
        await Parallel.ForAsync(0, n, new ParallelOptions { MaxDegreeOfParallelism = options.EffectiveDecodeParallelism }, async (i, ct) =>
        {
            var bytes = await blobs.ReadAsync(shas[i], ct);
            embedder.Preprocessor.Process(bytes, tensors.AsSpan(i * per, per));
        });
        decodeRates.Add(n / sw.Elapsed.TotalSeconds);

        sw.Restart();
        var vectors = new List<float[]>(n);
        for (var s = 0; s < n; s += embedder.Batch)
        {
            var c = Math.Min(embedder.Batch, n - s);
            vectors.AddRange(embedder.Run(tensors.AsMemory(s * per, c * per), c));
        }

        inferRates.Add(n / sw.Elapsed.TotalSeconds);

        await Exec(db, "DELETE FROM embeddings;");
        sw.Restart();
        for (var s = 0; s < n; s += options.ClaimBatch)
        {
            var c = Math.Min(options.ClaimBatch, n - s);
            await service.WriteAsync(registered, "bench", ids.Skip(s).Take(c).ToList(), vectors.Skip(s).Take(c).ToList(), CancellationToken.None);
        }

        writeRates.Add(n / sw.Elapsed.TotalSeconds);
    }

    if (peer is not null)
    {
        await peer.DisposeAsync();
    }

    static double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
    static string Runs(List<double> xs) => string.Join(", ", xs.Select(x => x.ToString("F1", CultureInfo.InvariantCulture)));
    var d = Median(decodeRates);
    var f = Median(inferRates);
    var w = Median(writeRates);
    var implied = 1 / (1 / d + 1 / f + 1 / w);
    var stage = Median(stageRates);
    var split = splits[stageRates.IndexOf(stage)];
    Console.WriteLine($"{"part (alone, median of " + reps + ")",-52} {"images/s",10} {"ms/image",9}   runs");
    Console.WriteLine($"{"read blob + decode + preprocess (" + options.EffectiveDecodeParallelism + " threads)",-52} {d,10:F1} {1000 / d,9:F2}   {Runs(decodeRates)}");
    Console.WriteLine($"{"InferenceSession.Run, batch " + embedder.Batch + " (pre-made tensors)",-52} {f,10:F1} {1000 / f,9:F2}   {Runs(inferRates)}");
    Console.WriteLine($"{"vector insert + lease completion (HNSW kept)",-52} {w,10:F1} {1000 / w,9:F2}   {Runs(writeRates)}");
    Console.WriteLine($"{"implied by the parts in sequence",-52} {implied,10:F1} {1000 / implied,9:F2}");
    Console.WriteLine($"{"embed stage end to end (median of " + reps + ")",-52} {stage,10:F1} {1000 / stage,9:F2}   {Runs(stageRates)}");
    if (peerRates.Count > 0)
    {
        var p = Median(peerRates);
        Console.WriteLine($"{"ML.NET 5.0.1 DnnFeaturizeImage(ResNet18), same files",-52} {p,10:F1} {1000 / p,9:F2}   {Runs(peerRates)}");
        var ratios = stageRates.Zip(peerRates, (a, b) => a / b).ToList();
        Console.WriteLine($"stage / ML.NET = {stage / p:F2} (goal >= 1.50; per-round ratios {string.Join(", ", ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))})");
    }

    Console.WriteLine($"stage / implied = {stage / implied:F2} (goal >= 0.80); stage's own split: decode {split.Decode:F2} s, inference {split.Infer:F2} s, write {split.Write:F2} s");
}

static async Task Exec(HarvesterDatabase db, string sql)
{
    await using var cmd = db.DataSource.CreateCommand(sql);
    cmd.CommandTimeout = 0;
    await cmd.ExecuteNonQueryAsync();
}

static async Task KnnBenchmark(PostgresFixture fixture, int n, int q, string repoRoot)
{
    const int dim = ResNet18Model.Dimension, k = 10, centres = 1000;
    Console.WriteLine($"\n== k-NN: {n} vectors x {dim}, {q} queries, k = {k} ==");
    var rng = new Random(42);
    float[] Gaussian()
    {
        var v = new float[dim];
        for (var i = 0; i < dim; i++)
        {
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        return v;
    }

    // Clustered synthetic data (1000 centres, noise of the same scale as the centre spread), unit length like the model's output.
    var centre = Enumerable.Range(0, centres).Select(_ => Gaussian()).ToArray();
    float[] Sample()
    {
        var v = Gaussian();
        TensorPrimitives.MultiplyAdd(v, 0.6f, centre[rng.Next(centres)], v);
        TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
        return v;
    }

    var data = new float[n][];
    for (var i = 0; i < n; i++)
    {
        data[i] = Sample();
    }

    var queries = Enumerable.Range(0, q).Select(_ => Sample()).ToArray();
    bool InFilter(int i) => i % 10 == 0;

    List<int> Exact(float[] query, bool filtered)
    {
        var best = new PriorityQueue<int, float>();
        for (var i = 0; i < n; i++)
        {
            if (filtered && !InFilter(i))
            {
                continue;
            }

            var sim = TensorPrimitives.Dot(query, data[i]);
            if (best.Count < k)
            {
                best.Enqueue(i, sim);
            }
            else if (best.TryPeek(out _, out var worst) && sim > worst)
            {
                best.DequeueEnqueue(i, sim);
            }
        }

        return best.UnorderedItems.Select(x => x.Element).ToList();
    }

    var sw = Stopwatch.StartNew();
    var truth = queries.Select(x => Exact(x, false)).ToArray();
    var truthFiltered = queries.Select(x => Exact(x, true)).ToArray();
    var exactMs = sw.Elapsed.TotalMilliseconds / (2 * q);

    await using var db = await fixture.CreateDatabaseAsync("bench_knn");
    await using var sp = Services(db, Path.Combine(fixture.StateRoot, "knn"));
    var options = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<InferenceOptions>>().Value;
    var model = await sp.GetRequiredService<ModelRegistry>().EnsureAsync(await sp.GetRequiredService<ModelHost>().GetAsync(ResNet18Model.Name, CancellationToken.None), CancellationToken.None);

    await Exec(db, $"DROP INDEX {model.IndexName}; INSERT INTO images (sha256, source_url, status, byte_size) SELECT md5(g::text) || md5(g::text), 'http://bench/' || g, 'accepted', 0 FROM generate_series(1, {n}) g");
    var ids = new long[n];
    await using (var cmd = db.DataSource.CreateCommand("SELECT id FROM images ORDER BY id"))
    await using (var r = await cmd.ExecuteReaderAsync())
    {
        var i = 0;
        while (await r.ReadAsync())
        {
            ids[i++] = r.GetInt64(0);
        }
    }

    var index = ids.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
    sw.Restart();
    await using (var conn = await db.DataSource.OpenConnectionAsync())
    {
        await using (var writer = await conn.BeginBinaryImportAsync("COPY embeddings (image_id, model_id, embedding) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < n; i++)
            {
                await writer.StartRowAsync();
                await writer.WriteAsync(ids[i]);
                await writer.WriteAsync(model.Id);
                await writer.WriteAsync(new Vector(data[i]));
            }

            await writer.CompleteAsync();
        }
    }

    var copySeconds = sw.Elapsed.TotalSeconds;
    await Exec(db, $"INSERT INTO clustering_runs (model_id, k, status) VALUES ({model.Id}, 10, 'completed')");
    await Exec(db, $"INSERT INTO cluster_assignments (run_id, image_id, cluster_index, distance) SELECT (SELECT max(id) FROM clustering_runs), id, 0, 0 FROM images WHERE (id - {ids[0]}) % 10 = 0");
    sw.Restart();
    await Exec(db, $"SET maintenance_work_mem = '2GB'; SET max_parallel_maintenance_workers = 1; " +
                   $"CREATE INDEX {model.IndexName} ON embeddings USING hnsw ((embedding::{model.Cast}) {model.OperatorClass}) WITH (m = {options.HnswM}, ef_construction = {options.HnswEfConstruction}) WHERE model_id = {model.Id}; ANALYZE");
    var buildSeconds = sw.Elapsed.TotalSeconds;
    long runId;
    await using (var cmd = db.DataSource.CreateCommand("SELECT max(id) FROM clustering_runs"))
    {
        runId = (long)(await cmd.ExecuteScalarAsync())!;
    }

    var search = sp.GetRequiredService<SimilarSearch>();
    async Task<(double Recall, double P50, double P95, double Qps, int Short, int Exact)> Measure(SearchFilter filter, List<int>[] expected)
    {
        await search.NearestToVectorAsync(queries[0], k, filter, model, null, CancellationToken.None);
        var lat = new List<double>();
        double hits = 0;
        int shortResults = 0, exactCount = 0;
        var total = Stopwatch.StartNew();
        for (var i = 0; i < q; i++)
        {
            var t = Stopwatch.StartNew();
            var res = await search.NearestToVectorAsync(queries[i], k, filter, model, null, CancellationToken.None);
            lat.Add(t.Elapsed.TotalMilliseconds);
            hits += res.Neighbours.Count(x => expected[i].Contains(index[x.ImageId]));
            shortResults += res.Neighbours.Count < k ? 1 : 0;
            exactCount += res.ExactFallback ? 1 : 0;
        }

        lat.Sort();
        return (hits / (q * k), lat[q / 2], lat[(int)(q * 0.95)], q / total.Elapsed.TotalSeconds, shortResults, exactCount);
    }

    // The same k-NN sent as users would type it, on one open connection with a prepared statement: what the program's
    // path is held against (goal: within 1.3x). Plain SQL and the harvester.nearest_to_vector function.
    Task<KnnTiming> MeasureRaw(string sql) => PreparedKnn.MeasureAsync(db.DataSource, sql, options.EfSearch, queries, k, (i, id) => truth[i].Contains(index[id]));

    var plain = await Measure(new SearchFilter(), truth);
    var filtered = await Measure(new SearchFilter { ClusterRunId = runId }, truthFiltered);
    var raw = await MeasureRaw($"SELECT image_id FROM embeddings WHERE model_id = {model.Id} ORDER BY embedding::{model.Cast} <=> $1::{model.Cast} LIMIT {k}");
    var function = await MeasureRaw($"SELECT image_id FROM harvester.nearest_to_vector($1, {k}, p_ef_search => {options.EfSearch})");

    // hnswlib-node on the same vectors, same M / ef_construction / ef.
    var dir = Path.Combine(fixture.StateRoot, "hnswlib");
    Directory.CreateDirectory(dir);
    await WriteF32(Path.Combine(dir, "data.f32"), data);
    await WriteF32(Path.Combine(dir, "queries.f32"), queries);
    await File.WriteAllTextAsync(Path.Combine(dir, "truth.json"), JsonSerializer.Serialize(new { truth, truthFiltered }));
    var script = Path.Combine(repoRoot, "bench/peers/embedding/knn.mjs");
    var psi = new ProcessStartInfo("node", [script, dir, dim.ToString(CultureInfo.InvariantCulture), options.HnswM.ToString(CultureInfo.InvariantCulture), options.HnswEfConstruction.ToString(CultureInfo.InvariantCulture), options.EfSearch.ToString(CultureInfo.InvariantCulture), k.ToString(CultureInfo.InvariantCulture)])
    {
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        WorkingDirectory = Path.GetDirectoryName(script)!,
    };
    using var node = Process.Start(psi)!;
    var peerOut = await node.StandardOutput.ReadToEndAsync();
    var peerErr = await node.StandardError.ReadToEndAsync();
    await node.WaitForExitAsync();

    Console.WriteLine($"load: COPY {n} vectors {copySeconds:F1} s; pgvector HNSW build (m={options.HnswM}, ef_construction={options.HnswEfConstruction}, 1 worker) {buildSeconds:F1} s; exact search in C# (brute force, 1 thread) {exactMs:F1} ms/query");
    Console.WriteLine($"{"engine",-46} {"recall@10",9} {"p50 ms",8} {"p95 ms",8} {"q/s",8} {"short",6} {"exact",6}");
    Console.WriteLine($"{"pgvector hnsw, ef_search=" + options.EfSearch + " (SimilarSearch, full path)",-46} {plain.Recall,9:F3} {plain.P50,8:F2} {plain.P95,8:F2} {plain.Qps,8:F0} {plain.Short,6} {plain.Exact,6}");
    Console.WriteLine($"{"  + 10% filter (iterative scan, relaxed)",-46} {filtered.Recall,9:F3} {filtered.P50,8:F2} {filtered.P95,8:F2} {filtered.Qps,8:F0} {filtered.Short,6} {filtered.Exact,6}");
    Console.WriteLine($"{"raw SQL, prepared, one open connection",-46} {raw.Recall,9:F3} {raw.P50,8:F2} {raw.P95,8:F2} {"-",8} {"-",6} {"-",6}");
    Console.WriteLine($"{"harvester.nearest_to_vector, prepared",-46} {function.Recall,9:F3} {function.P50,8:F2} {function.P95,8:F2} {"-",8} {"-",6} {"-",6}");
    Console.WriteLine($"SimilarSearch p95 / raw SQL p95 = {plain.P95 / raw.P95:F2}x (goal <= 1.3x); p50 {plain.P50 / raw.P50:F2}x");
    if (node.ExitCode == 0)
    {
        using var doc = JsonDocument.Parse(peerOut);
        var p = doc.RootElement;
        Console.WriteLine($"hnswlib-node build {p.GetProperty("buildSeconds").GetDouble():F1} s");
        foreach (var name in new[] { "plain", "filtered" })
        {
            var e = p.GetProperty(name);
            Console.WriteLine($"{"hnswlib-node, ef=" + options.EfSearch + (name == "filtered" ? " + 10% filter" : ""),-46} {e.GetProperty("recall").GetDouble(),9:F3} {e.GetProperty("p50").GetDouble(),8:F2} {e.GetProperty("p95").GetDouble(),8:F2} {e.GetProperty("qps").GetDouble(),8:F0} {e.GetProperty("short").GetInt32(),6} {"-",6}");
        }
    }
    else
    {
        Console.WriteLine($"hnswlib-node failed ({node.ExitCode}): {peerErr.Trim()}");
    }
}

static async Task WriteF32(string path, float[][] rows)
{
    await using var fs = File.Create(path);
    foreach (var r in rows)
    {
        await fs.WriteAsync(System.Runtime.InteropServices.MemoryMarshal.AsBytes(r.AsSpan()).ToArray());
    }
}
