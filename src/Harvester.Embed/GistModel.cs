namespace Harvester.Embed;

/// <summary>
/// The model Harvester ships without learned weights: a GIST-style descriptor written as an ONNX graph, so it runs
/// through the same ONNX Runtime path (CPU or GPU) as pretrained models. Luminance is filtered by a bank of
/// quadrature Gabor pairs (8 orientations) at 4 octaves of a 128x128 image; each filter's amplitude is averaged on a
/// 4x4 grid (512 values), power-compressed, centred and L2-normalised; a 4x4 colour layout (luma and chroma means,
/// 48 values) is appended; the whole vector is L2-normalised in the graph. Good for near-duplicates and
/// colour/layout similarity, not for semantics.
/// </summary>
public static class GistModel
{
    public const string Name = "harvester-gist";
    public const string Version = "1";
    public const int Size = 128;
    public const int Orientations = 8;
    public const int Scales = 4;
    public const int Grid = 4;
    public const int KernelSize = 9;
    public const int TextureDimension = Scales * Orientations * Grid * Grid;
    public const int ColourDimension = 3 * Grid * Grid;
    public const int Dimension = TextureDimension + ColourDimension;

    /// <summary>Gabor wavelength at each scale, in pixels of that scale's image.</summary>
    private const double Wavelength = 4.0;

    /// <summary>Weight of the colour block against the unit-norm texture block; chroma counts double because its spread is smaller than luma's.</summary>
    private const float ColourWeight = 0.7f;
    private const float ChromaGain = 2f;

    public static ModelManifest Manifest { get; } = new()
    {
        Name = Name,
        Version = Version,
        File = "model.onnx",
        InputName = "pixel_values",
        Layout = "NCHW",
        Width = Size,
        Height = Size,
        Resize = "squash",
        Interpolation = "bilinear-antialias",
        ChannelOrder = "RGB",
        Scale = 1f / 255f,
        Mean = [0f, 0f, 0f],
        Std = [1f, 1f, 1f],
        OutputName = "embedding",
        Pooling = "none",
        L2Normalize = true,
        Dimension = Dimension,
        Description = "Generated GIST-style descriptor: Gabor energies (4 scales x 8 orientations on a 4x4 grid) + 4x4 colour layout, L2-normalised. No learned weights.",
    };

