using OpenCvSharp;

namespace Harvester.Imaging;

/// <summary>A member of a duplicate group as the keep rule sees it; ids grow with arrival, so the lowest id was seen first.</summary>
/// <param name="Accepted">The member passed its profile's checks on its own.</param>
/// <param name="ColourLayout">Its <see cref="Imaging.ColourLayout"/> (tone for the final tie-break), or null.</param>
public sealed record KeepCandidate(long Id, bool Accepted, EncodingQuality Encoding, int Width, int Height, byte[]? ColourLayout)
{
    public long Pixels => (long)Width * Height;
}

/// <summary>What the rule needs from the members' pixels, judged between them (see <see cref="KeepSignals"/>).</summary>
public interface IKeepEvidence
{
    /// <summary>Member <paramref name="index"/> carries an overlay (text, logo, caption box) the others lack.</summary>
    bool HasOverlay(int index);

    /// <summary><see cref="KeepSignals.DetailGain"/> of the larger member over the smaller, NaN when they are not resamples of each other.</summary>
    double DetailGain(int larger, int smaller);
}

/// <summary>Which member was kept and the criterion that decided it (the first that set it apart from the last rival).</summary>
public readonly record struct KeepDecision(int Index, string Reason);

/// <summary>
/// Which copy of a duplicate group to keep: the real original. Successive filters over the whole group (so the
/// result does not depend on arrival order, unlike a pairwise fold with tolerances):
/// 1. accepted members over rejected ones (the group's representative must be usable);
/// 2. lossless over lossy;
/// 3. the highest encoding quality (JPEG from its tables, WebP from its quantiser; a tie within 3 unless both read
///    exactly as IJG tables);
/// 4. members without an overlay the others lack;
/// 5. the largest resolution, but not a member that is only an upscale of a smaller one (its detail gain over the
///    next smaller resample is below <see cref="KeepSignals.UpscaleGain"/>);
/// 6. in groups of three or more, the tone closest to the group's median (brightness and contrast edits move away
///    from it; most copies keep the original's tone);
/// 7. the earliest seen (lowest id).
/// A sharpness score is deliberately absent: JPEG blocking and overlaid text read as "sharper".
/// </summary>
public static class KeepRule
{
    public const double QualityTolerance = 3;

    public static KeepDecision Elect(IReadOnlyList<KeepCandidate> members, IKeepEvidence evidence)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(evidence);
        if (members.Count == 0)
        {
            throw new ArgumentException("A group has at least one member.", nameof(members));
        }

        var s = Enumerable.Range(0, members.Count).ToList();
        var reason = "only member";
        void Narrow(string why, Func<int, bool> keep)
        {
            if (s.Count < 2)
            {
                return;
            }

            var kept = s.Where(keep).ToList();
            if (kept.Count > 0 && kept.Count < s.Count)
            {
                s = kept;
                reason = why;
            }
        }

        Narrow("accepted", i => members[i].Accepted);
        Narrow("lossless", i => members[i].Encoding.Lossless);
        if (s.Count > 1)
        {
            var best = s.MaxBy(i => members[i].Encoding.Quality);
            var top = members[best].Encoding;
            Narrow("higher quality", i =>
            {
                var e = members[i].Encoding;
                var tolerance = e.Exact && top.Exact ? 0 : QualityTolerance;
                return e.Quality >= top.Quality - tolerance;
            });
        }

        Narrow("no overlay", i => !evidence.HasOverlay(i));
        Narrow("native resolution", i => !IsUpscale(i));
        if (s.Count > 1)
        {
            var largest = s.Max(i => members[i].Pixels);
            Narrow("larger resolution", i => members[i].Pixels == largest);
        }

        if (s.Count > 1 && members.Count >= 3 && members.All(m => m.ColourLayout is { Length: ColourLayout.Length }))
        {
            var tones = members.Select(m => ColourLayout.Tone(m.ColourLayout)).ToList();
            var medianMean = Median(tones.Select(t => t.Mean));
            var medianStd = Median(tones.Select(t => t.Std));
            double Off(int i) => Math.Abs(tones[i].Mean - medianMean) + Math.Abs(tones[i].Std - medianStd);
            var closest = s.Min(Off);
            // Within a grey level of the closest counts as a tie: re-encodes move the tone by a fraction of one.
            Narrow("tone closest to the group", i => Off(i) <= closest + 1.0);
        }

        var earliest = s.MinBy(i => members[i].Id);
        if (s.Count > 1)
        {
            reason = "earliest seen";
        }

        return new KeepDecision(earliest, reason);

