namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    /// <summary>
    /// Copies the whole state out as plain data (O(state); run it on a machine nobody else writes to). Canonical:
    /// orders by id, keys by expiry then order id, transactions by expiry then id, so two machines with the same
    /// state give the same snapshot whatever the history of their tables.
    /// </summary>
    public StateSnapshot CaptureSnapshot()
    {
        var skus = _skus.Records;
        var items = new SnapshotItem[skus.Length];
        var rowCount = 0;
        foreach (ref var s in skus) rowCount += s.RowCount;
        var rows = new SnapshotRow[rowCount];
        var k = 0;
        for (var i = 0; i < skus.Length; i++)
        {
            ref var s = ref skus[i];
            items[i] = new SnapshotItem(s.Sku, s.InCatalog, _skus.Name(i), s.Price, s.MaxPerOrder, s.Active);
            for (var j = 0; j < s.RowCount; j++)
            {
                ref var r = ref _skus.Row(i, j);
                rows[k++] = new SnapshotRow(s.Sku, r.WarehouseId, r.OnHand, r.Reserved, r.Committed);
            }
        }

        // Every slot in use is held, or remembered by a key (an evicted order still answers its key's replays, so it
        // travels with the key).
        var ids = new ulong[_store.Count];
        var slots = new int[_store.Count];
        var n = 0;
        for (var slot = 0; slot < _store.Top; slot++)
        {
            ref var o = ref _store[slot];
            if (!o.Held && !o.Keyed) continue;
            ids[n] = o.Id.Value;
            slots[n++] = slot;
        }
        Invariant.That(n == ids.Length, "the store's count is its slots in use");
        Array.Sort(ids, slots);
        var orders = new SnapshotOrder[n];
        for (var i = 0; i < n; i++) orders[i] = ToSnapshot(_store[slots[i]]);

        var keys = new SnapshotKey[_idempotency.Count];
        n = 0;
        foreach (var slot in slots)
        {
            ref var o = ref _store[slot];
            if (o.Keyed) keys[n++] = new SnapshotKey(_store.KeyString(o), o.Id, o.Fingerprint, KeyExpiresAt(o));
        }
        Invariant.That(n == keys.Length, "every remembered key's order is in the store");
        // Stable: equal expiries stay in id order.
        var expiries = new long[keys.Length];
        for (var i = 0; i < keys.Length; i++) expiries[i] = keys[i].ExpiresAtMs;
        if (!IsSorted(expiries)) keys = [.. keys.OrderBy(x => x.ExpiresAtMs)];

        var transactions = new List<SnapshotTransaction>(_transactions.Count);
        foreach (var (tx, e) in _transactions)
        {
            if (e.Failed is { } f) transactions.Add(ToSnapshot(tx, e, f, succeeded: false));
            if (e.Succeeded is { } s) transactions.Add(ToSnapshot(tx, e, s, succeeded: true));
        }
        transactions.Sort(static (a, b) =>
            a.ExpiresAtMs != b.ExpiresAtMs ? a.ExpiresAtMs.CompareTo(b.ExpiresAtMs)
            : string.CompareOrdinal(a.TransactionId, b.TransactionId) is var c and not 0 ? c
            : a.Succeeded.CompareTo(b.Succeeded));
        return new StateSnapshot(_options.ShardId, _lsn, _nowMs, _orderSequence, items, rows, orders, keys, [.. transactions]);
    }

    /// <summary>
    /// Rebuilds a state machine from a snapshot; it hashes equal to the machine that was captured. In bulk: tables
    /// and slabs are sized for the snapshot before anything goes in, rows of one SKU are added without looking the
    /// SKU up again, and the queues are filled in order (sorting only what a snapshot not made by
    /// <see cref="CaptureSnapshot"/> has out of order). Damage (a reference to something the snapshot lacks, a value
    /// out of range, a duplicate) is an <see cref="InvalidDataException"/> or a broken invariant.
    /// </summary>
    public static ReservationStateMachine Restore(StateSnapshot snapshot, StateMachineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var (allocations, keyBytes) = (0L, 0L);
        foreach (var so in snapshot.Orders)
        {
            allocations += so.Allocations?.Length ?? 0;
            keyBytes += KeyArena.BytesOf(so.IdempotencyKey?.Length ?? 0);
        }
        if (allocations > Array.MaxLength) throw new InvalidDataException("The snapshot's orders have more allocations than an array holds.");
        var m = new ReservationStateMachine(options, snapshot.Orders.Length, snapshot.Items.Length, (int)allocations, keyBytes);
        if (snapshot.ShardId != m._options.ShardId)
        {
            throw new InvalidDataException($"The snapshot is of shard {snapshot.ShardId}, not {m._options.ShardId}.");
        }
        // Every time the machine keeps is below 2^48 and the clock only moves forward from here: a clock out of that
        // range would make every later checkout's deadline unrepresentable.
        if (snapshot.NowMs is < 0 or > StateMachineOptions.TimestampMsMax)
        {
            throw new InvalidDataException($"The snapshot's clock {snapshot.NowMs} is outside 0..{StateMachineOptions.TimestampMsMax}.");
        }
        m._lsn = snapshot.Lsn;
        m._nowMs = snapshot.NowMs;
        m._orderSequence = snapshot.OrderSequence;
        var catalog = new long[snapshot.Items.Length];
        var catalogCount = 0;
        var items = snapshot.Items;
        for (var n = 0; n < items.Length; n++)
        {
            // Each new SKU's bucket is a likely cache miss: asked for a few items ahead, the misses overlap.
            if (n + 8 < items.Length) m._skus.Prefetch(items[n + 8].Sku);
            var i = items[n];
            // The price a checkout copies into its 40-bit allocation price: refused here, not by the first checkout of
            // the SKU. (Not against PriceMax: an operator may lower that limit over items priced under the old one.)
            if ((ulong)i.Price > Allocation.UnitPriceMax)
            {
                throw new InvalidDataException($"The snapshot prices sku {i.Sku} at {i.Price}, outside 0..{Allocation.UnitPriceMax}.");
            }
            var known = m._skus.Count;
            var slot = m.GetOrAddSku(i.Sku);
            if (m._skus.Count == known)
            {
                // Two entries of one SKU: which one holds would decide the catalog and the price; a snapshot we wrote
                // never has them.
                throw new InvalidDataException($"The snapshot has two items of sku {i.Sku}.");
            }
            ref var s = ref m._skus[slot];
            (s.InCatalog, s.Price, s.MaxPerOrder, s.Active) = (i.InCatalog, i.Price, i.MaxPerOrder, i.Active);
            m._skus.Name(slot) = i.Name;
            if (i.InCatalog) catalog[catalogCount++] = i.Sku;
        }
        // Built from the whole list at once: a sorted array (sorted here only if the snapshot's items are not in order).
        m._catalog.Reset(catalog, catalogCount);
        var last = -1;
        foreach (var r in snapshot.Rows)
        {
            // Rows come grouped by SKU, the SKUs in the items' order (slot order): the SKU of a row is the last one's
            // or the next slot's, looked up only otherwise; slots are filled front to back.
            if (last < 0 || m._skus[last].Sku != r.Sku)
            {
                last = last + 1 < m._skus.Count && m._skus[last + 1].Sku == r.Sku ? last + 1 : m.GetOrAddSku(r.Sku);
            }
            if (m._skus.FindRow(last, r.WarehouseId) >= 0)
            {
                throw new InvalidDataException($"The snapshot has two rows of sku {r.Sku} in warehouse {r.WarehouseId}.");
            }
            ref var row = ref m._skus.Row(last, m._skus.AddRow(last, r.WarehouseId));
            (row.OnHand, row.Reserved, row.Committed) = (r.OnHand, r.Reserved, r.Committed);
            m._onHandLedger += r.OnHand;
        }

        var store = m._store;
        // Orders only a key remembers (evicted from the index), by id; held orders are found through the index.
        var unheld = new Dictionary<OrderId, int>();
        var terminal = new List<(long EvictAtMs, ulong Id, int Slot)>();
        var (lastQueued, lastQueuedId) = (long.MinValue, 0UL);
        var queueLimit = m._nowMs + m._options.ReservationTtlMs;
        var snapshotOrders = snapshot.Orders;
        for (var n = 0; n < snapshotOrders.Length; n++)
        {
            // An order's bucket in the index and its first line's SKU bucket are likely cache misses: asked for a
            // few orders ahead, they overlap.
            if (n + 8 < snapshotOrders.Length) m.PrefetchRestore(snapshotOrders[n + 8]);
            var so = snapshotOrders[n];
            var slot = FromSnapshot(m, so);
            ref var o = ref store[slot];
            if (!so.Held)
            {
                // A second unheld copy of one id (a snapshot made by hand) replaces the first.
                if (unheld.Remove(o.Id, out var twin)) store.Free(twin);
                unheld[o.Id] = slot;
                continue;
            }
            o.Held = true;
            if (m.TryFindSlot(o.Id, out _)) throw new InvalidDataException($"The snapshot holds order {o.Id} twice.");
            m.IndexOrder(slot);
            if (o.Status == OrderStatus.PendingPayment && !o.IsHold) m.PendingOrderCount++;
            if (OrderTransitions.IsTerminal(o.Status)) terminal.Add((o.TerminalAtMs + m._options.TerminalOrderRetentionMs, o.Id.Value, slot));
            if (!IsLiveDeadline(o, o.ReservedUntilMs)) continue;
            // Deadlines in (deadline, id) order that no future checkout's deadline (now + TTL) precedes go to the
            // checkout queue; the others to the heap.
            var deadline = o.ReservedUntilMs;
            if (!o.IsHold && deadline <= queueLimit && (deadline > lastQueued || (deadline == lastQueued && o.Id.Value > lastQueuedId)))
            {
                o.InCheckoutQueue = true;
                m._checkoutExpiries.Enqueue(store.Handle(slot));
                (lastQueued, lastQueuedId) = (deadline, o.Id.Value);
            }
            else
            {
                m._expiries.Enqueue(store.Handle(slot), (o.ReservedUntilMs, o.Id.Value));
            }
        }
        terminal.Sort();
        foreach (var (evictAtMs, _, slot) in terminal) m._terminalOrders.Enqueue((evictAtMs, store.Handle(slot)));

        var keys = snapshot.Keys;
        if (!IsSorted(keys)) keys = [.. keys.OrderBy(k => k.ExpiresAtMs)];
        for (var n = 0; n < keys.Length; n++)
        {
            if (n + 8 < keys.Length) m._orders.Prefetch(IdHash(keys[n + 8].OrderId));
            var k = keys[n];
            if (!m.TryFindSlot(k.OrderId, out var slot) && !unheld.TryGetValue(k.OrderId, out slot))
            {
                throw new InvalidDataException($"Snapshot holds a key of order {k.OrderId}, which it does not hold.");
            }
            ref var o = ref store[slot];
            // The key lives in its order's record: a key that is not its order's, or a second key of one order, has no place.
            var keyHash = KeyHash(k.Key);
            if (o.Keyed || !System.Text.Ascii.Equals(store.Key(o), k.Key) || o.Fingerprint != k.Fingerprint || m.FindKey(k.Key, keyHash) >= 0)
            {
                throw new InvalidDataException($"The snapshot's key of order {k.OrderId} is not the key and fingerprint that order was made with, or is there twice.");
            }
            if (k.ExpiresAtMs != m.KeyExpiresAt(o))
            {
                o.KeyExpiryInExtras = true;
                o.More.KeyExpiresAtMs = k.ExpiresAtMs;
            }
            m.RememberKey(slot, keyHash);
        }
        // An order neither held nor remembered by a key (a snapshot made by hand) has no reason to stay.
        foreach (var slot in unheld.Values)
        {
            if (!store[slot].Keyed) store.Free(slot);
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

    private void PrefetchRestore(SnapshotOrder? order)
    {
        if (order is null) return;
        _orders.Prefetch(IdHash(order.Id));
        if (order.Allocations is [var first, ..]) _skus.Prefetch(first.Sku);
    }

    private static bool IsSorted(long[] values)
    {
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] < values[i - 1]) return false;
        }
        return true;
    }

    private static bool IsSorted(SnapshotKey[] keys)
    {
        for (var i = 1; i < keys.Length; i++)
        {
            if (keys[i].ExpiresAtMs < keys[i - 1].ExpiresAtMs) return false;
        }
        return true;
    }

    private static SnapshotTransaction ToSnapshot(string tx, in TransactionEntry e, in CommandResult r, bool succeeded) =>
        new(tx, e.OrderId, e.ExpiresAtMs, r.Code, r.Status, r.Value, r.ReservedUntilMs, r.Field, r.PaymentSessionId, succeeded);

    private SnapshotOrder ToSnapshot(in OrderRecord o)
    {
        var all = _store.Allocations(o);
        var allocations = new SnapshotAllocation[all.Length];
        for (var i = 0; i < allocations.Length; i++)
        {
            ref var a = ref all[i];
            allocations[i] = new SnapshotAllocation(_skus[a.Item].Sku, WarehouseOf(a), a.Quantity, a.UnitPrice);
        }
        return new SnapshotOrder(o.Id, o.Status, o.Held, o.CustomerId, _store.KeyString(o), o.PaymentMethod, o.PaymentSessionId,
            o.PaidTransactionId, o.Amount, o.CreatedAtMs, o.ReservedUntilMs, o.TerminalAtMs, o.Fingerprint, o.LineCount, allocations, o.CheckoutAborted, o.PaymentUrl,
            o.RemoteShards, o.RemoteAmount, o.RemoteLineCount, o.IsHold, o.HoldConfirmed);
    }

    private static int FromSnapshot(ReservationStateMachine m, SnapshotOrder so)
    {
        m._allocationScratchCount = 0;
        foreach (var a in so.Allocations ?? throw new InvalidDataException($"Order {so.Id} has no allocation list."))
        {
            if (m._skus.Find(a.Sku) is var item && item < 0 || m._skus.FindRow(item, a.WarehouseId) is var row && row < 0)
            {
                throw new InvalidDataException($"Order {so.Id} allocates sku {a.Sku} in warehouse {a.WarehouseId}, which the snapshot lacks.");
            }
            if ((uint)a.Quantity > Allocation.QuantityMax || (ulong)a.UnitPrice > Allocation.UnitPriceMax)
            {
                throw new InvalidDataException($"Order {so.Id} allocates {a.Quantity} units at {a.UnitPrice}: out of range.");
            }
            m.AddScratch(new Allocation { Item = item, RowIndex = row, Quantity = a.Quantity, UnitPrice = a.UnitPrice });
        }
        if (!IsTime(so.CreatedAtMs) || !IsTime(so.ReservedUntilMs) || !IsTime(so.TerminalAtMs) || (uint)so.LineCount > ushort.MaxValue
            || so.IdempotencyKey is null || so.IdempotencyKey.Length > ushort.MaxValue || !System.Text.Ascii.IsValid(so.IdempotencyKey) || so.CustomerId is null)
        {
            throw new InvalidDataException($"Order {so.Id} has a time, a line count or a key out of range.");
        }
        var slot = m._store.Add();
        ref var o = ref m._store[slot];
        (o.Id, o.Status, o.CustomerId, o.PaymentMethod) = (so.Id, so.Status, so.CustomerId, so.PaymentMethod);
        m._store.SetKey(ref o, so.IdempotencyKey);
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

        static bool IsTime(long ms) => (ulong)ms < OrderRecord.TimeLimit;
    }
}
