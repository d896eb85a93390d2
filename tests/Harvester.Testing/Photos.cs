using Xunit;

namespace Harvester.Testing;

/// <summary>Real, mutually distinct photos installed on the machine (MATE nature backgrounds, scikit-image sample data).</summary>
public static class Photos
{
    private static readonly string[] Roots = ["/usr/share/backgrounds/mate/nature", "/usr/lib/python3/dist-packages/skimage/data"];

    /// <summary>Photos at least 256 px on each side, sorted by path so every run uses the same ones; large files are scaled down once to keep tests fast.</summary>
    public static IReadOnlyList<(string Name, byte[] Jpeg)> Load(int count)
    {
        var list = new List<(string, byte[])>();
        foreach (var path in Roots.Where(Directory.Exists)
                     .SelectMany(r => Directory.EnumerateFiles(r, "*.*", SearchOption.AllDirectories))
                     .Where(p => p.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || p.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                     .Order(StringComparer.Ordinal))
        {
            using var mat = OpenCvSharp.Cv2.ImRead(path, OpenCvSharp.ImreadModes.Color);
            if (mat.Empty() || mat.Width < 256 || mat.Height < 256)
            {
                continue;
            }

            var scale = Math.Min(1.0, 800.0 / Math.Max(mat.Width, mat.Height));
            using var small = new OpenCvSharp.Mat();
            OpenCvSharp.Cv2.Resize(mat, small, new OpenCvSharp.Size(0, 0), scale, scale, OpenCvSharp.InterpolationFlags.Area);
            list.Add((Path.GetFileName(path), small.ImEncode(".jpg", new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.JpegQuality, 92))));
            if (list.Count == count)
            {
                break;
            }
        }

        Assert.True(list.Count >= Math.Min(count, 8), $"expected real photos under {string.Join(", ", Roots)}");
        return list;
    }
}
