using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Harvester.DemoSite.Corpus;

/// <summary>How many photos a corpus holds and a short hash of their ids in order: two machines agree on both or differ.</summary>
public sealed record CorpusFingerprint(int Count, string IdsHash)
{
    public static CorpusFingerprint Of(IReadOnlyList<CorpusPhoto> photos)
    {
        var ids = string.Join('\n', photos.Select(p => p.Id));
        return new CorpusFingerprint(photos.Count, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ids)))[..16]);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Count} photos, ids {IdsHash}");
}

/// <summary>scripts/corpus.lock, compiled into the assembly so the list cannot drift from the code that reads it.</summary>
internal sealed record CorpusLock(IReadOnlyList<CorpusSource> Sources, CorpusFingerprint Fingerprint)
{
    public const string ResourceName = "Harvester.corpus.lock";

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
            else if (f is [var package, var path, var sha] && Path.IsPathFullyQualified(path) && sha.Length == 64)
            {
                sources.Add(new CorpusSource(package, path, sha));
            }
            else
            {
                throw new FormatException($"scripts/corpus.lock: cannot read the line '{line}' (expected 'package /absolute/path sha256').");
            }
        }

        return new CorpusLock(sources, fingerprint ?? throw new FormatException("scripts/corpus.lock has no 'fingerprint' line."));
    }
}
