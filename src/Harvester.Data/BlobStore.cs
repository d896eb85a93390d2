using System.Security.Cryptography;
using Harvester.Core;
using Microsoft.Extensions.Options;

namespace Harvester.Data;

/// <summary>
/// Content-addressed image bytes: &lt;root&gt;/ab/cd/&lt;sha256&gt;. Written to a temp file, fsynced and renamed, so a blob
/// that exists is whole; the path derives from the hash and never from anything a site sent.
/// </summary>
public sealed class BlobStore(IOptions<StorageOptions> options)
{
    public string Root { get; } = options.Value.ResolveBlobRoot();

    public string PathFor(string sha256)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower))
        {
            throw new ArgumentException("Expected a lower-case hex SHA-256.", nameof(sha256));
        }

        return Path.Combine(Root, sha256[..2], sha256[2..4], sha256);
    }

    public bool Exists(string sha256) => File.Exists(PathFor(sha256));

    /// <summary>Stores bytes and returns their SHA-256; storing the same bytes twice is a no-op.</summary>
    public async Task<string> PutAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes.Span));
        var path = PathFor(sha);
        if (File.Exists(path))
        {
            return sha;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                await fs.WriteAsync(bytes, ct);
                await fs.FlushAsync(ct);
                fs.Flush(flushToDisk: true);
            }

            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }

        return sha;
    }

    public Task<byte[]> ReadAsync(string sha256, CancellationToken ct) => File.ReadAllBytesAsync(PathFor(sha256), ct);
}
