using Harvester.Imaging;
using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace Harvester.Curate.Detectors;

/// <summary>
/// PP-OCRv4 text detection (a DB network): a per-pixel text probability map; the text ratio is the share of the
/// frame above the pixel threshold. Menus, receipts, screenshots and signboards score high.
/// </summary>
public sealed class TextDetector : IDisposable
{
    // PaddleOCR feeds OpenCV's BGR planes in memory order with ImageNet statistics.
    private static readonly int[] ChannelOrder = [0, 1, 2];
    private static readonly float[] Mean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] Std = [0.229f, 0.224f, 0.225f];

    private readonly InferenceSession _session;
    private readonly string _inputName;
    private readonly int _inputSize;
    private readonly float _pixelThreshold;

    public TextDetector(string modelPath, int inputSize, double pixelThreshold)
    {
        _session = OnnxModels.Open(modelPath, "text detection (PP-OCRv4)");
        OnnxModels.RequireRank(_session, modelPath, "text detection (PP-OCRv4)", 4);
        _inputName = _session.InputMetadata.Keys.First();
        _inputSize = inputSize;
        _pixelThreshold = (float)pixelThreshold;
    }

    /// <summary>Share (0..1) of the frame covered by text.</summary>
    public double TextRatio(Mat bgr) => TextRatios([bgr])[0];

    /// <summary>
    /// <see cref="TextRatio"/> for several images; those that resize to the same input shape share one model run
    /// (a batch), which saves the per-run overhead when a stage has many images of one size.
    /// </summary>
    public double[] TextRatios(IReadOnlyList<Mat> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var ratios = new double[images.Count];
        var shapes = new Size[images.Count];
        var shrink = new bool[images.Count];
        for (var i = 0; i < images.Count; i++)
        {
            var bgr = images[i];
            var scale = (double)_inputSize / Math.Max(bgr.Width, bgr.Height);
            shrink[i] = scale < 1;
            shapes[i] = new Size(Math.Max(32, (int)Math.Round(bgr.Width * scale / 32) * 32), Math.Max(32, (int)Math.Round(bgr.Height * scale / 32) * 32));
        }

        foreach (var group in Enumerable.Range(0, images.Count).GroupBy(i => shapes[i]))
        {
            var (w, h) = (group.Key.Width, group.Key.Height);
            var members = group.ToArray();
            var plane = 3 * w * h;
            var length = plane * members.Length;
            var buffer = ArrayPool<float>.Shared.Rent(length);
            try
            {
                for (var k = 0; k < members.Length; k++)
                {
                    var bgr = images[members[k]];
                    using var resized = new Mat();
                    Cv2.Resize(bgr, resized, group.Key, 0, 0, shrink[members[k]] ? InterpolationFlags.Area : InterpolationFlags.Linear);
                    Tensors.FillNchw(resized, buffer.AsSpan(k * plane, plane), ChannelOrder, Mean, Std);
                }

                using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, length), [members.Length, 3, h, w]);
                using var run = new RunOptions();
                using var outputs = _session.Run(run, [_inputName], [input], _session.OutputNames);
                var map = outputs[0].GetTensorDataAsSpan<float>();
                var per = map.Length / members.Length;
                for (var k = 0; k < members.Length; k++)
                {
                    var text = 0;
                    foreach (var p in map.Slice(k * per, per))
                    {
                        if (p > _pixelThreshold)
                        {
                            text++;
                        }
                    }

                    ratios[members[k]] = per == 0 ? 0 : (double)text / per;
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(buffer);
            }
        }

        return ratios;
    }

    public void Dispose() => _session.Dispose();
}
