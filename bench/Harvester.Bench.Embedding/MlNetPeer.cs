using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

/// <summary>ML.NET's featurizer in its own process (tests/Harvester.Embed.MlNetReference "serve"): one timed pass per request.</summary>
internal sealed class MlNetPeer : IAsyncDisposable
{
    private readonly Process _process;

    private MlNetPeer(Process process) => _process = process;

    public static async Task<MlNetPeer> StartAsync(string list, string variant, int threads)
    {
        var dll = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../..", "tests", "Harvester.Embed.MlNetReference", "bin", "Release", "net10.0", "Harvester.Embed.MlNetReference.dll"));
        var psi = new ProcessStartInfo("dotnet", [dll, "serve", list, "0", variant, threads.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
        };
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the ML.NET peer");
        var ready = await p.StandardOutput.ReadLineAsync();
        if (ready != "ready")
        {
            throw new InvalidOperationException($"ML.NET peer did not start: {ready}");
        }

        return new MlNetPeer(p);
    }

    /// <summary>One pass over every file; images per second.</summary>
    public async Task<double> PassAsync()
    {
        await _process.StandardInput.WriteLineAsync("pass");
        await _process.StandardInput.FlushAsync();
        var line = await _process.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("ML.NET peer exited");
        using var doc = JsonDocument.Parse(line);
        return doc.RootElement.GetProperty("images").GetInt32() / doc.RootElement.GetProperty("seconds").GetDouble();
    }

    public async ValueTask DisposeAsync()
    {
        _process.StandardInput.Close();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
