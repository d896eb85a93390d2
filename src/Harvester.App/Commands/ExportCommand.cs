using Harvester.Data;
using System.CommandLine;
using System.Globalization;
using Harvester.Cluster;
using Harvester.Export;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Harvester.App.Commands;

internal static class ExportCommand
{
    private static readonly Option<string?> Out = new("--out", "-o") { Description = "Target folder (new, empty, or a previous export with --force); default: <OutputRoot>/exports/<UTC time>." };
    private static readonly Option<string?> Scope = new("--scope") { Description = "Which accepted images: all, or site=..,category=..,neighbourhood=..,job=.. (comma-separated)." };
    private static readonly Option<string?> Splits = new("--splits") { Description = "Split names and fractions, e.g. train=0.8,val=0.1,test=0.1 (default Export:Splits)." };
    private static readonly Option<string?> GroupBy = new("--group-by") { Description = "Keep together: source (same place or product; default), place, product, or none (near-copies only)." };
    private static readonly Option<string?> Label = new("--label") { Description = "Class folders: category (default), cluster (needs --run), or none." };
    private static readonly Option<long?> Run = new("--run") { Description = "Clustering run whose clusters become the classes (with --label cluster)." };
    private static readonly Option<string?> Model = new("--model", "-m") { Description = "Embedding model that finds near-copies (default Export:Model, else Clustering:Model, else the model with the most embeddings)." };
    private static readonly Option<double?> Cosine = new("--near-duplicate-cosine") { Description = "Cosine similarity at or above which two images are near-copies and share a split (default Export:NearDuplicateCosine, else the model's manifest threshold)." };
    private static readonly Option<int?> Seed = new("--seed") { Description = "Same seed and data, same splits." };
    private static readonly Option<bool> Force = new("--force") { Description = "Replace a previous export in --out." };
    private static readonly Option<string[]> Format = new("--format", "-f") { Description = "Layouts to write, one or more of imagefolder, webdataset, parquet (comma-separated or repeated; default Export:Formats, imagefolder).", Arity = ArgumentArity.OneOrMore };
    private static readonly Option<int?> ShardSize = new("--shard-size") { Description = "Samples per WebDataset shard (default Export:ShardSize, 10000)." };
    private static readonly Option<string?> ParquetImages = new("--parquet-images") { Description = "Parquet image column: embed (the bytes; default) or path (relative paths to the ImageFolder files, which are then written too)." };
    private static readonly Option<int?> MaxPerLabel = new("--max-per-label") { Description = "At most N images per label, the best by quality score." };
    private static readonly Option<int?> MaxPerSource = new("--max-per-source") { Description = "At most N images per place or product, the best by quality score." };
    private static readonly Option<bool> Copy = new("--copy") { Description = "Copy the image files instead of hard-linking them from the blob store." };
    private static readonly Option<bool> RequireEveryLabel = new("--require-every-label") { Description = "Fail, writing nothing, when a label cannot be in every split (default: warn and list it in export.json)." };

    public static Command Create()
    {
        var command = new Command("export", "Write a leakage-free training dataset (ImageFolder, WebDataset shards and/or Parquet) with one class index (classes.json), manifest.csv and export.json with a leakage report.");
        foreach (var o in new Option[] { Out, Scope, Splits, GroupBy, Label, Run, Model, Cosine, Seed, Format, ShardSize, ParquetImages, MaxPerLabel, MaxPerSource, Copy, RequireEveryLabel, Force })
        {
            command.Options.Add(o);
        }

        // Arguments are checked before the host (and the database) starts, so a bad value costs nothing.
        command.SetAction((pr, ct) => Cli.Guard(() =>
        {
            var request = new ExportRequest
            {
                OutputDirectory = pr.GetValue(Out),
                Scope = ImageScope.Parse(pr.GetValue(Scope)),
                Splits = pr.GetValue(Splits),
                GroupBy = ParseEnum<ExportGrouping>(pr.GetValue(GroupBy), "--group-by"),
                Label = ParseEnum<ExportLabel>(pr.GetValue(Label), "--label"),
                ClusterRun = pr.GetValue(Run),
                Model = pr.GetValue(Model),
                NearDuplicateCosine = pr.GetValue(Cosine),
                Seed = pr.GetValue(Seed),
                Force = pr.GetValue(Force),
                Formats = pr.GetValue(Format) is { Length: > 0 } formats ? ExportFormatNames.Parse(formats, "--format") : null,
                ShardSize = Positive(pr.GetValue(ShardSize), "--shard-size", "samples per shard"),
                ParquetImages = ParseEnum<ParquetImages>(pr.GetValue(ParquetImages), "--parquet-images"),
                MaxPerLabel = Positive(pr.GetValue(MaxPerLabel), "--max-per-label", "images"),
                MaxPerSource = Positive(pr.GetValue(MaxPerSource), "--max-per-source", "images"),
                Files = pr.GetValue(Copy) ? ExportFiles.Copy : null,
                RequireEveryLabel = pr.GetValue(RequireEveryLabel) ? true : null,
            };
            SplitPlanner.ParseSplits(request.Splits ?? "train=1");
            return Cli.InHost(pr, ct, async services =>
            {
                var result = await services.GetRequiredService<ExportService>().ExportAsync(request, ct);
                Print(result);
                return 0;
            });
        }));
        return command;
    }

