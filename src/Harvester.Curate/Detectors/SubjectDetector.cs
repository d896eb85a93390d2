using Harvester.Imaging;
using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using OpenCvSharp.Saliency;

namespace Harvester.Curate.Detectors;

/// <summary>How much of the frame the main subject fills (its box area / frame area) and how many subjects there are.</summary>
public sealed record SubjectResult(double Coverage, int Count, IReadOnlyList<Box> Subjects, string Method);

public interface ISubjectDetector : IDisposable
{
    SubjectResult Detect(Mat bgr);
}

/// <summary>
/// Weights-free estimate: spectral-residual saliency (Hou and Zhang 2007) binarised with Otsu, closed, and split
/// into connected regions (closed so one object's fragments join); each region at least the minimum area is a subject.
/// </summary>
public sealed class SaliencySubjectDetector(int mapSize, double minSubjectArea) : ISubjectDetector
{
    public SubjectResult Detect(Mat bgr)
    {
        var scale = (double)mapSize / Math.Max(bgr.Width, bgr.Height);
        using var small = new Mat();
        Cv2.Resize(bgr, small, new Size(Math.Max(8, (int)Math.Round(bgr.Width * scale)), Math.Max(8, (int)Math.Round(bgr.Height * scale))), 0, 0, InterpolationFlags.Area);
        using var saliency = StaticSaliencySpectralResidual.Create();
        saliency.ImageWidth = small.Width;
        saliency.ImageHeight = small.Height;
        using var map = new Mat();
        saliency.ComputeSaliency(small, map);
        using var map8 = new Mat();
        Cv2.Normalize(map, map8, 0, 255, NormTypes.MinMax, (int)MatType.CV_8U);
        using var binary = new Mat();
        Cv2.Threshold(map8, binary, 0, 255, ThresholdTypes.Binary | ThresholdTypes.Otsu);
        // The map marks a subject's detail and outline, not its whole area: closing with a kernel an eighth of the map
        // joins the fragments of one object while objects further apart stay separate.
        var k = Math.Max(3, (mapSize / 8) | 1);
        using var kernel = Cv2.GetStructuringElement(MorphShapes.Ellipse, new Size(k, k));
        Cv2.MorphologyEx(binary, binary, MorphTypes.Close, kernel);
        using var labels = new Mat();
        using var stats = new Mat();
        using var centroids = new Mat();
        var n = Cv2.ConnectedComponentsWithStats(binary, labels, stats, centroids);
        var total = (double)binary.Width * binary.Height;
        var subjects = new List<Box>();
        for (var i = 1; i < n; i++)
        {
            var area = stats.At<int>(i, (int)ConnectedComponentsTypes.Area);
            if (area / total < minSubjectArea)
            {
                continue;
            }

            var x = stats.At<int>(i, (int)ConnectedComponentsTypes.Left);
            var y = stats.At<int>(i, (int)ConnectedComponentsTypes.Top);
            var w = stats.At<int>(i, (int)ConnectedComponentsTypes.Width);
            var h = stats.At<int>(i, (int)ConnectedComponentsTypes.Height);
            subjects.Add(new Box((float)x / binary.Width, (float)y / binary.Height, (float)(x + w) / binary.Width, (float)(y + h) / binary.Height, (float)(area / total)));
        }

        subjects.Sort((a, b) => b.Score.CompareTo(a.Score));
        return new SubjectResult(subjects.Count == 0 ? 0 : subjects[0].Area, subjects.Count, subjects, "saliency");
    }

    public void Dispose()
    {
    }
}

/// <summary>
/// A YOLO-format ONNX detector: input [1,3,S,S] RGB 0..1 letterboxed; output [1,4+classes,N] (v8 and later) or
/// [1,N,5+classes] (v5, with objectness); boxes are centre x, centre y, width, height in input pixels.
/// </summary>
public sealed class YoloSubjectDetector : ISubjectDetector
{
    private readonly InferenceSession _session;
    private readonly string _inputName;
    private readonly int _size;
    private readonly float _scoreThreshold;
    private readonly float _iouThreshold;
    private readonly double _minSubjectArea;

