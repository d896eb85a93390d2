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
}
