using System.CommandLine;
using Harvester.Core;
using Harvester.DemoSite.Corpus;

namespace Harvester.App.Commands;

/// <summary>
/// <c>harvester corpus [--check]</c>: the photo corpus the demo site, tests and benchmarks are built from, and whether
/// this machine builds the one scripts/corpus.lock records (./harvester test checks it before the suite runs).
/// </summary>
internal static class CorpusCommand
{
    public static Command Create()
    {
        var check = new Option<bool>("--check") { Description = "Exit non-zero with one line when the corpus built here differs from the fingerprint in scripts/corpus.lock." };
        var command = new Command("corpus", "The real-photo corpus (sources from scripts/corpus.lock, photos cut from them, fingerprint).") { check };
        command.SetAction((pr, _) => Cli.Guard(() =>
        {
            var sources = PhotoCorpus.FindSourcePhotos();
            var built = PhotoCorpus.Fingerprint;
            var recorded = PhotoCorpus.RecordedFingerprint;
            if (pr.GetValue(check))
            {
                if (built != recorded)
                {
                    throw new HarvesterException(
                        $"the photo corpus built here ({built}) differs from the one scripts/corpus.lock records ({recorded}): " +
                        "the sources verified, so the code that cuts them changed; update the fingerprint line if that was intended.");
                }

                Console.WriteLine($"corpus: {built} from {sources.Count} source files, as scripts/corpus.lock records");
                return Task.FromResult(0);
            }

            foreach (var group in PhotoCorpus.Sources.GroupBy(s => s.Package))
            {
                var paths = group.Select(s => s.Path).ToHashSet(StringComparer.Ordinal);
                var photos = PhotoCorpus.All().Count(p => paths.Contains(p.SourcePath));
                var demo = PhotoCorpus.Distinct().Count(p => paths.Contains(p.SourcePath));
                Console.WriteLine($"{group.Key,-26} {group.Count(),4} files {photos,6} photos {demo,6} in the demo subset");
            }

            Console.WriteLine($"{"total",-26} {sources.Count,4} files {built.Count,6} photos {PhotoCorpus.Distinct().Count,6} in the demo subset  fingerprint {built.IdsHash} (recorded: {recorded.IdsHash})");
            return Task.FromResult(built == recorded ? 0 : 1);
        }));
        return command;
    }
}
