using System.Buffers;
using System.Buffers.Binary;

namespace Wildberries.Protocol.Tests;

/// <summary>
/// The client reads a server's answers: an array above the protocol's documented limits (docs/protocol.md,
/// <i>Limits</i>) is refused with <see cref="ProtocolFormatException"/> naming it, before anything is allocated
/// for its elements; at the limit it still reads.
/// </summary>
public class AnswerLimitTests
{
    private static byte[] Encode<T>(T value, BodyWriter<T> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        MessageCodec.Encode(buffer, value, write);
        return buffer.WrittenSpan.ToArray();
    }

    private static Order Order(int lines) =>
        new("o-1", "PENDING_PAYMENT", 100, "RUB", 1, null, [.. Enumerable.Range(1, lines).Select(i => new OrderLine(i, 1, 100, [new Allocation(1, 1)]))]);

    /// <summary>A well-formed answer with <paramref name="count"/> elements in the array under test, and its reader.</summary>
    private static (byte[] Body, Action<ReadOnlySequence<byte>> Read) Answer(string array, int count) => array switch
    {
        "welcome shards" => (Encode(new Welcome("storefront", Frame.BytesMaxDefault, 256, [.. Enumerable.Range(0, count).Select(i => new ShardEndpoint(i, null))]), MessageCodec.WriteWelcome),
            b => MessageCodec.Decode(b, MessageCodec.ReadWelcome)),
        "shortages" => (Encode(new ProblemBody("insufficient_stock", 409, "t", Shortages: [.. Enumerable.Range(0, count).Select(i => new Shortage(i, 2, 1))]), MessageCodec.WriteProblem),
            b => MessageCodec.Decode(b, MessageCodec.ReadProblem)),
        "lines" => (Encode(Order(count), MessageCodec.WriteOrder), b => MessageCodec.Decode(b, MessageCodec.ReadOrder)),
        "availability" => (Encode<IReadOnlyList<SkuAvailability>>([.. Enumerable.Range(0, count).Select(i => new SkuAvailability(i, 1))], MessageCodec.WriteAvailability),
            b => MessageCodec.Decode(b, MessageCodec.ReadAvailability)),
        "items" => (Encode(new CatalogPage([.. Enumerable.Range(0, count).Select(i => new CatalogItem(i, "n", 1, 1, true, 1))], null), MessageCodec.WriteCatalogPage),
            b => MessageCodec.Decode(b, MessageCodec.ReadCatalogPage)),
        "results" => (Encode<IReadOnlyList<StockResult>>([.. Enumerable.Range(0, count).Select(i => new StockResult(i, 1, "ok", 1, null))], MessageCodec.WriteStockResults),
            b => MessageCodec.Decode(b, MessageCodec.ReadStockResults)),
        "orders" => (Encode(new OrderPage([.. Enumerable.Range(0, count).Select(_ => Order(1))], null), MessageCodec.WriteOrderPage),
            b => MessageCodec.Decode(b, MessageCodec.ReadOrderPage)),
        "replication shards" => (Encode<IReadOnlyList<ShardReplication>>([.. Enumerable.Range(0, count).Select(i => new ShardReplication(i, "primary", "sync", 1, null, 1, 0, 0, 0, null, "h", 1))], MessageCodec.WriteReplication),
            b => MessageCodec.Decode(b, MessageCodec.ReadReplication)),
        _ => throw new ArgumentOutOfRangeException(nameof(array)),
    };

    [Theory]
    [InlineData("welcome shards", "shards", ProtocolLimits.ShardsMax)]
    [InlineData("shortages", "shortages", ProtocolLimits.OrderLinesMax)]
    [InlineData("lines", "lines", ProtocolLimits.OrderLinesMax)]
    [InlineData("availability", "availability", ProtocolLimits.AvailabilitySkusMax)]
    [InlineData("items", "items", ProtocolLimits.CatalogPageMax)]
    [InlineData("results", "results", ProtocolLimits.StockAdjustmentsMax)]
    [InlineData("orders", "orders", ProtocolLimits.OrdersPageMax)]
    [InlineData("replication shards", "shards", ProtocolLimits.ShardsMax)]
    public void An_answer_array_above_its_documented_limit_is_refused_and_at_it_reads(string array, string field, int max)
    {
        var (atLimit, read) = Answer(array, max);
        read(new ReadOnlySequence<byte>(atLimit));

        var (above, _) = Answer(array, max + 1);
        var error = Assert.Throws<ProtocolFormatException>(() => read(new ReadOnlySequence<byte>(above)));
        Assert.Equal(field, error.Field);
        Assert.Contains($"At most {max}", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A 1 MiB body whose array header claims <paramref name="claimed"/> elements, followed by one-byte values (a
    /// count MessagePack's own check, one byte an element, lets through).
    /// </summary>
    private static byte[] Claiming(byte[] prefix, int claimed)
    {
        var body = new byte[Frame.BytesMaxDefault - 6];
        prefix.CopyTo(body, 0);
        body[prefix.Length] = 0xDD; // array 32
        BinaryPrimitives.WriteInt32BigEndian(body.AsSpan(prefix.Length + 1), claimed);
        return body;
    }

    private static long Allocated(Action action)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void A_crafted_frame_claiming_a_huge_array_is_refused_before_allocating_for_it()
    {
        // An Availability answer claiming 1,000,000 rows in a 1 MiB frame: without the bound the client allocates
        // 16 MB of rows (16x the frame) before finding out that the first row is not a row.
        var availability = Claiming([], 1_000_000);
        var bytes = Allocated(() => Assert.Equal("availability", Assert.Throws<ProtocolFormatException>(() => MessageCodec.Decode(new ReadOnlySequence<byte>(availability), MessageCodec.ReadAvailability)).Field));
        Assert.True(bytes < 64 * 1024, $"{bytes} bytes allocated reading a refused answer");

        // A GetItem answer whose warehouses (no documented limit) claim a count of the bytes left: bounded by a
        // warehouse's smallest encoding (3 bytes), so refused before allocating, too.
        var head = Encode(new ItemDetail(1, "n", 1, "RUB", 1, true, 1, []), MessageCodec.WriteItemDetail)[..^1];
        var item = Claiming(head, Frame.BytesMaxDefault - 6 - head.Length - 5);
        bytes = Allocated(() => Assert.Equal("warehouses", Assert.Throws<ProtocolFormatException>(() => MessageCodec.Decode(new ReadOnlySequence<byte>(item), MessageCodec.ReadItemDetail)).Field));
        Assert.True(bytes < 64 * 1024, $"{bytes} bytes allocated reading a refused answer");
    }
}