    /// <summary>The ONNX bytes; identical on every call and every machine with IEEE float math.</summary>
    public static byte[] Build()
    {
        var g = new OnnxGraph("harvester_gist");
        g.Input("pixel_values", OnnxGraph.FloatType, "batch", 3, Size, Size);
        g.Output("embedding", OnnxGraph.FloatType, "batch", Dimension);

        // BT.601 luma from RGB in 0..1.
        var lumaW = g.Initializer("luma_w", [0.299f, 0.587f, 0.114f], 1, 3, 1, 1);
        var gray = g.Node("Conv", ["pixel_values", lumaW], "gray");

        var gaborW = g.Initializer("gabor_w", GaborBank(), 2 * Orientations, 1, KernelSize, KernelSize);
        var pairSum = new float[Orientations * 2 * Orientations];
        for (var o = 0; o < Orientations; o++)
        {
            pairSum[o * 2 * Orientations + o] = 1f;
            pairSum[o * 2 * Orientations + Orientations + o] = 1f;
        }

        var pairW = g.Initializer("pair_sum_w", pairSum, Orientations, 2 * Orientations, 1, 1);
        var pad = KernelSize / 2;
        var level = gray;
        var blocks = new List<string>();
        for (var s = 0; s < Scales; s++)
        {
            var side = Size >> s;
            if (s > 0)
            {
                level = g.Node("AveragePool", [level], $"pyramid_{s}", ("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }));
            }

            var response = g.Node("Conv", [level, gaborW], $"gabor_{s}", ("pads", new long[] { pad, pad, pad, pad }));
            var squared = g.Node("Mul", [response, response], $"gabor_sq_{s}");
            var energy = g.Node("Conv", [squared, pairW], $"energy_{s}");
            var amplitude = g.Node("Sqrt", [energy], $"amplitude_{s}");
            var cell = side / Grid;
            var pooled = g.Node("AveragePool", [amplitude], $"grid_{s}", ("kernel_shape", new long[] { cell, cell }), ("strides", new long[] { cell, cell }));
            blocks.Add(g.Node("Flatten", [pooled], $"texture_{s}", ("axis", 1)));
        }

        var texture = g.Node("Concat", [.. blocks], "texture", ("axis", 1));
        var compressed = g.Node("Sqrt", [texture], "texture_sqrt");
        var mean = g.Node("ReduceMean", [compressed], "texture_mean", ("axes", new long[] { 1 }), ("keepdims", 1));
        var centred = g.Node("Sub", [compressed, mean], "texture_centred");
        var textureUnit = Normalize(g, centred, "texture_unit");

        // Colour layout: Y - 0.5, Cb, Cr (BT.601, signed) averaged on the grid.
        var ycc = g.Initializer("ycc_w",
        [
            0.299f, 0.587f, 0.114f,
            -0.168736f * ChromaGain, -0.331264f * ChromaGain, 0.5f * ChromaGain,
            0.5f * ChromaGain, -0.418688f * ChromaGain, -0.081312f * ChromaGain,
        ], 3, 3, 1, 1);
        var yccB = g.Initializer("ycc_b", [-0.5f, 0f, 0f], 3);
        var yccMap = g.Node("Conv", ["pixel_values", ycc, yccB], "ycc");
        var colourCell = Size / Grid;
        var colourPooled = g.Node("AveragePool", [yccMap], "colour_grid", ("kernel_shape", new long[] { colourCell, colourCell }), ("strides", new long[] { colourCell, colourCell }));
        var colourFlat = g.Node("Flatten", [colourPooled], "colour_flat", ("axis", 1));
        var weight = g.Initializer("colour_weight", [ColourWeight], 1);
        var colour = g.Node("Mul", [colourFlat, weight], "colour");

        var joined = g.Node("Concat", [textureUnit, colour], "joined", ("axis", 1));
        Normalize(g, joined, "embedding");
        return g.ToModel(17, "harvester", Manifest.Description!);
    }

    /// <summary>x / sqrt(sum(x^2) + eps): a flat input (a blank image's texture) gives zeros instead of NaN.</summary>
    private static string Normalize(OnnxGraph g, string x, string output)
    {
        var ss = g.Node("ReduceSumSquare", [x], output + "_ss", ("axes", new long[] { 1 }), ("keepdims", 1));
        var eps = g.Initializer(output + "_eps", [1e-12f], 1);
        var norm = g.Node("Sqrt", [g.Node("Add", [ss, eps], output + "_ss_eps")], output + "_norm");
        return g.Node("Div", [x, norm], output);
    }

    /// <summary>Even (cosine) filters in channels 0..7, odd (sine) in 8..15; zero mean, unit L2 norm.</summary>
    private static float[] GaborBank()
    {
        const int k = KernelSize, half = KernelSize / 2;
        var sigma = 0.56 * Wavelength;
        var w = new float[2 * Orientations * k * k];
        var tmp = new double[k * k];
        for (var phase = 0; phase < 2; phase++)
        {
            for (var o = 0; o < Orientations; o++)
            {
                var theta = Math.PI * o / Orientations;
                var (sin, cos) = Math.SinCos(theta);
                for (var y = -half; y <= half; y++)
                {
                    for (var x = -half; x <= half; x++)
                    {
                        var xr = x * cos + y * sin;
                        var envelope = Math.Exp(-(x * x + y * y) / (2 * sigma * sigma));
                        var carrier = 2 * Math.PI * xr / Wavelength;
                        tmp[(y + half) * k + x + half] = envelope * (phase == 0 ? Math.Cos(carrier) : Math.Sin(carrier));
                    }
                }

                var mean = tmp.Average();
                var norm = Math.Sqrt(tmp.Sum(v => (v - mean) * (v - mean)));
                var offset = (phase * Orientations + o) * k * k;
                for (var i = 0; i < k * k; i++)
                {
                    w[offset + i] = (float)((tmp[i] - mean) / norm);
                }
            }
        }

        return w;
    }
}
