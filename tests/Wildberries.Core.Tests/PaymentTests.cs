using Wildberries.Core;

namespace Wildberries.Core.Tests;

public class PaymentTests
{
    private static (Shard Shard, CommandResult Order) Pending(int qty = 2, long stock = 5)
    {
        var s = new Shard();
        s.Item(1, price: 300);
        s.Stock(1, 10, stock);
        return (s, s.Buy(1, qty));
    }

    [Fact]
    public void A_successful_payment_commits_the_reservation()
    {
        var (s, o) = Pending();
        var r = s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        Assert.Equal((ResultCode.Ok, OrderStatus.Paid), (r.Code, r.Status));
        Assert.Equal(new StockLevel(1, 10, 5, 0, 2), s.Row(1, 10));
        Assert.Equal("tx1", s.Order(o.OrderId).PaidTransactionId);
        Assert.Contains(EventKind.OrderPaid, s.EventKinds());
    }

    [Fact]
    public void A_duplicate_transaction_gets_the_first_answer_and_changes_nothing()
    {
        var (s, o) = Pending();
        var first = s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        var again = s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        Assert.True(again.Replayed);
        Assert.Equal(first with { Replayed = true }, again);
        Assert.Equal(0, s.Events.Count);
        Assert.Equal(new StockLevel(1, 10, 5, 0, 2), s.Row(1, 10));
    }

