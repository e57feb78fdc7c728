namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    private CommandResult Cancel(in Command c)
    {
        if (!TryFindOrder(c.OrderId, c.CustomerId, out var order, out var miss)) return miss;
        if (order.Status == OrderStatus.Cancelled) return Describe(order) with { Replayed = true };
        if (order.Status != OrderStatus.PendingPayment) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        ReleaseAll(order);
        order.CheckoutAborted = c.AbortsCheckout;
        MoveTo(order, OrderStatus.Cancelled);
        Emit(EventKind.OrderCancelled, order);
        EmitRemote(order, RemoteAction.Release);
        return Describe(order);
    }

    private CommandResult Extend(in Command c)
    {
        if (!TryFindOrder(c.OrderId, c.CustomerId, out var order, out var miss)) return miss;
        if (order.Status != OrderStatus.PendingPayment) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        order.ReservedUntilMs = _nowMs + c.TtlMs;
        _expiries.Enqueue(order, (order.ReservedUntilMs, order.Id.Value));
        return Describe(order);
    }

    private CommandResult Ship(in Command c)
    {
        if (!TryFindOrder(c.OrderId, null, out var order, out var miss)) return miss;
        if (order.Status == OrderStatus.Fulfilled) return Describe(order) with { Replayed = true };
        if (order.Status != OrderStatus.Paid) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        for (var i = 0; i < order.Allocations.Count; i++) ShipCommitted(ref order.Allocations[i]);
        MoveTo(order, OrderStatus.Fulfilled);
        Emit(EventKind.OrderFulfilled, order);
        EmitRemote(order, RemoteAction.Ship);
        return Describe(order);
    }

    /// <summary>Expires every reservation whose deadline has come: the heap yields them without scanning orders.</summary>
    private void ExpireDue()
    {
        while (_expiries.TryPeek(out var order, out var key) && key.DeadlineMs <= _nowMs)
        {
            _expiries.Dequeue();
            if (!IsLiveDeadline(order, key.DeadlineMs)) continue; // paid, cancelled, extended or confirmed since
            if (order.Status == OrderStatus.Preparing)
            {
                Undo(order); // its coordinator is gone: as if it never was
                continue;
            }
            ReleaseAll(order);
            MoveTo(order, OrderStatus.Expired);
            if (order.IsHold) continue; // the home announces the order's expiry
            Emit(EventKind.OrderExpired, order);
            EmitRemote(order, RemoteAction.Release);
        }
    }

    /// <summary>Forgets finished orders, idempotency keys and transactions whose retention window has passed.</summary>
    private void EvictRetired()
    {
        while (_terminalOrders.TryPeek(out var t) && t.EvictAtMs <= _nowMs)
        {
            _terminalOrders.Dequeue();
            // A cancelled or expired order may have been paid late since: then it is not retired.
            if (OrderTransitions.IsTerminal(t.Order.Status) && t.Order.TerminalAtMs + _options.TerminalOrderRetentionMs == t.EvictAtMs)
            {
                _orders.Remove(t.Order.Id);
            }
        }
        while (_idempotencyKeys.TryPeek(out var k) && k.EvictAtMs <= _nowMs)
        {
            _idempotencyKeys.Dequeue();
            if (_idempotency.TryGetValue(k.Key, out var e) && e.ExpiresAtMs == k.EvictAtMs) _idempotency.Remove(k.Key);
        }
        while (_transactionIds.TryPeek(out var x) && x.EvictAtMs <= _nowMs)
        {
            _transactionIds.Dequeue();
            if (_transactions.TryGetValue(x.TransactionId, out var e) && e.ExpiresAtMs == x.EvictAtMs) _transactions.Remove(x.TransactionId);
        }
    }
}
