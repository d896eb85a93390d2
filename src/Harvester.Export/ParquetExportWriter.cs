using System.Text.Json.Nodes;
using Parquet;
using Parquet.Schema;

namespace Harvester.Export;

/// <summary>
/// One Parquet file per split, laid out as Hugging Face <c>datasets</c> reads an image dataset: an <c>image</c> column
/// with its Image feature's storage (a struct of <c>bytes</c> and <c>path</c>), then the manifest's columns, and the
/// features in the file's <c>huggingface</c> metadata so <c>load_dataset("parquet", …)</c> decodes images and names the
/// classes of <c>label_index</c> (a ClassLabel with the export's class index). Row groups hold at most
/// <see cref="RowGroupRows"/> rows or about <see cref="RowGroupBytes"/> of images, so neither the writer nor a reader
/// holds more than that in memory.
/// </summary>
internal static class ParquetExportWriter
{
    public const string Folder = "parquet";
    public const int RowGroupRows = 1000;
    public const long RowGroupBytes = 128L << 20;

    private static readonly DataField<byte[]> Bytes = new("bytes", true);
    private static readonly DataField<string> ImagePath = new("path", true);
    private static readonly DataField<string> PathColumn = new("path", true);
    private static readonly DataField<string> Shard = new("shard", true);
    private static readonly DataField<string> Split = new("split", false);
    private static readonly DataField<string> Label = new("label", false);
    private static readonly DataField<long> LabelIndex = new("label_index", false);
    private static readonly DataField<long> Group = new("group", false);
    private static readonly DataField<long> ImageId = new("image_id", false);
    private static readonly DataField<string> Sha256 = new("sha256", false);
    private static readonly DataField<int?> Width = new("width", true);
    private static readonly DataField<int?> Height = new("height", true);
    private static readonly DataField<string> Format = new("format", true);
    private static readonly DataField<double?> Quality = new("quality", true);
    private static readonly DataField<string> Site = new("site", true);
    private static readonly DataField<string> Place = new("place", true);
    private static readonly DataField<string> Product = new("product", true);
    private static readonly DataField<string> Category = new("category", true);
    private static readonly DataField<string> Neighbourhood = new("neighbourhood", true);
    private static readonly DataField<string> SourceUrl = new("source_url", false);

    private static readonly ParquetSchema Schema = new(
        new StructField("image", Bytes, ImagePath),
        PathColumn, Shard, Split, Label, LabelIndex, Group, ImageId, Sha256, Width, Height, Format, Quality, Site, Place, Product, Category,
        Neighbourhood, SourceUrl);

    public static string FileFor(string split) => Folder + "/" + split + ".parquet";

    /// <summary>Writes one split's rows (in the given order) and returns the image bytes written.</summary>
    public static async Task<long> WriteAsync(
        string file, IReadOnlyList<ManifestRow> rows, ClassIndex classes, ParquetImages images, Func<ManifestRow, string> blobPath, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        long written = 0;
        await using var stream = new FileStream(file, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20, FileOptions.Asynchronous);
        await using (var writer = await ParquetWriter.CreateAsync(Schema, stream, new ParquetOptions { CompressionMethod = CompressionMethod.Snappy }, cancellationToken: ct))
        {
            writer.CustomMetadata = new Dictionary<string, string> { ["huggingface"] = Features(classes) };
            var batch = new List<(ManifestRow Row, byte[]? Bytes)>(RowGroupRows);
            long batchBytes = 0;
            foreach (var row in rows)
            {
                // A plain read: small files, read one after another, gain nothing from async I/O.
                var bytes = images == ParquetImages.Embed ? File.ReadAllBytes(blobPath(row)) : null;
                batch.Add((row, bytes));
                batchBytes += bytes?.Length ?? 0;
                if (batch.Count >= RowGroupRows || batchBytes >= RowGroupBytes)
                {
                    written += batchBytes;
                    await WriteGroupAsync(writer, batch, images, ct);
                    batch.Clear();
                    batchBytes = 0;
                }
            }

            if (batch.Count > 0)
            {
                written += batchBytes;
                await WriteGroupAsync(writer, batch, images, ct);
            }
        }

        return written;
    }

