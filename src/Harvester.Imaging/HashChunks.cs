namespace Harvester.Imaging;

/// <summary>
/// Multi-index hashing for an exact Hamming-radius lookup: the 64-bit pHash is cut into four 16-bit chunks
/// (images.phash_chunk0..3, generated from images.phash, most significant chunk first, each b-tree indexed).
/// Pigeonhole: when two hashes differ in at most r bits, at least one chunk differs in at most r / 4 bits, so probing
/// every chunk value within that smaller radius finds every hash within r; candidates are then checked with <c>&lt;~&gt;</c>.
/// </summary>
public static class HashChunks
{
    public const int Count = 4;
    public const int Bits = 16;

    /// <summary>
    /// Largest per-chunk radius probed through the chunk indexes (137 values per chunk at 2, i.e. a radius up to 11);
    /// beyond it the probe lists outgrow a scan and the lookup checks every hash instead (still exact).
    /// </summary>
    public const int MaxProbeRadius = 2;

    /// <summary>Chunk <paramref name="index"/> (0 = the hash's leftmost 16 bits, as PostgreSQL's substring counts them).</summary>
    public static int Chunk(ulong hash, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return (int)((hash >> (64 - (Bits * (index + 1)))) & 0xFFFF);
    }

    /// <summary>The radius one chunk must be within when the whole hash is within <paramref name="radius"/>.</summary>
    public static int ProbeRadius(int radius) => Math.Max(radius, 0) / Count;

    /// <summary>Every 16-bit value within <paramref name="probeRadius"/> bits of <paramref name="chunk"/>, itself first.</summary>
    public static int[] Probes(int chunk, int probeRadius)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(probeRadius);
        var values = new List<int> { chunk };
        AddFlips(values, chunk, 0, Math.Min(probeRadius, Bits));
        return [.. values];
    }

    private static void AddFlips(List<int> values, int value, int firstBit, int flipsLeft)
    {
        if (flipsLeft == 0)
        {
            return;
        }

        for (var bit = firstBit; bit < Bits; bit++)
        {
            var flipped = value ^ (1 << bit);
            values.Add(flipped);
            AddFlips(values, flipped, bit + 1, flipsLeft - 1);
        }
    }
}
