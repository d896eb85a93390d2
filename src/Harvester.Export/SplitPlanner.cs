using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Harvester.Core;

namespace Harvester.Export;

/// <summary>One split of an export: its name (a folder name) and the fraction of the images it should hold.</summary>
public sealed record SplitSpec(string Name, double Fraction);

/// <summary>
/// Puts groups of images (each group must stay whole: the same place, the same product, near-copies) into splits so
/// that each split's share of the images is as close to its target as whole groups allow. Deterministic for a seed and
/// independent of database ids: groups are ordered by size, then by a seeded hash of their content key.
/// </summary>
public static partial class SplitPlanner
{
    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,31}$")]
    private static partial Regex SplitName();

    /// <summary>Parses "train=0.8,val=0.1,test=0.1" (fractions must be positive and sum to 1).</summary>
    public static IReadOnlyList<SplitSpec> ParseSplits(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new HarvesterException("No splits given; use e.g. train=0.8,val=0.1,test=0.1.");
        }

        var splits = new List<SplitSpec>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new HarvesterException($"Split '{part}' is not name=fraction; use e.g. train=0.8,val=0.1,test=0.1.");
            }

            var name = part[..eq].Trim();
            if (!SplitName().IsMatch(name))
            {
                throw new HarvesterException($"Split name '{name}' must be lower-case letters, digits, '-' or '_' (it becomes a folder name).");
            }

            if (!double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var fraction) || !double.IsFinite(fraction) || fraction <= 0 || fraction > 1)
            {
                throw new HarvesterException($"Split '{name}' has fraction '{part[(eq + 1)..]}'; it must be a number in (0, 1].");
            }

            if (splits.Any(s => s.Name == name))
            {
                throw new HarvesterException($"Split '{name}' is given twice.");
            }

            splits.Add(new SplitSpec(name, fraction));
        }

        var sum = splits.Sum(s => s.Fraction);
        if (splits.Count == 0 || Math.Abs(sum - 1) > 1e-6)
        {
            throw new HarvesterException($"Split fractions add up to {sum.ToString("0.###", CultureInfo.InvariantCulture)}; they must add up to 1.");
        }

        return splits;
    }

    /// <summary>
    /// The split index for each group. <paramref name="sizes"/>[g] is the number of images in group g and
    /// <paramref name="keys"/>[g] a stable content key for it (e.g. its smallest image SHA-256).
    /// </summary>
    public static int[] Assign(IReadOnlyList<int> sizes, IReadOnlyList<string> keys, IReadOnlyList<SplitSpec> splits, int seed)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(splits);
        if (sizes.Count != keys.Count)
        {
            throw new ArgumentException("One key per group.", nameof(keys));
        }

        if (splits.Count == 0)
        {
            throw new ArgumentException("At least one split.", nameof(splits));
        }

        var total = sizes.Sum(s => (long)s);
        var order = Enumerable.Range(0, sizes.Count)
            .Select(g => (Group: g, Size: sizes[g], Rank: Rank(seed, keys[g])))
            .OrderByDescending(x => x.Size)
            .ThenBy(x => x.Rank)
            .ThenBy(x => keys[x.Group], StringComparer.Ordinal)
            .Select(x => x.Group);

        // Largest groups first, each into the split furthest below its target; what is left are small groups that
        // even out the shares. Ties between equal groups are broken by the seeded hash, so which place lands in which
        // split changes with the seed and not with the order rows came out of the database.
        var assigned = new long[splits.Count];
        var result = new int[sizes.Count];
        foreach (var g in order)
        {
            var best = 0;
            var bestDeficit = double.NegativeInfinity;
            for (var s = 0; s < splits.Count; s++)
            {
                var deficit = splits[s].Fraction * total - assigned[s];
                if (deficit > bestDeficit + 1e-9)
                {
                    best = s;
                    bestDeficit = deficit;
                }
            }

            result[g] = best;
            assigned[best] += sizes[g];
        }

        return result;
    }

    private static ulong Rank(int seed, string key)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(seed.ToString(CultureInfo.InvariantCulture) + "\n" + key), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }
}
