using Harvester.Imaging;
using System.Text;

namespace Harvester.Curate.Tests;

/// <summary>
/// Writes a minimal ONNX model (protobuf by hand: no onnx package is available here) whose single node is a
/// Constant: whatever the input, the output is the given tensor. Stands in for a detector whose weights no package ships.
/// </summary>
internal static class OnnxModelWriter
{
    public static byte[] ConstantOutputModel(string inputName, long[] inputShape, string outputName, long[] outputShape, float[] values)
    {
        var tensor = new Proto();
        foreach (var d in outputShape)
        {
            tensor.Varint(1, (ulong)d);
        }

        tensor.Varint(2, 1); // FLOAT
        tensor.Bytes(9, values.SelectMany(BitConverter.GetBytes).ToArray());

        var attribute = new Proto().String(1, "value").Message(5, tensor).Varint(20, 4); // AttributeType.TENSOR
        var node = new Proto().String(2, outputName).String(3, "emit").String(4, "Constant").Message(5, attribute);
        var graph = new Proto()
            .Message(1, node)
            .String(2, "constant-detector")
            .Message(11, ValueInfo(inputName, inputShape))
            .Message(12, ValueInfo(outputName, outputShape));
        var opset = new Proto().String(1, "").Varint(2, 13);
        return new Proto().Varint(1, 8).String(2, "harvester-tests").Message(7, graph).Message(8, opset).ToArray();
    }

    private static Proto ValueInfo(string name, long[] shape)
    {
        var dims = new Proto();
        foreach (var d in shape)
        {
            dims.Message(1, new Proto().Varint(1, (ulong)d));
        }

        var tensorType = new Proto().Varint(1, 1).Message(2, dims);
        return new Proto().String(1, name).Message(2, new Proto().Message(1, tensorType));
    }

    private sealed class Proto
    {
        private readonly MemoryStream _stream = new();

        public Proto Varint(int field, ulong value)
        {
            Key(field, 0);
            Raw(value);
            return this;
        }

        public Proto String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public Proto Message(int field, Proto message) => Bytes(field, message.ToArray());

        public Proto Bytes(int field, byte[] value)
        {
            Key(field, 2);
            Raw((ulong)value.Length);
            _stream.Write(value);
            return this;
        }

        public byte[] ToArray() => _stream.ToArray();

        private void Key(int field, int wireType) => Raw(((ulong)field << 3) | (uint)wireType);

        private void Raw(ulong value)
        {
            while (value >= 0x80)
            {
                _stream.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _stream.WriteByte((byte)value);
        }
    }
}
