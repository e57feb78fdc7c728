namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    private CommandResult Cancel(in Command c)
    {
        if (!TryFindOrder(c.OrderId, c.CustomerId, out var slot, out var miss)) return miss;
        ref var order = ref _store[slot];
        if (order.Status == OrderStatus.Cancelled) return Describe(order) with { Replayed = true };
        if (order.Status != OrderStatus.PendingPayment) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        ReleaseAll(order);
        order.CheckoutAborted = c.AbortsCheckout;
        MoveTo(slot, OrderStatus.Cancelled);
        Emit(EventKind.OrderCancelled, order);
        EmitRemote(order, RemoteAction.Release);
        return Describe(order);
    }

    private CommandResult Extend(in Command c)
    {
        if (!TryFindOrder(c.OrderId, c.CustomerId, out var slot, out var miss)) return miss;
        ref var order = ref _store[slot];
        if (order.Status != OrderStatus.PendingPayment) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        order.ReservedUntilMs = _nowMs + c.TtlMs;
        _expiries.Enqueue(_store.Handle(slot), (order.ReservedUntilMs, order.Id.Value));
        return Describe(order);
    }

    private CommandResult Ship(in Command c)
    {
        if (!TryFindOrder(c.OrderId, null, out var slot, out var miss)) return miss;
        ref var order = ref _store[slot];
        if (order.Status == OrderStatus.Fulfilled) return Describe(order) with { Replayed = true };
        if (order.Status != OrderStatus.Paid) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        foreach (ref var a in _store.Allocations(order)) ShipCommitted(a);
        MoveTo(slot, OrderStatus.Fulfilled);
        Emit(EventKind.OrderFulfilled, order);
        EmitRemote(order, RemoteAction.Ship);
        return Describe(order);
    }

    /// <summary>Expires every reservation whose deadline has come: the heap yields them without scanning orders.</summary>
    private void ExpireDue()
    {
        while (_expiries.TryPeek(out var handle, out var key) && key.DeadlineMs <= _nowMs)
        {
            _expiries.Dequeue();
            // Paid, cancelled, extended or confirmed since, or freed
            if (!_store.TryResolve(handle, out var slot) || !IsLiveDeadline(_store[slot], key.DeadlineMs)) continue;
            ref var order = ref _store[slot];
            if (order.Status == OrderStatus.Preparing)
            {
                Undo(slot); // its coordinator is gone: as if it never was
                continue;
            }
            ReleaseAll(order);
            MoveTo(slot, OrderStatus.Expired);
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
            if (!_store.TryResolve(t.Handle, out var slot)) continue;
            ref var order = ref _store[slot];
            if (order.Held && OrderTransitions.IsTerminal(order.Status) && order.TerminalAtMs + _options.TerminalOrderRetentionMs == t.EvictAtMs)
            {
                UnindexOrder(slot);
                order.Held = false;
                if (!order.Keyed) _store.Free(slot);
            }
        }
        while (_idempotencyKeys.TryPeek(out var handle))
        {
            // An entry whose key was forgotten already (its order undone) goes; otherwise the first live key decides.
            if (_store.TryResolve(handle, out var slot) && _store[slot].Keyed)
            {
                if (_store[slot].KeyExpiresAtMs > _nowMs) break;
                ForgetKey(slot);
            }
            _idempotencyKeys.Dequeue();
        }
        while (_transactionIds.TryPeek(out var x) && x.EvictAtMs <= _nowMs)
        {
            _transactionIds.Dequeue();
            if (_transactions.TryGetValue(x.TransactionId, out var e) && e.ExpiresAtMs == x.EvictAtMs) _transactions.Remove(x.TransactionId);
        }
    }

    /// <summary>The slot of the order held under <paramref name="id"/>, or false.</summary>
    private bool TryFindSlot(OrderId id, out int slot)
    {
        slot = _orders.Find(IdHash(id), new IdMatch(_store, id));
        return slot >= 0;
    }

    private void IndexOrder(int slot) => _orders.Add(IdHash(_store[slot].Id), slot);

    private void UnindexOrder(int slot) => _orders.Remove(IdHash(_store[slot].Id), slot);

    private static int IdHash(OrderId id) => (int)StateHash.Mix(id.Value);

    private readonly struct IdMatch(OrderStore store, OrderId id) : ISlotMatch
    {
        public bool Matches(int slot) => store[slot].Id == id;
    }

    /// <summary>Remembers the idempotency key of the order in <paramref name="slot"/> until its KeyExpiresAtMs.</summary>
    private void RememberKey(int slot)
    {
        ref var order = ref _store[slot];
        order.Keyed = true;
        _idempotency.Add(KeyHash(order.IdempotencyKey), slot);
        _idempotencyKeys.Enqueue(_store.Handle(slot));
    }

    /// <summary>Forgets the idempotency key of an order; its slot is freed too when the order has left the index already.</summary>
    private void ForgetKey(int slot)
    {
        ref var order = ref _store[slot];
        _idempotency.Remove(KeyHash(order.IdempotencyKey), slot);
        order.Keyed = false;
        if (!order.Held) _store.Free(slot);
    }

    /// <summary>The slot of the order an idempotency key made, or -1 when the key is not remembered.</summary>
    private int FindKey(string key) => _idempotency.Find(KeyHash(key), new KeyMatch(_store, key));

    // Stable across processes (not string.GetHashCode), so the index's order, and with it a snapshot's, is too.
    private static int KeyHash(string key)
    {
        var h = 0xCBF29CE484222325;
        foreach (var c in key) h = (h ^ c) * 0x100000001B3;
        return (int)StateHash.Mix(h);
    }

    private readonly struct KeyMatch(OrderStore store, string key) : ISlotMatch
    {
        public bool Matches(int slot) => string.Equals(store[slot].IdempotencyKey, key, StringComparison.Ordinal);
    }
}
