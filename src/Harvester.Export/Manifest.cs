using System.Globalization;
using System.Text;
using System.Text.Json;
using Harvester.Core;

namespace Harvester.Export;

/// <summary>
/// One image of an export, as manifest.csv, its WebDataset <c>.json</c> member and its Parquet row all describe it.
/// <see cref="Path"/> is the file in the ImageFolder tree (null when no file was written), <see cref="Shard"/> the
/// WebDataset shard that holds it (null without WebDataset).
/// </summary>
public sealed record ManifestRow(
    string? Path,
    string? Shard,
    string Split,
    string Label,
    int LabelIndex,
    int Group,
    ExportImage Image)
{
    /// <summary>The sample key in WebDataset shards: the SHA-256 (no dots, unique per image).</summary>
    public string Key => Image.Sha256;

    /// <summary>The file extension of the image's format (".jpg" for JPEG).</summary>
    public string Extension => Manifest.Extension(Image.Format);
}

/// <summary>The manifest's columns, written as CSV (neutralised for spreadsheets) and as typed JSON.</summary>
public static class Manifest
{
    public const string FileName = "manifest.csv";

    public static readonly IReadOnlyList<string> Columns =
    [
        "path", "shard", "split", "label", "label_index", "group", "image_id", "sha256", "width", "height", "format", "quality",
        "site", "place", "product", "category", "neighbourhood", "source_url",
    ];

    public static string Header() => string.Join(',', Columns) + "\n";

    public static void AppendCsv(StringBuilder sb, ManifestRow r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var i = r.Image;
        DelimitedText.AppendCsvRow(sb,
            r.Path, r.Shard, r.Split, r.Label, Num(r.LabelIndex), Num(r.Group), Num(i.Id), i.Sha256, NumOrEmpty(i.Width), NumOrEmpty(i.Height), i.Format,
            i.Quality?.ToString("0.####", CultureInfo.InvariantCulture), i.Site, i.PlaceName, i.ProductName, i.Category, i.Neighbourhood, i.SourceUrl);
    }

    /// <summary>The row as a JSON object with typed values (numbers as numbers, missing values as null), unneutralised.</summary>
    public static void WriteJson(Utf8JsonWriter w, ManifestRow r)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(r);
        var i = r.Image;
        w.WriteStartObject();
        Str(w, "path", r.Path);
        Str(w, "shard", r.Shard);
        w.WriteString("split", r.Split);
        w.WriteString("label", r.Label);
        w.WriteNumber("label_index", r.LabelIndex);
        w.WriteNumber("group", r.Group);
        w.WriteNumber("image_id", i.Id);
        w.WriteString("sha256", i.Sha256);
        Int(w, "width", i.Width);
        Int(w, "height", i.Height);
        Str(w, "format", i.Format);
        if (i.Quality is { } q && double.IsFinite(q))
        {
            w.WriteNumber("quality", Math.Round(q, 4));
        }
        else
        {
            w.WriteNull("quality");
        }

        Str(w, "site", i.Site);
        Str(w, "place", i.PlaceName);
        Str(w, "product", i.ProductName);
        Str(w, "category", i.Category);
        Str(w, "neighbourhood", i.Neighbourhood);
        w.WriteString("source_url", i.SourceUrl);
        w.WriteEndObject();
    }

    public static string Extension(string? format) => format?.ToLowerInvariant() switch
    {
        "jpeg" or "jpg" => ".jpg",
        "png" => ".png",
        "webp" => ".webp",
        "gif" => ".gif",
        "bmp" => ".bmp",
        _ => ".bin",
    };

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string? NumOrEmpty(int? v) => v?.ToString(CultureInfo.InvariantCulture);

    private static void Str(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static void Int(Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
