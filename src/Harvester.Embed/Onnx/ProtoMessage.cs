using System.Buffers.Binary;
using System.Text;

namespace Harvester.Embed.Onnx;

/// <summary>Protobuf wire types (the four ONNX files use).</summary>
public enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    Length = 2,
    Fixed32 = 5,
}

/// <summary>
/// One field of a <see cref="ProtoMessage"/> as it stood on the wire. A length-delimited payload keeps its original
/// bytes until it is read as a sub-message; only sub-messages that were opened are encoded again, so rewriting a
/// model's shapes never copies its 60 MB of weights through a parser, and untouched parts come out byte for byte.
/// </summary>
public sealed class ProtoField
{
    private ReadOnlyMemory<byte> _payload;
    private ProtoMessage? _message;

    private ProtoField(int number, WireType wire, ulong scalar, ReadOnlyMemory<byte> payload, ProtoMessage? message)
    {
        Number = number;
        Wire = wire;
        Scalar = scalar;
        _payload = payload;
        _message = message;
    }

    public int Number { get; }

    public WireType Wire { get; }

    /// <summary>The value of a varint or fixed field.</summary>
    public ulong Scalar { get; }

    public long Int64 => unchecked((long)Scalar);

    /// <summary>The payload of a length-delimited field (encoded again if it was opened as a message).</summary>
    public ReadOnlyMemory<byte> Payload => _message is not null ? _message.ToArray() : _payload;

    public string Text => Encoding.UTF8.GetString(Payload.Span);

    /// <summary>The payload parsed as a message; changes to it are written back.</summary>
    public ProtoMessage Message => _message ??= ProtoMessage.Parse(_payload);

    public static ProtoField Varint(int number, long value) => new(number, WireType.Varint, unchecked((ulong)value), default, null);

    public static ProtoField String(int number, string value) => new(number, WireType.Length, 0, Encoding.UTF8.GetBytes(value), null);

    public static ProtoField Of(int number, ProtoMessage message) => new(number, WireType.Length, 0, default, message);

    internal static ProtoField Read(int number, WireType wire, ulong scalar, ReadOnlyMemory<byte> payload) => new(number, wire, scalar, payload, null);

    internal void WriteTo(Stream s)
    {
        ProtoMessage.WriteVarint(s, ((ulong)Number << 3) | (uint)Wire);
        switch (Wire)
        {
            case WireType.Varint:
                ProtoMessage.WriteVarint(s, Scalar);
                break;
            case WireType.Fixed32:
            {
                Span<byte> b = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)Scalar);
                s.Write(b);
                break;
            }

            case WireType.Fixed64:
            {
                Span<byte> b = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(b, Scalar);
                s.Write(b);
                break;
            }

            default:
            {
                if (_message is not null)
                {
                    var bytes = _message.ToArray();
                    ProtoMessage.WriteVarint(s, (ulong)bytes.Length);
                    s.Write(bytes);
                }
                else
                {
                    ProtoMessage.WriteVarint(s, (ulong)_payload.Length);
                    s.Write(_payload.Span);
                }

                break;
            }
        }
    }
}

/// <summary>
/// A protobuf message as the ordered list of its fields, enough to read and rewrite ONNX ModelProto files without
/// generated classes. Field numbers are onnx.proto's (see <see cref="OnnxFields"/>).
/// </summary>
public sealed class ProtoMessage
{
    public List<ProtoField> Fields { get; } = [];

    /// <summary>Parses one message; throws <see cref="InvalidDataException"/> when the bytes are not protobuf.</summary>
    public static ProtoMessage Parse(ReadOnlyMemory<byte> data)
    {
        var m = new ProtoMessage();
        var span = data.Span;
        var pos = 0;
        while (pos < span.Length)
        {
            var key = ReadVarint(span, ref pos);
            var number = (int)(key >> 3);
            var wire = (WireType)(key & 7);
            if (number == 0)
            {
                throw new InvalidDataException($"field number 0 at byte {pos}");
            }

            switch (wire)
            {
                case WireType.Varint:
                    m.Fields.Add(ProtoField.Read(number, wire, ReadVarint(span, ref pos), default));
                    break;
                case WireType.Fixed64:
                    Need(span, pos, 8);
                    m.Fields.Add(ProtoField.Read(number, wire, BinaryPrimitives.ReadUInt64LittleEndian(span[pos..]), default));
                    pos += 8;
                    break;
                case WireType.Fixed32:
                    Need(span, pos, 4);
                    m.Fields.Add(ProtoField.Read(number, wire, BinaryPrimitives.ReadUInt32LittleEndian(span[pos..]), default));
                    pos += 4;
                    break;
                case WireType.Length:
                {
                    var length = ReadVarint(span, ref pos);
                    if (length > (ulong)(span.Length - pos))
                    {
                        throw new InvalidDataException($"field {number} claims {length} bytes at byte {pos}; {span.Length - pos} remain");
                    }

                    m.Fields.Add(ProtoField.Read(number, wire, 0, data.Slice(pos, (int)length)));
                    pos += (int)length;
                    break;
                }

                default:
                    throw new InvalidDataException($"unsupported wire type {(int)wire} for field {number} at byte {pos}");
            }
        }

        return m;
    }

    public IEnumerable<ProtoField> All(int number) => Fields.Where(f => f.Number == number);

    public ProtoField? First(int number) => Fields.Find(f => f.Number == number);

    public string? Text(int number) => First(number)?.Text;

    public long? Int(int number) => First(number)?.Int64;

    public void RemoveAll(int number) => Fields.RemoveAll(f => f.Number == number);

    public byte[] ToArray()
    {
        using var ms = new MemoryStream();
        WriteTo(ms);
        return ms.ToArray();
    }

    public void WriteTo(Stream s)
    {
        foreach (var f in Fields)
        {
            f.WriteTo(s);
        }
    }

    internal static ulong ReadVarint(ReadOnlySpan<byte> s, ref int pos)
    {
        ulong v = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= s.Length)
            {
                throw new InvalidDataException("truncated varint");
            }

            var b = s[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return v;
            }
        }

        throw new InvalidDataException("varint longer than 10 bytes");
    }

    internal static void WriteVarint(Stream s, ulong v)
    {
        while (v >= 0x80)
        {
            s.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }

        s.WriteByte((byte)v);
    }

    private static void Need(ReadOnlySpan<byte> s, int pos, int n)
    {
        if (s.Length - pos < n)
        {
            throw new InvalidDataException($"truncated fixed field at byte {pos}");
        }
    }
}
