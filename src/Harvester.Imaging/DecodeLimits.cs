using System.ComponentModel.DataAnnotations;

namespace Harvester.Imaging;

/// <summary>
/// The limits every image that enters the process is held to before a pixel is decoded, whichever way it came in
/// (crawled, curated, embedded, a query file or URL): a decoder allocates width x height x channels bytes up front,
/// so a small file whose header claims a huge size (a decompression bomb) must be refused from its header.
/// </summary>
public sealed record DecodeLimits(long MaxFileBytes, long MaxPixels)
{
    public const long DefaultMaxFileBytes = 64L * 1024 * 1024;

    public const long DefaultMaxPixels = 80_000_000;

    /// <summary>The configuration keys that set these limits, for error lines.</summary>
    public const string MaxFileBytesKey = DecodeLimitsOptions.Section + ":" + nameof(MaxFileBytes);

    public const string MaxPixelsKey = DecodeLimitsOptions.Section + ":" + nameof(MaxPixels);

    public static DecodeLimits Default { get; } = new(DefaultMaxFileBytes, DefaultMaxPixels);

    /// <summary>
    /// Reads the header and checks size and pixel count, or throws <see cref="ImageRejectedException"/> (file-too-large,
    /// empty-file, not-an-image, unsupported-format, corrupt, decompression-bomb, ...). Truncation is not a limit: the
    /// caller decides whether a file cut short is usable.
    /// </summary>
    public ImageHeader Check(ReadOnlySpan<byte> data)
    {
        if (data.Length > MaxFileBytes)
        {
            throw new ImageRejectedException("file-too-large", $"{data.Length} bytes > {MaxFileBytes}");
        }

        var header = ImageHeader.Read(data);
        if (header.StoredWidth <= 0 || header.StoredHeight <= 0)
        {
            throw new ImageRejectedException("corrupt", "zero width or height in the header");
        }

        if (header.Pixels > MaxPixels)
        {
            throw new ImageRejectedException("decompression-bomb", $"{header.StoredWidth}x{header.StoredHeight} = {header.Pixels} pixels > {MaxPixels}");
        }

        return header;
    }

    /// <summary>The configuration key behind a rejection reason, when a limit (rather than the file's content) caused it.</summary>
    public static string? KeyFor(string reason) => reason switch
    {
        "file-too-large" => MaxFileBytesKey,
        "decompression-bomb" => MaxPixelsKey,
        _ => null,
    };
}

/// <summary>
/// The decode limits as configured. They live in the <c>Curation</c> section, where crawled images first meet them;
/// every other stage that decodes images (embedding, query images) binds the same keys, so one setting governs all.
/// </summary>
public sealed class DecodeLimitsOptions
{
    public const string Section = "Curation";

    /// <summary>Files larger than this are rejected before decoding.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxFileBytes { get; set; } = DecodeLimits.DefaultMaxFileBytes;

    /// <summary>Decompression-bomb cap: width x height read from the header, checked before any pixel is decoded.</summary>
    [Range(1, long.MaxValue)]
    public long MaxPixels { get; set; } = DecodeLimits.DefaultMaxPixels;

    public DecodeLimits Limits => new(MaxFileBytes, MaxPixels);
}
