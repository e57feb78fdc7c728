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
        // Any deadline may follow: the heap has it from now on.
        order.InCheckoutQueue = false;
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

    /// <summary>Expires every reservation whose deadline has come: the queues yield them without scanning orders.</summary>
    private void ExpireDue()
    {
        while (NextExpiry(out var slot, out var fromQueue) <= _nowMs)
        {
            ref var order = ref _store[slot];
            if (fromQueue)
            {
                _checkoutExpiries.Dequeue();
                order.InCheckoutQueue = false;
            }
            else
            {
                _expiries.Dequeue();
            }
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

    /// <summary>
    /// The earliest live deadline, by (deadline, id), of the checkout queue and the heap (entries gone stale are
    /// dropped on the way), its slot and which of the two holds it at its head; <see cref="long.MaxValue"/> when none.
    /// </summary>
    private long NextExpiry(out int slot, out bool fromQueue)
    {
        var queued = -1;
        while (_checkoutExpiries.TryPeek(out var handle))
        {
            // Paid, cancelled, extended or confirmed since, or freed
            if (_store.TryResolve(handle, out queued) && _store[queued].InCheckoutQueue && IsLiveDeadline(_store[queued], _store[queued].ReservedUntilMs)) break;
            queued = -1;
            _checkoutExpiries.Dequeue();
        }
        var heaped = -1;
        long heapDeadline = long.MaxValue;
        while (_expiries.TryPeek(out var handle, out var key))
        {
            if (_store.TryResolve(handle, out heaped) && IsLiveDeadline(_store[heaped], key.DeadlineMs))
            {
                heapDeadline = key.DeadlineMs;
                break;
            }
            heaped = -1;
            _expiries.Dequeue();
        }
        if (queued < 0 && heaped < 0)
        {
            (slot, fromQueue) = (-1, false);
            return long.MaxValue;
        }
        var queueDeadline = queued >= 0 ? _store[queued].ReservedUntilMs : long.MaxValue;
        fromQueue = heaped < 0 || (queued >= 0 && (queueDeadline < heapDeadline
            || (queueDeadline == heapDeadline && _store[queued].Id.Value < _store[heaped].Id.Value)));
        slot = fromQueue ? queued : heaped;
        return fromQueue ? queueDeadline : heapDeadline;
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
                if (KeyExpiresAt(_store[slot]) > _nowMs) break;
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

    /// <summary>Remembers the idempotency key (hashing to <paramref name="keyHash"/>) of the order in <paramref name="slot"/> until <see cref="KeyExpiresAt"/>.</summary>
    private void RememberKey(int slot, int keyHash)
    {
        ref var order = ref _store[slot];
        order.Keyed = true;
        _idempotency.Add(keyHash, slot);
        _idempotencyKeys.Enqueue(_store.Handle(slot));
    }

    /// <summary>Forgets the idempotency key of an order; its slot is freed too when the order has left the index already.</summary>
    private void ForgetKey(int slot)
    {
        ref var order = ref _store[slot];
        _idempotency.Remove(KeyHash(_store.Key(order)), slot);
        order.Keyed = false;
        if (!order.Held) _store.Free(slot);
    }

    /// <summary>When the key of a keyed order is forgotten: its checkout's time plus the idempotency window, unless restored otherwise.</summary>
    private long KeyExpiresAt(in OrderRecord order) =>
        order.KeyExpiryInExtras ? order.Extras!.KeyExpiresAtMs : order.CreatedAtMs + _options.IdempotencyWindowMs;

    /// <summary>The slot of the order an idempotency key made, or -1 when the key is not remembered.</summary>
    private int FindKey(string key) => FindKey(key, KeyHash(key));

    private int FindKey(string key, int keyHash) => _idempotency.Find(keyHash, new KeyMatch(_store, key));

    // Stable across processes (not string.GetHashCode), so the index's order is too. A key's characters are ASCII:
    // hashing its bytes in the arena gives the same value.
    private static int KeyHash(ReadOnlySpan<char> key)
    {
        var h = 0xCBF29CE484222325;
        foreach (var c in key) h = (h ^ c) * 0x100000001B3;
        return (int)StateHash.Mix(h);
    }

    private static int KeyHash(ReadOnlySpan<byte> key)
    {
        var h = 0xCBF29CE484222325;
        foreach (var c in key) h = (h ^ c) * 0x100000001B3;
        return (int)StateHash.Mix(h);
    }

    // The key compared in full, not by hash: two keys that collide never answer for each other.
    private readonly struct KeyMatch(OrderStore store, string key) : ISlotMatch
    {
        public bool Matches(int slot) => System.Text.Ascii.Equals(store.Key(store[slot]), key);
    }
}
