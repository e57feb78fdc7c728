using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using MessagePack;

namespace Wildberries.Engine.Journal;

/// <summary>
/// A MessagePack reader over one span, for the formats we write ourselves (journal entries and snapshot bodies):
/// integers of every width, booleans, nil, strings and array headers. The recovery paths read millions of values;
/// MessagePack's own reader goes through a <see cref="System.Buffers.ReadOnlySequence{T}"/> for each, this reads the
/// span in place. Anything that is not what the caller asks for, or runs past the end, throws
/// <see cref="MessagePackSerializationException"/>, as MessagePack's reader does.
/// </summary>
internal ref struct PackReader(ReadOnlySpan<byte> data) : IPackReader
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    /// <summary>Bytes read so far.</summary>
    public readonly int Consumed => _position;

    /// <summary>Reads an array header: the number of elements that follow.</summary>
    public int ReadArrayHeader()
    {
        var code = Next();
        if (code is >= 0x90 and <= 0x9f) return code & 0x0f;
        long n = code switch
        {
            0xdc => BinaryPrimitives.ReadUInt16BigEndian(Take(2)),
            0xdd => BinaryPrimitives.ReadUInt32BigEndian(Take(4)),
            _ => throw Unexpected(code, "an array"),
        };
        // Each element takes at least a byte: a header promising more than is left is damage, not a huge array.
        if (n > _data.Length - _position) throw new MessagePackSerializationException($"array of {n} elements in {_data.Length - _position} bytes");
        return (int)n;
    }

    /// <summary>Reads nil when it is next (true), else leaves the position alone (false).</summary>
    public bool TryReadNil()
    {
        if (_position >= _data.Length) throw new MessagePackSerializationException("unexpected end of data");
        if (_data[_position] != 0xc0) return false;
        _position++;
        return true;
    }

    /// <summary>Reads a boolean.</summary>
    public bool ReadBoolean() => Next() switch
    {
        0xc2 => false,
        0xc3 => true,
        var code => throw Unexpected(code, "a boolean"),
    };

    /// <summary>Reads an integer that fits an <see cref="int"/>.</summary>
    public int ReadInt32()
    {
        var v = ReadInt64();
        if (v is < int.MinValue or > int.MaxValue) throw new MessagePackSerializationException($"{v} does not fit a 32-bit integer");
        return (int)v;
    }

    /// <summary>Reads an integer that fits a <see cref="byte"/>.</summary>
    public byte ReadByte()
    {
        var v = ReadInt64();
        if (v is < 0 or > byte.MaxValue) throw new MessagePackSerializationException($"{v} does not fit a byte");
        return (byte)v;
    }

    /// <summary>Reads an integer that fits a <see cref="long"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long ReadInt64()
    {
        var code = Next();
        if (code <= 0x7f) return code;
        if (code >= 0xe0) return (sbyte)code;
        return ReadWideInt64(code);
    }

    /// <summary>Reads a non-negative integer that fits a <see cref="ulong"/>.</summary>
    public ulong ReadUInt64()
    {
        var code = Next();
        if (code <= 0x7f) return code;
        if (code == 0xcf) return BinaryPrimitives.ReadUInt64BigEndian(Take(8));
        var v = ReadWideInt64(code);
        if (v < 0) throw new MessagePackSerializationException($"{v} is negative where an unsigned integer belongs");
        return (ulong)v;
    }

    /// <summary>Reads a string (null for nil).</summary>
    public string? ReadString() => TryReadStringBytes(out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>Reads a string's UTF-8 bytes in place; false for nil.</summary>
    public bool TryReadStringBytes(out ReadOnlySpan<byte> bytes)
    {
        var code = Next();
        if (code is >= 0xa0 and <= 0xbf)
        {
            bytes = Take(code & 0x1f);
            return true;
        }
        long length;
        switch (code)
        {
            case 0xc0:
                bytes = default;
                return false;
            case 0xd9:
                length = Take(1)[0];
                break;
            case 0xda:
                length = BinaryPrimitives.ReadUInt16BigEndian(Take(2));
                break;
            case 0xdb:
                length = BinaryPrimitives.ReadUInt32BigEndian(Take(4));
                break;
            default:
                throw Unexpected(code, "a string");
        }
        if (length > _data.Length - _position) throw new MessagePackSerializationException($"string of {length} bytes in {_data.Length - _position}");
        bytes = Take((int)length);
        return true;
    }

    private long ReadWideInt64(byte code)
    {
        switch (code)
        {
            case 0xcc: return Take(1)[0];
            case 0xcd: return BinaryPrimitives.ReadUInt16BigEndian(Take(2));
            case 0xce: return BinaryPrimitives.ReadUInt32BigEndian(Take(4));
            case 0xcf:
                var u = BinaryPrimitives.ReadUInt64BigEndian(Take(8));
                if (u > long.MaxValue) throw new MessagePackSerializationException($"{u} does not fit a 64-bit integer");
                return (long)u;
            case 0xd0: return (sbyte)Take(1)[0];
            case 0xd1: return BinaryPrimitives.ReadInt16BigEndian(Take(2));
            case 0xd2: return BinaryPrimitives.ReadInt32BigEndian(Take(4));
            case 0xd3: return BinaryPrimitives.ReadInt64BigEndian(Take(8));
            default: throw Unexpected(code, "an integer");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte Next()
    {
        if ((uint)_position >= (uint)_data.Length) throw new MessagePackSerializationException("unexpected end of data");
        return _data[_position++];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _data.Length - _position) throw new MessagePackSerializationException("unexpected end of data");
        var span = _data.Slice(_position, count);
        _position += count;
        return span;
    }

    private static MessagePackSerializationException Unexpected(byte code, string wanted) =>
        new($"expected {wanted}, found MessagePack code 0x{code:x2}");
}

/// <summary>What the hand-written decoders read with: <see cref="PackReader"/>, or MessagePack's own reader.</summary>
internal interface IPackReader
{
    int ReadArrayHeader();

    bool TryReadNil();

    bool ReadBoolean();

    int ReadInt32();

    byte ReadByte();

    long ReadInt64();

    ulong ReadUInt64();

    string? ReadString();

    bool TryReadStringBytes(out ReadOnlySpan<byte> bytes);
}

/// <summary>MessagePack's own reader behind <see cref="IPackReader"/>: the decoders as they were before issue 15.</summary>
internal ref struct MessagePackPackReader(ReadOnlyMemory<byte> data) : IPackReader
{
    private MessagePackReader _reader = new(data);

    public int ReadArrayHeader() => _reader.ReadArrayHeader();

    public bool TryReadNil() => _reader.TryReadNil();

    public bool ReadBoolean() => _reader.ReadBoolean();

    public int ReadInt32() => _reader.ReadInt32();

    public byte ReadByte() => _reader.ReadByte();

    public long ReadInt64() => _reader.ReadInt64();

    public ulong ReadUInt64() => _reader.ReadUInt64();

    public string? ReadString() => _reader.ReadString();

    public bool TryReadStringBytes(out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (_reader.TryReadNil()) return false;
        var sequence = _reader.ReadStringSequence() ?? throw new MessagePackSerializationException("expected a string");
        bytes = sequence.IsSingleSegment ? sequence.FirstSpan : sequence.ToArray();
        return true;
    }
}
