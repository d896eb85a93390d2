using OpenCvSharp;

namespace Harvester.Imaging;

/// <summary>
/// The second signal that confirms a pHash match: an 8x8 CIE Lab thumbnail (192 bytes: L, a, b per cell, row-major,
/// OpenCV's 8-bit Lab scaling), stored with the hash (<c>images.colour_layout</c>). pHash keeps only the signs of
/// DC-free frequencies; the layout keeps where the colours are. Two different photos that share an overlay, or that
/// are both smooth and collide on pHash by chance, differ in most cells; a re-encode, resize, brightness or contrast
/// edit does not, and a watermark touches only a few cells.
/// </summary>
public static class ColourLayout
{
    public const int Cells = 64;
    public const int Length = Cells * 3;

    public static byte[] Compute(Mat bgr)
    {
        ArgumentNullException.ThrowIfNull(bgr);
        using var small = new Mat();
        Cv2.Resize(bgr, small, new Size(8, 8), 0, 0, InterpolationFlags.Area);
        using var bgr8 = new Mat();
        switch (small.Channels())
        {
            case 1:
                Cv2.CvtColor(small, bgr8, ColorConversionCodes.GRAY2BGR);
                break;
            case 4:
                Cv2.CvtColor(small, bgr8, ColorConversionCodes.BGRA2BGR);
                break;
            default:
                small.CopyTo(bgr8);
                break;
        }

        using var lab = new Mat();
        Cv2.CvtColor(bgr8, lab, ColorConversionCodes.BGR2Lab);
        using var channels = lab.Reshape(1);
        return channels.AsSpan<byte>()[..Length].ToArray();
    }

    /// <summary>
    /// Distance between two layouts: lightness as z-scores within each image (std + 2, so flat images do not amplify
    /// noise), per cell 10·|Δz| + 0.5·(|Δa| + |Δb|), then the 75th percentile over the 64 cells. Brightness and
    /// contrast edits cancel out in z; a local overlay stays above the percentile. Symmetric; 0 for identical layouts.
    /// </summary>
    public static double Distance(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != Length || b.Length != Length)
        {
            throw new ArgumentException($"A colour layout has {Length} bytes.");
        }

        var (ma, sa) = Tone(a);
        var (mb, sb) = Tone(b);
        sa += 2;
        sb += 2;
        Span<double> cell = stackalloc double[Cells];
        for (var i = 0; i < Cells; i++)
        {
            var dz = Math.Abs(((a[i * 3] - ma) / sa) - ((b[i * 3] - mb) / sb));
            var dab = Math.Abs(a[(i * 3) + 1] - b[(i * 3) + 1]) + Math.Abs(a[(i * 3) + 2] - b[(i * 3) + 2]);
            cell[i] = (10 * dz) + (0.5 * dab);
        }

        cell.Sort();
        return cell[47];
    }

    /// <summary>Mean and standard deviation of the layout's lightness (8-bit Lab L), the image's tone.</summary>
    public static (double Mean, double Std) Tone(ReadOnlySpan<byte> layout)
    {
        double m = 0;
        for (var i = 0; i < Cells; i++)
        {
            m += layout[i * 3];
        }

        m /= Cells;
        double q = 0;
        for (var i = 0; i < Cells; i++)
        {
            q += (layout[i * 3] - m) * (layout[i * 3] - m);
        }

        return (m, Math.Sqrt(q / Cells));
    }
}

/// <summary>
/// When two hashed images count as the same photo: pHash within the radius <b>and</b> colour layouts within the
/// colour threshold. Both defaults were chosen on the tuning photos only (mate-backgrounds' tiles; see
/// docs/curation.md and bench/results/curation.md for the held-out figures).
/// </summary>
public sealed record NearDuplicateRule(int Radius = NearDuplicateRule.DefaultRadius, double ColourThreshold = NearDuplicateRule.DefaultColourThreshold)
{
    public const int DefaultRadius = 8;
    public const double DefaultColourThreshold = 10;

    public static NearDuplicateRule Default { get; } = new();

    /// <summary>A missing layout (a hash of an older recipe) never confirms a match.</summary>
    public bool Matches(ulong hashA, ReadOnlySpan<byte> layoutA, ulong hashB, ReadOnlySpan<byte> layoutB) =>
        PerceptualHash.Hamming(hashA, hashB) <= Radius
        && layoutA.Length == ColourLayout.Length && layoutB.Length == ColourLayout.Length
        && ColourLayout.Distance(layoutA, layoutB) <= ColourThreshold;
}
