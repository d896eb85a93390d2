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
    public double TextRatio(Mat bgr)
    {
        var scale = (double)_inputSize / Math.Max(bgr.Width, bgr.Height);
        var w = Math.Max(32, (int)Math.Round(bgr.Width * scale / 32) * 32);
        var h = Math.Max(32, (int)Math.Round(bgr.Height * scale / 32) * 32);
        using var resized = new Mat();
        Cv2.Resize(bgr, resized, new Size(w, h), 0, 0, scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
        var length = 3 * w * h;
        var buffer = ArrayPool<float>.Shared.Rent(length);
        try
        {
            Tensors.FillNchw(resized, buffer.AsSpan(0, length), ChannelOrder, Mean, Std);
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, length), [1, 3, h, w]);
            using var run = new RunOptions();
            using var outputs = _session.Run(run, [_inputName], [input], _session.OutputNames);
            var map = outputs[0].GetTensorDataAsSpan<float>();
            var text = 0;
            foreach (var p in map)
            {
                if (p > _pixelThreshold)
                {
                    text++;
                }
            }

            return map.Length == 0 ? 0 : (double)text / map.Length;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    public void Dispose() => _session.Dispose();
}
