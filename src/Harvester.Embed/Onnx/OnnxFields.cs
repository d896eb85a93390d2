namespace Harvester.Embed.Onnx;

/// <summary>Field numbers of the onnx.proto messages Harvester reads or rewrites.</summary>
public static class OnnxFields
{
    public const int ModelIrVersion = 1;
    public const int ModelProducerName = 2;
    public const int ModelProducerVersion = 3;
    public const int ModelDocString = 6;
    public const int ModelGraph = 7;
    public const int ModelOpsetImport = 8;

    public const int OpsetDomain = 1;
    public const int OpsetVersion = 2;

    public const int GraphNode = 1;
    public const int GraphName = 2;
    public const int GraphInitializer = 5;
    public const int GraphInput = 11;
    public const int GraphOutput = 12;
    public const int GraphValueInfo = 13;

    public const int NodeInput = 1;
    public const int NodeOutput = 2;
    public const int NodeName = 3;
    public const int NodeOpType = 4;
    public const int NodeAttribute = 5;

    public const int AttributeName = 1;
    public const int AttributeInt = 3;
    public const int AttributeType = 20;
    public const int AttributeTypeInt = 2;

    public const int ValueInfoName = 1;
    public const int ValueInfoType = 2;
    public const int TypeTensor = 1;
    public const int TensorElemType = 1;
    public const int TensorShape = 2;
    public const int ShapeDim = 1;
    public const int DimValue = 1;
    public const int DimParam = 2;

    public const int TensorName = 8;

    public const int FloatType = 1;
}

/// <summary>Reading and editing helpers over <see cref="ProtoMessage"/> for ONNX graphs.</summary>
public static class OnnxMessages
{
    public static ProtoMessage Graph(this ProtoMessage model) =>
        model.First(OnnxFields.ModelGraph)?.Message ?? throw new InvalidDataException("the model has no graph");

    public static string Name(this ProtoMessage valueInfo) => valueInfo.Text(OnnxFields.ValueInfoName) ?? "";

    /// <summary>The value infos of a graph's inputs, outputs and intermediate tensors.</summary>
    public static IEnumerable<ProtoField> ValueInfos(this ProtoMessage graph) =>
        graph.Fields.Where(f => f.Number is OnnxFields.GraphInput or OnnxFields.GraphOutput or OnnxFields.GraphValueInfo);

    public static HashSet<string> InitializerNames(this ProtoMessage graph) =>
        [.. graph.All(OnnxFields.GraphInitializer).Select(f => f.Message.Text(OnnxFields.TensorName) ?? "")];

    /// <summary>The graph's real inputs (ONNX IR 3 also lists every weight as an input).</summary>
    public static List<ProtoMessage> DataInputs(this ProtoMessage graph)
    {
        var weights = graph.InitializerNames();
        return [.. graph.All(OnnxFields.GraphInput).Select(f => f.Message).Where(v => !weights.Contains(v.Name()))];
    }

    public static IEnumerable<string> OpTypes(this ProtoMessage graph) =>
        graph.All(OnnxFields.GraphNode).Select(n => n.Message.Text(OnnxFields.NodeOpType) ?? "");

    /// <summary>A value info's dimensions: the number, or the symbol for a symbolic dimension, or "?" for neither.</summary>
    public static string[] Dims(this ProtoMessage valueInfo)
    {
        var shape = ShapeOf(valueInfo);
        return shape is null
            ? []
            : [.. shape.All(OnnxFields.ShapeDim).Select(d => d.Message.Text(OnnxFields.DimParam) ?? d.Message.Int(OnnxFields.DimValue)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?")];
    }

    /// <summary>Makes dimension <paramref name="axis"/> symbolic.</summary>
    public static void SetDimParam(this ProtoMessage valueInfo, int axis, string symbol)
    {
        var shape = ShapeOf(valueInfo) ?? throw new InvalidDataException($"{valueInfo.Name()} has no shape");
        var dim = shape.All(OnnxFields.ShapeDim).ElementAt(axis).Message;
        dim.RemoveAll(OnnxFields.DimValue);
        dim.RemoveAll(OnnxFields.DimParam);
        dim.Fields.Insert(0, ProtoField.String(OnnxFields.DimParam, symbol));
    }

    /// <summary>A tensor value info of element type <paramref name="elemType"/>; dims are numbers or symbols.</summary>
    public static ProtoMessage ValueInfo(string name, int elemType, params object[] dims)
    {
        var shape = new ProtoMessage();
        foreach (var d in dims)
        {
            var dim = new ProtoMessage();
            dim.Fields.Add(d is string s ? ProtoField.String(OnnxFields.DimParam, s) : ProtoField.Varint(OnnxFields.DimValue, Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture)));
            shape.Fields.Add(ProtoField.Of(OnnxFields.ShapeDim, dim));
        }

        var tensor = new ProtoMessage();
        tensor.Fields.Add(ProtoField.Varint(OnnxFields.TensorElemType, elemType));
        tensor.Fields.Add(ProtoField.Of(OnnxFields.TensorShape, shape));
        var type = new ProtoMessage();
        type.Fields.Add(ProtoField.Of(OnnxFields.TypeTensor, tensor));
        var vi = new ProtoMessage();
        vi.Fields.Add(ProtoField.String(OnnxFields.ValueInfoName, name));
        vi.Fields.Add(ProtoField.Of(OnnxFields.ValueInfoType, type));
        return vi;
    }

    /// <summary>Renames a tensor everywhere in a graph: node inputs and outputs, value infos, initializers.</summary>
    public static void Rename(this ProtoMessage graph, string from, string to)
    {
        foreach (var node in graph.All(OnnxFields.GraphNode))
        {
            var fields = node.Message.Fields;
            for (var i = 0; i < fields.Count; i++)
            {
                if (fields[i].Number is OnnxFields.NodeInput or OnnxFields.NodeOutput && fields[i].Text == from)
                {
                    fields[i] = ProtoField.String(fields[i].Number, to);
                }
            }
        }

        foreach (var vi in graph.ValueInfos())
        {
            RenameField(vi.Message, OnnxFields.ValueInfoName, from, to);
        }

        foreach (var t in graph.All(OnnxFields.GraphInitializer))
        {
            RenameField(t.Message, OnnxFields.TensorName, from, to);
        }
    }

    private static void RenameField(ProtoMessage owner, int number, string from, string to)
    {
        var i = owner.Fields.FindIndex(f => f.Number == number);
        if (i >= 0 && owner.Fields[i].Text == from)
        {
            owner.Fields[i] = ProtoField.String(number, to);
        }
    }

    private static ProtoMessage? ShapeOf(ProtoMessage valueInfo) =>
        valueInfo.First(OnnxFields.ValueInfoType)?.Message.First(OnnxFields.TypeTensor)?.Message.First(OnnxFields.TensorShape)?.Message;
}
