using System.Globalization;
using Harvester.Core;
using Harvester.Data;

namespace Harvester.Cluster;

/// <summary>Agreement of a run's clusters with ground-truth labels, on the images that have both.</summary>
public sealed record ExternalMetrics(string Source, int Labelled, int Labels, int NotInRun, double AdjustedRandIndex, double NormalizedMutualInformation, double Purity);

public sealed record EvaluationReport(long RunId, RunStatus Status, string Model, string Scope, int K, RunParameters Parameters, RunMetrics Metrics, ExternalMetrics? External);

/// <summary>
/// Reads a run's stored metrics and scores it against labels: a labels file (image id and label per line), or the
/// place / product each image came from ("place", "product").
/// </summary>
public sealed class ClusterEvaluator(ClusterStore store)
{
    public async Task<EvaluationReport> EvaluateAsync(long runId, string? labels, CancellationToken ct)
    {
        var run = await store.RunAsync(runId, ct);
        ExternalMetrics? external = null;
        if (!string.IsNullOrWhiteSpace(labels))
        {
            var pairs = labels.Trim().ToLowerInvariant() switch
            {
                "place" => await SourceLabelsAsync(runId, product: false, ct),
                "product" => await SourceLabelsAsync(runId, product: true, ct),
                _ => ReadLabelsFile(labels),
            };
            external = await CompareAsync(runId, pairs, labels, ct);
        }

        return new EvaluationReport(run.Id, run.Status, run.Model, run.Scope, run.K, run.Parameters, run.Metrics, external);
    }

    /// <summary>ARI, NMI and purity of run <paramref name="runId"/> against (image id, label) pairs.</summary>
    public async Task<ExternalMetrics> CompareAsync(long runId, IReadOnlyCollection<(long ImageId, string Label)> labels, string source, CancellationToken ct)
    {
        var assigned = await store.AssignmentsAsync(runId, ct);

        if (assigned.Count == 0)
        {
            throw new HarvesterException($"Clustering run {runId} has no assignments (failed, or still running): nothing to evaluate.");
        }

        var ids = labels.Select(l => l.ImageId).Distinct().ToArray();
        var known = await store.ExistingImagesAsync(ids, ct);

        var unknown = ids.Where(id => !known.Contains(id)).Order().ToList();
        if (unknown.Count > 0)
        {
            throw new HarvesterException(
                $"{unknown.Count} labelled image id(s) are not images in this database (e.g. {string.Join(", ", unknown.Take(5))}): check the labels file belongs to this database.");
        }

        var truth = new List<string>();
        var predicted = new List<int>();
        foreach (var (id, label) in labels)
        {
            if (assigned.TryGetValue(id, out var c))
            {
                truth.Add(label);
                predicted.Add(c);
            }
        }

        if (truth.Count == 0)
        {
            throw new HarvesterException($"None of the {labels.Count} labelled images is in clustering run {runId}: label images from the run's scope.");
        }

        return new ExternalMetrics(source, truth.Count, truth.Distinct().Count(), labels.Count - truth.Count,
            ClusterMetrics.AdjustedRandIndex(truth, predicted),
            ClusterMetrics.NormalizedMutualInformation(truth, predicted),
            ClusterMetrics.Purity(truth, predicted));
    }

    /// <summary>
    /// One "image_id,label" (comma or tab) per line; blank lines and lines starting with # are skipped, and a first line
    /// "image_id,label" is a header. A malformed line or an id given two different labels is an error naming the line.
    /// </summary>
    public static IReadOnlyList<(long ImageId, string Label)> ReadLabelsFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new HarvesterException($"Labels file {Path.GetFullPath(path)} does not exist (or use --labels place / --labels product).");
        }

        var result = new List<(long, string)>();
        var seen = new Dictionary<long, (string Label, int Line)>();
        var lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var sep = line.IndexOfAny([',', '\t']);
            var idText = sep < 0 ? line : line[..sep].Trim();
            var label = sep < 0 ? "" : line[(sep + 1)..].Trim().Trim('"');
            if (lineNo == 1 && idText.Equals("image_id", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!long.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || label.Length == 0)
            {
                throw new HarvesterException($"{path}:{lineNo}: expected 'image_id,label' (a numeric image id, a comma or tab, a non-empty label); got '{Truncate(raw)}'.");
            }

            if (seen.TryGetValue(id, out var prior))
            {
                if (prior.Label != label)
                {
                    throw new HarvesterException($"{path}:{lineNo}: image {id} is labelled '{label}' but line {prior.Line} labels it '{prior.Label}'.");
                }

                continue;
            }

            seen[id] = (label, lineNo);
            result.Add((id, label));
        }

        if (result.Count == 0)
        {
            throw new HarvesterException($"Labels file {path} has no 'image_id,label' lines.");
        }

        return result;
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "…";

    private async Task<IReadOnlyList<(long, string)>> SourceLabelsAsync(long runId, bool product, CancellationToken ct)
    {
        var result = await store.SourceLabelsAsync(runId, product, ct);
        if (result.Count == 0)
        {
            throw new HarvesterException($"No image of run {runId} has a {(product ? "product" : "place")}: use a labels file instead.");
        }

        return result;
    }
}
