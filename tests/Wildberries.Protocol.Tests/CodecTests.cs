using System.Buffers;

namespace Wildberries.Protocol.Tests;

/// <summary>The body codec on hostile bytes, split across buffer segments as a pipe holds them.</summary>
public class CodecTests
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }

    /// <summary>The body split at <paramref name="at"/> into two segments, with bytes of a next frame after it (sliced off).</summary>
    private static ReadOnlySequence<byte> Split(byte[] body, int at)
    {
        var first = new Segment(body.AsMemory(0, at));
        var last = first.Append((byte[])[.. body[at..], 0x00, 0x00, 0x00, 0x0A, 0x01]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length).Slice(0, body.Length);
    }

    public static TheoryData<byte[]> Hostile() => new(
    [
        (byte[])[0x92, 0x01, 0xA5, 0x61],         // a string claiming 5 bytes with 1 there
        [0x92, 0x01, 0xC4, 0x10, 0x61],           // bin 16 with 1 byte
        [0x92, 0x01, 0xDA, 0xFF, 0xFF, 0x61],     // str 16 claiming 65,535 bytes
        [0x9F, 0x01],                             // an array claiming 15 elements
        [0x92, 0x01, 0x9F],                       // a nested array claiming more than there is
        [0x92, 0x01, 0xD9],                       // a str 8 header without its length
        [0x81, 0x01, 0x02],                       // a map
        [0x91, 0xCF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], // uint64 beyond a long
        [0xC1],                                   // the one byte MessagePack never uses
        [0x92, 0x01, 0xC6, 0xFF, 0xFF, 0xFF, 0xFF], // bin 32 claiming 4 GB (a negative int to the reader's skip)
        [0x92, 0x01, 0xDB, 0x80, 0x00, 0x00, 0x00], // str 32 claiming 2 GB
    ]);

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Hostile_bodies_are_a_format_error_wherever_the_buffer_splits_them(byte[] body)
    {
        for (var at = 1; at < body.Length; at++)
        {
            var sequence = Split(body, at);
            Assert.Throws<ProtocolFormatException>(() => MessageCodec.Decode(sequence, MessageCodec.ReadSku));
        }
        Assert.Throws<ProtocolFormatException>(() => MessageCodec.Decode(new ReadOnlySequence<byte>(body), MessageCodec.ReadSku));
    }
}
