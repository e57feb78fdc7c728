using System.Buffers;
using System.Buffers.Binary;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Journal;

public class CommandCodecTests
{
    private static readonly OrderId Order = OrderId.Create(3, 12_345);

    /// <summary>Every command kind, from its factory where one exists, with boundary values in every field.</summary>
    private static readonly Dictionary<string, Command> Samples = new()
    {
        { "upsert", Command.UpsertItem(long.MaxValue, "Чайник 1.7 л", long.MaxValue, int.MaxValue, active: false) },
        { "upsert, empty name", Command.UpsertItem(1, "", 0, 1, active: true) },
        { "upsert, long name", Command.UpsertItem(2, new string('я', 20_000), 1, 100, active: true) },
        { "delta", Command.AdjustStockDelta(long.MinValue, int.MinValue, long.MinValue, reason: null) },
        { "delta, reason", Command.AdjustStockDelta(1, 1, -1, "receipt") },
        { "set", Command.SetStockOnHand(7, int.MaxValue, long.MaxValue, expectedOnHand: long.MinValue, reason: "") },
        { "set, no expected", Command.SetStockOnHand(7, 1, 0) },
        { "checkout", Command.Checkout("key", "customer", [new CheckoutLine(long.MaxValue, int.MaxValue), new CheckoutLine(long.MinValue, int.MinValue)], [int.MaxValue, 0, int.MinValue], "card") },
        { "checkout, no lines or warehouses", new Command { Kind = CommandKind.Checkout, Text = "k", Customer = "c" } },
        { "checkout, empty lines and warehouses", Command.Checkout("", "", [], []) },
        { "checkout, many lines", Command.Checkout(new string('k', 255), "c", [.. Enumerable.Range(1, 1_000).Select(i => new CheckoutLine(i, i))]) },
        { "attach", Command.AttachPayment(Order, "sess") },
        { "payment", Command.PaymentResult(new OrderId(ulong.MaxValue), "tx", succeeded: true, long.MinValue, "RUB") },
        { "payment failed", Command.PaymentResult(Order, "", succeeded: false, 0, "") },
        { "cancel", Command.Cancel(Order) },
        { "cancel by customer", Command.Cancel(Order, "customer") },
        { "extend", Command.Extend(Order, long.MaxValue, "customer") },
        { "ship", Command.Ship(Order) },
        { "tick", Command.Tick() },
        {
            "every field at its extreme", new Command
            {
                Kind = CommandKind.Checkout, Sku = long.MinValue, OrderId = new OrderId(ulong.MaxValue), Value = long.MaxValue,
                Expected = long.MinValue, Text = "\0\uFFFF", Customer = new string('c', 70_000), Extra = "\uD83D\uDED2",
                Lines = [new CheckoutLine(0, 0)], Warehouses = [-1], WarehouseId = int.MinValue, Flag = true, HasExpected = true,
            }
        },
    };

    public static TheoryData<string> Commands => [.. Samples.Keys];

    private static (long Lsn, long TimestampMs, int Epoch)[] Headers =>
        [(1, 0, 0), (long.MaxValue, long.MaxValue, int.MaxValue), (long.MinValue, long.MinValue, int.MinValue), (42, 1_700_000_000_000, 7)];

