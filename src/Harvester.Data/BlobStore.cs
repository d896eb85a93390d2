using System.Security.Cryptography;
using Harvester.Core;
using Microsoft.Extensions.Options;

namespace Harvester.Data;

/// <summary>
/// Content-addressed image bytes: &lt;root&gt;/ab/cd/&lt;sha256&gt;. Written to a temp file, fsynced and renamed, so a blob
/// that exists is whole; the path derives from the hash and never from anything a site sent.
/// </summary>
public sealed class BlobStore(IOptions<StorageOptions> options) : IBlobStore
{
    public string Root { get; } = options.Value.ResolveBlobRoot();

    public string Location => Root;

    public string LocalPath(string sha256) => PathFor(sha256);

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
        // The writer's identity is in the name, so a temp file a killed process left can be told from one being written.
        var tmp = $"{path}.{TempOwner}.{Guid.NewGuid():N}{TempSuffix}";
        try
        {
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                await fs.WriteAsync(bytes, ct);
                await fs.FlushAsync(ct);
                fs.Flush(flushToDisk: true);
            }

            File.Move(tmp, path, overwrite: true);
            Core.Telemetry.HarvesterTelemetry.RecordBytes(bytes.Length, "write");
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

    public async Task<byte[]> ReadAsync(string sha256, CancellationToken ct)
    {
        var bytes = await File.ReadAllBytesAsync(PathFor(sha256), ct);
        Core.Telemetry.HarvesterTelemetry.RecordBytes(bytes.Length, "read");
        return bytes;
    }

    private const string TempSuffix = ".tmp";

    /// <summary>pid-start of this process, as temp file names carry it (no ':' in file names).</summary>
    private static readonly string TempOwner = Stages.ProcessIdentity.FileTag;

    /// <summary>
    /// Deletes temp files that killed writers left behind: those whose writer (pid and start time in the name) no longer
    /// runs, and unnamed ones older than <paramref name="unownedAge"/>. Returns how many were deleted.
    /// </summary>
    public int RemoveOrphanedTempFiles(TimeSpan unownedAge, CancellationToken ct)
    {
        if (!Directory.Exists(Root))
        {
            return 0;
        }

        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(Root, "*" + TempSuffix, new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 2 }))
        {
            ct.ThrowIfCancellationRequested();
            var parts = Path.GetFileName(file).Split('.');
            var orphan = parts.Length >= 4 && parts[1].Split('-') is [var pid, var start]
                ? Stages.ProcessIdentity.IsDeadLocalFileTag(pid, start)
                : DateTime.UtcNow - File.GetLastWriteTimeUtc(file) > unownedAge;
            if (orphan)
            {
                try
                {
                    File.Delete(file);
                    removed++;
                }
                catch (IOException)
                {
                    // Gone already, or another cleaner got there first.
                }
            }
        }

        return removed;
    }
}
