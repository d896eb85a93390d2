namespace Harvester.Data;

/// <summary>
/// Where image bytes live, addressed by their SHA-256 (lower-case hex). The database holds only the hash, so every
/// worker, on any machine, finds a blob by it. <see cref="BlobStore"/> keeps them on a filesystem (a local disk, or NFS
/// shared by workers on several machines); an S3-compatible store implements the same contract (object key
/// <c>ab/cd/&lt;sha256&gt;</c>, a conditional or idempotent PUT, a local read-through cache for
/// <see cref="LocalPath"/>) and replaces it by registering itself as this interface. docs/scaling.md says when that is
/// worth it.
/// </summary>
public interface IBlobStore
{
    /// <summary>Where the blobs are, for people: a directory, or a bucket URL.</summary>
    string Location { get; }

    /// <summary>
    /// Stores the bytes and returns their SHA-256. Idempotent: storing the same bytes twice (from two workers at once,
    /// too) keeps one blob. A blob that exists is whole: a reader never sees a partial write.
    /// </summary>
    Task<string> PutAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct);

    /// <summary>The blob's bytes; <see cref="FileNotFoundException"/> when there is none with that hash.</summary>
    Task<byte[]> ReadAsync(string sha256, CancellationToken ct);

    /// <summary>Whether a blob with that hash is stored.</summary>
    bool Exists(string sha256);

    /// <summary>
    /// A file on this machine that holds the blob's bytes, for the code that hands files to others (exports hard-link
    /// or stream them; decoders read them): the blob itself on a filesystem store, a cached copy fetched on first use
    /// for a remote one. The file may not exist when the blob does not.
    /// </summary>
    string LocalPath(string sha256);

    /// <summary>
    /// Removes what writers killed mid-write left behind (temp files, incomplete multipart uploads) and returns how
    /// many; those of writers still running, and unnamed ones younger than <paramref name="unownedAge"/>, stay.
    /// </summary>
    int RemoveOrphanedTempFiles(TimeSpan unownedAge, CancellationToken ct);
}
