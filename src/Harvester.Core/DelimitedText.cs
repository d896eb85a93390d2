using System.Text;

namespace Harvester.Core;

/// <summary>
/// Rows of CSV and TSV that are safe to open in a spreadsheet. Every CSV or TSV file the project writes goes through
/// here, because cells hold text scraped from the web (place and product names, URLs): a place named
/// <c>=cmd|' /C calc'!A0</c> must not become a formula when someone opens manifest.csv in a spreadsheet.
/// </summary>
public static class DelimitedText
{
    /// <summary>
    /// The cell as text a spreadsheet will not evaluate: a cell that starts with <c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>,
    /// a tab or a carriage return gets a leading apostrophe. Plain numbers (<c>-0.25</c>, <c>+3</c>, <c>-1e-05</c>) are
    /// left as they are: a spreadsheet reads them as numbers, and vectors and distances must stay numbers.
    /// </summary>
    public static string Neutralise(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        return value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' && !IsPlainNumber(value) ? "'" + value : value;
    }

    /// <summary>Appends one CSV row (RFC 4180 quoting, '\n' line end) of neutralised cells.</summary>
    public static void AppendCsvRow(StringBuilder sb, params ReadOnlySpan<string?> cells)
    {
        ArgumentNullException.ThrowIfNull(sb);
        for (var i = 0; i < cells.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }

            var v = Neutralise(cells[i]);
            if (v.AsSpan().IndexOfAny(",\"\n\r") >= 0)
            {
                sb.Append('"').Append(v.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            }
            else
            {
                sb.Append(v);
            }
        }

        sb.Append('\n');
    }

    /// <summary>
    /// Appends one TSV row of neutralised cells. TSV has no quoting, so tabs and line breaks inside a cell become spaces
    /// (after neutralising, so a cell that started with a tab still gets its apostrophe).
    /// </summary>
    public static void AppendTsvRow(StringBuilder sb, params ReadOnlySpan<string?> cells)
    {
        ArgumentNullException.ThrowIfNull(sb);
        for (var i = 0; i < cells.Length; i++)
        {
            if (i > 0)
            {
                sb.Append('\t');
            }

            var v = Neutralise(cells[i]);
            if (v.AsSpan().IndexOfAny("\t\n\r") >= 0)
            {
                v = v.Replace('\t', ' ').Replace('\n', ' ').Replace('\r', ' ');
            }

            sb.Append(v);
        }

        sb.Append('\n');
    }

    /// <summary>[+-] digits [. digits] [e[+-]digits], nothing else: what a spreadsheet reads as a number.</summary>
    private static bool IsPlainNumber(ReadOnlySpan<char> s)
    {
        var i = 0;
        if (i < s.Length && s[i] is '+' or '-')
        {
            i++;
        }

        var digits = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
            digits++;
        }

        if (i < s.Length && s[i] == '.')
        {
            i++;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
                digits++;
            }
        }

        if (digits == 0)
        {
            return false;
        }

        if (i < s.Length && s[i] is 'e' or 'E')
        {
            i++;
            if (i < s.Length && s[i] is '+' or '-')
            {
                i++;
            }

            var exponent = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
                exponent++;
            }

            if (exponent == 0)
            {
                return false;
            }
        }

        return i == s.Length;
    }
}
