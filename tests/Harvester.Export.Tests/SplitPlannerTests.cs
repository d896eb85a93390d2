using Harvester.Core;

namespace Harvester.Export.Tests;

public sealed class SplitPlannerTests
{
    private static readonly IReadOnlyList<SplitSpec> Standard = SplitPlanner.ParseSplits("train=0.8,val=0.1,test=0.1");

    [Fact]
    public void Splits_are_parsed_with_their_fractions()
    {
        var splits = SplitPlanner.ParseSplits(" train = 0.7 , val=0.15,test=0.15 ");
        Assert.Equal(["train", "val", "test"], splits.Select(s => s.Name));
        Assert.Equal([0.7, 0.15, 0.15], splits.Select(s => s.Fraction));
    }

    [Theory]
    [InlineData("train=0.8,val=0.1", "add up to 0.9")]
    [InlineData("train=0.8,val=0.3,test=-0.1", "(0, 1]")]
    [InlineData("train=abc,val=1", "(0, 1]")]
    [InlineData("train=0.5,train=0.5", "twice")]
    [InlineData("Train/..=1", "folder name")]
    [InlineData("train", "name=fraction")]
    [InlineData("", "No splits")]
    public void Bad_splits_are_refused_with_the_reason(string text, string expected)
    {
        var e = Assert.Throws<HarvesterException>(() => SplitPlanner.ParseSplits(text));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Many_small_groups_meet_the_fractions_within_one_group()
    {
        var sizes = Enumerable.Repeat(1, 1000).ToArray();
        var keys = Enumerable.Range(0, 1000).Select(i => "k" + i).ToArray();
        var split = SplitPlanner.Assign(sizes, keys, Standard, seed: 3);
        Assert.InRange(split.Count(s => s == 0), 799, 801);
        Assert.InRange(split.Count(s => s == 1), 99, 101);
        Assert.InRange(split.Count(s => s == 2), 99, 101);
    }

    [Fact]
    public void Uneven_groups_land_close_to_the_targets()
    {
        // Places with very different photo counts: 600 images in 61 groups.
        var sizes = new[] { 120, 80, 60, 40 }.Concat(Enumerable.Range(0, 57).Select(i => 5 + i % 3 * 2)).ToArray();
        var keys = sizes.Select((_, i) => "place-" + i).ToArray();
        var split = SplitPlanner.Assign(sizes, keys, Standard, seed: 1);
        var total = sizes.Sum();
        for (var s = 0; s < 3; s++)
        {
            var share = (double)sizes.Where((_, g) => split[g] == s).Sum() / total;
            Assert.InRange(share, Standard[s].Fraction - 0.02, Standard[s].Fraction + 0.02);
        }
    }

    [Fact]
    public void Same_seed_gives_the_same_splits_whatever_the_input_order_and_another_seed_changes_them()
    {
        var sizes = Enumerable.Range(0, 200).Select(i => 1 + i % 4).ToArray();
        var keys = sizes.Select((_, i) => "sha-" + i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var a = SplitPlanner.Assign(sizes, keys, Standard, seed: 5);

        var reversed = Enumerable.Range(0, 200).Reverse().ToArray();
        var b = SplitPlanner.Assign(reversed.Select(i => sizes[i]).ToArray(), reversed.Select(i => keys[i]).ToArray(), Standard, seed: 5);
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(a[reversed[i]], b[i]);
        }

        var c = SplitPlanner.Assign(sizes, keys, Standard, seed: 6);
        Assert.True(a.Zip(c).Count(p => p.First != p.Second) > 10, "a different seed puts different groups in val and test");
    }

    private static SplitGroup Group(string key, params (int Label, int Count)[] labels) => new(labels.Sum(l => l.Count), key, labels);

    private static int[,] Counts(IReadOnlyList<SplitGroup> groups, int[] split, int labels, int splits)
    {
        var counts = new int[splits, labels];
        for (var g = 0; g < groups.Count; g++)
        {
            foreach (var (label, count) in groups[g].Labels)
            {
                counts[split[g], label] += count;
            }
        }

        return counts;
    }

    [Fact]
    public void Every_label_with_enough_groups_is_in_every_split_where_plain_balancing_loses_small_ones()
    {
        // 30 labels, one large place each plus two to five small ones: balancing by size alone fills val and test with
        // a few labels' big places and leaves most labels out of them.
        var random = new Random(7);
        var groups = new List<SplitGroup>();
        for (var label = 0; label < 30; label++)
        {
            groups.Add(Group($"l{label}-big", (label, 40 + random.Next(60))));
            for (var i = 0; i < 2 + label % 4; i++)
            {
                groups.Add(Group($"l{label}-{i}", (label, 1 + random.Next(6))));
            }
        }

        var plan = SplitPlanner.Plan(groups, 30, Standard, seed: 1);

        Assert.Empty(plan.Shortfalls);
        var counts = Counts(groups, plan.SplitOfGroup, 30, 3);
        for (var label = 0; label < 30; label++)
        {
            for (var s = 0; s < 3; s++)
            {
                Assert.True(counts[s, label] > 0, $"label {label} missing from split {s}");
            }
        }

        var total = groups.Sum(g => g.Size);
        for (var s = 0; s < 3; s++)
        {
            var share = (double)Enumerable.Range(0, groups.Count).Where(g => plan.SplitOfGroup[g] == s).Sum(g => groups[g].Size) / total;
            Assert.InRange(share, Standard[s].Fraction - 0.03, Standard[s].Fraction + 0.03);
        }

        // The unstratified order (largest first into the emptiest split) would have left labels out: the test data is hard.
        var plain = new int[groups.Count];
        var assigned = new double[3];
        foreach (var g in Enumerable.Range(0, groups.Count).OrderByDescending(g => groups[g].Size))
        {
            var s = Enumerable.Range(0, 3).MaxBy(s => Standard[s].Fraction * total - assigned[s]);
            plain[g] = s;
            assigned[s] += groups[g].Size;
        }

        var plainCounts = Counts(groups, plain, 30, 3);
        Assert.True(Enumerable.Range(0, 30).Count(l => plainCounts[1, l] == 0 || plainCounts[2, l] == 0) > 10, "balancing by size alone loses many labels from val or test");
    }

    [Fact]
    public void Per_label_shares_land_near_the_targets_when_groups_are_small()
    {
        var random = new Random(3);
        var groups = Enumerable.Range(0, 2000).Select(i => Group("g" + i, (i % 8, 1 + random.Next(4)))).ToList();

        var plan = SplitPlanner.Plan(groups, 8, Standard, seed: 2);

        var counts = Counts(groups, plan.SplitOfGroup, 8, 3);
        for (var label = 0; label < 8; label++)
        {
            var total = Enumerable.Range(0, 3).Sum(s => counts[s, label]);
            for (var s = 0; s < 3; s++)
            {
                Assert.InRange((double)counts[s, label] / total, Standard[s].Fraction - 0.015, Standard[s].Fraction + 0.015);
            }
        }
    }

    [Fact]
    public void Labels_with_fewer_groups_than_splits_are_reported_with_the_splits_that_have_them()
    {
        var groups = new List<SplitGroup>
        {
            Group("a1", (0, 10)), Group("a2", (0, 3)), Group("a3", (0, 2)), Group("a4", (0, 4)),
            Group("b1", (1, 5)), Group("b2", (1, 1)),
            Group("c1", (2, 7)),
        };

        var plan = SplitPlanner.Plan(groups, 3, Standard, seed: 1);

        Assert.Equal([1, 2], plan.Shortfalls.Select(s => s.Label));
        var b = plan.Shortfalls[0];
        Assert.Equal((2, 6), (b.Groups, b.Images));
        Assert.Equal(plan.SplitOfGroup.Skip(4).Take(2).Distinct().Order(), b.Splits.Order());
        Assert.Equal([plan.SplitOfGroup[6]], plan.Shortfalls[1].Splits);
        Assert.Equal(3, Enumerable.Range(0, 4).Select(g => plan.SplitOfGroup[g]).Distinct().Count());
    }

    [Fact]
    public void A_label_whose_groups_are_shared_with_others_is_repaired_into_every_split()
    {
        // Label 1 only appears in groups that also hold label 0; label 0 has many groups of its own.
        var groups = new List<SplitGroup>
        {
            Group("m1", (0, 3), (1, 1)), Group("m2", (0, 2), (1, 2)), Group("m3", (0, 4), (1, 1)),
        };
        groups.AddRange(Enumerable.Range(0, 12).Select(i => Group("z" + i, (0, 2 + i % 3))));

        var plan = SplitPlanner.Plan(groups, 2, Standard, seed: 5);

        Assert.Empty(plan.Shortfalls);
        Assert.Equal(3, plan.SplitOfGroup.Take(3).Distinct().Count());
    }

    [Fact]
    public void Plans_do_not_depend_on_the_input_order()
    {
        var random = new Random(11);
        var groups = Enumerable.Range(0, 300).Select(i => Group("k" + i, (i % 5, 1 + random.Next(9)), ((i + 1) % 5, 1 + random.Next(2)))).ToList();
        var a = SplitPlanner.Plan(groups, 5, Standard, seed: 8);
        var reversed = Enumerable.Range(0, groups.Count).Reverse().ToArray();
        var b = SplitPlanner.Plan([.. reversed.Select(i => groups[i])], 5, Standard, seed: 8);
        for (var i = 0; i < groups.Count; i++)
        {
            Assert.Equal(a.SplitOfGroup[reversed[i]], b.SplitOfGroup[i]);
        }
    }

    [Fact]
    public void Groups_whose_counts_do_not_add_up_are_refused()
    {
        Assert.Throws<ArgumentException>(() => SplitPlanner.Plan([new SplitGroup(5, "x", [(0, 4)])], 1, Standard, 1));
        Assert.Throws<ArgumentException>(() => SplitPlanner.Plan([new SplitGroup(2, "x", [(3, 2)])], 1, Standard, 1));
    }
}
