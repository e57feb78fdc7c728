using Wildberries.Core;

namespace Wildberries.Core.Tests;

public class StockTests
{
    [Fact]
    public void Delta_and_absolute_adjustments()
    {
        var s = new Shard();
        Assert.Equal(5, s.Apply(Command.AdjustStockDelta(1, 10, 5, "receipt")).Value);
        Assert.Equal(3, s.Apply(Command.AdjustStockDelta(1, 10, -2, "damaged")).Value);
        Assert.Equal(40, s.Apply(Command.SetStockOnHand(1, 10, 40, reason: "count")).Value);
        Assert.Equal(new StockLevel(1, 10, 40, 0, 0), s.Row(1, 10));
        Assert.Equal([EventKind.StockChanged], s.EventKinds());
    }

    [Fact]
    public void Compare_and_set_refuses_a_stale_expected_count()
    {
        var s = new Shard();
        s.Stock(1, 10, 7);
        var stale = s.Apply(Command.SetStockOnHand(1, 10, 9, expectedOnHand: 6));
        Assert.Equal((ResultCode.OnHandMismatch, 7L), (stale.Code, stale.Value));
        Assert.Equal(ResultCode.Ok, s.Apply(Command.SetStockOnHand(1, 10, 9, expectedOnHand: 7)).Code);
        Assert.Equal(ResultCode.Ok, s.Apply(Command.SetStockOnHand(2, 10, 1, expectedOnHand: 0)).Code);
    }

    [Fact]
    public void Adjustments_out_of_range_are_refused()
    {
        var s = new Shard();
        s.Stock(1, 10, 2);
        Assert.Equal(ResultCode.OnHandOutOfRange, s.Apply(Command.AdjustStockDelta(1, 10, -3)).Code);
        Assert.Equal("delta", s.Apply(Command.AdjustStockDelta(1, 10, 0)).Field);
        Assert.Equal("onHand", s.Apply(Command.SetStockOnHand(1, 10, -1)).Field);
        Assert.Equal("onHand", s.Apply(Command.SetStockOnHand(1, 10, 1_000_000_001)).Field);
        Assert.Equal(ResultCode.OnHandOutOfRange, s.Apply(Command.AdjustStockDelta(1, 10, 999_999_999)).Code);
        Assert.Equal("warehouseId", s.Apply(Command.AdjustStockDelta(1, 0, 1)).Field);
        Assert.Equal("sku", s.Apply(Command.AdjustStockDelta(0, 1, 1)).Field);
        Assert.Equal(2, s.Row(1, 10).OnHand);
    }

    [Fact]
    public void A_count_below_reserved_and_committed_is_accepted_and_reported_as_a_shortfall()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 5);
        s.Buy(1, 4);
        var r = s.Apply(Command.SetStockOnHand(1, 10, 2));
        Assert.Equal(ResultCode.Ok, r.Code);
        Assert.Equal([EventKind.StockChanged, EventKind.StockShortfall], s.EventKinds());
        Assert.Equal(-2, s.Row(1, 10).Available);
        Assert.Equal(ResultCode.InsufficientStock, s.Buy(1, 1).Code);
    }

    [Fact]
    public void Catalog_upsert_validates_and_replaces()
    {
        var s = new Shard();
        Assert.Equal("name", s.Apply(Command.UpsertItem(1, "", 1, 1, true)).Field);
        Assert.Equal("price", s.Apply(Command.UpsertItem(1, "x", -1, 1, true)).Field);
        Assert.Equal("maxPerOrder", s.Apply(Command.UpsertItem(1, "x", 1, 0, true)).Field);
        Assert.Equal("sku", s.Apply(Command.UpsertItem(0, "x", 1, 1, true)).Field);
        s.Item(1, price: 5);
        s.Apply(Command.UpsertItem(1, "renamed", 7, 3, false));
        Assert.True(s.Machine.TryGetItem(1, out var item));
        Assert.Equal(new ItemView(1, "renamed", 7, 3, false), item);
        Assert.False(s.Machine.TryGetItem(2, out _));
    }

    [Fact]
    public void Shipping_after_a_shortfall_leaves_the_shelf_at_zero_and_the_next_receipt_is_taken()
    {
        var s = new Shard();
        s.Item(1);
        s.Stock(1, 10, 5);
        var order = s.Buy(1, 3);
        Assert.Equal(ResultCode.Ok, s.Apply(Command.PaymentResult(order.OrderId, "tx", true, order.Amount, "RUB")).Code);
        s.Stock(1, 10, 1); // the warehouse counts 1 unit, 3 are sold
        Assert.Equal(ResultCode.Ok, s.Apply(Command.Ship(order.OrderId)).Code);
        Assert.Equal((0L, 0L), (s.Row(1, 10).OnHand, s.Row(1, 10).Committed));
        Assert.Equal(ResultCode.Ok, s.Apply(Command.AdjustStockDelta(1, 10, 2, "receipt")).Code);
        Assert.Equal(2, s.Row(1, 10).OnHand);
    }
}