    private static byte[] Encode(Command command, long lsn = 1, long timestampMs = 1_700_000_000_000, int epoch = 1)
    {
        command.Lsn = lsn;
        command.TimestampMs = timestampMs;
        var buffer = new ArrayBufferWriter<byte>();
        CommandCodec.Encode(command, epoch, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_command_kind_round_trips(string name)
    {
        var command = Samples[name];
        foreach (var (lsn, timestampMs, epoch) in Headers)
        {
            var entry = Encode(command, lsn, timestampMs, epoch);
            Assert.True(CommandCodec.TryDecode(entry, out var decoded, out var decodedEpoch, out var error), $"{name}: {error}");
            Assert.Null(error);
            command.Lsn = lsn;
            command.TimestampMs = timestampMs;
            Assert.Equal(Describe(command), Describe(decoded));
            Assert.Equal(epoch, decodedEpoch);
        }
    }

    [Fact]
    public void An_encoder_buffer_reused_for_a_shorter_entry_holds_only_that_entry()
    {
        var buffer = new ArrayBufferWriter<byte>();
        CommandCodec.Encode(Command.UpsertItem(1, new string('x', 5_000), 1, 1, true), 1, buffer);
        var tick = Command.Tick();
        CommandCodec.Encode(tick, 1, buffer);
        Assert.True(CommandCodec.TryDecode(buffer.WrittenMemory, out var decoded, out _, out var error), error);
        Assert.Equal(Describe(tick), Describe(decoded));
        Assert.Equal(Encode(Command.Tick(), lsn: 0, timestampMs: 0), buffer.WrittenSpan.ToArray());
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_flipped_bit_anywhere_in_an_entry_is_refused(string name)
    {
        var entry = Encode(Samples[name], lsn: 99, epoch: 3);
        // Every byte of ordinary entries; of the long-string ones (tens of KiB, 8 decodes a byte add up) the header,
        // both ends of the body and every 97th byte between.
        var bytes = entry.Length <= 4_096
            ? Enumerable.Range(0, entry.Length)
            : Enumerable.Range(0, entry.Length).Where(i => i < 512 || i >= entry.Length - 512 || i % 97 == 0);
        foreach (var i in bytes)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                var damaged = (byte[])entry.Clone();
                damaged[i] ^= (byte)(1 << bit);
                Assert.False(CommandCodec.TryDecode(damaged, out _, out _, out var error), $"{name}: bit {bit} of byte {i} flipped, still decoded");
                Assert.StartsWith("checksum mismatch", error, StringComparison.Ordinal);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_truncated_entry_is_refused(string name)
    {
        var entry = Encode(Samples[name]);
        for (var length = 0; length < entry.Length; length += Math.Max(1, length / 64))
        {
            Assert.False(CommandCodec.TryDecode(entry.AsMemory(0, length), out _, out _, out var error), $"{name}: {length} of {entry.Length} bytes decoded");
            Assert.NotNull(error);
        }
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_truncated_body_with_a_matching_checksum_is_refused_without_throwing(string name)
    {
        var command = Samples[name];
        // Damage the checksum cannot see (the writer itself wrote a short body): the MessagePack reader must not
        // throw past the decoder.
        var entry = Encode(command);
        for (var length = CommandCodec.HeaderSize + 1; length < entry.Length; length += Math.Max(1, (length - CommandCodec.HeaderSize) / 32))
        {
            var cut = entry[..length];
            BinaryPrimitives.WriteUInt32LittleEndian(cut, CommandCodec.Crc32C(cut.AsSpan(4)));
            Assert.False(CommandCodec.TryDecode(cut, out _, out _, out var error), $"{name}: a body cut to {length} of {entry.Length} bytes decoded");
            Assert.StartsWith("body does not decode", error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_body_that_is_not_MessagePack_is_refused_without_throwing()
    {
        byte[][] bodies = [[0xC1], [0x90], [0x9F, 0xC1], [0xDD, 0xFF, 0xFF, 0xFF, 0xFF], [0x9E, 0xCC, 0x01, 0xDC, 0xFF, 0xFF]];
        foreach (var body in bodies)
        {
            var entry = new byte[CommandCodec.HeaderSize + body.Length];
            body.CopyTo(entry, CommandCodec.HeaderSize);
            BinaryPrimitives.WriteUInt32LittleEndian(entry, CommandCodec.Crc32C(entry.AsSpan(4)));
            Assert.False(CommandCodec.TryDecode(entry, out _, out _, out var error), Convert.ToHexString(body));
            Assert.StartsWith("body does not decode", error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Recovery_decode_reusing_arrays_and_strings_reads_every_entry_as_the_plain_decode()
    {
        var scratch = new CommandCodec.DecodeScratch(reuseArrays: true);
        // Every sample three times in two orders: each decode reuses arrays and strings the entries before it left.
        foreach (var name in Samples.Keys.Concat(Samples.Keys).Concat(Samples.Keys.Reverse()))
        {
            var entry = Encode(Samples[name]);
            Assert.True(CommandCodec.TryDecode(entry, out var reused, out _, out var error, scratch), $"{name}: {error}");
            Assert.True(CommandCodec.TryDecode(entry, out var plain, out _, out error, null), $"{name}: {error}");
            Assert.Equal(Describe(plain), Describe(reused));
        }
    }

    [Fact]
    public void Recovery_decode_keeps_a_repeated_customer_once_and_reuses_the_line_array()
    {
        var scratch = new CommandCodec.DecodeScratch(reuseArrays: true);
        Assert.True(CommandCodec.TryDecode(Encode(Command.Checkout("k1", "customer-7", [new CheckoutLine(1, 1)])), out var first, out _, out _, scratch));
        var firstLines = first.Lines;
        Assert.True(CommandCodec.TryDecode(Encode(Command.Checkout("k2", "customer-7", [new CheckoutLine(2, 3)])), out var second, out _, out _, scratch));
        Assert.Same(first.Customer, second.Customer);
        Assert.Same(firstLines, second.Lines);
        Assert.Equal([new CheckoutLine(2, 3)], second.Lines!);
        Assert.Equal("k2", second.Text);
        // More customers than the table has slots: ones that share a slot still decode as themselves.
        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < 5_000; i++)
            {
                var customer = $"customer-{i}";
                Assert.True(CommandCodec.TryDecode(Encode(Command.Checkout("k", customer, [new CheckoutLine(1, 1)])), out var decoded, out _, out _, scratch));
                Assert.Equal(customer, decoded.Customer);
            }
        }
    }

    [Fact]
    public void Crc32C_matches_the_published_check_value() =>
        // The standard check value of CRC-32C (iSCSI): "123456789" -> E3069283.
        Assert.Equal(0xE3069283u, CommandCodec.Crc32C("123456789"u8));

    private static string Describe(Command c) =>
        $"{c.Kind} lsn {c.Lsn} ts {c.TimestampMs} sku {c.Sku} order {c.OrderId.Value} value {c.Value} expected {c.Expected} " +
        $"text {Text(c.Text)} customer {Text(c.Customer)} extra {Text(c.Extra)} " +
        $"lines {(c.Lines is null ? "null" : "[" + string.Join(",", c.Lines.Select(l => $"{l.Sku}x{l.Quantity}")) + "]")} " +
        $"warehouses {(c.Warehouses is null ? "null" : "[" + string.Join(",", c.Warehouses) + "]")} " +
        $"wh {c.WarehouseId} flag {c.Flag} hasExpected {c.HasExpected}";

    private static string Text(string? s) => s is null ? "null" : $"\"{s}\"";
}
