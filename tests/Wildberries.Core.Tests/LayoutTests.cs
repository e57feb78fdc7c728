using Wildberries.Core;

namespace Wildberries.Core.Tests;

/// <summary>
/// What the compact order layout must keep: expiries in (deadline, id) order across the checkout queue and the heap,
/// idempotency keys compared in full (never by hash alone), times up to the clock's limit, key expiries a restore
/// brings from another window, and snapshots that do not depend on the history of the machine's tables.
/// </summary>
public class LayoutTests(ITestOutputHelper output)
{
    private static readonly long Ttl = new StateMachineOptions().ReservationTtlMs;

    [Fact]
    public void An_extended_order_expires_between_queued_checkouts_by_deadline()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 10);
        var a = s.Buy(1, 1);
        s.NowMs += 1_000;
        var b = s.Buy(1, 1);
        s.NowMs += 1_000;
        var c = s.Buy(1, 1);
        // c's deadline moves to 500 ms after a's, before b's: it now waits in the heap, a and b in the queue.
        Assert.Equal(ResultCode.Ok, s.Apply(Command.Extend(c.OrderId, Ttl - 1_500)).Code);
        Assert.Equal(a.ReservedUntilMs + 500, s.Order(c.OrderId).ReservedUntilMs);

        s.NowMs = b.ReservedUntilMs + 1;
        s.Apply(Command.Tick());
        Assert.Equal([a.OrderId, c.OrderId, b.OrderId], ExpiredOrders(s));
    }

    [Fact]
    public void Equal_deadlines_in_the_queue_and_the_heap_expire_by_order_id()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 10);
        var a = s.Buy(1, 1);
        var b = s.Buy(1, 1);
        s.NowMs += 1_000;
        // a keeps its deadline but moves to the heap; b, with a higher id, stays in the queue with the same deadline.
        Assert.Equal(ResultCode.Ok, s.Apply(Command.Extend(a.OrderId, Ttl - 1_000)).Code);
        Assert.Equal(b.ReservedUntilMs, s.Order(a.OrderId).ReservedUntilMs);

        s.NowMs = a.ReservedUntilMs;
        s.Apply(Command.Tick());
        Assert.Equal([a.OrderId, b.OrderId], ExpiredOrders(s));
    }

    [Fact]
    public void Keys_with_the_same_hash_never_answer_for_each_other()
    {
        var (first, second) = CollidingKeys();
        output.WriteLine($"keys \"{first}\" and \"{second}\" share their 32-bit index hash");
        var s = new Shard();
        s.Item(1);
        s.Item(2);
        s.Stock(1, 10, 10);
        s.Stock(2, 10, 10);
        var mine = s.Apply(Command.Checkout(first, "alice", [new CheckoutLine(1, 1)]));
        var theirs = s.Apply(Command.Checkout(second, "bob", [new CheckoutLine(2, 2)]));
        Assert.Equal(ResultCode.Ok, theirs.Code);
        Assert.False(theirs.Replayed);
        Assert.NotEqual(mine.OrderId, theirs.OrderId);
        Assert.Equal("bob", s.Order(theirs.OrderId).CustomerId);
        Assert.True(s.Machine.TryGetOrderByKey(first, out var byFirst));
        Assert.Equal(mine.OrderId, byFirst.OrderId);
        Assert.True(s.Machine.TryGetOrderByKey(second, out var bySecond));
        Assert.Equal(theirs.OrderId, bySecond.OrderId);
        // Replays still answer each with its own order.
        Assert.Equal(mine.OrderId, s.Apply(Command.Checkout(first, "alice", [new CheckoutLine(1, 1)])).OrderId);
    }

    [Fact]
    public void Forgotten_keys_give_their_bytes_to_new_keys_and_answer_no_more()
    {
        var options = new StateMachineOptions { IdempotencyWindowMs = 60_000, TerminalOrderRetentionMs = 0 };
        var s = new Shard(options);
        s.Item(1);
        s.Stock(1, 10, 1_000);
        var old = new List<(string Key, OrderId Id)>();
        for (var i = 0; i < 50; i++)
        {
            var key = "old-" + i;
            var r = s.Apply(Command.Checkout(key, "c", [new CheckoutLine(1, 1)]));
            Assert.Equal(ResultCode.Ok, r.Code);
            old.Add((key, r.OrderId));
            Assert.Equal(ResultCode.Ok, s.Apply(Command.Cancel(r.OrderId)).Code);
        }
        s.Advance(60_001); // the keys are forgotten, the cancelled orders evicted: their slots and key bytes are free
        Assert.Equal(0, s.Machine.IdempotencyKeyCount);
        for (var i = 0; i < 50; i++)
        {
            // Same lengths as the old keys, so they reuse the freed ranges.
            var key = "new-" + i;
            var r = s.Apply(Command.Checkout(key, "c", [new CheckoutLine(1, 1)]));
            Assert.False(r.Replayed);
            Assert.True(s.Machine.TryGetOrderByKey(key, out var view));
            Assert.Equal(r.OrderId, view.OrderId);
        }
        foreach (var (key, _) in old) Assert.False(s.Machine.TryGetOrderByKey(key, out _));
        AssertRoundTrip(s.Machine, options);
    }

    [Fact]
    public void Times_at_the_clock_limit_fit_and_survive_a_snapshot()
    {
        var options = new StateMachineOptions
        {
            IdempotencyWindowMs = StateMachineOptions.WindowMsMax,
            TerminalOrderRetentionMs = StateMachineOptions.WindowMsMax,
            ReservationTtlMs = StateMachineOptions.ReservationTtlMsMax,
        };
        var s = new Shard(options) { NowMs = StateMachineOptions.TimestampMsMax };
        s.Item(1);
        s.Stock(1, 10, 10);
        var a = s.Buy(1, 1);
        Assert.Equal(StateMachineOptions.TimestampMsMax + StateMachineOptions.ReservationTtlMsMax, a.ReservedUntilMs);
        Assert.Equal(StateMachineOptions.TimestampMsMax, s.Order(a.OrderId).CreatedAtMs);
        Assert.Equal(ResultCode.Ok, s.Apply(Command.Cancel(a.OrderId)).Code);
        AssertRoundTrip(s.Machine, options);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(StateMachineOptions.TimestampMsMax + 1)]
    [InlineData(long.MaxValue)]
    public void A_snapshot_whose_clock_the_machine_cannot_keep_is_refused_on_restore(long nowMs)
    {
        // Accepted, every later checkout would throw making its 48-bit deadline: damage, refused as the file loads.
        var s = new Shard(new StateMachineOptions());
        s.Item(1);
        s.Stock(1, 10, 10);
        var snapshot = s.Machine.CaptureSnapshot() with { NowMs = nowMs };
        Assert.Throws<InvalidDataException>(() => ReservationStateMachine.Restore(snapshot, new StateMachineOptions()));
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(1L << 40)] // one above the 40 bits an allocation keeps a unit price in
    public void A_snapshot_item_whose_price_an_allocation_cannot_hold_is_refused_on_restore(long price)
    {
        var s = new Shard(new StateMachineOptions());
        s.Item(1);
        s.Stock(1, 10, 10);
        var taken = s.Machine.CaptureSnapshot();
        var snapshot = taken with { Items = [.. taken.Items.Select(i => i with { Price = price })] };
        Assert.Throws<InvalidDataException>(() => ReservationStateMachine.Restore(snapshot, new StateMachineOptions()));
    }

    [Fact]
    public void A_key_restored_under_another_window_keeps_its_expiry()
    {
        var s = new Shard(new StateMachineOptions { IdempotencyWindowMs = 10 * 60_000 });
        s.Item(1);
        s.Stock(1, 10, 10);
        var a = s.Buy(1, 1);
        var snapshot = s.Machine.CaptureSnapshot();
        var longer = new StateMachineOptions { IdempotencyWindowMs = 60 * 60_000 };
        var restored = ReservationStateMachine.Restore(snapshot, longer);
        Assert.Equal(s.Machine.ComputeStateHash(), restored.ComputeStateHash());
        Assert.Equal(snapshot.Keys[0].ExpiresAtMs, restored.CaptureSnapshot().Keys[0].ExpiresAtMs);

        // The key goes at its first window's end, not the restoring machine's.
        var events = new EventBuffer();
        var tick = Command.Tick();
        tick.Lsn = restored.LastLsn + 1;
        tick.TimestampMs = a.ReservedUntilMs + (10 * 60_000);
        restored.Apply(tick, events);
        Assert.Equal(0, restored.IdempotencyKeyCount);
    }

    [Fact]
    public void A_snapshot_does_not_depend_on_the_size_history_of_the_machines_tables()
    {
        var s = new Shard(new StateMachineOptions { OrdersCapacityHint = 16, IdempotencyWindowMs = 60_000, TerminalOrderRetentionMs = 0 });
        s.Item(1);
        s.Stock(1, 10, 10_000);
        // Every other order cancelled and, its key forgotten, freed: the next orders take those slots, last freed first.
        for (var i = 0; i < 300; i++)
        {
            var r = s.Buy(1, 1, "c" + (i % 7));
            if (i % 2 == 0) Assert.Equal(ResultCode.Ok, s.Apply(Command.Cancel(r.OrderId)).Code);
        }
        s.Advance(60_001);
        for (var i = 0; i < 200; i++) Assert.Equal(ResultCode.Ok, s.Buy(1, 1, "c" + (i % 7)).Code);
        var first = s.Machine.CaptureSnapshot();
        // Restored into tables sized otherwise, its orders sit in other buckets; the snapshot must not show it.
        var other = ReservationStateMachine.Restore(first, new StateMachineOptions { OrdersCapacityHint = 100_000 });
        var second = other.CaptureSnapshot();
        Assert.Equal(first.Orders.Select(o => o.Id.Value), second.Orders.Select(o => o.Id.Value));
        Assert.Equal(first.Orders.Select(o => o.Id.Value).Order(), first.Orders.Select(o => o.Id.Value));
        Assert.Equal(first.Keys, second.Keys);
        Assert.Equal(first.Keys.Select(k => (k.ExpiresAtMs, k.OrderId.Value)).Order(), first.Keys.Select(k => (k.ExpiresAtMs, k.OrderId.Value)));
    }

    [Fact]
    public void A_hint_of_the_next_command_changes_no_result_and_no_state()
    {
        var commands = new List<Command> { Command.UpsertItem(1, "one", 100, 10, true), Command.SetStockOnHand(1, 10, 5) };
        for (var i = 0; i < 12; i++) commands.Add(Command.Checkout("k" + (i % 8), "c" + (i % 3), [new CheckoutLine(1, 1 + (i % 2))]));
        // Commands the checks refuse are hinted too: no key, a key over the limit, no lines, an unknown SKU.
        commands.Add(Command.Checkout(null!, "c", [new CheckoutLine(1, 1)]));
        commands.Add(Command.Checkout(new string('x', 5_000), "c", [new CheckoutLine(1, 1)]));
        commands.Add(Command.Checkout("k-empty", "c", null!));
        commands.Add(Command.Checkout("k-unknown", "c", [new CheckoutLine(99, 1)]));
        commands.Add(Command.Tick());

        var plain = new ReservationStateMachine(new StateMachineOptions { VerifyInvariantsEveryCommand = true });
        var hinted = new ReservationStateMachine(new StateMachineOptions { VerifyInvariantsEveryCommand = true });
        var events = new EventBuffer();
        for (var i = 0; i < commands.Count; i++)
        {
            var c = commands[i];
            c.Lsn = i + 1;
            c.TimestampMs = Shard.T0 + (i * 1_000);
            events.Clear();
            var expected = plain.Apply(c, events);
            if (i + 1 < commands.Count) hinted.Prefetch(commands[i + 1]);
            hinted.Prefetch(c);
            events.Clear();
            var actual = hinted.Apply(c, events);
            Assert.Equal(expected with { Shortages = null }, actual with { Shortages = null });
            Assert.Equal(expected.Shortages, actual.Shortages);
        }
        Assert.Equal(plain.ComputeStateHash(), hinted.ComputeStateHash());
    }

    private static void AssertRoundTrip(ReservationStateMachine machine, StateMachineOptions options) =>
        Assert.Equal(machine.ComputeStateHash(), ReservationStateMachine.Restore(machine.CaptureSnapshot(), options).ComputeStateHash());

    private static List<OrderId> ExpiredOrders(Shard s)
    {
        var ids = new List<OrderId>();
        foreach (var e in s.Events.Events)
        {
            if (e.Kind == EventKind.OrderExpired) ids.Add(e.OrderId);
        }
        return ids;
    }

    // The index's hash of a key (FNV-1a over its characters, then SplitMix64's finaliser, low 32 bits), found equal for
    // two keys of the same length by a birthday search (about 2^16 keys).
    private static (string First, string Second) CollidingKeys()
    {
        var seen = new Dictionary<int, string>();
        for (var i = 0; ; i++)
        {
            var key = "key-" + i.ToString("D7", System.Globalization.CultureInfo.InvariantCulture);
            var h = 0xCBF29CE484222325;
            foreach (var c in key) h = (h ^ c) * 0x100000001B3;
            var hash = (int)StateHash.Mix(h);
            if (seen.TryGetValue(hash, out var other)) return (other, key);
            seen.Add(hash, key);
        }
    }
}
