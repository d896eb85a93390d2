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
/// A group of images that must stay in one split: its size, a stable content key (e.g. its smallest image SHA-256) and
/// its images per label (class index, count).
/// </summary>
public sealed record SplitGroup(int Size, string Key, IReadOnlyList<(int Label, int Count)> Labels);

/// <summary>A label that is not in every split: its groups, its images and the splits that hold it.</summary>
public sealed record LabelShortfall(int Label, int Groups, int Images, IReadOnlyList<int> Splits);

/// <summary>The split of each group, and the labels that could not be put in every split.</summary>
public sealed record SplitPlan(int[] SplitOfGroup, IReadOnlyList<LabelShortfall> Shortfalls);

/// <summary>
/// Puts groups of images (each group must stay whole: the same place, the same product, near-copies) into splits so
/// that every label with enough groups is in every split and each split's share of the images, overall and per label,
/// is as close to its target as whole groups allow. Deterministic for a seed and independent of database ids: groups
/// are ordered by size, then by a seeded hash of their content key.
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
    /// The split index for each group when there are no labels to spread (one class). <paramref name="sizes"/>[g] is
    /// the number of images in group g and <paramref name="keys"/>[g] a stable content key for it (e.g. its smallest
    /// image SHA-256).
    /// </summary>
    public static int[] Assign(IReadOnlyList<int> sizes, IReadOnlyList<string> keys, IReadOnlyList<SplitSpec> splits, int seed)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(keys);
        if (sizes.Count != keys.Count)
        {
            throw new ArgumentException("One key per group.", nameof(keys));
        }

        var groups = sizes.Select((s, g) => new SplitGroup(s, keys[g], [(0, s)])).ToList();
        return Plan(groups, 1, splits, seed).SplitOfGroup;
    }

    /// <summary>
    /// Puts whole groups into splits, stratified by label:
    /// <list type="number">
    /// <item>Coverage: every label with at least as many groups as there are splits gets one group in each split,
    /// most constrained labels first, using the label's smallest and purest groups (the smallest go to the smallest
    /// splits), so the placement costs the shares as little as possible.</item>
    /// <item>Balance: the other groups, largest first, each go to the split where they add least to the distance from
    /// the targets: the split's images against its share of all images, and its images of each of the group's labels
    /// against its share of that label (with one label, simply the split furthest below its target).</item>
    /// <item>Repair: a label still missing from a split takes a group from a split that holds two or more of its groups,
    /// when no other label loses its place by the move.</item>
    /// <item>Improve: single moves (and, for a few hundred groups or fewer, swaps) that bring the shares closer to the
    /// targets, overall and per label, without taking any label out of a split.</item>
    /// </list>
    /// Deterministic for a seed and independent of the input order: ties are broken by a seeded hash of each group's key.
    /// </summary>
    public static SplitPlan Plan(IReadOnlyList<SplitGroup> groups, int labelCount, IReadOnlyList<SplitSpec> splits, int seed)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(splits);
        if (splits.Count == 0)
        {
            throw new ArgumentException("At least one split.", nameof(splits));
        }

        foreach (var g in groups)
        {
            if (g.Size <= 0 || g.Labels.Count == 0 || g.Labels.Sum(l => l.Count) != g.Size || g.Labels.Any(l => l.Label < 0 || l.Label >= labelCount || l.Count <= 0)
                || g.Labels.Select(l => l.Label).Distinct().Count() != g.Labels.Count)
            {
                throw new ArgumentException($"Group '{g.Key}' must have a positive size equal to the sum of its distinct labels' counts.", nameof(groups));
            }
        }

        var state = new PlanState(groups, labelCount, splits);
        var rank = groups.Select(g => Rank(seed, g.Key)).ToArray();
        var order = Enumerable.Range(0, groups.Count)
            .OrderByDescending(g => groups[g].Size)
            .ThenBy(g => rank[g])
            .ThenBy(g => groups[g].Key, StringComparer.Ordinal)
            .ToArray();
        var groupsOf = Enumerable.Range(0, labelCount).Select(_ => new List<int>()).ToArray();
        foreach (var g in order)
        {
            foreach (var (label, _) in groups[g].Labels)
            {
                groupsOf[label].Add(g);
            }
        }

        var k = splits.Count;
        var eligible = Enumerable.Range(0, labelCount)
            .Where(l => groupsOf[l].Count >= k)
            .OrderBy(l => groupsOf[l].Count)
            .ThenBy(l => state.LabelTotal(l))
            .ThenBy(l => l)
            .ToList();

        // 1. Coverage.
        var bySmallestTarget = Enumerable.Range(0, k).OrderBy(s => splits[s].Fraction).ThenBy(s => s).ToArray();
        foreach (var label in eligible)
        {
            var missing = bySmallestTarget.Where(s => state.Groups(s, label) == 0).ToList();
            var take = groupsOf[label]
                .Where(g => state.Split[g] < 0)
                .OrderByDescending(g => Purity(groups[g], label))
                .ThenBy(g => groups[g].Size)
                .ThenBy(g => rank[g])
                .Take(missing.Count)
                .OrderBy(g => groups[g].Size)
                .ThenBy(g => rank[g])
                .ToList();
            for (var i = 0; i < take.Count; i++)
            {
                state.Assign(take[i], missing[i]);
            }
        }

        // 2. Balance.
        foreach (var g in order)
        {
            if (state.Split[g] >= 0)
            {
                continue;
            }

            var best = 0;
            var bestCost = double.PositiveInfinity;
            for (var s = 0; s < k; s++)
            {
                var cost = state.AddCost(g, s);
                if (cost < bestCost - 1e-9)
                {
                    best = s;
                    bestCost = cost;
                }
            }

            state.Assign(g, best);
        }

        // 3. Repair.
        foreach (var label in eligible)
        {
            foreach (var s in bySmallestTarget)
            {
                if (state.Groups(s, label) > 0)
                {
                    continue;
                }

                var move = groupsOf[label]
                    .Where(g => state.Groups(state.Split[g], label) >= 2 && groups[g].Labels.All(l => l.Label == label || state.Groups(state.Split[g], l.Label) >= 2))
                    .Select(g => (Group: g, Delta: state.Delta(g, state.Split[g], s)))
                    .OrderBy(x => x.Delta)
                    .ThenBy(x => rank[x.Group])
                    .FirstOrDefault((-1, 0));
                if (move.Group >= 0)
                {
                    state.Move(move.Group, s);
                }
            }
        }

        // 4. Improve.
        const int MaxPasses = 20;
        const int SwapLimit = 300;
        for (var pass = 0; pass < MaxPasses; pass++)
        {
            var improved = false;
            foreach (var g in order)
            {
                var from = state.Split[g];
                var best = -1;
                var bestDelta = -1e-9;
                for (var s = 0; s < k; s++)
                {
                    if (s != from && state.KeepsCoverage(g, from, s) && state.Delta(g, from, s) is var d && d < bestDelta)
                    {
                        best = s;
                        bestDelta = d;
                    }
                }

                if (best >= 0)
                {
                    state.Move(g, best);
                    improved = true;
                }
            }

            if (groups.Count <= SwapLimit)
            {
                for (var a = 0; a < order.Length; a++)
                {
                    for (var b = a + 1; b < order.Length; b++)
                    {
                        improved |= state.TrySwap(order[a], order[b]);
                    }
                }
            }

            if (!improved)
            {
                break;
            }
        }

        var shortfalls = new List<LabelShortfall>();
        for (var label = 0; label < labelCount; label++)
        {
            var present = Enumerable.Range(0, k).Where(s => state.Groups(s, label) > 0).ToList();
            if (groupsOf[label].Count > 0 && present.Count < k)
            {
                shortfalls.Add(new LabelShortfall(label, groupsOf[label].Count, (int)state.LabelTotal(label), present));
            }
        }

        return new SplitPlan(state.Split, shortfalls);
    }

    private static double Purity(SplitGroup group, int label) => (double)group.Labels.First(l => l.Label == label).Count / group.Size;

    /// <summary>Images and groups per split and label while a plan is built, and the cost of moving a group.</summary>
    private sealed class PlanState
    {
        private readonly IReadOnlyList<SplitGroup> _groups;
        private readonly double[] _fraction;
        private readonly int _labels;
        private readonly double _total;
        private readonly long[] _labelTotal;
        private readonly long[] _images;
        private readonly long[] _labelImages;
        private readonly int[] _labelGroups;

        public PlanState(IReadOnlyList<SplitGroup> groups, int labels, IReadOnlyList<SplitSpec> splits)
        {
            _groups = groups;
            _fraction = [.. splits.Select(s => s.Fraction)];
            _labels = labels;
            _labelTotal = new long[labels];
            foreach (var g in groups)
            {
                _total += g.Size;
                foreach (var (label, count) in g.Labels)
                {
                    _labelTotal[label] += count;
                }
            }

            _images = new long[splits.Count];
            _labelImages = new long[splits.Count * labels];
            _labelGroups = new int[splits.Count * labels];
            Split = new int[groups.Count];
            Array.Fill(Split, -1);
        }

        public int[] Split { get; }

        public long LabelTotal(int label) => _labelTotal[label];

        /// <summary>Groups in split <paramref name="s"/> that hold images of <paramref name="label"/>.</summary>
        public int Groups(int s, int label) => _labelGroups[s * _labels + label];

        public void Assign(int g, int s)
        {
            Split[g] = s;
            Apply(g, s, +1);
        }

        public void Move(int g, int s)
        {
            Apply(g, Split[g], -1);
            Split[g] = s;
            Apply(g, s, +1);
        }

        private void Apply(int g, int s, int sign)
        {
            _images[s] += sign * _groups[g].Size;
            foreach (var (label, count) in _groups[g].Labels)
            {
                _labelImages[s * _labels + label] += sign * count;
                _labelGroups[s * _labels + label] += sign;
            }
        }

        /// <summary>The change in the objective (see <see cref="Delta"/>) if the unassigned group <paramref name="g"/> went to split <paramref name="s"/>.</summary>
        public double AddCost(int g, int s)
        {
            var group = _groups[g];
            var cost = Change(_images[s], _images[s] + group.Size, _fraction[s] * _total);
            foreach (var (label, count) in group.Labels)
            {
                var a = _labelImages[s * _labels + label];
                cost += Change(a, a + count, _fraction[s] * _labelTotal[label]);
            }

            return cost;
        }

        /// <summary>
        /// The change in the objective if group <paramref name="g"/> moved from <paramref name="from"/> to
        /// <paramref name="to"/>. The objective is how many images each split is off its target, squared, overall and
        /// per label: (images − fraction × all images)² summed over splits, plus (images of the label − fraction ×
        /// images of the label)² summed over splits and labels. In images rather than shares, so a label weighs by its
        /// size: a small label cannot pull a split's size far off its target.
        /// </summary>
        public double Delta(int g, int from, int to)
        {
            var group = _groups[g];
            var delta = Change(_images[from], _images[from] - group.Size, _fraction[from] * _total)
                + Change(_images[to], _images[to] + group.Size, _fraction[to] * _total);
            foreach (var (label, count) in group.Labels)
            {
                var a = _labelImages[from * _labels + label];
                var b = _labelImages[to * _labels + label];
                delta += Change(a, a - count, _fraction[from] * _labelTotal[label]) + Change(b, b + count, _fraction[to] * _labelTotal[label]);
            }

            return delta;
        }

        private static double Change(double before, double after, double target) =>
            (after - target) * (after - target) - (before - target) * (before - target);

        /// <summary>False when moving the group would take a label out of a split while it is already in the target split (fewer splits would hold it).</summary>
        public bool KeepsCoverage(int g, int from, int to) =>
            _groups[g].Labels.All(l => Groups(from, l.Label) >= 2 || Groups(to, l.Label) == 0);

        /// <summary>Swaps two groups of different splits when that brings the shares closer without any label losing a split.</summary>
        public bool TrySwap(int g, int h)
        {
            var sg = Split[g];
            var sh = Split[h];
            if (sg == sh)
            {
                return false;
            }

            var labels = _groups[g].Labels.Concat(_groups[h].Labels).Select(l => l.Label).Distinct().ToArray();
            var before = labels.Select(Covered).ToArray();
            var delta = Delta(g, sg, sh);
            Move(g, sh);
            delta += Delta(h, sh, sg);
            Move(h, sg);
            if (delta < -1e-9 && labels.Select(Covered).Zip(before).All(p => p.First >= p.Second))
            {
                return true;
            }

            Move(h, sh);
            Move(g, sg);
            return false;
        }

        private int Covered(int label)
        {
            var n = 0;
            for (var s = 0; s < _images.Length; s++)
            {
                n += _labelGroups[s * _labels + label] > 0 ? 1 : 0;
            }

            return n;
        }
    }

    private static ulong Rank(int seed, string key)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(seed.ToString(CultureInfo.InvariantCulture) + "\n" + key), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }
}
