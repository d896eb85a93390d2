using System.Buffers;
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

    /// <summary>
    /// Writes every shard (samples grouped by split, each split in shard order, <see cref="ManifestRow.Shard"/> set) and
    /// returns the shard files written. Shards are independent files, so they are written side by side, one per core;
    /// within a shard, one sequential reader and writer with no per-file async state keeps pace with tar.
    /// </summary>
    public static async Task<List<string>> WriteAsync(
        string root, IReadOnlyList<ManifestRow> samples, Func<ManifestRow, string> blobPath, DateTimeOffset time, CancellationToken ct)
    {
        var shards = samples.GroupBy(s => s.Shard!, StringComparer.Ordinal).Select(g => (Name: g.Key, Samples: g.ToList())).ToList();
        foreach (var folder in shards.Select(s => Path.GetDirectoryName(Path.Combine(root, s.Name))!).Distinct())
        {
            Directory.CreateDirectory(folder);
        }

        await Parallel.ForEachAsync(
            shards,
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct },
            (shard, token) =>
            {
                WriteShard(Path.Combine(root, shard.Name), shard.Samples, blobPath, time, token);
                return ValueTask.CompletedTask;
            });
        return [.. shards.Select(s => s.Name)];
    }

    private static void WriteShard(string path, List<ManifestRow> samples, Func<ManifestRow, string> blobPath, DateTimeOffset time, CancellationToken ct)
    {
        using var tar = new UstarWriter(path, time);
        var json = new ArrayBufferWriter<byte>(1024);
        var image = new byte[1 << 20];
        Span<byte> cls = stackalloc byte[11];
        foreach (var sample in samples)
        {
            ct.ThrowIfCancellationRequested();
            using (var handle = File.OpenHandle(blobPath(sample), FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan))
            {
                var length = checked((int)RandomAccess.GetLength(handle));
                if (length > image.Length)
                {
                    image = new byte[length];
                }

                var read = 0;
                while (read < length)
                {
                    var n = RandomAccess.Read(handle, image.AsSpan(read, length - read), read);
                    read += n > 0 ? n : throw new IOException($"Blob {sample.Key} ended after {read} of {length} bytes.");
                }

                tar.Add(sample.Key + sample.Extension, image.AsSpan(0, length));
            }

            json.ResetWrittenCount();
            using (var w = new Utf8JsonWriter(json, JsonOptions))
            {
                Manifest.WriteJson(w, sample);
            }

            tar.Add(sample.Key + ".json", json.WrittenSpan);
            sample.LabelIndex.TryFormat(cls, out var digits, provider: CultureInfo.InvariantCulture);
            tar.Add(sample.Key + ".cls", cls[..digits]);
        }
    }

    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// A minimal POSIX ustar writer: a 512-byte header per regular file, the data padded to 512 bytes, two zero blocks
    /// at the end. Names are ASCII and at most 100 bytes (a SHA-256 key and a short extension).
    /// </summary>
    private sealed class UstarWriter : IDisposable
    {
        private const int Block = 512;
        private readonly FileStream _out;
        private readonly byte[] _header = new byte[Block];
        private readonly long _mtime;

        public UstarWriter(string path, DateTimeOffset time)
        {
            _out = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            _mtime = time.ToUnixTimeSeconds();
        }

        public void Add(string name, ReadOnlySpan<byte> data)
        {
            var h = _header.AsSpan();
            h.Clear();
            if (name.Length > 100 || !Ascii.IsValid(name))
            {
                throw new ArgumentException($"Tar member name '{name}' is not short ASCII.", nameof(name));
            }

            Encoding.ASCII.GetBytes(name, h);
            Octal(h.Slice(100, 8), 0b110_100_100); // mode 0644
            Octal(h.Slice(108, 8), 0);             // uid
            Octal(h.Slice(116, 8), 0);             // gid
            Octal(h.Slice(124, 12), data.Length);  // size
            Octal(h.Slice(136, 12), _mtime);       // mtime
            h.Slice(148, 8).Fill((byte)' ');       // checksum, counted as spaces
            h[156] = (byte)'0';                    // regular file
            "ustar\000"u8.CopyTo(h[257..]);        // magic "ustar\0" and version "00"
            Octal(h.Slice(329, 8), 0);             // devmajor
            Octal(h.Slice(337, 8), 0);             // devminor
            var sum = 0;
            foreach (var b in h)
            {
                sum += b;
            }

            Octal(h.Slice(148, 7), sum);
            h[155] = (byte)' ';
            _out.Write(h);
            _out.Write(data);
            var pad = (Block - data.Length % Block) % Block;
            if (pad > 0)
            {
                _out.Write(Zeros.AsSpan(0, pad));
            }
        }

        public void Dispose()
        {
            _out.Write(Zeros.AsSpan(0, 2 * Block));
            _out.Dispose();
        }

        private static readonly byte[] Zeros = new byte[2 * Block];

        /// <summary>Zero-padded octal digits filling the field but its last byte, which stays NUL.</summary>
        private static void Octal(Span<byte> field, long value)
        {
            for (var i = field.Length - 2; i >= 0; i--)
            {
                field[i] = (byte)('0' + (value & 7));
                value >>= 3;
            }

            if (value != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value), "Too large for a ustar field.");
            }
        }
    }
}
