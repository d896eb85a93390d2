using Harvester.Imaging;
namespace Harvester.Curate.Detectors;

/// <summary>A detection in frame coordinates normalised to 0..1.</summary>
public readonly record struct Box(float X0, float Y0, float X1, float Y1, float Score, int Class = 0)
{
    public float Area => Math.Max(0, X1 - X0) * Math.Max(0, Y1 - Y0);

    public Box Clip() => this with { X0 = Math.Clamp(X0, 0, 1), Y0 = Math.Clamp(Y0, 0, 1), X1 = Math.Clamp(X1, 0, 1), Y1 = Math.Clamp(Y1, 0, 1) };

    public static float Iou(in Box a, in Box b)
    {
        var ix = Math.Max(0, Math.Min(a.X1, b.X1) - Math.Max(a.X0, b.X0));
        var iy = Math.Max(0, Math.Min(a.Y1, b.Y1) - Math.Max(a.Y0, b.Y0));
        var inter = ix * iy;
        var union = a.Area + b.Area - inter;
        return union <= 0 ? 0 : inter / union;
    }

    /// <summary>Greedy non-maximum suppression per class: keeps the best box, drops those overlapping it above the IoU.</summary>
    public static List<Box> Nms(IEnumerable<Box> boxes, float iouThreshold)
    {
        var sorted = boxes.OrderByDescending(b => b.Score).ToList();
        var kept = new List<Box>();
        foreach (var b in sorted)
        {
            if (!kept.Any(k => k.Class == b.Class && Iou(k, b) > iouThreshold))
            {
                kept.Add(b);
            }
        }

        return kept;
    }
}

/// <summary>Maps a frame into a square model input without distortion (padding the short side) and boxes back.</summary>
public readonly record struct Letterbox(int FrameWidth, int FrameHeight, int Size)
{
    public float Scale => (float)Size / Math.Max(FrameWidth, FrameHeight);

    public int ScaledWidth => Math.Max(1, (int)Math.Round(FrameWidth * Scale));

    public int ScaledHeight => Math.Max(1, (int)Math.Round(FrameHeight * Scale));

    public int PadX => (Size - ScaledWidth) / 2;

    public int PadY => (Size - ScaledHeight) / 2;

    /// <summary>Box in model-input pixels to normalised frame coordinates.</summary>
    public Box ToFrame(float x0, float y0, float x1, float y1, float score, int cls = 0) => new Box(
        (x0 - PadX) / ScaledWidth, (y0 - PadY) / ScaledHeight, (x1 - PadX) / ScaledWidth, (y1 - PadY) / ScaledHeight, score, cls).Clip();
}
