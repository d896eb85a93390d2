using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Harvester.Crawl;

/// <summary>
/// The small JSONPath a site definition reads JSON with: <c>$</c> (optional), <c>.name</c>, <c>['name']</c>,
/// <c>[2]</c>, <c>[*]</c>, <c>.*</c> and <c>..name</c> (that name at any depth). Enough for API payloads,
/// __NEXT_DATA__ and GraphQL results; no filters or scripts, so a definition cannot run code.
/// </summary>
public sealed class JsonPath
{
    private enum Kind
    {
        Name,
        Index,
        Wildcard,
        Descendant,
    }

    private readonly record struct Segment(Kind Kind, string Name, int Index);

    private readonly Segment[] _segments;

    private JsonPath(string text, Segment[] segments)
    {
        Text = text;
        _segments = segments;
    }

    public string Text { get; }

    /// <summary>Parses <paramref name="text"/>; throws <see cref="FormatException"/> saying where it is wrong.</summary>
    public static JsonPath Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim();
        if (s.Length == 0)
        {
            throw new FormatException("the path is empty");
        }

        var segments = new List<Segment>();
        var i = 0;
        if (s[0] == '$')
        {
            i = 1;
        }
        else if (s[0] != '.' && s[0] != '[')
        {
            // A relative path may start with a plain name: "card.image_url".
            s = "." + s;
        }

        while (i < s.Length)
        {
            if (s[i] == '.')
            {
                if (i + 1 < s.Length && s[i + 1] == '.')
                {
                    i += 2;
                    var name = ReadName(s, ref i);
                    segments.Add(new Segment(Kind.Descendant, name, 0));
                    continue;
                }

                i++;
                if (i < s.Length && s[i] == '*')
                {
                    i++;
                    segments.Add(new Segment(Kind.Wildcard, "", 0));
                    continue;
                }

                segments.Add(new Segment(Kind.Name, ReadName(s, ref i), 0));
            }
            else if (s[i] == '[')
            {
                var close = FindClose(s, i);
                var inner = s[(i + 1)..close].Trim();
                i = close + 1;
                if (inner == "*")
                {
                    segments.Add(new Segment(Kind.Wildcard, "", 0));
                }
                else if (inner.Length >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[^1] == inner[0])
                {
                    segments.Add(new Segment(Kind.Name, inner[1..^1], 0));
                }
                else if (int.TryParse(inner, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var index))
                {
                    segments.Add(new Segment(Kind.Index, "", index));
                }
                else
                {
                    throw new FormatException($"'[{inner}]' is not [n], [*] or ['name']");
                }
            }
            else
            {
                throw new FormatException($"unexpected '{s[i]}' at position {i + 1}");
            }
        }

        return new JsonPath(text, [.. segments]);
    }

    public static bool TryParse(string text, out JsonPath? path, out string? error)
    {
        try
        {
            path = Parse(text);
            error = null;
            return true;
        }
        catch (FormatException e)
        {
            path = null;
            error = e.Message;
            return false;
        }
    }

    /// <summary>Every value the path selects, in document order.</summary>
    public IEnumerable<JsonElement> Select(JsonElement root)
    {
        IEnumerable<JsonElement> current = [root];
        foreach (var segment in _segments)
        {
            current = current.SelectMany(e => Step(e, segment)).ToList();
        }

        return current;
    }

    /// <summary>The first selected value as text (strings as they are, numbers and booleans as written); null when none.</summary>
    public string? FirstText(JsonElement root) => Select(root).Select(AsText).FirstOrDefault(t => t is not null);

    /// <summary>Every selected value that is text, a number or a boolean.</summary>
    public IEnumerable<string> Texts(JsonElement root) => Select(root).Select(AsText).OfType<string>();

    public override string ToString() => Text;

    public static string? AsText(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => null,
    };

    private static IEnumerable<JsonElement> Step(JsonElement e, Segment segment)
    {
        switch (segment.Kind)
        {
            case Kind.Name:
                if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty(segment.Name, out var value))
                {
                    yield return value;
                }

                break;
            case Kind.Index:
                if (e.ValueKind == JsonValueKind.Array)
                {
                    var n = e.GetArrayLength();
                    var index = segment.Index < 0 ? n + segment.Index : segment.Index;
                    if (index >= 0 && index < n)
                    {
                        yield return e[index];
                    }
                }

                break;
            case Kind.Wildcard:
                if (e.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in e.EnumerateArray())
                    {
                        yield return item;
                    }
                }
                else if (e.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in e.EnumerateObject())
                    {
                        yield return property.Value;
                    }
                }

                break;
            case Kind.Descendant:
                foreach (var found in Descendants(e, segment.Name))
                {
                    yield return found;
                }

                break;
        }
    }

    private static IEnumerable<JsonElement> Descendants(JsonElement e, string name)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in e.EnumerateObject())
            {
                if (property.NameEquals(name))
                {
                    yield return property.Value;
                }

                foreach (var deeper in Descendants(property.Value, name))
                {
                    yield return deeper;
                }
            }
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in e.EnumerateArray())
            {
                foreach (var deeper in Descendants(item, name))
                {
                    yield return deeper;
                }
            }
        }
    }

    private static string ReadName(string s, ref int i)
    {
        var start = i;
        var name = new StringBuilder();
        while (i < s.Length && s[i] != '.' && s[i] != '[')
        {
            name.Append(s[i]);
            i++;
        }

        if (name.Length == 0)
        {
            throw new FormatException($"a name is missing at position {start + 1}");
        }

        return name.ToString();
    }

    private static int FindClose(string s, int open)
    {
        char? quote = null;
        for (var j = open + 1; j < s.Length; j++)
        {
            var c = s[j];
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == ']')
            {
                return j;
            }
        }

        throw new FormatException($"'[' at position {open + 1} is not closed");
    }
}
