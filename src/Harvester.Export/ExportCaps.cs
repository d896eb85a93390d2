using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Harvester.Export;

/// <summary>What the caps left out: images dropped by each cap, the sources and labels that were cut, per label.</summary>
public sealed record CapReport(
    int? MaxPerLabel,
    int? MaxPerSource,
    int DroppedBySource,
    int DroppedByLabel,
    int SourcesCapped,
    int LabelsCapped,
    IReadOnlyDictionary<string, int> DroppedPerLabel)
{
    public static readonly CapReport None = new(null, null, 0, 0, 0, 0, new Dictionary<string, int>());

    public int Dropped => DroppedBySource + DroppedByLabel;
}

/// <summary>
/// Caps per source (place or product) and per label, keeping the best images by quality score. Images without a score
/// come last; ties are broken by a seeded hash of the SHA-256, so the same seed and data keep the same images.
/// </summary>
public static class ExportCaps
{
    /// <summary>The indexes of the images kept, in input order, and what was dropped.</summary>
    public static (int[] Kept, CapReport Report) Apply(
        IReadOnlyList<ExportImage> images, IReadOnlyList<string> labels, int? maxPerSource, int? maxPerLabel, int seed)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (maxPerSource is null && maxPerLabel is null)
        {
            return ([.. Enumerable.Range(0, images.Count)], CapReport.None);
        }

        var rank = images.Select(i => Rank(seed, i.Sha256)).ToArray();
        IEnumerable<int> Best(IEnumerable<int> members) => members
            .OrderByDescending(i => images[i].Quality ?? double.NegativeInfinity)
            .ThenBy(i => rank[i])
            .ThenBy(i => images[i].Sha256, StringComparer.Ordinal);

        var kept = Enumerable.Range(0, images.Count).ToList();
        var droppedBySource = 0;
        var sourcesCapped = 0;
        var droppedPerLabel = new Dictionary<string, int>(StringComparer.Ordinal);
        void Drop(IEnumerable<int> dropped)
        {
            foreach (var i in dropped)
            {
                droppedPerLabel[labels[i]] = droppedPerLabel.GetValueOrDefault(labels[i]) + 1;
            }
        }

        if (maxPerSource is { } perSource)
        {
            var keep = new List<int>();
            foreach (var source in kept.GroupBy(SourceKey))
            {
                if (source.Key is null || source.Count() <= perSource)
                {
                    keep.AddRange(source);
                    continue;
                }

                var best = Best(source).ToList();
                keep.AddRange(best.Take(perSource));
                Drop(best.Skip(perSource));
                droppedBySource += best.Count - perSource;
                sourcesCapped++;
            }

            kept = keep;
        }

        var droppedByLabel = 0;
        var labelsCapped = 0;
        if (maxPerLabel is { } perLabel)
        {
            var keep = new List<int>();
            foreach (var label in kept.GroupBy(i => labels[i], StringComparer.Ordinal))
            {
                var best = Best(label).ToList();
                keep.AddRange(best.Take(perLabel));
                if (best.Count > perLabel)
                {
                    Drop(best.Skip(perLabel));
                    droppedByLabel += best.Count - perLabel;
                    labelsCapped++;
                }
            }

            kept = keep;
        }

        kept.Sort();
        var report = new CapReport(maxPerLabel, maxPerSource, droppedBySource, droppedByLabel, sourcesCapped, labelsCapped,
            droppedPerLabel.OrderBy(p => p.Key, ClassIndex.CodePointComparer.Instance).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal));
        return ([.. kept], report);

        string? SourceKey(int i) => images[i] switch
        {
            { PlaceId: { } place } => "place:" + place.ToString(CultureInfo.InvariantCulture),
            { ProductId: { } product } => "product:" + product.ToString(CultureInfo.InvariantCulture),
            _ => null,
        };
    }

    private static ulong Rank(int seed, string sha256)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(seed.ToString(CultureInfo.InvariantCulture) + "\ncap\n" + sha256), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }
}
