using System.Buffers;
using Wildberries.Core;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>The snapshot body's span decoder against MessagePack's reader, and its reuse of repeated strings.</summary>
public class SnapshotCodecTests
{
    [Fact]
    public void Repeated_names_and_customers_decode_to_the_names_written_and_are_kept_once()
    {
        string[] names = ["item", "item", "itex", "Чайник", "Чайник", "чайник", "", "", "item", "ite"];
        var items = names.Select((n, i) => new SnapshotItem(i + 1, true, n, 100, 10, true)).ToArray();
        string[] customers = ["c", "c", "d", "Клиент", "Клиент", "c"];
        var orders = customers.Select((c, i) => new SnapshotOrder(new OrderId((ulong)i + 1), OrderStatus.PendingPayment, true, c, $"k{i}", null, null, null, 100,
            1, 2, 0, 7, 1, [new SnapshotAllocation(1, 1, 1, 100)])).ToArray();
        var state = new StateSnapshot(0, 5, 1, 9, items, [], orders, [], []);
        var body = new ArrayBufferWriter<byte>();
        SnapshotCodec.Write(state, body);

        var decoded = SnapshotCodec.Read(body.WrittenMemory);
        var plain = SnapshotCodec.ReadWithMessagePack(body.WrittenMemory);
        Assert.Equal(names, decoded.Items.Select(i => i.Name));
        Assert.Equal(customers, decoded.Orders.Select(o => o.CustomerId));
        Assert.Equal(plain.Items, decoded.Items);
        Assert.Equal(plain.Orders.Select(o => o with { Allocations = [] }), decoded.Orders.Select(o => o with { Allocations = [] }));
        Assert.Same(decoded.Items[0].Name, decoded.Items[1].Name);
        Assert.Same(decoded.Orders[0].CustomerId, decoded.Orders[1].CustomerId);
    }

    [Fact]
    public void A_body_that_does_not_decode_and_fails_its_checksum_is_reported_as_the_checksum()
    {
        using var dir = new TempDirectory("snapcodec");
        var machine = new ReservationStateMachine();
        var events = new EventBuffer();
        var upsert = Command.UpsertItem(1, "item", 100, 10, true);
        upsert.Lsn = 1;
        machine.Apply(upsert, events);
        var file = new SnapshotStore(dir.Path).Save(machine.CaptureSnapshot(), 0, machine.ComputeStateHash());
        var bytes = File.ReadAllBytes(file.Path);
        bytes[64] = 0xc1; // the body's first byte (its array header): a code MessagePack never writes
        File.WriteAllBytes(file.Path, bytes);

        var ex = Assert.Throws<InvalidDataException>(() => SnapshotStore.Read(file.Path));
        Assert.Equal("body checksum mismatch", ex.Message);
    }
}
