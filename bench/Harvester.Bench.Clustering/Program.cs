using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Harvester.Cluster;

// k-means on N x d float32 vectors (uniform in [0, 1)), k clusters, a fixed number of Lloyd iterations from the same
// initial centroids, Harvester and scikit-learn alternating in this one command. Arguments: [n] [d] [k] [iterations] [repeats]
var inv = CultureInfo.InvariantCulture;
var n = args.Length > 0 ? int.Parse(args[0], inv) : 100_000;
var d = args.Length > 1 ? int.Parse(args[1], inv) : 512;
var k = args.Length > 2 ? int.Parse(args[2], inv) : 100;
var iterations = args.Length > 3 ? int.Parse(args[3], inv) : 20;
var repeats = args.Length > 4 ? int.Parse(args[4], inv) : 3;
var python = Environment.GetEnvironmentVariable("BENCH_PYTHON") ?? "/usr/bin/python3";
var peer = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../peers/clustering/sklearn_kmeans.py"));

// Uniform vectors have no cluster structure, so Lloyd does not converge early and both sides run every iteration.
var rng = new Random(20260101);
var x = new VectorMatrix(n, d);
for (var i = 0; i < n; i++)
{
    var row = x.Row(i);
    for (var t = 0; t < d; t++)
    {
        row[t] = (float)rng.NextDouble();
    }
}

var init = KMeans.InitPlusPlus(x, k, seed: 1);
var dir = Path.Combine(Path.GetTempPath(), "harvester-bench-clustering");
Directory.CreateDirectory(dir);
var vectorsFile = Path.Combine(dir, "vectors.f32");
var initFile = Path.Combine(dir, "init.f32");
WriteRows(vectorsFile, x);
WriteRows(initFile, init);

Console.WriteLine($"k-means: {n:N0} x {d} float32, k = {k}, {iterations} Lloyd iterations (tol 0), same k-means++ centroids, {Environment.ProcessorCount} cores, {repeats} alternating repeats");
var ours = new List<(double Seconds, double Inertia, int Iterations)>();
var theirs = new List<(double Seconds, double Inertia, int Iterations, double Rss)>();
var blas = "";
for (var r = 0; r < repeats; r++)
{
    var sw = Stopwatch.StartNew();
    var result = KMeans.Fit(x, new KMeansSettings { K = k, MaxIterations = iterations, Tolerance = 0 }, init);
    ours.Add((sw.Elapsed.TotalSeconds, result.Inertia, result.Iterations));

    var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in new[] { peer, vectorsFile, initFile, n.ToString(inv), d.ToString(inv), k.ToString(inv), iterations.ToString(inv) })
    {
        psi.ArgumentList.Add(a);
    }

    using var p = Process.Start(psi)!;
    var stdout = await p.StandardOutput.ReadToEndAsync();
    var stderr = await p.StandardError.ReadToEndAsync();
    await p.WaitForExitAsync();
    if (p.ExitCode != 0)
    {
        Console.Error.WriteLine(stderr);
        return 1;
    }

    var json = JsonDocument.Parse(stdout).RootElement;
    blas = json.GetProperty("blas").GetString() ?? "";
    if (!blas.StartsWith("openblas", StringComparison.OrdinalIgnoreCase) && Environment.GetEnvironmentVariable("BENCH_ANY_BLAS") is null)
    {
        // numpy on the reference BLAS runs the peer several times slower: a ratio against it would flatter Harvester.
        Console.Error.WriteLine($"scikit-learn's numpy runs on {blas}, not OpenBLAS; install libopenblas0-pthread (./harvester setup does) or set BENCH_ANY_BLAS=1 to measure anyway");
        return 2;
    }

    theirs.Add((json.GetProperty("seconds").GetDouble(), json.GetProperty("inertia").GetDouble(), json.GetProperty("iterations").GetInt32(), json.GetProperty("peak_rss_mb").GetDouble()));
    Console.WriteLine(string.Create(inv, $"  repeat {r + 1}: Harvester {ours[^1].Seconds:F2} s, scikit-learn {theirs[^1].Seconds:F2} s"));
}

var oursMedian = Median(ours.Select(o => o.Seconds));
var theirsMedian = Median(theirs.Select(o => o.Seconds));
var peak = Process.GetCurrentProcess().PeakWorkingSet64 / 1024.0 / 1024.0;
Console.WriteLine();
Console.WriteLine("| implementation | median wall time | inertia | iterations | peak RSS |");
Console.WriteLine("|---|---|---|---|---|");
Console.WriteLine(string.Create(inv, $"| Harvester KMeans (C#, SIMD, {Environment.ProcessorCount} threads) | {oursMedian:F2} s | {ours[0].Inertia:F1} | {ours[0].Iterations} | {peak:F0} MB (incl. data generation) |"));
Console.WriteLine(string.Create(inv, $"| scikit-learn KMeans lloyd ({blas}) | {theirsMedian:F2} s | {theirs[0].Inertia:F1} | {theirs[0].Iterations} | {theirs.Max(t => t.Rss):F0} MB |"));
Console.WriteLine(string.Create(inv, $"time ratio Harvester / scikit-learn: {oursMedian / theirsMedian:F2}; inertia difference: {(ours[0].Inertia - theirs[0].Inertia) / theirs[0].Inertia:P3}"));
return 0;

static double Median(IEnumerable<double> values)
{
    var v = values.Order().ToArray();
    return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
}

static void WriteRows(string path, VectorMatrix m)
{
    using var f = File.Create(path);
    var buffer = new byte[m.Dimension * 4];
    for (var i = 0; i < m.Rows; i++)
    {
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(m.Row(i)).CopyTo(buffer);
        f.Write(buffer);
    }
}
