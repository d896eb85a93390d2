using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Harvester.DemoSite.Corpus;

/// <summary>
/// How many photos a corpus holds and a short hash of their ids in order (each marked when it is in the demo subset):
/// two machines agree on both or differ.
/// </summary>
public sealed record CorpusFingerprint(int Count, string IdsHash)
{
    public static CorpusFingerprint Of(IReadOnlyList<CorpusPhoto> photos)
    {
        ArgumentNullException.ThrowIfNull(photos);
        var ids = string.Join('\n', photos.Select(p => p.InDemo ? p.Id + "\tdemo" : p.Id));
        return new CorpusFingerprint(photos.Count, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ids)))[..16]);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Count} photos, ids {IdsHash}");
}

/// <summary>How a source file is cut into corpus photos (the lock's optional 4th column).</summary>
/// <param name="Whole">One photo: the whole file.</param>
/// <param name="TileLongSide">Tiles cut as if the file were scaled to this long side (0: at full size).</param>
public sealed record CorpusCut(bool Whole, int TileLongSide)
{
    /// <summary>No 4th column: large files tiled at full size, small ones whole.</summary>
    public static CorpusCut Default { get; } = new(false, 0);

    public static bool TryParse(string text, out CorpusCut cut)
    {
        cut = Default;
        if (text == "whole")
        {
            cut = new CorpusCut(true, 0);
            return true;
        }

        if (text.StartsWith("tiles:", StringComparison.Ordinal) && int.TryParse(text.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var side) && side >= 2 * PhotoCorpus.TileWidth)
        {
            cut = new CorpusCut(false, side);
            return true;
        }

        return false;
    }
}

/// <summary>scripts/corpus.lock, compiled into the assembly so the list cannot drift from the code that reads it.</summary>
internal sealed record CorpusLock(IReadOnlyList<CorpusSource> Sources, CorpusFingerprint Fingerprint)
{
    public const string ResourceName = "Harvester.corpus.lock";

    /// <summary>The column that keeps a file's photos on the demo site only (<see cref="PhotoCorpus.Showcase"/>).</summary>
    public const string DemoOnlyOption = "demo-only";

    public static CorpusLock LoadEmbedded()
    {
        using var stream = typeof(CorpusLock).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The embedded resource {ResourceName} is missing from the build.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return Parse(reader.ReadToEnd());
    }

    public static CorpusLock Parse(string text)
    {
        var sources = new List<CorpusSource>();
        CorpusFingerprint? fingerprint = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f is ["fingerprint", var count, var hash])
            {
                fingerprint = new CorpusFingerprint(int.Parse(count, CultureInfo.InvariantCulture), hash);
            }
            else if (f is [var package, var path, var sha, .. var options] && Path.IsPathFullyQualified(path) && sha.Length == 64 && TryParseOptions(options, out var cut, out var demoOnly))
            {
                sources.Add(new CorpusSource(package, path, sha) { Cut = cut, DemoOnly = demoOnly });
            }
            else
            {
                throw new FormatException($"scripts/corpus.lock: cannot read the line '{line}' (expected 'package /absolute/path sha256 [whole|tiles:<long side>] [demo-only]').");
            }
        }

        return new CorpusLock(sources, fingerprint ?? throw new FormatException("scripts/corpus.lock has no 'fingerprint' line."));
    }

    /// <summary>The optional columns after the hash: at most one cut and at most one 'demo-only', in either order.</summary>
    private static bool TryParseOptions(string[] options, out CorpusCut cut, out bool demoOnly)
    {
        cut = CorpusCut.Default;
        demoOnly = false;
        var hasCut = false;
        foreach (var option in options)
        {
            if (option == DemoOnlyOption && !demoOnly)
            {
                demoOnly = true;
            }
            else if (!hasCut && CorpusCut.TryParse(option, out var parsed))
            {
                cut = parsed;
                hasCut = true;
            }
            else
            {
                return false;
            }
        }

        return true;
    }
}
