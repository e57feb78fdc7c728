using Wildberries.Core;

namespace Wildberries.Core.Tests;

public class LifecycleTests
{
    [Fact]
    public void Reservations_expire_at_their_deadline_in_deadline_order()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 10);
        var a = s.Buy(1, 1);
        s.NowMs += 1000;
        var b = s.Buy(1, 2);
        Assert.Equal(a.ReservedUntilMs, s.Machine.NextExpiryMs);

        s.NowMs = a.ReservedUntilMs - 1;
        s.Apply(Command.Tick());
        Assert.Equal(3, s.Row(1, 10).Reserved);

        s.NowMs = b.ReservedUntilMs;
        s.Apply(Command.Tick());
        Assert.Equal([EventKind.StockChanged, EventKind.OrderExpired, EventKind.StockChanged, EventKind.OrderExpired], s.EventKinds());
        Assert.Equal(a.OrderId, s.Events.Events[1].OrderId);
        Assert.Equal(0, s.Row(1, 10).Reserved);
        Assert.Equal(long.MaxValue, s.Machine.NextExpiryMs);
        Assert.Equal(0, s.Machine.PendingOrderCount);
    }

    [Fact]
    public void Expiry_happens_before_the_command_that_carries_the_new_time()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 1);
        var a = s.Buy(1, 1);
        s.NowMs = a.ReservedUntilMs;
        // No tick in between: the checkout itself sees time pass and finds the unit released.
        Assert.Equal(ResultCode.Ok, s.Buy(1, 1).Code);
    }

    [Fact]
    public void Extend_moves_the_deadline_and_the_old_one_is_ignored()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 1);
        var a = s.Buy(1, 1);
        s.NowMs += 60_000;
        var e = s.Apply(Command.Extend(a.OrderId, 30 * 60_000, "c1"));
        Assert.Equal(s.NowMs + (30 * 60_000), e.ReservedUntilMs);
        s.NowMs = a.ReservedUntilMs + 1;
        s.Apply(Command.Tick());
        Assert.Equal(OrderStatus.PendingPayment, s.Order(a.OrderId).Status);
        s.NowMs = e.ReservedUntilMs;
        s.Apply(Command.Tick());
        Assert.Equal(OrderStatus.Expired, s.Order(a.OrderId).Status);
        Assert.Equal("ttlMs", s.Apply(Command.Extend(a.OrderId, 59_999)).Field);
        Assert.Equal(ResultCode.InvalidState, s.Apply(Command.Extend(a.OrderId, 60_000)).Code);
    }

    [Fact]
    public void Cancel_releases_checks_the_owner_and_is_idempotent()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 3);
        var a = s.Buy(1, 3, customer: "alice");
        Assert.Equal(ResultCode.OrderNotFound, s.Apply(Command.Cancel(a.OrderId, "mallory")).Code);
        Assert.Equal(3, s.Row(1, 10).Reserved);
        Assert.Equal(OrderStatus.Cancelled, s.Apply(Command.Cancel(a.OrderId, "alice")).Status);
        Assert.Equal(0, s.Row(1, 10).Reserved);
        Assert.True(s.Apply(Command.Cancel(a.OrderId, "alice")).Replayed);
    }

    [Fact]
    public void Ship_takes_committed_units_off_hand()
    {
        var s = new Shard();
        s.Item(1, price: 10);
        s.Stock(1, 10, 5);
        var a = s.Buy(1, 2);
        Assert.Equal(ResultCode.InvalidState, s.Apply(Command.Ship(a.OrderId)).Code);
        s.Apply(Command.PaymentResult(a.OrderId, "tx", true, 20, "RUB"));
        var r = s.Apply(Command.Ship(a.OrderId));
        Assert.Equal(OrderStatus.Fulfilled, r.Status);
        Assert.Equal(new StockLevel(1, 10, 3, 0, 0), s.Row(1, 10));
        Assert.True(s.Apply(Command.Ship(a.OrderId)).Replayed);
        Assert.Equal(ResultCode.InvalidState, s.Apply(Command.Cancel(a.OrderId)).Code);
    }

    [Fact]
    public void Finished_orders_are_evicted_after_retention_so_memory_stays_bounded()
    {
        var s = new Shard(new StateMachineOptions { TerminalOrderRetentionMs = 10_000, ReservationTtlMs = 60_000, IdempotencyWindowMs = 60_000 });
        s.Item(1);
        s.Stock(1, 10, 1_000_000);
        for (var round = 0; round < 50; round++)
        {
            for (var i = 0; i < 20; i++) s.Buy(1, 1);
            s.Advance(61_000);
        }
        s.Advance(11_000);
        Assert.Equal(0, s.Machine.OrderCount);
        Assert.Equal(0, s.Machine.IdempotencyKeyCount);
        Assert.Equal(0, s.Row(1, 10).Reserved);
    }

    [Fact]
    public void A_cancelled_order_paid_late_is_not_evicted_by_its_old_retention_entry()
    {
        var s = new Shard(new StateMachineOptions { TerminalOrderRetentionMs = 10_000 });
        s.Item(1, price: 1);
        s.Stock(1, 10, 5);
        var a = s.Buy(1, 1);
        s.Apply(Command.Cancel(a.OrderId));
        s.NowMs += 5_000;
        s.Apply(Command.PaymentResult(a.OrderId, "tx", true, 1, "RUB"));
        s.Advance(20_000);
        Assert.Equal(OrderStatus.Paid, s.Order(a.OrderId).Status);
        Assert.Equal(1, s.Row(1, 10).Committed);
    }

    [Fact]
    public void Unknown_orders_are_not_found()
    {
        var s = new Shard();
        var id = OrderId.Create(0, 42);
        Assert.Equal(ResultCode.OrderNotFound, s.Apply(Command.Cancel(id)).Code);
        Assert.Equal(ResultCode.OrderNotFound, s.Apply(Command.Ship(id)).Code);
        Assert.Equal(ResultCode.OrderNotFound, s.Apply(Command.Extend(id, 60_000)).Code);
        Assert.Equal(ResultCode.OrderNotFound, s.Apply(Command.AttachPayment(id, "s")).Code);
    }

    [Fact]
    public void A_deadline_queued_for_a_forgotten_order_does_not_expire_the_order_made_in_its_place_out_of_turn()
    {
        // Orders live in reused slots: the deadline A left queued must not stand for B, which took A's slot.
        var s = new Shard(new StateMachineOptions { ReservationTtlMs = 5 * 60_000, IdempotencyWindowMs = 10 * 60_000, TerminalOrderRetentionMs = 7 * 60_000 });
        s.Item(1);
        s.Stock(1, 10, 100);
        var t0 = s.NowMs;
        var a = s.Buy(1, 1);
        Assert.Equal(ResultCode.Ok, s.Apply(Command.Extend(a.OrderId, 20 * 60_000)).Code); // A's deadline t0 + 20 min stays queued...
        Assert.Equal(ResultCode.Ok, s.Apply(Command.Cancel(a.OrderId)).Code); // ...after A is done
        s.NowMs = t0 + 60_000;
        var c = s.Buy(1, 1);
        Assert.Equal(ResultCode.Ok, s.Apply(Command.Extend(c.OrderId, 19 * 60_000)).Code); // C: t0 + 20 min too
        s.NowMs = t0 + (10 * 60_000);
        s.Apply(Command.Tick()); // A leaves (retention) and its key is forgotten: A is gone
        Assert.False(s.Machine.TryGetOrder(a.OrderId, out _));
        Assert.False(s.Machine.TryGetOrderByKey("key-1", out _));
        s.NowMs = t0 + (15 * 60_000);
        var b = s.Buy(1, 1);
        Assert.Equal(t0 + (20 * 60_000), b.ReservedUntilMs);

        s.NowMs = t0 + (20 * 60_000);
        s.Apply(Command.Tick());
        var expired = s.Events.Events.ToArray().Where(e => e.Kind == EventKind.OrderExpired).Select(e => e.OrderId).ToArray();
        Assert.Equal([c.OrderId, b.OrderId], expired); // deadline order, then id order, as always
    }
}
