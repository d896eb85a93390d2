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
    private static readonly Option<double?> Cosine = new("--near-duplicate-cosine") { Description = "Cosine similarity at or above which two images are near-copies and share a split (default Export:NearDuplicateCosine, 0.995)." };
    private static readonly Option<int?> Seed = new("--seed") { Description = "Same seed and data, same splits." };
    private static readonly Option<bool> Force = new("--force") { Description = "Replace a previous export in --out." };

    public static Command Create()
    {
        var command = new Command("export", "Write a leakage-free training dataset: <split>/<label>/<sha256>.<ext>, manifest.csv and export.json with a leakage report.");
        foreach (var o in new Option[] { Out, Scope, Splits, GroupBy, Label, Run, Model, Cosine, Seed, Force })
        {
            command.Options.Add(o);
        }

        command.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
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
            };
            ExportResult result;
            await using (var progress = Cli.StartProgress(services))
            {
                result = await services.GetRequiredService<ExportService>().ExportAsync(request, ct, progress);
            }

            Print(result);
            return 0;
        }));
        return command;
    }

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
        Console.WriteLine($"  {"split",-8} {"target",7} {"share",7} {"images",7} {"groups",7}  labels");
        foreach (var s in r.Splits)
        {
            var labels = string.Join(", ", s.Labels.Take(6).Select(l => $"{l.Key} {l.Value}")) + (s.Labels.Count > 6 ? $", … {s.Labels.Count - 6} more" : "");
            Console.WriteLine(string.Create(inv, $"  {s.Name,-8} {s.Target,7:P0} {s.Share,7:P1} {s.Images,7} {s.Groups,7}  {labels}"));
        }

        var l = r.Leakage;
        var closest = l.ClosestCrossSplitCosine is { } c ? string.Create(inv, $"closest cross-split pair cosine {c:F4} (images {l.ClosestPairA} and {l.ClosestPairB})") : "no cross-split neighbours among the vectors";
        var hamming = l.HashAuditSkipped ? "pHash audit skipped (too many images)" : l.ClosestCrossSplitHamming is { } h ? $"closest cross-split pHash distance {h} bits" : "no pHashes";
        Console.WriteLine($"  leakage: {l.CrossSplitNearDuplicates} near-copy pairs across splits; {closest}; {hamming}" +
            (l.ImagesWithoutVector > 0 ? $"; {l.ImagesWithoutVector} images had no vector" : "") +
            (r.MissingBlobs > 0 ? $"; {r.MissingBlobs} images left out (blob missing)" : ""));
        Console.WriteLine($"  folder:   {r.Directory}");
        Console.WriteLine($"  manifest: {r.Manifest}");
    }
}
