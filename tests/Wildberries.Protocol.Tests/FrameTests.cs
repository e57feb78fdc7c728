using System.Buffers;
using System.Buffers.Binary;

namespace Wildberries.Protocol.Tests;

/// <summary>The frame parser alone, in memory: every split of a stream into reads gives the same frames.</summary>
public class FrameTests
{
    private static byte[] Stream() =>
    [
        .. RawConnection.Hello("some-key"),
        .. RawConnection.Frame(FrameType.GetItem, 1, 42L, MessageCodec.WriteSku),
        .. RawConnection.Frame(FrameType.Checkout, 2, new CheckoutRequest("k", "c", [new CartLine(1, 2), new CartLine(3, 4)], [1]), MessageCodec.WriteCheckout),
    ];

    [Fact]
    public void A_stream_fed_one_byte_at_a_time_yields_each_frame_once_it_is_whole()
    {
        var stream = Stream();
        var frames = new List<(FrameType, uint, int)>();
        var consumed = 0;
        for (var end = 1; end <= stream.Length; end++)
        {
            // What a pipe would hold: everything received and not yet consumed.
            var buffer = new ReadOnlySequence<byte>(stream, consumed, end - consumed);
            while (Frame.TryRead(ref buffer, Frame.BytesMaxDefault, out var header, out var body, out var error))
            {
                Assert.Equal(FrameError.None, error);
                frames.Add((header.Type, header.RequestId, (int)body.Length));
            }
            Assert.Equal(FrameError.None, Frame.TryRead(ref buffer, Frame.BytesMaxDefault, out _, out _, out var pending) ? FrameError.BadFrame : pending);
            consumed = end - (int)buffer.Length;
        }
        Assert.Equal([FrameType.Hello, FrameType.GetItem, FrameType.Checkout], frames.Select(f => f.Item1));
        Assert.Equal([0u, 1u, 2u], frames.Select(f => f.Item2));
        Assert.Equal(stream.Length, consumed);
    }

    [Fact]
    public void A_hopeless_length_is_refused_from_its_first_four_bytes()
    {
        var prefix = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(prefix, Frame.BytesMaxDefault + 1u);
        var buffer = new ReadOnlySequence<byte>(prefix);
        Assert.False(Frame.TryRead(ref buffer, Frame.BytesMaxDefault, out _, out _, out var error));
        Assert.Equal(FrameError.TooLarge, error);
        BinaryPrimitives.WriteUInt32BigEndian(prefix, 5);
        buffer = new ReadOnlySequence<byte>(prefix);
        Assert.False(Frame.TryRead(ref buffer, Frame.BytesMaxDefault, out _, out _, out error));
        Assert.Equal(FrameError.BadFrame, error);
    }
}

public class ShardMapTests
{
    [Fact]
    public void The_clients_shard_of_a_sku_is_the_engines()
    {
        for (var shards = 1; shards <= 8; shards++)
        {
            for (long sku = -5; sku < 20_000; sku += 7) Assert.Equal(Wildberries.Core.ShardRouter.ShardOf(sku, shards), ShardMap.ShardOf(sku, shards));
        }
        Assert.Equal(Wildberries.Core.ShardRouter.ShardOf(long.MaxValue, 64), ShardMap.ShardOf(long.MaxValue, 64));
    }
}
