// Soak: several real `harvester worker` processes (crawl + curate + embed) on one embedded PostgreSQL, crawling the demo
// site on a one-minute schedule, while PostgreSQL is restarted (fast shutdown) and a worker is killed with SIGKILL in
// turn every few minutes (a service manager's restart is played by starting a replacement at once). Afterwards the
// workers drain and the database is audited: lost photos, duplicated rows or jobs, stuck items, and how long each
// recovery took. Not a test: it runs for minutes and its figures go to bench/results/soak.md.
//
// Usage: dotnet bench/Harvester.Bench.Soak/bin/Release/net10.0/Harvester.Bench.Soak.dll [--minutes 10] [--workers 3]
//        [--fault-every 150] [--queries 3] [--places 3] [--photos 5]
using System.Diagnostics;
using System.Globalization;
using Harvester.Core;
using Harvester.Data;
using Harvester.DemoSite;
using Harvester.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

var minutes = Arg("--minutes", 10);
var workerCount = Arg("--workers", 3);
var faultEvery = TimeSpan.FromSeconds(Arg("--fault-every", 150));
var queryCount = Arg("--queries", 3);
var places = Arg("--places", 3);
var photos = Arg("--photos", 5);

var home = Path.Combine(Path.GetTempPath(), "harvester-soak-" + Guid.NewGuid().ToString("N")[..8]);
Directory.CreateDirectory(home);
var storage = Options.Create(new StorageOptions { Root = home });
// This process stays a client of the embedded cluster for the whole run, so the workers share it.
await using var db = new HarvesterDatabase(new ConfigurationBuilder().Build(), Options.Create(new PostgreSqlOptions { Fsync = false }), storage, NullLoggerFactory.Instance);
await db.StartAsync(migrate: true, CancellationToken.None);
var cluster = db.Cluster!;

await using var site = await DemoSiteServer.StartAsync(new DemoSiteOptions { Faults = false, Seed = 1 });
var queries = DemoSiteOptions.DefaultNeighbourhoods.Take(queryCount).Select(n => n + " 카페").ToArray();
using var http = new HttpClient();
var truth = await DemoSiteTruthClient.FetchAsync(http, site.BaseUrl, queries);
var expected = queries.SelectMany(q => truth.PlacesOf(q).Take(places)).SelectMany(p => p.Photos.Take(photos)).Select(p => p.Url.AbsoluteUri).ToHashSet(StringComparer.Ordinal);

var env = new Dictionary<string, string>
{
    ["Harvester__Worker__Stages__0"] = "crawl",
    ["Harvester__Worker__Stages__1"] = "curate",
    ["Harvester__Worker__Stages__2"] = "embed",
    ["Harvester__Crawler__PollInterval"] = "00:00:02",
    ["Harvester__Curation__PollInterval"] = "00:00:01",
    ["Harvester__Inference__PollInterval"] = "00:00:01",
    ["Harvester__Inference__IntraOpThreads"] = "1",
    ["Harvester__Crawler__Schedules__0__Name"] = "soak",
    ["Harvester__Crawler__Schedules__0__Cron"] = "* * * * *",
    ["Harvester__Crawler__Schedules__0__Job__Site"] = "demo-map",
    ["Harvester__Crawler__Schedules__0__Job__BaseUrl"] = site.BaseUrl.AbsoluteUri,
    ["Harvester__Crawler__Schedules__0__Job__PlacesPerQuery"] = places.ToString(CultureInfo.InvariantCulture),
    ["Harvester__Crawler__Schedules__0__Job__PhotosPerPlace"] = photos.ToString(CultureInfo.InvariantCulture),
    ["Harvester__Crawler__Schedules__0__Job__RespectRobotsTxt"] = "false",
};
for (var i = 0; i < queries.Length; i++)
{
    env[$"Harvester__Crawler__Schedules__0__Job__Queries__{i}"] = queries[i];
}

Console.WriteLine($"Soak: {workerCount} workers (crawl, curate, embed) for {minutes} min, a fault every {faultEvery.TotalSeconds:F0} s " +
                  $"(PostgreSQL fast restart and SIGKILL of a worker in turn); demo site {site.BaseUrl} (faults off), " +
                  $"{queries.Length} queries x {places} places x {photos} photos = {expected.Count} photos per job, a job every minute");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");

