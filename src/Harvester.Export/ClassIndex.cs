using System.Text;
using System.Text.Json;

namespace Harvester.Export;

/// <summary>
/// One class index for a whole export: label → index, labels in Unicode code-point order. That is the order Python's
/// <c>sorted()</c> gives, so torchvision's ImageFolder and Keras, which sort the class folders' names, number them the
/// same way as long as every split has a folder for every class (the export makes one, empty where a split has none of
/// that class). Written as classes.json; the manifest's <c>label_index</c>, the WebDataset <c>.cls</c> members and the
/// Parquet ClassLabel use the same numbers.
/// </summary>
public sealed class ClassIndex
{
    public const string FileName = "classes.json";

    private readonly Dictionary<string, int> _index;

    public ClassIndex(IEnumerable<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        Labels = [.. labels.Distinct(StringComparer.Ordinal).Order(CodePointComparer.Instance)];
        _index = Labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
    }

    /// <summary>Labels by index.</summary>
    public IReadOnlyList<string> Labels { get; }

    public int Count => Labels.Count;

    public int this[string label] => _index[label];

    /// <summary>{"label": index, …} in index order.</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            for (var i = 0; i < Labels.Count; i++)
            {
                w.WriteNumber(Labels[i], i);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>Orders strings by Unicode code point (as Python does), not by UTF-16 code unit.</summary>
    public sealed class CodePointComparer : IComparer<string>
    {
        public static readonly CodePointComparer Instance = new();

        public int Compare(string? x, string? y)
        {
            if (x is null || y is null)
            {
                return x is null ? (y is null ? 0 : -1) : 1;
            }

            var a = x.EnumerateRunes();
            var b = y.EnumerateRunes();
            while (true)
            {
                var hasA = a.MoveNext();
                var hasB = b.MoveNext();
                if (!hasA || !hasB)
                {
                    return hasA ? 1 : hasB ? -1 : 0;
                }

                var c = a.Current.Value.CompareTo(b.Current.Value);
                if (c != 0)
                {
                    return c;
                }
            }
        }
    }
}
