using System.Buffers;
using MessagePack;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Journal;

/// <summary>The span reader against what MessagePack's writer produces, at the edge of every format it picks.</summary>
public class PackReaderTests
{
    private static readonly long[] Integers =
    [
        0, 1, 127, 128, 255, 256, 65_535, 65_536, uint.MaxValue, (long)uint.MaxValue + 1, long.MaxValue,
        -1, -32, -33, -128, -129, -32_768, -32_769, int.MinValue, (long)int.MinValue - 1, long.MinValue,
    ];

    [Fact]
    public void Reads_every_integer_width_the_writer_picks()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buffer);
        foreach (var v in Integers) w.Write(v);
        w.Write(ulong.MaxValue);
        w.Write((byte)200);
        w.Flush();
        var bytes = buffer.WrittenSpan.ToArray();
        var reader = new PackReader(bytes);
        foreach (var v in Integers) Assert.Equal(v, reader.ReadInt64());
        Assert.Equal(ulong.MaxValue, reader.ReadUInt64());
        Assert.Equal(200, reader.ReadByte());
        Assert.Equal(bytes.Length, reader.Consumed);
    }

    [Fact]
    public void Reads_strings_of_every_length_class_nil_booleans_and_array_headers()
    {
        string[] texts = ["", "a", new('b', 31), new('c', 32), new('d', 255), new('e', 256), new('ж', 40_000), "\uD83D\uDED2"];
        var buffer = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(3);
        w.WriteArrayHeader(70_000);
        foreach (var t in texts) w.Write(t);
        w.Write((string?)null);
        w.Write(true);
        w.Write(false);
        w.WriteNil();
        w.Write(5);
        w.Flush();
        var bytes = buffer.WrittenSpan.ToArray();
        var reader = new PackReader(bytes.Concat(new byte[70_000]).ToArray());
        Assert.Equal(3, reader.ReadArrayHeader());
        Assert.Equal(70_000, reader.ReadArrayHeader());
        foreach (var t in texts) Assert.Equal(t, reader.ReadString());
        Assert.Null(reader.ReadString());
        Assert.True(reader.ReadBoolean());
        Assert.False(reader.ReadBoolean());
        Assert.True(reader.TryReadNil());
        Assert.False(reader.TryReadNil());
        Assert.Equal(5, reader.ReadInt32());
    }

    [Fact]
    public void Refuses_what_is_not_there_with_MessagePacks_exception()
    {
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([]).ReadInt64());
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([0xd3, 1, 2]).ReadInt64());
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([0xa1]).ReadString());
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([0xc3]).ReadInt64());
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([0x01]).ReadBoolean());
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([0xcd, 0x01, 0x00]).ReadByte());
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([0xff]).ReadUInt64());
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).ReadInt64());
        // An array header that promises more elements than bytes are left.
        Assert.Throws<MessagePackSerializationException>(() => new PackReader([0xdd, 0x00, 0x01, 0x00, 0x00]).ReadArrayHeader());
    }

}
