using System.Buffers.Binary;
using System.Text;

namespace Harvester.Embed;

/// <summary>
/// Writes ONNX ModelProto bytes for graphs Harvester builds itself. Only the protobuf fields those graphs use
/// (onnx.proto3 field numbers); output is deterministic: same graph, same bytes.
/// </summary>
public sealed class OnnxGraph(string name)
{
    public const int FloatType = 1;
    public const int Int64Type = 7;

    private readonly List<byte[]> _nodes = [];
    private readonly List<byte[]> _initializers = [];
    private readonly List<byte[]> _inputs = [];
    private readonly List<byte[]> _outputs = [];
    private int _counter;

    public string Fresh(string prefix) => $"{prefix}_{_counter++}";

    public void Input(string valueName, int elemType, params object[] dims) => _inputs.Add(ValueInfo(valueName, elemType, dims));

    public void Output(string valueName, int elemType, params object[] dims) => _outputs.Add(ValueInfo(valueName, elemType, dims));

    public string Initializer(string valueName, float[] values, params long[] dims)
    {
        var raw = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), values[i]);
        }

        _initializers.Add(Tensor(valueName, FloatType, dims, raw));
        return valueName;
    }

    public string Initializer(string valueName, long[] values, params long[] dims)
    {
        var raw = new byte[values.Length * 8];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(i * 8), values[i]);
        }

        _initializers.Add(Tensor(valueName, Int64Type, dims, raw));
        return valueName;
    }

    /// <summary>Adds a node; attributes are (name, value) with value int, long, float, long[] or float[].</summary>
    public string Node(string opType, string[] inputs, string? output = null, params (string Name, object Value)[] attributes)
    {
        output ??= Fresh(opType.ToLowerInvariant());
        var w = new ProtoWriter();
        foreach (var i in inputs)
        {
            w.String(1, i);
        }

        w.String(2, output);
        w.String(3, output + "_node");
        w.String(4, opType);
        foreach (var (attrName, value) in attributes)
        {
            w.Message(5, Attribute(attrName, value));
        }

        _nodes.Add(w.ToArray());
        return output;
    }

    public byte[] ToModel(int opset, string producer, string docString)
    {
        var g = new ProtoWriter();
        foreach (var n in _nodes)
        {
            g.Message(1, n);
        }

        g.String(2, name);
        foreach (var t in _initializers)
        {
            g.Message(5, t);
        }

        foreach (var i in _inputs)
        {
            g.Message(11, i);
        }

        foreach (var o in _outputs)
        {
            g.Message(12, o);
        }

        var opsetId = new ProtoWriter();
        opsetId.String(1, "");
        opsetId.Int(2, opset);

        var m = new ProtoWriter();
        m.Int(1, 8); // IR version 8 (ONNX 1.10+), enough for opset 17
        m.String(2, producer);
        m.String(3, "1");
        m.String(6, docString);
        m.Message(7, g.ToArray());
        m.Message(8, opsetId.ToArray());
        return m.ToArray();
    }

    private static byte[] Tensor(string valueName, int elemType, long[] dims, byte[] raw)
    {
        var w = new ProtoWriter();
        foreach (var d in dims)
        {
            w.Int(1, d);
        }

        w.Int(2, elemType);
        w.String(8, valueName);
        w.Bytes(9, raw);
        return w.ToArray();
    }

    private static byte[] ValueInfo(string valueName, int elemType, object[] dims)
    {
        var shape = new ProtoWriter();
        foreach (var d in dims)
        {
            var dim = new ProtoWriter();
            if (d is string param)
            {
                dim.String(2, param);
            }
            else
            {
                dim.Int(1, Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture));
            }

            shape.Message(1, dim.ToArray());
        }

        var tensor = new ProtoWriter();
        tensor.Int(1, elemType);
        tensor.Message(2, shape.ToArray());
        var type = new ProtoWriter();
        type.Message(1, tensor.ToArray());
        var vi = new ProtoWriter();
        vi.String(1, valueName);
        vi.Message(2, type.ToArray());
        return vi.ToArray();
    }

    private static byte[] Attribute(string attrName, object value)
    {
        var w = new ProtoWriter();
        w.String(1, attrName);
        switch (value)
        {
            case float f:
                w.Float(2, f);
                w.Int(20, 1);
                break;
            case int or long:
                w.Int(3, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                w.Int(20, 2);
                break;
            case float[] fs:
                foreach (var f in fs)
                {
                    w.Float(7, f);
                }

                w.Int(20, 6);
                break;
            case long[] ls:
                foreach (var l in ls)
                {
                    w.Int(8, l);
                }

                w.Int(20, 7);
                break;
            default:
                throw new ArgumentException($"Unsupported attribute type {value.GetType().Name} for {attrName}.", nameof(value));
        }

        return w.ToArray();
    }

    /// <summary>The protobuf wire format: varints, length-delimited fields and fixed32 floats.</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _s = new();

        public void Int(int field, long value)
        {
            Tag(field, 0);
            Varint((ulong)value);
        }

        public void Float(int field, float value)
        {
            Tag(field, 5);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(b, value);
            _s.Write(b);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, byte[] message) => Bytes(field, message);

        public void Bytes(int field, byte[] value)
        {
            Tag(field, 2);
            Varint((ulong)value.Length);
            _s.Write(value);
        }

        public byte[] ToArray() => _s.ToArray();

        private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

        private void Varint(ulong v)
        {
            while (v >= 0x80)
            {
                _s.WriteByte((byte)(v | 0x80));
                v >>= 7;
            }

            _s.WriteByte((byte)v);
        }
    }
}
