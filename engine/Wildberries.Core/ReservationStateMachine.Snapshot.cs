namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    /// <summary>Copies the whole state out as plain data (O(state); run it on a machine nobody else writes to).</summary>
    public StateSnapshot CaptureSnapshot()
    {
        var items = new List<SnapshotItem>(_skus.Count);
        var rows = new List<SnapshotRow>(_skus.Count * 2);
        foreach (var s in _skus.Values)
        {
            items.Add(new SnapshotItem(s.Sku, s.InCatalog, s.Name, s.Price, s.MaxPerOrder, s.Active));
            for (var i = 0; i < s.RowCount; i++)
            {
                ref var r = ref s.Rows[i];
                rows.Add(new SnapshotRow(s.Sku, r.WarehouseId, r.OnHand, r.Reserved, r.Committed));
            }
        }

        var orders = new List<SnapshotOrder>(_orders.Count);
        foreach (var slot in _orders.Slots()) orders.Add(ToSnapshot(_store[slot], held: true));
        var keys = new List<SnapshotKey>(_idempotency.Count);
        foreach (var slot in _idempotency.Slots())
        {
            ref var o = ref _store[slot];
            keys.Add(new SnapshotKey(o.IdempotencyKey, o.Id, o.Fingerprint, o.KeyExpiresAtMs));
            // An evicted order still answers its key's replays, so it travels with the key.
            if (!o.Held) orders.Add(ToSnapshot(o, held: false));
        }
        var transactions = new List<SnapshotTransaction>(_transactions.Count);
        foreach (var (tx, e) in _transactions)
        {
            if (e.Failed is { } f) transactions.Add(ToSnapshot(tx, e, f, succeeded: false));
            if (e.Succeeded is { } s) transactions.Add(ToSnapshot(tx, e, s, succeeded: true));
        }
        return new StateSnapshot(_options.ShardId, _lsn, _nowMs, _orderSequence, [.. items], [.. rows], [.. orders], [.. keys], [.. transactions]);
    }

    /// <summary>Rebuilds a state machine from a snapshot; it hashes equal to the machine that was captured.</summary>
    public static ReservationStateMachine Restore(StateSnapshot snapshot, StateMachineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var m = new ReservationStateMachine(options);
        if (snapshot.ShardId != m._options.ShardId)
        {
            throw new InvalidDataException($"The snapshot is of shard {snapshot.ShardId}, not {m._options.ShardId}.");
        }
        m._lsn = snapshot.Lsn;
        m._nowMs = snapshot.NowMs;
        m._orderSequence = snapshot.OrderSequence;
        foreach (var i in snapshot.Items)
        {
            var s = m.GetOrAddSku(i.Sku);
            (s.InCatalog, s.Name, s.Price, s.MaxPerOrder, s.Active) = (i.InCatalog, i.Name, i.Price, i.MaxPerOrder, i.Active);
            if (i.InCatalog) m._catalog.Add(i.Sku);
        }
        foreach (var r in snapshot.Rows)
        {
            var s = m.GetOrAddSku(r.Sku);
            ref var row = ref s.Rows[s.AddRow(r.WarehouseId)];
            (row.OnHand, row.Reserved, row.Committed) = (r.OnHand, r.Reserved, r.Committed);
            m._onHandLedger += r.OnHand;
        }

        var byId = new Dictionary<OrderId, int>(snapshot.Orders.Length);
        foreach (var so in snapshot.Orders)
        {
            var slot = FromSnapshot(m, so);
            ref var o = ref m._store[slot];
            if (byId.TryGetValue(o.Id, out var twin) && !m._store[twin].Held) m._store.Free(twin);
            byId[o.Id] = slot;
            if (!so.Held) continue;
            o.Held = true;
            if (m.TryFindSlot(o.Id, out _)) throw new InvalidDataException($"The snapshot holds order {o.Id} twice.");
            m.IndexOrder(slot);
            if (o.Status == OrderStatus.PendingPayment && !o.IsHold) m.PendingOrderCount++;
            if (IsLiveDeadline(o, o.ReservedUntilMs)) m._expiries.Enqueue(m._store.Handle(slot), (o.ReservedUntilMs, o.Id.Value));
        }
        var store = m._store;
        foreach (var slot in m._orders.Slots().Where(s => OrderTransitions.IsTerminal(store[s].Status)).OrderBy(s => store[s].TerminalAtMs).ThenBy(s => store[s].Id.Value))
        {
            m._terminalOrders.Enqueue((store[slot].TerminalAtMs + m._options.TerminalOrderRetentionMs, store.Handle(slot)));
        }
        foreach (var k in snapshot.Keys.OrderBy(k => k.ExpiresAtMs))
        {
            if (!byId.TryGetValue(k.OrderId, out var slot)) throw new InvalidDataException($"Snapshot holds a key of order {k.OrderId}, which it does not hold.");
            ref var o = ref store[slot];
            // The key lives in its order's record: a key that is not its order's, or a second key of one order, has no place.
            if (o.Keyed || !string.Equals(o.IdempotencyKey, k.Key, StringComparison.Ordinal) || o.Fingerprint != k.Fingerprint || m.FindKey(k.Key) >= 0)
            {
                throw new InvalidDataException($"The snapshot's key of order {k.OrderId} is not the key and fingerprint that order was made with, or is there twice.");
            }
            o.KeyExpiresAtMs = k.ExpiresAtMs;
            m.RememberKey(slot);
        }
        // An order neither held nor remembered by a key (a snapshot made by hand) has no reason to stay.
        foreach (var slot in byId.Values)
        {
            if (!store[slot].Held && !store[slot].Keyed) store.Free(slot);
        }
        foreach (var t in snapshot.Transactions.OrderBy(t => t.ExpiresAtMs))
        {
            var result = new CommandResult
            {
                Code = t.Code, OrderId = t.OrderId, Status = t.Status, Value = t.Value, ReservedUntilMs = t.ReservedUntilMs,
                Field = t.Field, PaymentSessionId = t.PaymentSessionId,
            };
            if (!m._transactions.TryGetValue(t.TransactionId, out var entry))
            {
                entry = new TransactionEntry(t.OrderId, t.ExpiresAtMs);
                m._transactionIds.Enqueue((t.ExpiresAtMs, t.TransactionId));
            }
            m._transactions[t.TransactionId] = t.Succeeded ? entry with { Succeeded = result } : entry with { Failed = result };
        }
        m.VerifyInvariants();
        return m;
    }

    private static SnapshotTransaction ToSnapshot(string tx, in TransactionEntry e, in CommandResult r, bool succeeded) =>
        new(tx, e.OrderId, e.ExpiresAtMs, r.Code, r.Status, r.Value, r.ReservedUntilMs, r.Field, r.PaymentSessionId, succeeded);

    private SnapshotOrder ToSnapshot(in OrderRecord o, bool held)
    {
        var all = _store.Allocations(o);
        var allocations = new SnapshotAllocation[all.Length];
        for (var i = 0; i < allocations.Length; i++)
        {
            ref var a = ref all[i];
            allocations[i] = new SnapshotAllocation(_skuSlots[a.Item].Sku, WarehouseOf(a), a.Quantity, a.UnitPrice);
        }
        return new SnapshotOrder(o.Id, o.Status, held, o.CustomerId, o.IdempotencyKey, o.PaymentMethod, o.PaymentSessionId,
            o.PaidTransactionId, o.Amount, o.CreatedAtMs, o.ReservedUntilMs, o.TerminalAtMs, o.Fingerprint, o.LineCount, allocations, o.CheckoutAborted, o.PaymentUrl,
            o.RemoteShards, o.RemoteAmount, o.RemoteLineCount, o.IsHold, o.HoldConfirmed);
    }

    private static int FromSnapshot(ReservationStateMachine m, SnapshotOrder so)
    {
        m._allocationScratchCount = 0;
        foreach (var a in so.Allocations)
        {
            if (!m._skus.TryGetValue(a.Sku, out var item) || item.FindRow(a.WarehouseId) is var row && row < 0)
            {
                throw new InvalidDataException($"Order {so.Id} allocates sku {a.Sku} in warehouse {a.WarehouseId}, which the snapshot lacks.");
            }
            m.AddScratch(new Allocation { Item = item.Slot, RowIndex = row, Quantity = a.Quantity, UnitPrice = a.UnitPrice });
        }
        var slot = m._store.Add();
        ref var o = ref m._store[slot];
        (o.Id, o.Status, o.CustomerId, o.IdempotencyKey, o.PaymentMethod) = (so.Id, so.Status, so.CustomerId, so.IdempotencyKey, so.PaymentMethod);
        (o.Amount, o.CreatedAtMs, o.ReservedUntilMs, o.TerminalAtMs, o.Fingerprint, o.LineCount) = (so.Amount, so.CreatedAtMs, so.ReservedUntilMs, so.TerminalAtMs, so.Fingerprint, so.LineCount);
        (o.CheckoutAborted, o.IsHold, o.HoldConfirmed) = (so.CheckoutAborted, so.IsHold, so.HoldConfirmed);
        if (so.PaymentSessionId is not null || so.PaymentUrl is not null || so.PaidTransactionId is not null || so.RemoteShards is not null || so.RemoteAmount != 0 || so.RemoteLineCount != 0)
        {
            o.Extras = new OrderExtras
            {
                PaymentSessionId = so.PaymentSessionId, PaymentUrl = so.PaymentUrl, PaidTransactionId = so.PaidTransactionId,
                RemoteShards = so.RemoteShards, RemoteAmount = so.RemoteAmount, RemoteLineCount = so.RemoteLineCount,
            };
        }
        m._store.SetAllocations(ref o, m._allocationScratch.AsSpan(0, m._allocationScratchCount));
        return slot;
    }
}
