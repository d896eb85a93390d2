using System.Text;
using Harvester.Core;

namespace Harvester.Export.Tests;

public sealed class DelimitedTextTests
{
    [Theory]
    [InlineData("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0")]
    [InlineData("+1+2", "'+1+2")]
    [InlineData("-2+3", "'-2+3")]
    [InlineData("@SUM(A1:A9)", "'@SUM(A1:A9)")]
    [InlineData("\t=1", "'\t=1")]
    [InlineData("\r=1", "'\r=1")]
    [InlineData("-Infinity", "'-Infinity")]
    [InlineData("-0.25", "-0.25")]
    [InlineData("+3", "+3")]
    [InlineData("-1e-05", "-1e-05")]
    [InlineData("1E+10", "1E+10")]
    [InlineData("카페 =1", "카페 =1")]
    [InlineData("", "")]
    [InlineData(null, "")]
    public void Cells_a_spreadsheet_would_run_get_an_apostrophe_and_numbers_stay_numbers(string? cell, string expected) =>
        Assert.Equal(expected, DelimitedText.Neutralise(cell));

    [Fact]
    public void Csv_rows_quote_what_needs_it_after_neutralising()
    {
        var sb = new StringBuilder();
        DelimitedText.AppendCsvRow(sb, "=HYPERLINK(\"http://x\",\"y\")", "a,b", "-5", null, "plain");
        Assert.Equal("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"a,b\",-5,,plain\n", sb.ToString());
    }

    [Fact]
    public void Tsv_rows_replace_tabs_and_line_breaks_inside_cells()
    {
        var sb = new StringBuilder();
        DelimitedText.AppendTsvRow(sb, "\tx", "a\tb\nc", "-0.5");
        Assert.Equal("' x\ta b c\t-0.5\n", sb.ToString());
    }
}
