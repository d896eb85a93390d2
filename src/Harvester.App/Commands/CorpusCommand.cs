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

            // Per package: files, photos in the benchmark set (All), different pictures (Distinct), shown by the demo site (Showcase).
            Console.WriteLine($"{"package",-28} {"files",5} {"all",6} {"distinct",8} {"demo site",9}");
            foreach (var group in PhotoCorpus.Sources.GroupBy(s => s.Package))
            {
                var paths = group.Select(s => s.Path).ToHashSet(StringComparer.Ordinal);
                int Count(IEnumerable<CorpusPhoto> photos) => photos.Count(p => paths.Contains(p.SourcePath));
                var note = group.All(s => s.DemoOnly) ? "  (demo-only)" : "";
                Console.WriteLine($"{group.Key,-28} {group.Count(),5} {Count(PhotoCorpus.All()),6} {Count(PhotoCorpus.Distinct()),8} {Count(PhotoCorpus.Showcase()),9}{note}");
            }

            Console.WriteLine($"{"total",-28} {sources.Count,5} {PhotoCorpus.All().Count,6} {PhotoCorpus.Distinct().Count,8} {PhotoCorpus.Showcase().Count,9}");
            Console.WriteLine($"fingerprint {built} (recorded: {recorded}); the benchmark set alone: {CorpusFingerprint.Of(PhotoCorpus.All())}");
            return Task.FromResult(built == recorded ? 0 : 1);
        }));
        return command;
    }
}
