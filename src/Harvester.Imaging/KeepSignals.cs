using OpenCvSharp;

namespace Harvester.Imaging;

/// <summary>
/// Pixel evidence for choosing which copy of a duplicate group to keep, judged between the copies themselves: which
/// member carries an overlay the others lack (<see cref="Overlays"/>), and whether a larger member holds detail the
/// smaller one lacks or is only an upscale of it (<see cref="DetailGain"/>). A single image cannot tell: an upscaled
/// copy re-encoded as JPEG looks native in its own spectrum, and text or blocking reads as "sharp".
/// </summary>
public static class KeepSignals
{
    public const int ThumbWidth = 128;
    public const int ThumbHeight = 96;

    /// <summary>A larger copy counts as a real higher resolution only when its detail gain is at least this (tuned on the tuning photos).</summary>
    public const double UpscaleGain = 1.2;

    /// <summary>Largest mean residual (grey levels) at the smaller size for two images to count as resamples of each other.</summary>
    public const double AlignmentLimit = 3.0;

    // Overlay windows (fractions of width x height): a watermark line and a caption box; thresholds tuned on the tuning photos.
    private static readonly (double W, double H)[] Windows = [(0.40, 0.14), (0.75, 0.30)];
    private const double ConcentrationThreshold = 2.5;
    private const double MagnitudeThreshold = 0.1;
    private const double OwnershipThreshold = 2.5;

    /// <summary>128x96 grey thumbnail normalised to zero mean and unit deviation, what <see cref="Overlays"/> compares.</summary>
    public static float[] Thumb(Mat bgr)
    {
        ArgumentNullException.ThrowIfNull(bgr);
        using var grey = Grey(bgr);
        using var small = new Mat();
        Cv2.Resize(grey, small, new Size(ThumbWidth, ThumbHeight), 0, 0, InterpolationFlags.Area);
        var px = small.AsSpan<byte>();
        double m = 0;
        foreach (var b in px)
        {
            m += b;
        }

        m /= px.Length;
        double q = 0;
        foreach (var b in px)
        {
            q += (b - m) * (b - m);
        }

        var s = Math.Sqrt(q / px.Length) + 1e-3;
        var t = new float[px.Length];
        for (var i = 0; i < px.Length; i++)
        {
            t[i] = (float)((px[i] - m) / s);
        }

        return t;
    }

    /// <summary>
    /// For each member: does it carry an overlay the others lack? Its difference from the members' median thumbnail
    /// must be packed into one window of watermark or caption size (concentration), be large there (magnitude), and be
    /// the member's own: more edge energy in that window than the median of the others (text and logos add edges, a
    /// missing overlay does not). With two members the median is their mean and ownership says which one carries it.
    /// </summary>
    public static bool[] Overlays(IReadOnlyList<float[]> thumbs)
    {
        ArgumentNullException.ThrowIfNull(thumbs);
        var n = thumbs.Count;
        var flags = new bool[n];
        if (n < 2)
        {
            return flags;
        }

        const int W = ThumbWidth, H = ThumbHeight, N = W * H;
        var median = new float[N];
        var column = new float[n];
        for (var i = 0; i < N; i++)
        {
            for (var k = 0; k < n; k++)
            {
                column[k] = thumbs[k][i];
            }

            Array.Sort(column);
            median[i] = n % 2 == 1 ? column[n / 2] : 0.5f * (column[(n / 2) - 1] + column[n / 2]);
        }

        var edgeSums = thumbs.Select(t => Integral(Edges(t))).ToArray();
        var others = new double[n - 1];
        for (var k = 0; k < n; k++)
        {
            var diff = new double[N];
            double total = 0;
            for (var i = 0; i < N; i++)
            {
                diff[i] = Math.Abs(thumbs[k][i] - median[i]);
                total += diff[i];
            }

            if (total <= 1e-9)
            {
                continue;
            }

            var diffSums = Integral(diff);
            (double Conc, double Mag, double Own) best = (0, 0, 0);
            foreach (var (fw, fh) in Windows)
            {
                int ww = (int)(W * fw), wh = (int)(H * fh);
                var area = (double)ww * wh;
                for (var y = 0; y + wh <= H; y += 2)
                {
                    for (var x = 0; x + ww <= W; x += 2)
                    {
                        var s = Sum(diffSums, x, y, ww, wh);
                        var conc = s / total / (area / N);
                        if (conc <= best.Conc)
                        {
                            continue;
                        }

                        var own = Sum(edgeSums[k], x, y, ww, wh);
                        for (int j = 0, o = 0; j < n; j++)
                        {
                            if (j != k)
                            {
                                others[o++] = Sum(edgeSums[j], x, y, ww, wh);
                            }
                        }

                        Array.Sort(others);
                        best = (conc, s / area, own / Math.Max(1e-6, others[others.Length / 2]));
                    }
                }
            }

            flags[k] = best.Conc >= ConcentrationThreshold && best.Mag >= MagnitudeThreshold && best.Own >= OwnershipThreshold;
        }

        return flags;

        static double[] Edges(float[] t)
        {
            var e = new double[N];
            for (var y = 1; y < H - 1; y++)
            {
                for (var x = 1; x < W - 1; x++)
                {
                    var i = (y * W) + x;
                    e[i] = Math.Abs((4 * t[i]) - t[i - 1] - t[i + 1] - t[i - W] - t[i + W]);
                }
            }

            return e;
        }

        static double[] Integral(double[] a)
        {
            var s = new double[(W + 1) * (H + 1)];
            for (var y = 0; y < H; y++)
            {
                double row = 0;
                for (var x = 0; x < W; x++)
                {
                    row += a[(y * W) + x];
                    s[((y + 1) * (W + 1)) + x + 1] = s[(y * (W + 1)) + x + 1] + row;
                }
            }

            return s;
        }

        static double Sum(double[] s, int x, int y, int w, int h) =>
            s[((y + h) * (W + 1)) + x + w] - s[(y * (W + 1)) + x + w] - s[((y + h) * (W + 1)) + x] + s[(y * (W + 1)) + x];
    }

