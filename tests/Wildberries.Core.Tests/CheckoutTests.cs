using Wildberries.Core;

namespace Wildberries.Core.Tests;

public class CheckoutTests
{
    [Fact]
    public void Checkout_reserves_and_prices_from_the_catalog()
    {
        var s = new Shard();
        s.Item(1, price: 250);
        s.Item(2, price: 1000);
        s.Stock(1, 10, 5);
        s.Stock(2, 10, 5);

        var r = s.Checkout("alice", new CheckoutLine(1, 2), new CheckoutLine(2, 1));

        Assert.Equal(ResultCode.Ok, r.Code);
        Assert.Equal(OrderStatus.PendingPayment, r.Status);
        Assert.Equal(1500, r.Amount);
        Assert.Equal(s.NowMs + s.Machine.Options.ReservationTtlMs, r.ReservedUntilMs);
        Assert.Equal(new StockLevel(1, 10, 5, 2, 0), s.Row(1, 10));
        Assert.Equal(new StockLevel(2, 10, 5, 1, 0), s.Row(2, 10));
        Assert.Equal([EventKind.StockChanged, EventKind.StockChanged, EventKind.OrderCreated], s.EventKinds());
        var order = s.Order(r.OrderId);
        Assert.Equal("alice", order.CustomerId);
        Assert.Equal(250, order.Lines[0].UnitPrice);
        Assert.Equal([new AllocationView(10, 2)], order.Lines[0].Allocations);
    }

    [Fact]
    public void Checkout_is_all_or_nothing_and_lists_every_short_line()
    {
        var s = new Shard();
        s.Item(1);
        s.Item(2);
        s.Item(3);
        s.Stock(1, 10, 5);
        s.Stock(2, 10, 1);
        s.Stock(3, 10, 0);

        var r = s.Checkout("bob", new CheckoutLine(1, 5), new CheckoutLine(2, 2), new CheckoutLine(3, 1));

        Assert.Equal(ResultCode.InsufficientStock, r.Code);
        Assert.Equal([new Shortage(2, 2, 1), new Shortage(3, 1, 0)], r.Shortages!);
        Assert.Equal(0, s.Row(1, 10).Reserved);
        Assert.Equal(0, s.Events.Count);
        Assert.Equal(0, s.Machine.OrderCount);
    }