    public YoloSubjectDetector(string modelPath, int inputSize, double scoreThreshold, double iouThreshold, double minSubjectArea)
    {
        _session = OnnxModels.Open(modelPath, "subject detection (YOLO)");
        OnnxModels.RequireRank(_session, modelPath, "subject detection (YOLO)", 4);
        _inputName = _session.InputMetadata.Keys.First();
        var dims = _session.InputMetadata[_inputName].Dimensions;
        _size = dims[2] > 0 ? dims[2] : inputSize;
        _scoreThreshold = (float)scoreThreshold;
        _iouThreshold = (float)iouThreshold;
        _minSubjectArea = minSubjectArea;
    }

    public SubjectResult Detect(Mat bgr)
    {
        var lb = new Letterbox(bgr.Width, bgr.Height, _size);
        using var square = Tensors.LetterboxImage(bgr, lb, Scalar.All(114));
        var length = 3 * _size * _size;
        var buffer = ArrayPool<float>.Shared.Rent(length);
        try
        {
            Tensors.FillNchw(square, buffer.AsSpan(0, length), [2, 1, 0], [0f, 0f, 0f], [1f, 1f, 1f]);
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, length), [1, 3, _size, _size]);
            using var run = new RunOptions();
            using var outputs = _session.Run(run, [_inputName], [input], [_session.OutputNames[0]]);
            var shape = outputs[0].GetTensorTypeAndShape().Shape;
            var boxes = Decode(outputs[0].GetTensorDataAsSpan<float>(), shape, lb);
            var subjects = Box.Nms(boxes, _iouThreshold).Where(b => b.Area >= _minSubjectArea).OrderByDescending(b => b.Area).ToList();
            return new SubjectResult(subjects.Count == 0 ? 0 : subjects[0].Area, subjects.Count, subjects, "yolo");
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    private List<Box> Decode(ReadOnlySpan<float> data, long[] shape, Letterbox lb)
    {
        if (shape.Length != 3)
        {
            throw new InvalidOperationException($"YOLO output must have rank 3, got [{string.Join(',', shape)}].");
        }

        // v8 puts attributes first ([1, 4+C, N] with N anchors much larger); v5 puts anchors first with an objectness column.
        var attributesFirst = shape[1] < shape[2];
        var n = (int)(attributesFirst ? shape[2] : shape[1]);
        var attrs = (int)(attributesFirst ? shape[1] : shape[2]);
        var classStart = attributesFirst ? 4 : 5;
        var boxes = new List<Box>();
        for (var i = 0; i < n; i++)
        {
            var best = 0f;
            var cls = 0;
            for (var a = classStart; a < attrs; a++)
            {
                var v = At(data, attributesFirst, n, attrs, i, a);
                if (v > best)
                {
                    best = v;
                    cls = a - classStart;
                }
            }

            var score = attributesFirst ? best : best * At(data, attributesFirst, n, attrs, i, 4);
            if (attrs == classStart && !attributesFirst)
            {
                score = At(data, attributesFirst, n, attrs, i, 4);
            }

            if (score < _scoreThreshold)
            {
                continue;
            }

            float cx = At(data, attributesFirst, n, attrs, i, 0), cy = At(data, attributesFirst, n, attrs, i, 1), w = At(data, attributesFirst, n, attrs, i, 2), h = At(data, attributesFirst, n, attrs, i, 3);
            boxes.Add(lb.ToFrame(cx - (w / 2), cy - (h / 2), cx + (w / 2), cy + (h / 2), score, cls));
        }

        return boxes;
    }

    private static float At(ReadOnlySpan<float> data, bool attributesFirst, int n, int attrs, int i, int a) =>
        attributesFirst ? data[(a * n) + i] : data[(i * attrs) + a];

    public void Dispose() => _session.Dispose();
}
