using Harvester.Data;
using OpenCvSharp;

namespace Harvester.App.Report;

/// <summary>Small JPEG previews of blobs, made once under a folder (…/thumbs/ab/&lt;sha256&gt;.jpg) and kept.</summary>
public sealed class Thumbnails(IBlobStore blobs, string root)
{
    public const int Side = 200;

    public int Made { get; private set; }

    /// <summary>The thumbnail's path under <paramref name="root"/>'s parent ("thumbs/ab/sha.jpg"), or null when the blob is gone or undecodable.</summary>
    public async Task<string?> GetAsync(string sha256, CancellationToken ct)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower))
        {
            return null;
        }

        var relative = $"thumbs/{sha256[..2]}/{sha256}.jpg";
        var path = Path.Combine(root, sha256[..2], sha256 + ".jpg");
        if (File.Exists(path))
        {
            return relative;
        }

        if (!blobs.Exists(sha256))
        {
            return null;
        }

        var bytes = await blobs.ReadAsync(sha256, ct);
        using var image = Cv2.ImDecode(bytes, bytes.Length > 2_000_000 ? ImreadModes.ReducedColor4 : ImreadModes.Color);
        if (image.Empty())
        {
            return null;
        }

        var scale = Math.Min(1.0, (double)Side / Math.Max(image.Width, image.Height));
        using var small = new Mat();
        Cv2.Resize(image, small, new Size(Math.Max(1, (int)(image.Width * scale)), Math.Max(1, (int)(image.Height * scale))), 0, 0, InterpolationFlags.Area);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = path + "." + Environment.ProcessId + ".tmp";
        await File.WriteAllBytesAsync(tmp, small.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 82)), ct);
        File.Move(tmp, path, overwrite: true);
        Made++;
        return relative;
    }
}
