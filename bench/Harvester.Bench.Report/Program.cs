// Report benchmark: `harvester report` over a database of N images (default 10,000) shaped like a crawl's: real corpus
// photos re-encoded into distinct JPEG blobs, a tenth rejected with measured reasons, a tenth in duplicate groups, all
// accepted images with 512-d vectors and a 50-cluster run. Times the first report (thumbnails made) and the next ones
// (thumbnails cached). Goal (issue 16): under a minute at 10,000 images.
//
// Usage: dotnet bench/Harvester.Bench.Report/bin/Release/net10.0/Harvester.Bench.Report.dll [--images 10000] [--runs 3]
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Harvester.App.Report;
using Harvester.Core;
using Harvester.Data;
using Harvester.DemoSite.Corpus;
using Harvester.Testing;
using Npgsql;
using OpenCvSharp;
using Pgvector;

var n = Arg("--images", 10_000);
var runs = Arg("--runs", 3);
var fixture = new PostgresFixture();
await fixture.InitializeAsync();
try
{
    await using var db = await fixture.CreateDatabaseAsync("bench_report");
    var storage = new StorageOptions { Root = Path.Combine(fixture.StateRoot, "report-bench") };
    var blobs = new BlobStore(Microsoft.Extensions.Options.Options.Create(storage));

    Console.WriteLine($"Report benchmark: {n} images; machine {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    var seed = Stopwatch.StartNew();
    var photos = PhotoCorpus.All();
    var shas = new string[n];
    var sizes = new int[n];
    // Distinct blobs from real photos: each corpus tile at a few sizes and JPEG qualities, so no two share a SHA-256.
    await Parallel.ForAsync(0, n, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, async (i, ct) =>
    {
        var photo = photos[i % photos.Count];
        var variant = i / photos.Count;
        var bytes = PhotoCorpus.RenderJpeg(photo, maxSide: 480 + (variant % 40) * 4, quality: 70 + (variant / 40 % 25));
        shas[i] = await blobs.PutAsync(bytes, ct);
        sizes[i] = bytes.Length;
    });

    await using (var conn = await db.DataSource.OpenConnectionAsync())
    {
        await using (var setup = new NpgsqlCommand("""
            INSERT INTO sites (key, adapter, base_url) VALUES ('demo-map', 'map', 'http://demo.test/');
            INSERT INTO places (site_id, external_id, name, category, neighbourhood)
            SELECT 1, 'p' || g, 'Place ' || g, (ARRAY['카페', '베이커리', '식당', '브런치'])[1 + g % 4], (ARRAY['망원동', '연남동', '성수동'])[1 + g % 3]
            FROM generate_series(1, 500) g;
            """, conn))
        {
            await setup.ExecuteNonQueryAsync();
        }

        await using (var copy = await conn.BeginBinaryImportAsync("COPY images (sha256, byte_size, source_url, status, place_id, width, height, format, reject_reasons, scores) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < n; i++)
            {
                var status = i % 10 == 3 ? "rejected" : i % 10 == 7 ? "duplicate" : "accepted";
                await copy.StartRowAsync();
                await copy.WriteAsync(shas[i]);
                await copy.WriteAsync((long)sizes[i]);
                await copy.WriteAsync($"http://demo.test/photo/{i}.jpg");
                await copy.WriteAsync(status, NpgsqlTypes.NpgsqlDbType.Unknown);
                await copy.WriteAsync((long)(1 + i % 500));
                await copy.WriteAsync(480);
                await copy.WriteAsync(360);
                await copy.WriteAsync("jpeg");
                var reason = (i / 10 % 4) switch { 0 => ("blurry", "sharpness", 12.5, 40.0), 1 => ("too_small", "min_side", 180.0, 256.0), 2 => ("text_heavy", "text_area", 0.41, 0.25), _ => ("face", "faces", 2.0, 0.0) };
                await copy.WriteAsync(status == "rejected" ? $$"""[{"reason":"{{reason.Item1}}","score":{{reason.Item3.ToString(CultureInfo.InvariantCulture)}},"threshold":{{reason.Item4.ToString(CultureInfo.InvariantCulture)}}}]""" : (object)DBNull.Value, NpgsqlTypes.NpgsqlDbType.Jsonb);
                await copy.WriteAsync($$"""{"sharpness":{{(40 + i % 200).ToString(CultureInfo.InvariantCulture)}}}""", NpgsqlTypes.NpgsqlDbType.Jsonb);
            }

            await copy.CompleteAsync();
        }

        await using (var rest = new NpgsqlCommand("""
            INSERT INTO image_sightings (image_id, site_id, place_id, source_url) SELECT id, 1, place_id, source_url FROM images;
            UPDATE images SET phash = ((floor(random() * 4294967296)::bigint << 32) | floor(random() * 4294967296)::bigint)::bit(64);
            -- Duplicate groups of three: each duplicate with the accepted image before it as the kept one.
            INSERT INTO duplicate_groups (kind, kept_image_id, size, keep_reason)
            SELECT 'perceptual_hash', id - 1, 2, 'larger resolution' FROM images WHERE status = 'duplicate';
            UPDATE images i SET duplicate_group_id = g.id, duplicate_of_id = g.kept_image_id FROM duplicate_groups g WHERE g.kept_image_id = i.id - 1 AND i.status = 'duplicate';
            UPDATE images i SET duplicate_group_id = g.id FROM duplicate_groups g WHERE g.kept_image_id = i.id;
            """, conn))
        {
            await rest.ExecuteNonQueryAsync();
        }

        var (model, _) = await new ModelStore(db).RegisterAsync(new ModelRegistration("resnet18-imagenet", "1", "bench", 512, "vector", 16, 64), CancellationToken.None);
        var accepted = new List<long>();
        await using (var ids = new NpgsqlCommand("SELECT id FROM images WHERE status = 'accepted' ORDER BY id", conn))
        await using (var r = await ids.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                accepted.Add(r.GetInt64(0));
            }
        }

        var random = new Random(7);
        const int k = 50;
        var centroids = Enumerable.Range(0, k).Select(_ => Unit(Enumerable.Range(0, 512).Select(_ => (float)random.NextDouble() - 0.5f).ToArray())).ToArray();
        await using (var copy = await conn.BeginBinaryImportAsync("COPY embeddings (image_id, model_id, embedding) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var (id, i) in accepted.Select((id, i) => (id, i)))
            {
                var v = centroids[i % k].Select(c => c + ((float)random.NextDouble() - 0.5f) * 0.05f).ToArray();
                await copy.StartRowAsync();
                await copy.WriteAsync(id);
                await copy.WriteAsync(model.Id);
                await copy.WriteAsync(new Vector(Unit(v)));
            }

            await copy.CompleteAsync();
        }

        await using (var clusters = new NpgsqlCommand($"""
            INSERT INTO clustering_runs (model_id, k, status, parameters, metrics, started_at, finished_at)
            VALUES ({model.Id}, {k}, 'completed', jsonb_build_object('method', 'kmeans'), jsonb_build_object('images', {accepted.Count}), now(), now());
            INSERT INTO cluster_assignments (run_id, image_id, cluster_index, distance)
            SELECT (SELECT max(id) FROM clustering_runs), id, (row_number() OVER (ORDER BY id) - 1)::int % {k}, random() * 0.1 FROM images WHERE status = 'accepted';
            INSERT INTO cluster_centroids (run_id, cluster_index, centroid, size)
            SELECT a.run_id, a.cluster_index, (SELECT avg(e.embedding) FROM embeddings e JOIN cluster_assignments b ON b.image_id = e.image_id WHERE b.run_id = a.run_id AND b.cluster_index = a.cluster_index), count(*)
            FROM cluster_assignments a GROUP BY a.run_id, a.cluster_index;
            ANALYZE;
            """, conn))
        {
            await clusters.ExecuteNonQueryAsync();
        }
    }

    Console.WriteLine($"seeded in {seed.Elapsed.TotalSeconds:F0} s (blobs, rows, vectors, a clustering run)");
    var output = Path.Combine(fixture.StateRoot, "report-out");
    var settings = new ReportWriter.Settings(output, storage.ResolveOutputRoot(), 6, null, null, null);
    Console.WriteLine();
    Console.WriteLine("| run | seconds | thumbnails | new thumbnails | page MB |");
    Console.WriteLine("|---|---:|---:|---:|---:|");
    for (var r = 0; r < runs; r++)
    {
        var clock = Stopwatch.StartNew();
        var result = await new ReportWriter(db, blobs).WriteAsync(settings, CancellationToken.None);
        var seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"| {(r == 0 ? "first (thumbnails made)" : "again (thumbnails cached)")} | {seconds:F1} | {result.Thumbnails} | {result.NewThumbnails} | {new FileInfo(result.Path).Length / 1048576.0:F2} |");
    }
}
finally
{
    await fixture.DisposeAsync();
}

return 0;

static float[] Unit(float[] v)
{
    TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
    return v;
}

int Arg(string name, int fallback)
{
    var a = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(a, name);
    return i >= 0 && i + 1 < a.Length ? int.Parse(a[i + 1], CultureInfo.InvariantCulture) : fallback;
}