    /// <summary>
    /// Does the larger of two copies hold detail the smaller lacks? e_up = mean |A − fit(B cubic-upscaled to A)|,
    /// e_down = mean |B − fit(A area-downscaled to B)|, each after a least-squares gain/offset fit so tonal edits do
    /// not count. A genuine larger original has e_up ≫ e_down; an upscale of the smaller content has e_up ≈ e_down.
    /// Returns e_up / max(e_down, 0.25), or NaN when the two are not resamples of each other (aspect ratios more than
    /// 1 % apart, or misaligned at the smaller size: a crop, a mirror, another picture). Both are grey or BGR images
    /// decoded at the same scale relative to their stored sizes; <paramref name="larger"/> is the larger one.
    /// </summary>
    public static double DetailGain(Mat larger, Mat smaller)
    {
        ArgumentNullException.ThrowIfNull(larger);
        ArgumentNullException.ThrowIfNull(smaller);
        double ra = (double)larger.Width / larger.Height, rb = (double)smaller.Width / smaller.Height;
        if (Math.Abs(ra - rb) / rb > 0.01 || larger.Width <= smaller.Width)
        {
            return double.NaN;
        }

        using var ga = Grey(larger);
        using var gb = Grey(smaller);
        using var a = new Mat();
        using var b = new Mat();
        ga.ConvertTo(a, MatType.CV_32F);
        gb.ConvertTo(b, MatType.CV_32F);
        using var up = new Mat();
        Cv2.Resize(b, up, a.Size(), 0, 0, InterpolationFlags.Cubic);
        using var down = new Mat();
        Cv2.Resize(a, down, b.Size(), 0, 0, InterpolationFlags.Area);
        var eDown = FitResidual(b, down);
        if (eDown > AlignmentLimit)
        {
            return double.NaN;
        }

        return FitResidual(a, up) / Math.Max(eDown, 0.25);

        static double FitResidual(Mat target, Mat source)
        {
            var t = target.AsSpan<float>();
            var x = source.AsSpan<float>();
            double mx = 0, mt = 0;
            for (var i = 0; i < t.Length; i++)
            {
                mx += x[i];
                mt += t[i];
            }

            mx /= t.Length;
            mt /= t.Length;
            double sxx = 0, sxt = 0;
            for (var i = 0; i < t.Length; i++)
            {
                sxx += (x[i] - mx) * (x[i] - mx);
                sxt += (x[i] - mx) * (t[i] - mt);
            }

            var gain = sxx < 1e-9 ? 0 : sxt / sxx;
            double e = 0;
            for (var i = 0; i < t.Length; i++)
            {
                e += Math.Abs(t[i] - (mt + (gain * (x[i] - mx))));
            }

            return e / t.Length;
        }
    }

    private static Mat Grey(Mat bgr)
    {
        var grey = new Mat();
        if (bgr.Channels() == 1)
        {
            bgr.CopyTo(grey);
        }
        else
        {
            Cv2.CvtColor(bgr, grey, bgr.Channels() == 4 ? ColorConversionCodes.BGRA2GRAY : ColorConversionCodes.BGR2GRAY);
        }

        return grey;
    }
}
