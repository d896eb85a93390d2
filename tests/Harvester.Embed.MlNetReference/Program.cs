using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;

// ML.NET 5.0.1's ResNet18 featurizer, all defaults, over the image files listed one per line in <list>:
//   vectors <list> <out.jsonl>                   one {"path", "features"} line per file (ML.NET's raw 512 values)
//   time <list> <passes> [dnn|onnx] [threads]    a warm-up pass, then timed passes; one JSON line per pass
//   serve <list> 0 [dnn|onnx] [threads]          a warm-up pass, then one timed pass per line read from stdin (so a
//                                                benchmark can alternate it with its own runs)
// "dnn" is DnnFeaturizeImage (what ML.NET's docs show; ONNX Runtime picks its own thread count), "onnx" the same two
// graphs through ApplyOnnxModel with IntraOpNumThreads = threads (the same models, the thread count pinned).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args.Length < 3 || args[0] is not ("vectors" or "time" or "serve"))
{
    Console.Error.WriteLine("usage: vectors <list> <out.jsonl> | time <list> <passes> [dnn|onnx] [threads]");
    return 2;
}

var files = File.ReadAllLines(args[1]).Where(l => l.Length > 0).ToArray();
var ml = new MLContext(seed: 0);
var data = ml.Data.LoadFromEnumerable(files.Select(f => new Input { Path = f }));
var variant = args.Length > 3 ? args[3] : "dnn";
var threads = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
var prefix = ml.Transforms.LoadImages("Image", imageFolder: "", inputColumnName: nameof(Input.Path))
    .Append(ml.Transforms.ResizeImages("Image", 224, 224))
    .Append(ml.Transforms.ExtractPixels("Pixels", "Image"));
ITransformer model;
if (variant == "dnn")
{
    model = prefix.Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels")).Fit(data);
}
else
{
    // DnnFeaturizeImage's own wiring (ResNet18Extension): the preprocessing graph, then the network.
    var dir = Path.Combine(AppContext.BaseDirectory, "DnnImageModels");
    model = prefix
        .Append(ml.Transforms.ApplyOnnxModel(new OnnxOptions
        {
            ModelFile = Path.Combine(dir, "ResNetPrepOnnx", "ResNetPreprocess.onnx"),
            InputColumns = ["OriginalInput"],
            OutputColumns = ["PreprocessedInput"],
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
        }))
        .Append(ml.Transforms.CopyColumns("OriginalInput", "Pixels"))
        .Append(ml.Transforms.ApplyOnnxModel(new OnnxOptions
        {
            ModelFile = Path.Combine(dir, "ResNet18Onnx", "ResNet18.onnx"),
            InputColumns = ["Input247"],
            OutputColumns = ["Pooling395_Output_0"],
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
        }))
        .Fit(data);
}

List<Output> Pass() => ml.Data.CreateEnumerable<Output>(model.Transform(data), reuseRowObject: false).ToList();

if (args[0] == "vectors")
{
    await using var w = new StreamWriter(args[2]);
    foreach (var o in Pass())
    {
        await w.WriteLineAsync(JsonSerializer.Serialize(new { path = o.Path, features = o.Features }));
    }

    return 0;
}

var passes = int.Parse(args[2], CultureInfo.InvariantCulture);
Pass();
void Timed()
{
    var sw = Stopwatch.StartNew();
    var n = Pass().Count;
    Console.WriteLine(JsonSerializer.Serialize(new { images = n, seconds = sw.Elapsed.TotalSeconds }));
}

if (args[0] == "serve")
{
    Console.WriteLine("ready");
    while (Console.ReadLine() is not null)
    {
        Timed();
    }

    return 0;
}

for (var p = 0; p < passes; p++)
{
    Timed();
}

return 0;

internal sealed class Input
{
    public string Path { get; set; } = "";
}

internal sealed class Output
{
    public string Path { get; set; } = "";

    [VectorType(512)]
    public float[] Features { get; set; } = [];
}