var workers = Enumerable.Range(0, workerCount).Select(_ => HarvesterProcess.Start(home, env, "worker")).ToList();
var started = DateTime.UtcNow;
var recoveries = new List<(string Fault, double At, double Seconds, string Detail)>();
var killed = new List<HarvesterProcess>();
var random = new Random(3);
var faultNo = 0;
try
{
    var end = started + TimeSpan.FromMinutes(minutes);
    var next = started + faultEvery;
    while (DateTime.UtcNow < end)
    {
        await Task.Delay(TimeSpan.FromSeconds(1));
        foreach (var w in workers.Where(w => w.HasExited).ToList())
        {
            throw new InvalidOperationException($"worker {w.Id} exited ({w.ExitCode}) without being killed:\n{Tail(w.StandardError)}");
        }

        if (DateTime.UtcNow < next)
        {
            continue;
        }

        next += faultEvery;
        // A fault is worth most while work is in flight: wait (up to a minute) for a claim, as a fault in real life
        // does not wait for a quiet moment; the table says when it still hit an idle pipeline.
        var busyBy = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (await Scalar("SELECT (SELECT count(*) FROM frontier WHERE state = 'claimed') + (SELECT count(*) FROM work_leases WHERE given_up_at IS NULL AND lease_until > now())") == 0
               && DateTime.UtcNow < busyBy)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        var at = (DateTime.UtcNow - started).TotalSeconds;
        if (faultNo++ % 2 == 0)
        {
            await PgCtl.StopAsync(cluster);
            await Task.Delay(TimeSpan.FromSeconds(5));
            await PgCtl.StartAsync(cluster);
            NpgsqlConnection.ClearAllPools();
            var back = Stopwatch.StartNew();
            // This process's own pooled connections died with the server: the first reads may fail once.
            Snapshot before = null!;
            await WaitUntilAsync(async () => (before = await Snapshot.TakeAsync(db)) is not null, TimeSpan.FromMinutes(1));
            var moved = await WaitForProgressAsync(before, TimeSpan.FromMinutes(3));
            recoveries.Add(("PostgreSQL restart", at, back.Elapsed.TotalSeconds, moved ? "work moved again" : "no work pending"));
        }
        else
        {
            // The worker holding the most claims, so its claims are what must come back (any one when none holds any).
            var held = new List<(HarvesterProcess W, long Claims)>();
            foreach (var w in workers)
            {
                held.Add((w, await LeasedToAsync(w.Id)));
            }

            var victim = held.Max(h => h.Claims) > 0 ? held.MaxBy(h => h.Claims).W : workers[random.Next(workers.Count)];
            var victimClaims = held.First(h => h.W == victim).Claims;
            victim.Kill();
            await victim.WaitAsync(TimeSpan.FromSeconds(30));
            workers.Remove(victim);
            killed.Add(victim);
            var clock = Stopwatch.StartNew();
            var before = await Snapshot.TakeAsync(db);
            workers.Add(HarvesterProcess.Start(home, env, "worker"));
            // Recovered: nothing is leased to the dead process any more and work moves again.
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
            while (await LeasedToAsync(victim.Id) > 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }

            var released = clock.Elapsed.TotalSeconds;
            var moved = await WaitForProgressAsync(before, TimeSpan.FromMinutes(3));
            recoveries.Add(("SIGKILL worker " + victim.Id, at, clock.Elapsed.TotalSeconds, $"its {victimClaims} claims free after {released:F1} s; {(moved ? "work moved again" : "no work pending")}"));
        }

        Console.WriteLine($"{recoveries[^1].Fault} at {at:F0} s: recovered in {recoveries[^1].Seconds:F1} s ({recoveries[^1].Detail})");
    }

    var faultsEnded = DateTime.UtcNow;
    // The schedule would keep adding jobs: stop the workers (SIGTERM, as a service manager would) and start them again without
    // it, so they finish what was started and the audit sees a quiet database.
    Console.WriteLine("faults over; restarting the workers without the schedule to drain");
    var exitsAtStop = await StopAllAsync(workers);
    var drainEnv = env.Where(e => !e.Key.Contains("__Schedules__", StringComparison.Ordinal)).ToDictionary();
    killed.AddRange(workers);
    workers = Enumerable.Range(0, workerCount).Select(_ => HarvesterProcess.Start(home, drainEnv, "worker")).ToList();
    var drained = await WaitUntilAsync(async () => await Snapshot.PendingAsync(db) == 0, TimeSpan.FromMinutes(15));
    var drainSeconds = (DateTime.UtcNow - faultsEnded).TotalSeconds;

    var exits = exitsAtStop.Concat(await StopAllAsync(workers)).ToList();
    await Audit(drained, drainSeconds, exits, started, faultsEnded);
}
finally
{
    foreach (var w in workers.Concat(killed))
    {
        await w.DisposeAsync();
    }

    try
    {
        Directory.Delete(home, recursive: true);
    }
    catch (IOException)
    {
    }
}

