using Harvester.Curate;
using System.CommandLine;
using Harvester.Data;
using Harvester.Imaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Harvester.App.Commands;

internal static class CurateCommand
{
    private static readonly Option<int?> Batch = new("--batch", "-b") { Description = "Images per batch (default Curation:ClaimBatch)." };
    private static readonly Option<string?> Profile = new("--profile", "-p") { Description = "Apply this Curation:Profiles entry to every image instead of each crawl job's profile." };
    private static readonly Option<bool> Rehash = new("--rehash") { Description = "Recompute stored hashes of an older recipe from their blobs (resumable), then re-judge every hash group; run once after upgrading." };

    public static Command Create()
    {
        var curate = new Command("curate", "Decode, hash, score and dedupe every fetched image until none is left; prints counts per verdict and reject reason, read from the database.");
        curate.Options.Add(Batch);
        curate.Options.Add(Profile);
        curate.Options.Add(Rehash);
        curate.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var options = services.GetRequiredService<IOptions<CurationOptions>>().Value;
            var service = services.GetRequiredService<CurationService>();
            var batch = Cli.AtLeast(pr, Batch, options.ClaimBatch);
            if (pr.GetValue(Rehash))
            {
                var rehash = await service.RehashAsync(batch, ct, new Progress<int>(n => Console.Error.WriteLine($"rehashed {n} images")));
                Console.WriteLine($"Rehashed {rehash.Rehashed} images to pHash recipe {PerceptualHash.Recipe} ({rehash.Unreadable} without readable bytes); " +
                                  $"re-judged {rehash.GroupsJudged} duplicate groups, {rehash.LeftGroups} members left theirs");
            }

            var progress = new Progress<CurationBatchResult>(b =>
                Console.Error.WriteLine($"batch: {b.Claimed} images, {b.Accepted} accepted, {b.Rejected} rejected, {b.Duplicates} duplicates"));
            var total = await service.RunUntilDoneAsync(batch, pr.GetValue(Profile), ct, progress);
            Console.WriteLine($"Curated {total.Claimed} images: {total.Accepted} accepted, {total.Rejected} rejected, {total.Duplicates} duplicates");
            if (total.Groups > 0)
            {
                Console.WriteLine($"Duplicate groups: {total.Groups} ({total.CrossPlaceGroups} spanning several places)");
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
