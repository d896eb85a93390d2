using Harvester.DemoSite.Corpus;
using Harvester.Imaging;

namespace Harvester.Curate.Tests;

/// <summary>The installed detector models and one shared analyzer for the curate tests.</summary>
internal static class CurateKit
{
    /// <summary>The models directory that scripts/setup.sh fills: $HARVESTER_MODELS_DIR, $HARVESTER_HOME/models, else the checkout's .harvester/models.</summary>
    public static string ModelsRoot => Harvester.Testing.HarvesterProcess.ModelsRoot;

    public static CurationOptions Options(Action<CurationOptions>? configure = null)
    {
        var o = new CurationOptions();
        configure?.Invoke(o);
        return o;
    }

    private static readonly Lazy<ImageAnalyzer> SharedAnalyzer = new(() => new ImageAnalyzer(Options(), ModelsRoot));

    /// <summary>One analyzer with both detectors for the whole test run (the models take a moment to load).</summary>
    public static ImageAnalyzer Analyzer => SharedAnalyzer.Value;

    public static IReadOnlyList<CorpusPhoto> Corpus(int n) => PhotoCorpus.Distinct(n);
}
