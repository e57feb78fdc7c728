namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    // The hashes of a SKU and of a stock row start from these (their domain tags mixed in once, not per entity).
    private static readonly StateHash SkuHashSeed = new(2);
    private static readonly StateHash RowHashSeed = new(3);

    /// <summary>
    /// A deterministic hash of the whole state (invariant 5): equal on every replica and after every replay.
    /// Entities are hashed one by one and summed, so the order in which dictionaries hold them does not matter.
    /// </summary>
    public ulong ComputeStateHash()
    {
        var total = new StateHash(1);
        total.Add(_lsn);
        total.Add(_nowMs);
        total.Add(_orderSequence);
        ulong sum = total.Value;

        // One pass over the SKU slab, front to back. Every row's hash starts with its SKU's number: that step is
        // taken once a SKU, and the rows' hashes go on from a copy of it (the same values as hashing each row whole).
        var skus = _skus.Records;
        for (var k = 0; k < skus.Length; k++)
        {
            ref var s = ref skus[k];
            var h = SkuHashSeed;
            h.Add(s.Sku);
            h.Add(s.InCatalog ? 1 : 0);
            h.Add(_skus.Name(k));
            h.Add(s.Price);
            h.Add(s.MaxPerOrder);
            h.Add(s.Active ? 1 : 0);
            sum += h.Value;
            var ofSku = RowHashSeed;
            ofSku.Add(s.Sku);
            for (var i = 0; i < s.RowCount; i++)
            {
                ref var row = ref i < SkuTable.InlineRows ? ref s.Rows[i] : ref _skus.Row(k, i);
                var r = ofSku;
                r.Add(row.WarehouseId);
                r.Add(row.OnHand);
                r.Add(row.Reserved);
                r.Add(row.Committed);
                sum += r.Value;
            }
        }
        // The orders of the index and the remembered keys, read from the store front to back (not in the indexes'
        // bucket order, which is random over the store): an order is in the index exactly when marked held, a key
        // is remembered exactly when its order is marked keyed (counted against the indexes here).
        var (held, keyed) = (0, 0);
        for (var slot = 0; slot < _store.Top; slot++)
        {
            ref var o = ref _store[slot];
            if (o.Held)
            {
                sum += HashOrder(o);
                held++;
            }
            if (!o.Keyed) continue;
            var h = new StateHash(5);
            h.AddAscii(_store.Key(o));
            h.Add((long)o.Id.Value);
            h.Add((long)o.Fingerprint);
            h.Add(KeyExpiresAt(o));
            sum += h.Value;
            keyed++;
        }
        Invariant.That(held == _orders.Count && keyed == _idempotency.Count, "the orders marked held and keyed are those of the indexes");
        foreach (var (tx, e) in _transactions)
        {
            var h = new StateHash(6);
            h.Add(tx);
            h.Add((long)e.OrderId.Value);
            h.Add(e.Failed.HasValue ? (long)e.Failed.Value.Code : -1);
            h.Add(e.Failed.HasValue ? (long)e.Failed.Value.Status : -1);
            h.Add(e.Succeeded.HasValue ? (long)e.Succeeded.Value.Code : -1);
            h.Add(e.Succeeded.HasValue ? (long)e.Succeeded.Value.Status : -1);
            h.Add(e.ExpiresAtMs);
            sum += h.Value;
        }
        return sum;
    }

    private ulong HashOrder(in OrderRecord o)
    {
        var h = new StateHash(4);
        h.Add((long)o.Id.Value);
        h.Add((long)o.Status);
        h.Add(o.CustomerId);
        h.AddAscii(_store.Key(o));
        h.Add(o.PaymentMethod);
        h.Add(o.PaymentSessionId);
        h.Add(o.PaidTransactionId);
        h.Add(o.Amount);
        h.Add(o.CreatedAtMs);
        h.Add(o.ReservedUntilMs);
        h.Add(o.TerminalAtMs);
        h.Add((long)o.Fingerprint);
        h.Add(o.LineCount);
        h.Add(o.CheckoutAborted ? 1 : 0);
        h.Add(o.PaymentUrl);
        h.Add(o.RemoteAmount);
        h.Add(o.RemoteLineCount);
        h.Add((o.IsHold ? 1 : 0) | (o.HoldConfirmed ? 2 : 0));
        h.Add(o.RemoteShards?.Length ?? -1);
        foreach (var shard in o.RemoteShards ?? []) h.Add(shard);
        foreach (ref var a in _store.Allocations(o))
        {
            h.Add(_skus[a.Item].Sku);
            h.Add(WarehouseOf(a));
            h.Add(a.Quantity);
            h.Add(a.UnitPrice);
        }
        return h.Value;
    }

    /// <summary>
    /// Checks every invariant of PRODUCT.md over the whole state, O(state): reserved and committed equal the
    /// allocations of pending and paid orders, nothing is negative, amounts match their lines.
    /// </summary>
    public void VerifyInvariants()
    {
        // What the rows' reserved and committed counts must be, summed from the allocations: flat arrays indexed by
        // each SKU's first row plus the row, no hashing (a recovery verifies millions of rows).
        var skus = _skus.Records;
        var firstRow = new int[skus.Length + 1];
        for (var i = 0; i < skus.Length; i++) firstRow[i + 1] = checked(firstRow[i] + skus[i].RowCount);
        var reserved = new long[firstRow[^1]];
        var committed = new long[firstRow[^1]];
        var pending = 0;
        // The store front to back (the indexes' bucket order is random over it): the orders marked held are in the
        // index, and as many as it has, so they are the index's orders; likewise the keyed ones and the remembered keys.
        var (held, keyed, keyedOnly) = (0, 0, 0);
        for (var slot = 0; slot < _store.Top; slot++)
        {
            ref var o = ref _store[slot];
            if (o.Keyed)
            {
                Invariant.That(_idempotency.Find(KeyHash(_store.Key(o)), new SameKeyMatch(_store, slot)) == slot, "every remembered key finds its order");
                keyed++;
                if (!o.Held) keyedOnly++;
            }
            if (!o.Held) continue;
            held++;
            Invariant.That(TryFindSlot(o.Id, out var found) && found == slot, "every held order is found by its id");
            Invariant.That(o.Status != OrderStatus.None, "every held order has a status");
            if (o.Status == OrderStatus.PendingPayment && !o.IsHold) pending++;
            Invariant.That(o.IsHold == (o.Id.Shard != _options.ShardId), "holds are of orders at home elsewhere, orders at home here");
            long amount = 0;
            foreach (ref var a in _store.Allocations(o))
            {
                Invariant.That(a.Quantity > 0, "allocations are positive");
                Invariant.That((uint)a.Item < (uint)skus.Length && (uint)a.RowIndex < (uint)skus[a.Item].RowCount, "every allocation points at an existing stock row");
                amount += a.Quantity * a.UnitPrice;
                var row = firstRow[a.Item] + a.RowIndex;
                if (o.Status is OrderStatus.PendingPayment or OrderStatus.Preparing) reserved[row] += a.Quantity;
                if (o.Status == OrderStatus.Paid) committed[row] += a.Quantity;
            }
            Invariant.That(amount + o.RemoteAmount == o.Amount, "an order's amount is the sum of its lines at checkout prices");
        }
        Invariant.That(held == _orders.Count, "the orders in the index are those marked held in the store");
        Invariant.That(keyed == _idempotency.Count, "the remembered keys are those of the orders marked keyed in the store");
        // The store holds exactly the orders of the index and those only a key remembers: no slot leaks.
        Invariant.That(_store.Count == _orders.Count + keyedOnly, "the order store holds no slot that nothing refers to");
        // Evicted orders are terminal and hold no stock, so the orders held in memory account for every unit.
        Invariant.That(pending == PendingOrderCount, "the pending-order count matches the orders");
        Int128 onHand = 0;
        for (var k = 0; k < skus.Length; k++)
        {
            ref var s = ref skus[k];
            for (var i = 0; i < s.RowCount; i++)
            {
                ref var row = ref i < SkuTable.InlineRows ? ref s.Rows[i] : ref _skus.Row(k, i);
                Invariant.That(row.Reserved >= 0 && row.Committed >= 0, "reserved and committed are never negative");
                Invariant.That(row.OnHand >= 0 && row.OnHand <= _options.OnHandMax, "on-hand stays within 0 and its limit");
                onHand += row.OnHand;
                // The message is made only when it is needed: formatting it for every row costs more than the check.
                if (row.Reserved != reserved[firstRow[k] + i]) Invariant.That(false, $"reserved of sku {s.Sku} warehouse {row.WarehouseId} equals its pending allocations");
                if (row.Committed != committed[firstRow[k] + i]) Invariant.That(false, $"committed of sku {s.Sku} warehouse {row.WarehouseId} equals its paid allocations");
            }
        }
        Invariant.That(onHand == _onHandLedger, "on-hand changes only through stock adjustments and shipments (invariant 6)");
    }

    // The first slot of the index with the key of the order in a given slot.
    private readonly struct SameKeyMatch(OrderStore store, int slot) : ISlotMatch
    {
        public bool Matches(int other) => store.Key(store[other]).SequenceEqual(store.Key(store[slot]));
    }
}
