using System.Formats.Tar;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Harvester.Export;

/// <summary>
/// WebDataset shards: POSIX (ustar) tar files of samples, each sample three consecutive members named by its key:
/// <c>&lt;key&gt;.jpg</c> (the image bytes, extension of its format), <c>&lt;key&gt;.json</c> (its manifest row) and
/// <c>&lt;key&gt;.cls</c> (its class index as decimal text). Members carry a fixed owner (0/0), mode 0644 and the export's
/// time, so a shard's bytes depend only on the data.
/// </summary>
internal static class WebDatasetWriter
{
    public const string Folder = "webdataset";

    /// <summary>The shard file, relative to the export folder, of the sample at <paramref name="position"/> in its split.</summary>
    public static string ShardName(string split, int position, int shardSize) =>
        Folder + "/" + split + "-" + (position / shardSize).ToString("D6", CultureInfo.InvariantCulture) + ".tar";

    /// <summary>Writes the split's samples (already in shard order, <see cref="ManifestRow.Shard"/> set) and returns the shard files written.</summary>
    public static async Task<List<string>> WriteAsync(
        string root, IReadOnlyList<ManifestRow> samples, Func<ManifestRow, string> blobPath, DateTimeOffset time, CancellationToken ct)
    {
        var shards = new List<string>();
        Stream? file = null;
        TarWriter? tar = null;
        try
        {
            foreach (var sample in samples)
            {
                ct.ThrowIfCancellationRequested();
                if (shards.Count == 0 || shards[^1] != sample.Shard)
                {
                    if (tar is not null)
                    {
                        await tar.DisposeAsync();
                        tar = null;
                    }

                    shards.Add(sample.Shard!);
                    var path = Path.Combine(root, sample.Shard!);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous);
                    tar = new TarWriter(file, TarEntryFormat.Ustar, leaveOpen: false);
                }

                await using (var image = new FileStream(blobPath(sample), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan))
                {
                    await tar!.WriteEntryAsync(Entry(sample.Key + sample.Extension, image, time), ct);
                }

                using var json = new MemoryStream();
                await using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
                {
                    Manifest.WriteJson(w, sample);
                }

                json.Position = 0;
                await tar.WriteEntryAsync(Entry(sample.Key + ".json", json, time), ct);
                using var cls = new MemoryStream(Encoding.ASCII.GetBytes(sample.LabelIndex.ToString(CultureInfo.InvariantCulture)));
                await tar.WriteEntryAsync(Entry(sample.Key + ".cls", cls, time), ct);
            }
        }
        finally
        {
            if (tar is not null)
            {
                await tar.DisposeAsync();
            }
            else if (file is not null)
            {
                await file.DisposeAsync();
            }
        }

        return shards;
    }

    private static UstarTarEntry Entry(string name, Stream data, DateTimeOffset time) => new(TarEntryType.RegularFile, name)
    {
        DataStream = data,
        Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        ModificationTime = time,
        Uid = 0,
        Gid = 0,
        UserName = "",
        GroupName = "",
    };
}
