using Harvester.DemoSite.Corpus;
using Xunit;

namespace Harvester.Testing;

/// <summary>Whole real photographs: the photo corpus's locked source files (scripts/corpus.lock), nothing else on the machine.</summary>
public static class Photos
{
    /// <summary>Photos at least 256 px on each side, sorted by path so every run uses the same ones; large files are scaled down once to keep tests fast.</summary>
    public static IReadOnlyList<(string Name, byte[] Jpeg)> Load(int count)
    {
        var list = new List<(string, byte[])>();
        foreach (var path in PhotoCorpus.FindSourcePhotos())
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

        Assert.True(list.Count >= Math.Min(count, 8), "expected the photo corpus's source files (./harvester setup installs them)");
        return list;
    }
}