    private static async Task WriteGroupAsync(ParquetWriter writer, List<(ManifestRow Row, byte[]? Bytes)> batch, ParquetImages images, CancellationToken ct)
    {
        using var group = writer.CreateRowGroup();
        var rows = batch.Select(b => b.Row).ToArray();
        var image = rows.Select(r => r.Image).ToArray();
        async Task Strings(DataField<string> field, Func<ManifestRow, string?> value) => await group.WriteAsync(field, rows.Select(value).ToArray()!, null);
        async Task Longs(DataField<long> field, Func<ManifestRow, long> value) => await group.WriteAsync<long>(field, rows.Select(value).ToArray().AsMemory(), null, null, ct);

        // In embed mode the struct's path is the file name alone (informational; the bytes are the image). In path
        // mode it is the file's path relative to the export folder, and bytes are null.
        await group.WriteAsync(Bytes, batch.Select(b => b.Bytes).ToArray()!, null);
        await Strings(ImagePath, r => images == ParquetImages.Embed ? r.Key + r.Extension : r.Path);
        await Strings(PathColumn, r => r.Path);
        await Strings(Shard, r => r.Shard);
        await Strings(Split, r => r.Split);
        await Strings(Label, r => r.Label);
        await Longs(LabelIndex, r => r.LabelIndex);
        await Longs(Group, r => r.Group);
        await Longs(ImageId, r => r.Image.Id);
        await Strings(Sha256, r => r.Image.Sha256);
        await group.WriteAsync<int>(Width, image.Select(i => i.Width).ToArray().AsMemory(), null, null, ct);
        await group.WriteAsync<int>(Height, image.Select(i => i.Height).ToArray().AsMemory(), null, null, ct);
        await Strings(Format, r => r.Image.Format);
        await group.WriteAsync<double>(Quality, image.Select(i => i.Quality is { } q ? Math.Round(q, 4) : (double?)null).ToArray().AsMemory(), null, null, ct);
        await Strings(Site, r => r.Image.Site);
        await Strings(Place, r => r.Image.PlaceName);
        await Strings(Product, r => r.Image.ProductName);
        await Strings(Category, r => r.Image.Category);
        await Strings(Neighbourhood, r => r.Image.Neighbourhood);
        await Strings(SourceUrl, r => r.Image.SourceUrl);
        group.CompleteValidate();
    }

    /// <summary>The Hugging Face features of the columns, as <c>datasets</c> stores them in a Parquet file's metadata.</summary>
    private static string Features(ClassIndex classes)
    {
        static JsonObject Value(string dtype) => new() { ["dtype"] = dtype, ["_type"] = "Value" };
        var features = new JsonObject
        {
            ["image"] = new JsonObject { ["_type"] = "Image" },
            ["path"] = Value("string"),
            ["shard"] = Value("string"),
            ["split"] = Value("string"),
            ["label"] = Value("string"),
            ["label_index"] = new JsonObject { ["names"] = new JsonArray([.. classes.Labels.Select(l => (JsonNode)l)]), ["_type"] = "ClassLabel" },
            ["group"] = Value("int64"),
            ["image_id"] = Value("int64"),
            ["sha256"] = Value("string"),
            ["width"] = Value("int32"),
            ["height"] = Value("int32"),
            ["format"] = Value("string"),
            ["quality"] = Value("float64"),
            ["site"] = Value("string"),
            ["place"] = Value("string"),
            ["product"] = Value("string"),
            ["category"] = Value("string"),
            ["neighbourhood"] = Value("string"),
            ["source_url"] = Value("string"),
        };
        return new JsonObject { ["info"] = new JsonObject { ["features"] = features } }.ToJsonString();
    }
}
