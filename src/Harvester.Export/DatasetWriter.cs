using System.Diagnostics;
using System.Text;
using Harvester.Core.Stages;
using Harvester.Data;
using Harvester.Data.Stages;

namespace Harvester.Export;

/// <summary>What the writer put on disk: how files were placed, the shards and Parquet files, and time per format.</summary>
internal sealed record WrittenDataset(FilePlacement Files, IReadOnlyList<string> Outputs, IReadOnlyDictionary<string, TimeSpan> Times, long ParquetImageBytes);

/// <summary>
/// Writes an export into a hidden sibling folder and renames it into place when everything is written: a failure or
/// Ctrl-C leaves no half-written dataset, and an older export is replaced only once the new one is complete.
/// </summary>
internal sealed class DatasetWriter(string output, bool force, IBlobStore blobs, ExportFiles files, Action<string, bool> checkOutput)
{
    // Staging folders are named after their writer (pid and start time), so a later export can tell a killed writer's
    // leftovers from a running one's. Unnamed leftovers (none are written any more) go once they are this old.
    private static readonly string Owner = ProcessIdentity.FileTag;
    private static readonly TimeSpan UnownedAge = TimeSpan.FromDays(1);

    /// <summary>
    /// Removes the staging folders beside <paramref name="output"/> that writers killed mid-export left behind (their
    /// process is gone); those of writers still running stay. Returns how many were removed.
    /// </summary>
    public static int RemoveAbandonedStaging(string output)
    {
        var parent = Path.GetDirectoryName(output)!;
        var prefix = "." + Path.GetFileName(output) + ".partial-";
        if (!Directory.Exists(parent))
        {
            return 0;
        }

        var removed = 0;
        foreach (var dir in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            var abandoned = Path.GetFileName(dir)[prefix.Length..].Split('-') is [var pid, var start, _]
                ? ProcessIdentity.IsDeadLocalFileTag(pid, start)
                : DateTime.UtcNow - Directory.GetLastWriteTimeUtc(dir) > UnownedAge;
            if (!abandoned)
            {
                continue;
            }

            try
            {
                Directory.Delete(dir, recursive: true);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another export removed it first, or it cannot be removed: it is only disk space, and named in the log.
            }
        }

        return removed;
    }

    /// <param name="rows">Every image, grouped by split in split order, each split's samples in shard order.</param>
    /// <param name="summary">export.json's text, given what was written.</param>
    public async Task<WrittenDataset> WriteAsync(
        IReadOnlyList<ManifestRow> rows, ClassIndex classes, IReadOnlyList<string> splits, ExportFormats formats, bool writeFiles,
        ParquetImages parquetImages, DateTimeOffset time, Func<WrittenDataset, string> summary, CancellationToken ct, IProgress<StageProgress>? progress = null)
    {
        var parent = Path.GetDirectoryName(output)!;
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, "." + Path.GetFileName(output) + ".partial-" + Owner + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(staging);
        try
        {
            var times = new Dictionary<string, TimeSpan>();
            var outputs = new List<string>();
            var bySplit = splits.ToDictionary(s => s, s => rows.Where(r => r.Split == s).ToList(), StringComparer.Ordinal);
            string Blob(ManifestRow r) => blobs.LocalPath(r.Image.Sha256);

            var placer = new FilePlacer(files);
            if (writeFiles)
            {
                var clock = Stopwatch.StartNew();

                // A folder for every class in every split, empty where the split has none of it, so that sorting the
                // folder names gives every split the same class index.
                foreach (var split in splits)
                {
                    foreach (var label in classes.Labels)
                    {
                        Directory.CreateDirectory(Path.Combine(staging, split, label));
                    }
                }

                var placed = new ProgressCounter(progress, "export", rows.Count, "images", "imagefolder");
                foreach (var row in rows)
                {
                    ct.ThrowIfCancellationRequested();
                    placer.Place(Blob(row), Path.Combine(staging, row.Path!));
                    placed.Add();
                }

                times["imagefolder"] = clock.Elapsed;
            }

            if (formats.HasFlag(ExportFormats.WebDataset))
            {
                var clock = Stopwatch.StartNew();
                // The shard writer streams every sample in one go; its progress is the step as a whole.
                var step = new ProgressCounter(progress, "export", 1, "steps", "webdataset");
                step.SetTotal(1);
                outputs.AddRange(await WebDatasetWriter.WriteAsync(staging, [.. splits.SelectMany(s => bySplit[s])], Blob, time, ct));

                step.Add();
                times["webdataset"] = clock.Elapsed;
            }

            long parquetBytes = 0;
            if (formats.HasFlag(ExportFormats.Parquet))
            {
                var clock = Stopwatch.StartNew();
                var done = new ProgressCounter(progress, "export", rows.Count, "images", "parquet");
                done.SetTotal(rows.Count);
                foreach (var split in splits)
                {
                    var file = ParquetExportWriter.FileFor(split);
                    parquetBytes += await ParquetExportWriter.WriteAsync(Path.Combine(staging, file), bySplit[split], classes, parquetImages, Blob, ct);
                    outputs.Add(file);
                    done.Add(bySplit[split].Count);
                }

                times["parquet"] = clock.Elapsed;
            }

            var manifestClock = Stopwatch.StartNew();
            var splitIndex = splits.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i, StringComparer.Ordinal);
            var manifest = new StringBuilder(Manifest.Header(), 64 + rows.Count * 300);
            foreach (var row in rows.OrderBy(r => splitIndex[r.Split]).ThenBy(r => r.LabelIndex).ThenBy(r => r.Image.Sha256, StringComparer.Ordinal))
            {
                Manifest.AppendCsv(manifest, row);
            }

            var utf8 = new UTF8Encoding(false);
            await File.WriteAllTextAsync(Path.Combine(staging, Manifest.FileName), manifest.ToString(), utf8, ct);
            await File.WriteAllTextAsync(Path.Combine(staging, ClassIndex.FileName), classes.ToJson(), utf8, ct);
            times["manifest"] = manifestClock.Elapsed;
            var written = new WrittenDataset(placer.Placement, outputs, times, parquetBytes);
            await File.WriteAllTextAsync(Path.Combine(staging, ExportService.SummaryFile), summary(written), utf8, ct);

            // Swap in: an older export is moved aside first and removed only once the new one is in place.
            string? old = null;
            if (Directory.Exists(output))
            {
                if (Directory.EnumerateFileSystemEntries(output).Any())
                {
                    checkOutput(output, force);
                    old = Path.Combine(parent, "." + Path.GetFileName(output) + ".old-" + Guid.NewGuid().ToString("N")[..8]);
                    Directory.Move(output, old);
                }
                else
                {
                    Directory.Delete(output);
                }
            }

            Directory.Move(staging, output);
            if (old is not null)
            {
                Directory.Delete(old, recursive: true);
            }

            return written;
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }
    }
}
