using Harvester.Core;

namespace Harvester.Export;

/// <summary>The layouts an export can write; several at once share one class index, one manifest and one split plan.</summary>
[Flags]
public enum ExportFormats
{
    None = 0,

    /// <summary>&lt;split&gt;/&lt;label&gt;/&lt;sha256&gt;.&lt;ext&gt; (torchvision ImageFolder, Keras image_dataset_from_directory).</summary>
    ImageFolder = 1,

    /// <summary>webdataset/&lt;split&gt;-000000.tar shards of &lt;key&gt;.jpg + &lt;key&gt;.json + &lt;key&gt;.cls samples.</summary>
    WebDataset = 2,

    /// <summary>parquet/&lt;split&gt;.parquet: an image column (Hugging Face Image: bytes or path) plus the manifest's columns.</summary>
    Parquet = 4,
}

public static class ExportFormatNames
{
    private static readonly (string Name, ExportFormats Format)[] Known =
    [
        ("imagefolder", ExportFormats.ImageFolder),
        ("webdataset", ExportFormats.WebDataset),
        ("parquet", ExportFormats.Parquet),
    ];

    /// <summary>Parses "imagefolder,webdataset" (case-insensitive, any order, repeats allowed); <paramref name="name"/> is the option or key named in errors.</summary>
    public static ExportFormats Parse(string? text, string name) => Parse(text is null ? [] : [text], name);

    /// <summary>Parses several values, each of which may itself be a comma-separated list (as --format a --format b,c gives).</summary>
    public static ExportFormats Parse(IEnumerable<string> values, string name)
    {
        ArgumentNullException.ThrowIfNull(values);
        var formats = ExportFormats.None;
        foreach (var part in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var match = Known.FirstOrDefault(k => k.Name.Equals(part, StringComparison.OrdinalIgnoreCase));
            formats |= match.Name is null
                ? throw new HarvesterException($"{name} '{part}' is not one of: {string.Join(", ", Known.Select(k => k.Name))}.")
                : match.Format;
        }

        return formats == ExportFormats.None
            ? throw new HarvesterException($"{name} names no format; use one or more of: {string.Join(", ", Known.Select(k => k.Name))}.")
            : formats;
    }

    /// <summary>"imagefolder, parquet".</summary>
    public static string Describe(ExportFormats formats) =>
        string.Join(", ", Known.Where(k => formats.HasFlag(k.Format)).Select(k => k.Name));

    public static IReadOnlyList<string> Names(ExportFormats formats) => [.. Known.Where(k => formats.HasFlag(k.Format)).Select(k => k.Name)];
}