return 0;

async Task Audit(bool drained, double drainSeconds, List<int> exits, DateTime from, DateTime to)
{
    var jobs = await Scalar("SELECT count(*) FROM crawl_jobs");
    var jobsCompleted = await Scalar("SELECT count(*) FROM crawl_jobs WHERE status = 'completed'");
    var perMinute = await Scalar("SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM crawl_jobs GROUP BY date_trunc('minute', created_at)) t");
    // Minute boundaries between the first worker's start and the end of the run: the ticks the schedule had.
    var ticks = (int)Math.Floor((to - from).TotalMinutes);
    var lost = 0L;
    var sightingsByJob = new Dictionary<long, HashSet<string>>();
    await using (var cmd = db.DataSource.CreateCommand("SELECT s.job_id, s.source_url FROM image_sightings s WHERE s.job_id IS NOT NULL"))
    await using (var r = await cmd.ExecuteReaderAsync())
    {
        while (await r.ReadAsync())
        {
            var set = sightingsByJob.TryGetValue(r.GetInt64(0), out var s) ? s : sightingsByJob[r.GetInt64(0)] = new HashSet<string>(StringComparer.Ordinal);
            set.Add(r.GetString(1));
        }
    }

    // Lost: a photo the site listed for the crawl that no job stored. (A later job of the same schedule finds the photos
    // an earlier one stored and does not fetch them again, so only the first job of a run sights each photo.)
    var sighted = sightingsByJob.Values.SelectMany(v => v).ToHashSet(StringComparer.Ordinal);
    lost = expected.Count(u => !sighted.Contains(u));

    var rows = new (string What, long Count)[]
    {
        ("photos the site listed that no job stored (lost)", lost),
        ("images whose sha256 is stored twice (duplicated)", await Scalar("SELECT count(*) - count(DISTINCT sha256) FROM images")),
        ("sightings repeated within a job (duplicated)", await Scalar("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM image_sightings GROUP BY job_id, place_id, source_url) t")),
        ("vectors repeated for one image and model (duplicated)", await Scalar("SELECT count(*) - count(DISTINCT (image_id, model_id)) FROM embeddings")),
        ("jobs started for one schedule minute beyond the first (duplicated)", await Scalar("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM crawl_jobs GROUP BY date_trunc('minute', created_at)) t")),
        ("jobs not completed after the drain (stuck)", jobs - jobsCompleted),
        ("frontier items still claimed or pending (stuck)", await Scalar("SELECT count(*) FROM frontier WHERE state IN ('pending', 'claimed')")),
        ("frontier items failed without a reason (stuck)", await Scalar("SELECT count(*) FROM frontier WHERE state = 'failed' AND coalesce(last_error, '') = ''")),
        ("images still waiting for curation (stuck)", await Scalar("SELECT count(*) FROM images WHERE status = 'fetched'")),
        ("accepted images without a vector (stuck)", await Scalar("SELECT count(*) FROM images i WHERE i.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = i.id)")),
        ("stage leases still held (stuck)", await Scalar("SELECT count(*) FROM work_leases WHERE given_up_at IS NULL AND lease_until > now()")),
        ("stage items given up", await Scalar("SELECT count(*) FROM work_leases WHERE given_up_at IS NOT NULL")),
    };

    Console.WriteLine();
    Console.WriteLine($"drained: {(drained ? "yes" : "NO")} in {drainSeconds:F0} s after the fault window (workers restarted without the schedule); worker exit codes on SIGTERM: {string.Join(", ", exits)}");
    Console.WriteLine($"jobs: {jobs} created over {ticks} schedule minutes (at most {perMinute} in one minute), {jobsCompleted} completed; " +
                      $"images {await Scalar("SELECT count(*) FROM images")}, sightings {await Scalar("SELECT count(*) FROM image_sightings")}, vectors {await Scalar("SELECT count(*) FROM embeddings")}");
    Console.WriteLine();
    Console.WriteLine("| check | count |");
    Console.WriteLine("|---|---:|");
    foreach (var (what, count) in rows)
    {
        Console.WriteLine($"| {what} | {count} |");
    }

    Console.WriteLine();
    Console.WriteLine("| fault | at s | recovered in s | detail |");
    Console.WriteLine("|---|---:|---:|---|");
    foreach (var (fault, at, seconds, detail) in recoveries)
    {
        Console.WriteLine($"| {fault} | {at:F0} | {seconds:F1} | {detail} |");
    }
}

