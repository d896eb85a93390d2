using Harvester.Embed.Onnx;

namespace Harvester.Embed;

/// <summary>
/// ImageNet ResNet18 as ML.NET's DnnImageFeaturizer ships it (NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18, MIT),
/// without ML.NET: the package's two graphs come in through NuGet restore (a PackageDownload of Harvester.Embed,
/// copied next to the executable), are checked against pinned SHA-256s, and are spliced into one model with a
/// symbolic batch dimension: planar RGB 0..255 [N,3,224,224] → RGB-to-BGR and minus the package's per-pixel mean
/// image → ResNet18 up to its 7x7 average pool → [N,512]. The splice is deterministic, so the model file Harvester
/// writes has a pinned SHA-256 too. Pixels are prepared exactly as ML.NET's ResizeImages(224, 224) does (see
/// <see cref="MlNetResize"/>), so the vectors are ML.NET's.
/// </summary>
public static class ResNet18Model
{
    public const string Name = "resnet18-imagenet";
    public const string Version = "1";
    public const int Size = 224;
    public const int Dimension = 512;

    public const string PackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
    public const string PackageVersion = "0.23.1";

    /// <summary>Where a publish puts the package's files, relative to the executable (see Harvester.Embed.csproj).</summary>
    public const string PackagedDirectory = "PackagedModels/ResNet18";

    public const string NetworkFile = "ResNet18.onnx";
    public const string NetworkSha256 = "e2552f19db2dfdb01b3669537b6a0f1b44da38d18279535492ed5dfc2ef1ff8f";
    public const string PreprocessFile = "ResNetPreprocess.onnx";
    public const string PreprocessSha256 = "84bf8def78d0befaa3f6e73745d57d7016c6a192ead76f79686bd438c1047004";

    /// <summary>SHA-256 of <see cref="Build"/>'s output from the two pinned files.</summary>
    public const string ModelSha256 = "ca0a1ff6cc69591ff1ce5a1bb37f34a0217f2992dfcbfc45a2bfbaa2d455d81a";

    public const string InputName = "pixel_values";
    public const string OutputName = "embedding";
    public const string BatchSymbol = "batch";

    // Tensor names inside the package's graphs (checked when splicing).
    private const string PrepInput = "OriginalInput";
    private const string PrepOutput = "PreprocessedInput";
    private const string NetInput = "Input247";
    private const string NetOutput = "Pooling395_Output_0";

    public static ModelManifest Manifest { get; } = new()
    {
        Name = Name,
        Version = Version,
        File = "model.onnx",
        InputName = InputName,
        Layout = "NCHW",
        Width = Size,
        Height = Size,
        Resize = "iso-crop",
        Interpolation = "skia-high",
        ChannelOrder = "RGB",
        Scale = 1f,
        Mean = [0f, 0f, 0f],
        Std = [1f, 1f, 1f],
        OutputName = OutputName,
        Pooling = "none",
        L2Normalize = true,
        Dimension = Dimension,
        Sha256 = ModelSha256,
        // Chosen by bench/Harvester.Bench.Embedding (BENCHMARKS.md, "Copies" and "Content").
        Thresholds = new ModelThresholds { NearCopyCosine = 0.90, SimilarityGroupCosine = 0.85, NearDuplicateCosine = 0.90 },
        Description = $"ImageNet ResNet18 (NuGet {PackageId} {PackageVersion}, MIT): ML.NET's DnnImageFeaturizer vectors (512-d average pool), L2-normalised.",
    };

