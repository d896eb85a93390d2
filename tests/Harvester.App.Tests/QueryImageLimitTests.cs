using System.Net;
using System.Net.Sockets;
using Harvester.Testing;

namespace Harvester.App.Tests;

/// <summary>
/// Query images (`similar --file`, `similar --url`) are held to the same decode limits as crawled images
/// (Curation:MaxPixels, Curation:MaxFileBytes): a real decompression-bomb PNG is refused from its header by the real
/// executable in one line, without the gigabytes a decode would take.
/// </summary>
public sealed class QueryImageLimitTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    // A decode of the 30000x30000 bomb allocates 0.9-2.7 GB; the process otherwise stays far below this.
    private const long PeakLimitBytes = 1L << 30;

    private static readonly Lazy<byte[]> Bomb = new(() => DecompressionBomb.Png(30_000));

    private readonly string _home = Directory.CreateTempSubdirectory("harvester-query-").FullName;

    [Fact]
    public void The_bomb_is_a_small_valid_png_claiming_a_huge_size()
    {
        var bytes = Bomb.Value;
        Assert.InRange(bytes.Length, 1, 4 * 1024 * 1024);
        var header = Harvester.Imaging.ImageHeader.Read(bytes);
        Assert.Equal(30_000, header.StoredWidth);
        Assert.Equal(30_000, header.StoredHeight);
        Assert.True(header.Complete);
    }

    [Fact]
    public async Task Similar_file_refuses_a_decompression_bomb_in_one_line_without_decoding_it()
    {
        var path = Path.Combine(_home, "bomb.png");
        await File.WriteAllBytesAsync(path, Bomb.Value);

        var (p, peak) = await RunMeasuringAsync(null, "similar", "--file", path, "--k", "3");
        await using var _ = p;

        AssertOneErrorLine(p, "decompression-bomb", "30000x30000", "Curation:MaxPixels", "bomb.png");
        Assert.True(peak < PeakLimitBytes, $"peak resident memory {peak / (1 << 20)} MB: the bomb was decoded");
    }

    [Fact]
    public async Task Similar_url_refuses_a_decompression_bomb_in_one_line_without_decoding_it()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var cts = new CancellationTokenSource(Timeout);
        var server = ServeAsync(listener, Bomb.Value, cts.Token);

        var url = $"http://127.0.0.1:{port}/bomb.png";
        var (p, peak) = await RunMeasuringAsync(null, "similar", "--url", url, "--k", "3");
        await using var _ = p;
        await cts.CancelAsync();
        await server;

        AssertOneErrorLine(p, "decompression-bomb", "30000x30000", "Curation:MaxPixels", url);
        Assert.True(peak < PeakLimitBytes, $"peak resident memory {peak / (1 << 20)} MB: the bomb was decoded");
    }

    [Fact]
    public async Task The_query_path_takes_its_limits_from_the_curation_keys()
    {
        // A real photograph (451x300) under a configured cap of 100,000 pixels: the same key that caps crawled images
        // refuses the query image too; and Curation:MaxFileBytes refuses it by size.
        var path = Path.Combine(_home, "chelsea.png");
        File.Copy(TestImages.Chelsea, path);

        var (p, _) = await RunMeasuringAsync(new Dictionary<string, string> { ["Harvester__Curation__MaxPixels"] = "100000" },
            "similar", "--file", path);
        await using (p)
        {
            AssertOneErrorLine(p, "decompression-bomb", "451x300", "Curation:MaxPixels", "chelsea.png");
        }

        var (q, _) = await RunMeasuringAsync(new Dictionary<string, string> { ["Harvester__Curation__MaxFileBytes"] = "2048" },
            "similar", "--file", path);
        await using (q)
        {
            AssertOneErrorLine(q, "file-too-large", "> 2048", "Curation:MaxFileBytes", "chelsea.png");
        }
    }

    private static void AssertOneErrorLine(HarvesterProcess p, params string[] expected)
    {
        var errors = p.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.Contains(" info: ", StringComparison.Ordinal)).ToList();
        Assert.True(p.ExitCode != 0, $"exit code 0; stdout:\n{p.StandardOutput}");
        var line = Assert.Single(errors);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        foreach (var e in expected)
        {
            Assert.Contains(e, line, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(" at Harvester", p.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", p.StandardError, StringComparison.Ordinal);
    }

    /// <summary>Runs the executable and polls its resident high-water mark (VmHWM) until it exits.</summary>
    private async Task<(HarvesterProcess Process, long PeakBytes)> RunMeasuringAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var p = HarvesterProcess.Start(_home, environment, args);
        long peak = 0;
        var deadline = DateTime.UtcNow + Timeout;
        while (!p.HasExited && DateTime.UtcNow < deadline)
        {
            peak = Math.Max(peak, HighWaterMark(p.Id));
            await Task.Delay(20);
        }

        await p.WaitAsync(TimeSpan.FromSeconds(10));
        return (p, peak);
    }

    private static long HighWaterMark(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
            // The process ended between the check and the read.
        }

        return 0;
    }

    /// <summary>A minimal real HTTP/1.1 server: every request gets the body as image/png.</summary>
    private static async Task ServeAsync(TcpListener listener, byte[] body, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(ct);
                await using var stream = client.GetStream();
                var buffer = new byte[8192];
                var request = "";
                while (!request.Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var n = await stream.ReadAsync(buffer, ct);
                    if (n == 0)
                    {
                        break;
                    }

                    request += System.Text.Encoding.ASCII.GetString(buffer, 0, n);
                }

                var head = System.Text.Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(head, ct);
                await stream.WriteAsync(body, ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_home, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