        // Against the next smaller member that is a resample of it, a member showing no extra detail is an upscale.
        // Only the nearest size is asked: every further comparison is one more chance to err.
        bool IsUpscale(int x)
        {
            foreach (var y in Enumerable.Range(0, members.Count)
                         .Where(y => members[y].Pixels < members[x].Pixels)
                         .OrderByDescending(y => members[y].Pixels))
            {
                var gain = evidence.DetailGain(x, y);
                if (!double.IsNaN(gain))
                {
                    return gain < KeepSignals.UpscaleGain;
                }
            }

            return false;
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[(v.Length / 2) - 1] + v[v.Length / 2]);
    }
}

/// <summary>
/// <see cref="IKeepEvidence"/> from the members' decoded pixels, loaded only when the rule asks (most elections are
/// settled by the containers alone). Each image must be decoded at the same fraction of its stored size, so the detail
/// gain compares like with like; overlay flags are judged once over the whole group.
/// </summary>
public sealed class PixelKeepEvidence : IKeepEvidence, IDisposable
{
    private readonly Mat?[] _pixels;
    private readonly bool[] _loaded;
    private readonly Func<int, Mat?> _load;
    private readonly Dictionary<(int, int), double> _gains = [];
    private readonly KeepThumbCache? _thumbs;
    private readonly Func<int, string>? _thumbKey;
    private bool[]? _overlays;

    /// <param name="count">Members in the group.</param>
    /// <param name="load">Decodes member i (null when its bytes cannot be read: no overlay, no gain); the evidence disposes it.</param>
    /// <param name="thumbs">Thumbnails of earlier elections, so a growing group does not decode every member again for each newcomer.</param>
    /// <param name="thumbKey">Member i's key in <paramref name="thumbs"/>: what it was decoded from and at which size.</param>
    public PixelKeepEvidence(int count, Func<int, Mat?> load, KeepThumbCache? thumbs = null, Func<int, string>? thumbKey = null)
    {
        _pixels = new Mat?[count];
        _loaded = new bool[count];
        _load = load;
        _thumbs = thumbKey is null ? null : thumbs;
        _thumbKey = thumbKey;
    }

    public bool HasOverlay(int index)
    {
        if (_overlays is null)
        {
            var thumbs = Enumerable.Range(0, _pixels.Length).Select(Thumb).ToList();
            var present = Enumerable.Range(0, _pixels.Length).Where(i => thumbs[i] is not null).ToList();
            var flags = KeepSignals.Overlays(present.Select(i => thumbs[i]!).ToList());
            _overlays = new bool[_pixels.Length];
            for (var k = 0; k < present.Count; k++)
            {
                _overlays[present[k]] = flags[k];
            }
        }

        return _overlays[index];
    }

    private float[]? Thumb(int i)
    {
        var key = _thumbs is null ? null : _thumbKey!(i);
        if (key is not null && _thumbs!.TryGet(key, out var cached))
        {
            return cached;
        }

        if (Pixels(i) is not { } pixels)
        {
            return null;
        }

        var thumb = KeepSignals.Thumb(pixels);
        if (key is not null)
        {
            _thumbs!.Add(key, thumb);
        }

        return thumb;
    }

    public double DetailGain(int larger, int smaller)
    {
        if (!_gains.TryGetValue((larger, smaller), out var g))
        {
            g = Pixels(larger) is { } a && Pixels(smaller) is { } b ? KeepSignals.DetailGain(a, b) : double.NaN;
            _gains[(larger, smaller)] = g;
        }

        return g;
    }

    private Mat? Pixels(int i)
    {
        if (!_loaded[i])
        {
            _pixels[i] = _load(i);
            _loaded[i] = true;
        }

        return _pixels[i];
    }

    public void Dispose()
    {
        foreach (var m in _pixels)
        {
            m?.Dispose();
        }
    }
}

/// <summary>
/// The overlay thumbnails (<see cref="KeepSignals.Thumb"/>) of recent elections, bounded (oldest out first). A member's
/// thumbnail depends only on its bytes and the size it was decoded at, which its key names, so a hit is exactly what a
/// fresh decode would give. Safe for concurrent use.
/// </summary>
public sealed class KeepThumbCache(int capacity = KeepThumbCache.DefaultCapacity)
{
    /// <summary>About 25 MB of thumbnails (128 x 96 floats each).</summary>
    public const int DefaultCapacity = 512;

    private readonly Dictionary<string, float[]> _items = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private readonly Lock _lock = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _items.Count;
            }
        }
    }

    public bool TryGet(string key, out float[] thumb)
    {
        lock (_lock)
        {
            return _items.TryGetValue(key, out thumb!);
        }
    }

    public void Add(string key, float[] thumb)
    {
        lock (_lock)
        {
            if (!_items.TryAdd(key, thumb))
            {
                return;
            }

            _order.Enqueue(key);
            while (_items.Count > capacity)
            {
                _items.Remove(_order.Dequeue());
            }
        }
    }
}