    private static int? Positive(int? value, string option, string unit) => value is <= 0
        ? throw new Core.HarvesterException($"{option} must be a positive number of {unit}, got {value}.")
        : value;

    private static T? ParseEnum<T>(string? text, string option)
        where T : struct, Enum
    {
        if (text is null)
        {
            return null;
        }

        return Enum.TryParse<T>(text, ignoreCase: true, out var value) && Enum.IsDefined(value)
            ? value
            : throw new Core.HarvesterException($"{option} '{text}' is not one of: {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}.");
    }

    public static void Print(ExportResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv,
            $"Export: {r.Images} images in {r.Groups} groups that never straddle splits ({r.NearDuplicatePairs} near-copy pairs at cosine >= {r.NearDuplicateCosine} joined; model {r.Model ?? "none"}), {r.Elapsed.TotalSeconds:F1} s"));
        Console.WriteLine($"  classes:  {r.Classes.Count} ({string.Join(", ", r.Classes.Take(8).Select((c, i) => $"{i} {c}"))}{(r.Classes.Count > 8 ? ", …" : "")}) in {ClassIndex.FileName}, one index for every split and format");
        Console.WriteLine($"  {"split",-8} {"target",7} {"share",7} {"images",7} {"groups",7} {"labels",7}  images per label");
        foreach (var s in r.Splits)
        {
            var labels = string.Join(", ", s.Labels.Take(6).Select(l => $"{l.Key} {l.Value}")) + (s.Labels.Count > 6 ? $", … {s.Labels.Count - 6} more" : "");
            Console.WriteLine(string.Create(inv, $"  {s.Name,-8} {s.Target,7:P0} {s.Share,7:P1} {s.Images,7} {s.Groups,7} {s.Labels.Count,7}  {labels}"));
        }

        if (r.LabelsNotInEverySplit.Count == 0)
        {
            Console.WriteLine($"  every label is in every split");
        }
        else
        {
            Console.WriteLine($"  warning: {r.LabelsNotInEverySplit.Count} label(s) cannot be in every split (listed in export.json):");
            foreach (var c in r.LabelsNotInEverySplit.Take(10))
            {
                Console.WriteLine($"    {c.Label}: {c.Images} images, {c.Reason}");
            }
        }

        if (r.Caps.MaxPerLabel is not null || r.Caps.MaxPerSource is not null)
        {
            Console.WriteLine($"  caps:     {r.Caps.DroppedBySource} images over --max-per-source {r.Caps.MaxPerSource?.ToString(inv) ?? "-"} ({r.Caps.SourcesCapped} places/products), " +
                $"{r.Caps.DroppedByLabel} over --max-per-label {r.Caps.MaxPerLabel?.ToString(inv) ?? "-"} ({r.Caps.LabelsCapped} labels) left out");
        }

        var l = r.Leakage;
        var closest = l.ClosestCrossSplitCosine is { } c1 ? string.Create(inv, $"closest cross-split pair cosine {c1:F4} (images {l.ClosestPairA} and {l.ClosestPairB})") : "no cross-split neighbours among the vectors";
        var hamming = l.HashAuditSkipped ? "pHash audit skipped (too many images)" : l.ClosestCrossSplitHamming is { } h ? $"closest cross-split pHash distance {h} bits" : "no pHashes";
        Console.WriteLine($"  leakage: {l.CrossSplitNearDuplicates} near-copy pairs across splits; {closest}; {hamming}" +
            (l.ImagesWithoutVector > 0 ? $"; {l.ImagesWithoutVector} images had no vector" : "") +
            (r.MissingBlobs > 0 ? $"; {r.MissingBlobs} images left out (blob missing)" : ""));
        Console.WriteLine($"  folder:   {r.Directory} ({ExportFormatNames.Describe(r.Formats)}; files: {r.Files.Describe()})");
        if (r.Outputs.Count > 0)
        {
            Console.WriteLine($"  files:    {string.Join(", ", r.Outputs.Take(6))}{(r.Outputs.Count > 6 ? $", … {r.Outputs.Count - 6} more" : "")}");
        }

        Console.WriteLine($"  manifest: {r.Manifest}");
    }
}