    [Fact]
    public void Without_preference_the_warehouse_with_most_stock_goes_first()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 3);
        s.Stock(1, 20, 7);
        s.Stock(1, 30, 7);

        var r = s.Buy(1, 4);

        // 20 and 30 tie on 7: the lower warehouse id wins, so the choice is deterministic.
        Assert.Equal([new AllocationView(20, 4)], s.Order(r.OrderId).Lines[0].Allocations);
    }

    [Fact]
    public void With_preference_the_first_warehouse_with_enough_wins_else_the_line_splits_in_order()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 2);
        s.Stock(1, 20, 5);
        s.Stock(1, 30, 9);

        var whole = s.Buy(1, 4, warehouses: [10, 20, 30]);
        Assert.Equal([new AllocationView(20, 4)], s.Order(whole.OrderId).Lines[0].Allocations);

        var split = s.Buy(1, 3, warehouses: [10, 20]);
        Assert.Equal([new AllocationView(10, 2), new AllocationView(20, 1)], s.Order(split.OrderId).Lines[0].Allocations);
        Assert.Equal(ResultCode.InsufficientStock, s.Buy(1, 1, warehouses: [10, 20]).Code);

        // Warehouses outside the preference list are not used even when they have stock.
        var r = s.Buy(1, 10, warehouses: [30]);
        Assert.Equal(ResultCode.InsufficientStock, r.Code);
        Assert.Equal([new Shortage(1, 10, 9)], r.Shortages!);
    }

    [Fact]
    public void The_same_key_and_body_replays_the_same_order_and_another_body_is_refused()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 10);
        var command = Command.Checkout("k1", "alice", [new CheckoutLine(1, 2)]);

        var first = s.Apply(command);
        var again = s.Apply(Command.Checkout("k1", "alice", [new CheckoutLine(1, 2)]));
        var other = s.Apply(Command.Checkout("k1", "alice", [new CheckoutLine(1, 3)]));

        Assert.Equal(ResultCode.Ok, first.Code);
        Assert.True(again.Replayed);
        Assert.Equal(first.OrderId, again.OrderId);
        Assert.Equal(first.Amount, again.Amount);
        Assert.Equal(ResultCode.IdempotencyKeyReused, other.Code);
        Assert.Equal(2, s.Row(1, 10).Reserved);
    }

    [Fact]
    public void Idempotency_keys_are_forgotten_after_their_window()
    {
        var s = new Shard(new StateMachineOptions { IdempotencyWindowMs = 120_000, ReservationTtlMs = 60_000 });
        s.Item(1);
        s.Stock(1, 10, 10);
        var first = s.Apply(Command.Checkout("k1", "alice", [new CheckoutLine(1, 1)]));
        s.Advance(119_999);
        Assert.Equal(1, s.Machine.IdempotencyKeyCount);
        s.Advance(1);
        Assert.Equal(0, s.Machine.IdempotencyKeyCount);
        var second = s.Apply(Command.Checkout("k1", "alice", [new CheckoutLine(1, 1)]));
        Assert.NotEqual(first.OrderId, second.OrderId);
    }

    [Fact]
    public void Business_rules_are_result_codes_with_the_field()
    {
        var s = new Shard();
        s.Item(1, maxPerOrder: 2);
        s.Item(2, active: false);
        s.Stock(1, 10, 100);
        s.Stock(2, 10, 100);

        Assert.Equal((ResultCode.UnknownSku, "lines[0].sku"), Code(s.Buy(99, 1)));
        Assert.Equal((ResultCode.SkuInactive, "lines[0].sku"), Code(s.Buy(2, 1)));
        Assert.Equal((ResultCode.OverMaxPerOrder, "lines[0].qty"), Code(s.Buy(1, 3)));
        Assert.Equal((ResultCode.DuplicateSku, "lines[1].sku"), Code(s.Checkout("c", new CheckoutLine(1, 1), new CheckoutLine(1, 1))));
        Assert.Equal((ResultCode.InvalidArgument, "lines[0].qty"), Code(s.Buy(1, 0)));
        Assert.Equal((ResultCode.InvalidArgument, "lines[0].qty"), Code(s.Buy(1, 10_001)));
        Assert.Equal((ResultCode.InvalidArgument, "lines[0].sku"), Code(s.Buy(-1, 1)));
        Assert.Equal((ResultCode.InvalidArgument, "lines"), Code(s.Checkout("c")));
        Assert.Equal((ResultCode.InvalidArgument, "customerId"), Code(s.Buy(1, 1, customer: "")));
        Assert.Equal((ResultCode.InvalidArgument, "warehouses[1]"), Code(s.Buy(1, 1, warehouses: [10, 10])));
        Assert.Equal((ResultCode.InvalidArgument, "warehouses[0]"), Code(s.Buy(1, 1, warehouses: [0])));
        Assert.Equal((ResultCode.InvalidArgument, "idempotencyKey"), Code(s.Apply(Command.Checkout("has space", "c", [new CheckoutLine(1, 1)]))));
        Assert.Equal((ResultCode.InvalidArgument, "idempotencyKey"), Code(s.Apply(Command.Checkout(new string('k', 256), "c", [new CheckoutLine(1, 1)]))));
        Assert.Equal((ResultCode.InvalidArgument, "lines"), Code(s.Checkout("c", [.. Enumerable.Range(1, 101).Select(i => new CheckoutLine(i, 1))])));
        Assert.Equal(0, s.Row(1, 10).Reserved);
    }

    [Fact]
    public void A_sku_of_another_shard_is_refused()
    {
        var options = new StateMachineOptions { ShardCount = 4, ShardId = 1 };
        var s = new Shard(options);
        var foreign = Enumerable.Range(1, 100).First(sku => ShardRouter.ShardOf(sku, 4) != 1);
        Assert.Equal(ResultCode.WrongShard, s.Apply(Command.UpsertItem(foreign, "x", 1, 1, true)).Code);
        Assert.Equal(ResultCode.WrongShard, s.Apply(Command.AdjustStockDelta(foreign, 1, 5)).Code);
        var own = Enumerable.Range(1, 100).First(sku => ShardRouter.ShardOf(sku, 4) == 1);
        s.Item(own);
        s.Stock(own, 1, 5);
        var r = s.Buy(own, 1);
        Assert.Equal(1, r.OrderId.Shard);
        Assert.Equal(ResultCode.WrongShard, s.Apply(Command.Cancel(OrderId.Create(2, 1))).Code);
    }

    [Fact]
    public void Prices_are_fixed_at_checkout()
    {
        var s = new Shard();
        s.Item(1, price: 100);
        s.Stock(1, 10, 10);
        var r = s.Buy(1, 2);
        s.Item(1, price: 999);
        Assert.Equal(200, s.Order(r.OrderId).Amount);
        Assert.Equal(ResultCode.Ok, s.Apply(Command.PaymentResult(r.OrderId, "tx", true, 200, "RUB")).Code);
    }

    private static (ResultCode, string?) Code(CommandResult r) => (r.Code, r.Field);
}