// SIGTERM to each worker, as systemd or `docker stop` stop a service (Ctrl+C takes the same path in the worker, but a
// benchmark started in the background by a shell inherits an ignored SIGINT, and so would its workers); their exit
// codes (0: a clean stop).
static async Task<List<int>> StopAllAsync(List<HarvesterProcess> all)
{
    foreach (var w in all)
    {
        using var interrupt = Process.Start("kill", ["-TERM", w.Id.ToString(CultureInfo.InvariantCulture)])!;
        await interrupt.WaitForExitAsync();
    }

    var exits = new List<int>();
    foreach (var w in all)
    {
        await w.WaitAsync(TimeSpan.FromMinutes(2));
        exits.Add(w.ExitCode);
    }

    return exits;
}

async Task<long> LeasedToAsync(int pid)
{
    var owner = $"%:{pid}:%";
    return await Scalar($"SELECT (SELECT count(*) FROM work_leases WHERE claimed_by LIKE '{owner}' AND given_up_at IS NULL AND lease_until > now()) " +
                        $"+ (SELECT count(*) FROM frontier WHERE state = 'claimed' AND claimed_by LIKE '{owner}')");
}

// True when finished work grows past the snapshot; false when nothing was waiting to be done (or the timeout passed).
async Task<bool> WaitForProgressAsync(Snapshot before, TimeSpan timeout)
{
    var moved = false;
    await WaitUntilAsync(async () => (moved = (await Snapshot.TakeAsync(db)).Done > before.Done) || await Snapshot.PendingAsync(db) == 0, timeout);
    return moved;
}

async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
{
    var deadline = DateTime.UtcNow + timeout;
    while (DateTime.UtcNow < deadline)
    {
        try
        {
            if (await condition())
            {
                return true;
            }
        }
        catch (NpgsqlException)
        {
            // The database is still coming back.
        }

        await Task.Delay(TimeSpan.FromMilliseconds(250));
    }

    return false;
}

async Task<long> Scalar(string sql)
{
    await using var cmd = db.DataSource.CreateCommand(sql);
    return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
}

static string Tail(string text) => text.Length <= 3000 ? text : text[^3000..];

int Arg(string name, int fallback)
{
    var a = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(a, name);
    return i >= 0 && i + 1 < a.Length ? int.Parse(a[i + 1], CultureInfo.InvariantCulture) : fallback;
}

/// <summary>Work done so far (frontier items finished, images judged, vectors stored) and work waiting.</summary>
internal sealed record Snapshot(long Done)
{
    public static async Task<Snapshot> TakeAsync(HarvesterDatabase db)
    {
        await using var cmd = db.DataSource.CreateCommand("""
            SELECT (SELECT count(*) FROM frontier WHERE state IN ('done', 'failed'))
                 + (SELECT count(*) FROM images WHERE status <> 'fetched')
                 + (SELECT count(*) FROM embeddings)
            """);
        return new Snapshot(Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture));
    }

    public static async Task<long> PendingAsync(HarvesterDatabase db)
    {
        await using var cmd = db.DataSource.CreateCommand("""
            SELECT (SELECT count(*) FROM frontier f JOIN crawl_jobs j ON j.id = f.job_id WHERE f.state IN ('pending', 'claimed') AND j.status IN ('pending', 'running'))
                 + (SELECT count(*) FROM crawl_jobs WHERE status IN ('pending', 'running'))
                 + (SELECT count(*) FROM images WHERE status = 'fetched')
                 + (SELECT count(*) FROM images i WHERE i.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = i.id))
            """);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}
