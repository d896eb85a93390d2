using Harvester.Curate;
using System.CommandLine;
using Harvester.Data;
using Harvester.Imaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Harvester.App.Commands;

internal static class CurateCommand
{
    private static readonly Option<int?> Batch = new("--batch", "-b") { Description = "Images per batch (default Curation:BatchSize)." };
    private static readonly Option<string?> Profile = new("--profile", "-p") { Description = "Apply this Curation:Profiles entry to every image instead of each crawl job's profile." };

    public static Command Create()
    {
        var curate = new Command("curate", "Decode, hash, score and dedupe every fetched image until none is left; prints counts per verdict and reject reason.");
        curate.Options.Add(Batch);
        curate.Options.Add(Profile);
        curate.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var options = services.GetRequiredService<IOptions<CurationOptions>>().Value;
            var service = services.GetRequiredService<CurationService>();
            var batch = Cli.AtLeast(pr, Batch, options.ClaimBatch);
            CurationBatchResult total;
            await using (var progress = Cli.StartProgress(services))
            {
                total = await service.RunUntilDoneAsync(batch, pr.GetValue(Profile), ct, totals: progress);
            }

            Console.WriteLine($"Curated {total.Claimed} images: {total.Accepted} accepted, {total.Rejected} rejected, {total.Duplicates} duplicates");
            if (total.CrossPlaceGroups > 0)
            {
                Console.WriteLine($"Duplicate groups spanning several places: {total.CrossPlaceGroups}");
            }

            foreach (var (reason, count) in total.RejectReasons.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal))
            {
                Console.WriteLine($"  {reason,-22} {count,8}");
            }

            return 0;
        }));
        return curate;
    }
}