    [Fact]
    public void Amount_or_currency_mismatch_never_pays()
    {
        var (s, o) = Pending();
        Assert.Equal(ResultCode.AmountMismatch, s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 599, "RUB")).Code);
        Assert.Equal(ResultCode.CurrencyMismatch, s.Apply(Command.PaymentResult(o.OrderId, "tx2", true, 600, "USD")).Code);
        Assert.Equal(OrderStatus.PendingPayment, s.Order(o.OrderId).Status);
        Assert.Equal(2, s.Row(1, 10).Reserved);
        // A refused amount does not use up the transaction id: the provider's corrected event pays the order.
        var corrected = s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        Assert.Equal((ResultCode.Ok, OrderStatus.Paid, false), (corrected.Code, corrected.Status, corrected.Replayed));
        Assert.Equal(2, s.Row(1, 10).Committed);
    }

    [Fact]
    public void A_transaction_that_failed_and_then_succeeded_pays_the_order()
    {
        var (s, o) = Pending();
        Assert.Equal(OrderStatus.Cancelled, s.Apply(Command.PaymentResult(o.OrderId, "tx1", false, 600, "RUB")).Status);
        var paid = s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        Assert.Equal((ResultCode.Ok, OrderStatus.Paid, false), (paid.Code, paid.Status, paid.Replayed));
        Assert.Equal((0, 2), (s.Row(1, 10).Reserved, s.Row(1, 10).Committed));
        Assert.Contains(EventKind.OrderPaid, s.EventKinds());
        // Redeliveries of either event get their first answers and change nothing.
        var failedAgain = s.Apply(Command.PaymentResult(o.OrderId, "tx1", false, 600, "RUB"));
        Assert.Equal((OrderStatus.Cancelled, true), (failedAgain.Status, failedAgain.Replayed));
        var paidAgain = s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        Assert.Equal((OrderStatus.Paid, true), (paidAgain.Status, paidAgain.Replayed));
        Assert.Equal(OrderStatus.Paid, s.Order(o.OrderId).Status);
    }

    [Fact]
    public void A_failure_after_a_success_changes_nothing()
    {
        var (s, o) = Pending();
        s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        var failed = s.Apply(Command.PaymentResult(o.OrderId, "tx1", false, 600, "RUB"));
        Assert.Equal(OrderStatus.Paid, failed.Status);
        Assert.Equal(2, s.Row(1, 10).Committed);
    }

    [Fact]
    public void Money_for_an_order_nobody_holds_raises_a_refund()
    {
        var (s, _) = Pending();
        var unknown = OrderId.Create(0, 999);
        var r = s.Apply(Command.PaymentResult(unknown, "tx-orphan", true, 600, "RUB"));
        Assert.Equal((ResultCode.RefundRequired, 600L), (r.Code, r.Value));
        var refund = Assert.Single(s.Events.Events.ToArray(), e => e.Kind == EventKind.RefundRequired);
        Assert.Equal((unknown, 600L, "tx-orphan"), (refund.OrderId, refund.Amount, refund.TransactionId));
        // Redelivered: the same answer, no second refund.
        Assert.True(s.Apply(Command.PaymentResult(unknown, "tx-orphan", true, 600, "RUB")).Replayed);
        Assert.DoesNotContain(EventKind.RefundRequired, s.EventKinds());
        // A failure for an unknown order is nothing to act on.
        Assert.Equal(ResultCode.OrderNotFound, s.Apply(Command.PaymentResult(unknown, "tx-2", false, 600, "RUB")).Code);
    }

    [Fact]
    public void A_failed_payment_cancels_and_releases()
    {
        var (s, o) = Pending();
        var r = s.Apply(Command.PaymentResult(o.OrderId, "tx1", false, 600, "RUB"));
        Assert.Equal(OrderStatus.Cancelled, r.Status);
        Assert.Equal(0, s.Row(1, 10).Reserved);
        Assert.Contains(EventKind.OrderCancelled, s.EventKinds());
    }

    [Fact]
    public void A_late_payment_re_reserves_when_stock_is_still_there()
    {
        var (s, o) = Pending();
        s.Advance(s.Machine.Options.ReservationTtlMs);
        Assert.Equal(OrderStatus.Expired, s.Order(o.OrderId).Status);
        Assert.Equal(0, s.Row(1, 10).Reserved);

        var r = s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        Assert.Equal((ResultCode.Ok, OrderStatus.Paid), (r.Code, r.Status));
        Assert.Equal(new StockLevel(1, 10, 5, 0, 2), s.Row(1, 10));
    }

    [Fact]
    public void A_late_payment_without_stock_requires_a_refund_and_never_oversells()
    {
        var (s, o) = Pending(qty: 2, stock: 2);
        s.Apply(Command.Cancel(o.OrderId, "c1"));
        var other = s.Buy(1, 1, customer: "c2");
        Assert.Equal(ResultCode.Ok, other.Code);

        var r = s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        Assert.Equal((ResultCode.RefundRequired, OrderStatus.RefundRequired), (r.Code, r.Status));
        Assert.Equal(new StockLevel(1, 10, 2, 1, 0), s.Row(1, 10));
        Assert.Contains(EventKind.RefundRequired, s.EventKinds());
    }

    [Fact]
    public void A_second_charge_on_a_paid_order_asks_for_a_refund_of_that_charge()
    {
        var (s, o) = Pending();
        s.Apply(Command.PaymentResult(o.OrderId, "tx1", true, 600, "RUB"));
        var r = s.Apply(Command.PaymentResult(o.OrderId, "tx2", true, 600, "RUB"));
        Assert.Equal((ResultCode.AlreadyPaid, OrderStatus.Paid), (r.Code, r.Status));
        var refund = Assert.Single(s.Events.Events.ToArray());
        Assert.Equal((EventKind.RefundRequired, "tx2"), (refund.Kind, refund.TransactionId));
        Assert.Equal(2, s.Row(1, 10).Committed);
    }

    [Fact]
    public void Payment_for_an_unknown_order_or_with_bad_fields_is_refused()
    {
        var (s, o) = Pending();
        Assert.Equal(ResultCode.OrderNotFound, s.Apply(Command.PaymentResult(OrderId.Create(0, 999), "tx1", false, 600, "RUB")).Code);
        Assert.Equal(("txId"), s.Apply(Command.PaymentResult(o.OrderId, "", true, 600, "RUB")).Field);
        Assert.Equal(("amount"), s.Apply(Command.PaymentResult(o.OrderId, "t", true, -1, "RUB")).Field);
        Assert.Equal(("currency"), s.Apply(Command.PaymentResult(o.OrderId, "t", true, 600, "RUBLE")).Field);
    }

    [Fact]
    public void The_payment_session_is_idempotent_on_the_order()
    {
        var (s, o) = Pending();
        var first = s.Apply(Command.AttachPayment(o.OrderId, "sess-1"));
        var second = s.Apply(Command.AttachPayment(o.OrderId, "sess-2"));
        Assert.Equal("sess-1", first.PaymentSessionId);
        Assert.True(second.Replayed);
        Assert.Equal("sess-1", second.PaymentSessionId);
        s.Apply(Command.Cancel(o.OrderId));
        var third = s.Buy(1, 1);
        s.Apply(Command.Cancel(third.OrderId));
        Assert.Equal(ResultCode.InvalidState, s.Apply(Command.AttachPayment(third.OrderId, "sess-3")).Code);
    }
}
