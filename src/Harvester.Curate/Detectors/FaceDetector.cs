using Harvester.Imaging;
using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace Harvester.Curate.Detectors;

public sealed record FaceResult(int Count, double LargestAreaRatio, IReadOnlyList<Box> Faces);

/// <summary>
/// MediaPipe BlazeFace (the 128x128 front or 256x256 back model): two heads of anchors (16x16 cells x 2 and 8x8
/// cells x 6), each anchor a score logit and 16 regressors (box centre offset, size, six key points) in input pixels.
/// </summary>
public sealed class FaceDetector : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string _inputName;
    private readonly int _size;
    private readonly (string Scores, string Boxes, int Anchors, int Grid, int PerCell)[] _heads;
    private readonly float _scoreThreshold;
    private readonly float _iouThreshold;

    public FaceDetector(string modelPath, double scoreThreshold, double iouThreshold)
    {
        _session = OnnxModels.Open(modelPath, "face detection (BlazeFace)");
        OnnxModels.RequireRank(_session, modelPath, "face detection (BlazeFace)", 4);
        _inputName = _session.InputMetadata.Keys.First();
        _size = _session.InputMetadata[_inputName].Dimensions[1];
        _scoreThreshold = (float)scoreThreshold;
        _iouThreshold = (float)iouThreshold;
        var outputs = _session.OutputMetadata.Select(o => (o.Key, Anchors: o.Value.Dimensions[1], Width: o.Value.Dimensions[2])).ToList();
        var heads = new List<(string, string, int, int, int)>();
        foreach (var s in outputs.Where(o => o.Width == 1))
        {
            var boxes = outputs.FirstOrDefault(o => o.Width == 16 && o.Anchors == s.Anchors);
            var grid = new[] { _size / 8, _size / 16, _size / 32 }.FirstOrDefault(g => g > 0 && s.Anchors % (g * g) == 0 && s.Anchors / (g * g) <= 6);
            if (boxes.Key is null || grid == 0)
            {
                _session.Dispose();
                throw new Core.HarvesterException($"The face detection model {modelPath} does not have BlazeFace's outputs. Run './harvester setup' to restore it.");
            }

            heads.Add((s.Key, boxes.Key, s.Anchors, grid, s.Anchors / (grid * grid)));
        }

        if (heads.Count == 0)
        {
            _session.Dispose();
            throw new Core.HarvesterException($"The face detection model {modelPath} does not have BlazeFace's outputs. Run './harvester setup' to restore it.");
        }

        _heads = [.. heads];
    }

    public int InputSize => _size;

    public FaceResult Detect(Mat bgr)
    {
        var lb = new Letterbox(bgr.Width, bgr.Height, _size);
        using var square = Tensors.LetterboxImage(bgr, lb, Scalar.All(0));
        var length = _size * _size * 3;
        var buffer = ArrayPool<float>.Shared.Rent(length);
        try
        {
            // MediaPipe's face models take RGB in [-1, 1].
            Tensors.FillNhwcRgb(square, buffer.AsSpan(0, length), 2f / 255f, -1f);
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, length), [1, _size, _size, 3]);
            var names = _heads.SelectMany(h => new[] { h.Scores, h.Boxes }).ToArray();
            using var run = new RunOptions();
            using var outputs = _session.Run(run, [_inputName], [input], names);
            var found = new List<Box>();
            for (var h = 0; h < _heads.Length; h++)
            {
                var head = _heads[h];
                var scores = outputs[2 * h].GetTensorDataAsSpan<float>();
                var regs = outputs[(2 * h) + 1].GetTensorDataAsSpan<float>();
                for (var a = 0; a < head.Anchors; a++)
                {
                    var score = 1f / (1f + MathF.Exp(-Math.Clamp(scores[a], -100f, 100f)));
                    if (score < _scoreThreshold)
                    {
                        continue;
                    }

                    var cell = a / head.PerCell;
                    var ax = ((cell % head.Grid) + 0.5f) / head.Grid * _size;
                    var ay = ((cell / head.Grid) + 0.5f) / head.Grid * _size;
                    var r = regs.Slice(a * 16, 4);
                    var cx = ax + r[0];
                    var cy = ay + r[1];
                    found.Add(lb.ToFrame(cx - (r[2] / 2), cy - (r[3] / 2), cx + (r[2] / 2), cy + (r[3] / 2), score));
                }
            }

            var faces = Box.Nms(found.Where(b => b.Area > 0), _iouThreshold);
            return new FaceResult(faces.Count, faces.Count == 0 ? 0 : faces.Max(f => f.Area), faces);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    public void Dispose() => _session.Dispose();
}
