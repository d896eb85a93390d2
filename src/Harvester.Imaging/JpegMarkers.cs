namespace Harvester.Imaging;

/// <summary>Walking a JPEG's marker segments (ITU T.81 B.1.1), shared by the header reader and the quality estimate.</summary>
internal static class JpegMarkers
{
    /// <summary>
    /// Moves <paramref name="pos"/> over fill bytes and the markers that have no length (SOI, TEM, RST0-7) and returns
    /// the marker there, whose length follows at pos + 2; null when fewer than four bytes remain or pos is not at a
    /// marker.
    /// </summary>
    public static byte? NextSegment(ReadOnlySpan<byte> data, ref int pos)
    {
        while (pos + 4 <= data.Length && data[pos] == 0xFF)
        {
            var marker = data[pos + 1];
            if (marker == 0xFF)
            {
                pos++;
            }
            else if (marker is 0xD8 or 0x01 or (>= 0xD0 and <= 0xD7))
            {
                pos += 2;
            }
            else
            {
                return marker;
            }
        }

        return null;
    }
}
