using System.Numerics;

namespace Harvester.Export;

/// <summary>
/// How far apart the splits are: near-copies (by the model's cosine similarity) that ended up in different splits
/// (zero unless a bug broke grouping), the closest cross-split pair seen among each image's nearest neighbours, and the
/// smallest pHash distance between any two images of different splits.
/// </summary>
public sealed record LeakageReport(
    int CrossSplitNearDuplicates,
    double? ClosestCrossSplitCosine,
    long? ClosestPairA,
    long? ClosestPairB,
    int? ClosestCrossSplitHamming,
    int ImagesWithoutVector,
    bool HashAuditSkipped);

internal static class LeakageAudit
{
    public static LeakageReport Run(
        IReadOnlyList<ExportImage> rows, int[] splitOf, Dictionary<long, int> index, List<(long A, long B, double Distance)> pairs,
        double cosine, int withoutVector, int hashLimit)
    {
        var crossNear = 0;
        (long A, long B, double Distance)? closest = null;
        foreach (var p in pairs)
        {
            if (splitOf[index[p.A]] == splitOf[index[p.B]])
            {
                continue;
            }

            if (p.Distance <= 1 - cosine)
            {
                crossNear++;
            }

            if (closest is null || p.Distance < closest.Value.Distance)
            {
                closest = p;
            }
        }

        int? hamming = null;
        var skipped = rows.Count > hashLimit;
        if (!skipped)
        {
            var hashes = rows.Select(r => r.PHash).ToArray();
            for (var i = 0; i < rows.Count; i++)
            {
                if (hashes[i] is not { } hi)
                {
                    continue;
                }

                for (var j = i + 1; j < rows.Count; j++)
                {
                    if (splitOf[i] != splitOf[j] && hashes[j] is { } hj)
                    {
                        var d = BitOperations.PopCount(hi ^ hj);
                        if (hamming is null || d < hamming)
                        {
                            hamming = d;
                        }
                    }
                }
            }
        }

        return new LeakageReport(
            crossNear,
            closest is null ? null : Math.Round(1 - closest.Value.Distance, 6),
            closest?.A,
            closest?.B,
            hamming,
            withoutVector,
            skipped);
    }
}
