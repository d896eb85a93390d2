namespace Harvester.Export.Tests;

public sealed class ExportCapsTests
{
    private static ExportImage Image(long id, long? place, long? product, double? quality) =>
        new(id, id.ToString("x64", System.Globalization.CultureInfo.InvariantCulture), 100, 100, "jpeg", quality, "http://x/" + id, null, place, product, "s", null, null, "c", null, null);

    [Fact]
    public void The_source_cap_keeps_the_best_per_place_or_product_and_leaves_sourceless_images_alone()
    {
        var images = new List<ExportImage>
        {
            Image(1, 10, null, 0.2), Image(2, 10, null, 0.9), Image(3, 10, null, null), Image(4, 10, null, 0.5),
            Image(5, null, 20, 0.1), Image(6, null, 20, 0.3),
            Image(7, null, null, 0.1), Image(8, null, null, 0.1),
            Image(9, 11, null, 0.4),
        };
        var labels = images.Select(i => i.Id <= 4 ? "a" : "b").ToList();

        var (kept, report) = ExportCaps.Apply(images, labels, maxPerSource: 2, maxPerLabel: null, seed: 1);

        Assert.Equal([1, 3, 4, 5, 6, 7, 8], kept);
        Assert.Equal(2, report.DroppedBySource);
        Assert.Equal(1, report.SourcesCapped);
        Assert.Equal(0, report.DroppedByLabel);
        Assert.Equal(new Dictionary<string, int> { ["a"] = 2 }, report.DroppedPerLabel);
    }

    [Fact]
    public void The_label_cap_keeps_the_best_and_breaks_quality_ties_by_seed()
    {
        var images = Enumerable.Range(1, 40).Select(i => Image(i, i, null, i <= 10 ? 0.9 : 0.5)).ToList();
        var labels = images.Select(_ => "x").ToList();

        var (a, report) = ExportCaps.Apply(images, labels, null, maxPerLabel: 15, seed: 1);
        var (b, _) = ExportCaps.Apply(images, labels, null, maxPerLabel: 15, seed: 1);
        var (c, _) = ExportCaps.Apply(images, labels, null, maxPerLabel: 15, seed: 2);

        Assert.Equal(15, a.Length);
        Assert.All(Enumerable.Range(0, 10), i => Assert.Contains(i, a));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal((25, 1), (report.DroppedByLabel, report.LabelsCapped));
    }

    [Fact]
    public void No_caps_keep_everything()
    {
        var images = Enumerable.Range(1, 5).Select(i => Image(i, 1, null, 0.1)).ToList();
        var (kept, report) = ExportCaps.Apply(images, [.. images.Select(_ => "x")], null, null, 1);
        Assert.Equal([0, 1, 2, 3, 4], kept);
        Assert.Equal(0, report.Dropped);
    }
}