    /// <summary>
    /// A file of the package: next to the executable when it was published, else where NuGet restore put it for the
    /// build (recorded in the assembly; the package's own layout keeps each graph in a folder of its own).
    /// </summary>
    public static string PackagedPath(string file)
    {
        var published = Path.Combine(AppContext.BaseDirectory, PackagedDirectory, file);
        if (File.Exists(published))
        {
            return published;
        }

        var restored = typeof(ResNet18Model).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "ResNet18PackageFiles")?.Value;
        return restored is null ? published : Path.Combine(restored, file == NetworkFile ? "ResNet18Onnx" : "ResNetPrepOnnx", file);
    }

    /// <summary>
    /// Splices the preprocessing graph in front of the network into one model with a symbolic batch. Only shapes,
    /// names and the wiring change; every node and weight is copied as it is. Throws <see cref="InvalidDataException"/>
    /// when a graph is not the one this splice was written for.
    /// </summary>
    public static byte[] Build(byte[] preprocess, byte[] network)
    {
        var prep = ProtoMessage.Parse(preprocess);
        var net = ProtoMessage.Parse(network);
        foreach (var (model, what) in new[] { (prep, PreprocessFile), (net, NetworkFile) })
        {
            var opsets = model.All(OnnxFields.ModelOpsetImport).Select(o => (o.Message.Text(OnnxFields.OpsetDomain) ?? "", o.Message.Int(OnnxFields.OpsetVersion))).ToList();
            if (model.Int(OnnxFields.ModelIrVersion) != 3 || opsets is not [("", 8)])
            {
                throw new InvalidDataException($"{what} is not the IR 3 / opset 8 graph of {PackageId} {PackageVersion}");
            }
        }

        var pg = prep.Graph();
        var ng = net.Graph();
        ExpectEnds(pg, PrepInput, PrepOutput, PreprocessFile);
        ExpectEnds(ng, NetInput, NetOutput, NetworkFile);
        MakeBatchSymbolic(pg);
        MakeBatchSymbolic(ng);

        // The preprocessing graph's output becomes the network's input; the ends get Harvester's names.
        pg.Rename(PrepOutput, NetInput);
        pg.Rename(PrepInput, InputName);

        var g = new ProtoMessage();
        g.Fields.Add(ProtoField.String(OnnxFields.GraphName, "resnet18_imagenet"));
        g.Fields.AddRange(pg.All(OnnxFields.GraphNode));
        g.Fields.AddRange(ng.All(OnnxFields.GraphNode));
        var flatten = new ProtoMessage();
        flatten.Fields.Add(ProtoField.String(OnnxFields.NodeInput, NetOutput));
        flatten.Fields.Add(ProtoField.String(OnnxFields.NodeOutput, OutputName));
        flatten.Fields.Add(ProtoField.String(OnnxFields.NodeName, "flatten_features"));
        flatten.Fields.Add(ProtoField.String(OnnxFields.NodeOpType, "Flatten"));
        var axis = new ProtoMessage();
        axis.Fields.Add(ProtoField.String(OnnxFields.AttributeName, "axis"));
        axis.Fields.Add(ProtoField.Varint(OnnxFields.AttributeInt, 1));
        axis.Fields.Add(ProtoField.Varint(OnnxFields.AttributeType, OnnxFields.AttributeTypeInt));
        flatten.Fields.Add(ProtoField.Of(OnnxFields.NodeAttribute, axis));
        g.Fields.Add(ProtoField.Of(OnnxFields.GraphNode, flatten));
        g.Fields.AddRange(pg.All(OnnxFields.GraphInitializer));
        g.Fields.AddRange(ng.All(OnnxFields.GraphInitializer));
        g.Fields.Add(ProtoField.Of(OnnxFields.GraphInput, pg.DataInputs().Single()));
        g.Fields.Add(ProtoField.Of(OnnxFields.GraphOutput, OnnxMessages.ValueInfo(OutputName, OnnxFields.FloatType, BatchSymbol, (long)Dimension)));
        // The former ends are intermediate tensors now; their shapes stay known to the runtime.
        g.Fields.AddRange(pg.All(OnnxFields.GraphValueInfo));
        g.Fields.Add(ProtoField.Of(OnnxFields.GraphValueInfo, pg.All(OnnxFields.GraphOutput).Single().Message));
        g.Fields.AddRange(ng.All(OnnxFields.GraphValueInfo));
        g.Fields.Add(ProtoField.Of(OnnxFields.GraphValueInfo, ng.All(OnnxFields.GraphOutput).Single().Message));

        var m = new ProtoMessage();
        m.Fields.Add(ProtoField.Varint(OnnxFields.ModelIrVersion, 3));
        m.Fields.Add(ProtoField.String(OnnxFields.ModelProducerName, "harvester"));
        m.Fields.Add(ProtoField.String(OnnxFields.ModelProducerVersion, Version));
        m.Fields.Add(ProtoField.String(OnnxFields.ModelDocString, Manifest.Description!));
        m.Fields.Add(ProtoField.Of(OnnxFields.ModelGraph, g));
        var opset = new ProtoMessage();
        opset.Fields.Add(ProtoField.String(OnnxFields.OpsetDomain, ""));
        opset.Fields.Add(ProtoField.Varint(OnnxFields.OpsetVersion, 8));
        m.Fields.Add(ProtoField.Of(OnnxFields.ModelOpsetImport, opset));
        return m.ToArray();
    }

    /// <summary>
    /// The package's graphs pin the batch only in their declared shapes (no Reshape, no shape constants: checked in
    /// <see cref="ExpectEnds"/>), so declaring the leading 1 of every 4-D value symbolic is all a free batch needs.
    /// </summary>
    private static void MakeBatchSymbolic(ProtoMessage graph)
    {
        var weights = graph.InitializerNames();
        foreach (var f in graph.ValueInfos())
        {
            var vi = f.Message;
            if (f.Number == OnnxFields.GraphInput && weights.Contains(vi.Name()))
            {
                continue; // weights keep their shapes
            }

            if (vi.Dims() is [ "1", _, _, _ ])
            {
                vi.SetDimParam(0, BatchSymbol);
            }
        }
    }

    private static void ExpectEnds(ProtoMessage graph, string input, string output, string what)
    {
        var inputs = graph.DataInputs().Select(v => v.Name()).ToList();
        var outputs = graph.All(OnnxFields.GraphOutput).Select(f => f.Message.Name()).ToList();
        if (inputs is not [var i] || i != input || outputs is not [var o] || o != output)
        {
            throw new InvalidDataException($"{what} has inputs [{string.Join(", ", inputs)}] and outputs [{string.Join(", ", outputs)}], not {input} → {output}");
        }

        // Operators that can carry a batch size of their own would make a symbolic batch a lie.
        var pinned = graph.OpTypes().Where(op => op is "Reshape" or "Flatten" or "Constant" or "Shape" or "Tile" or "Expand" or "Gemm" or "MatMul").Distinct().ToList();
        if (pinned.Count > 0)
        {
            throw new InvalidDataException($"{what} contains {string.Join(", ", pinned)}, which may fix the batch size");
        }
    }
}
