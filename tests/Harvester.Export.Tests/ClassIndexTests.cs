namespace Harvester.Export.Tests;

public sealed class ClassIndexTests
{
    [Fact]
    public void Labels_are_numbered_in_code_point_order_as_python_sorts_them()
    {
        // U+FB01 (a BMP character above the surrogate range) sorts before U+1F600 by code point, after it by UTF-16 unit.
        var index = new ClassIndex(["카페", "bar", "\U0001F600", "\uFB01", "Bar", "bar", "꽃집"]);

        Assert.Equal(["Bar", "bar", "꽃집", "카페", "\uFB01", "\U0001F600"], index.Labels);
        Assert.Equal(3, index["카페"]);
        var json = System.Text.Json.Nodes.JsonNode.Parse(index.ToJson())!.AsObject();
        Assert.Equal(index.Labels, json.Select(p => p.Key));
        Assert.Equal(Enumerable.Range(0, 6), json.Select(p => p.Value!.GetValue<int>()));
        Assert.Equal("{\n  \"bar\": 0,\n  \"카페\": 1\n}\n", new ClassIndex(["카페", "bar"]).ToJson());
    }
}
