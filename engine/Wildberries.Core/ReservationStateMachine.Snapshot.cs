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
        foreach (var o in _orders.Values) orders.Add(ToSnapshot(o, held: true));
        var keys = new List<SnapshotKey>(_idempotency.Count);
        foreach (var (key, e) in _idempotency)
        {
            keys.Add(new SnapshotKey(key, e.Order.Id, e.Fingerprint, e.ExpiresAtMs));
            // An evicted order still answers its key's replays, so it travels with the key.
            if (!_orders.TryGetValue(e.Order.Id, out var held) || held != e.Order) orders.Add(ToSnapshot(e.Order, held: false));
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

        var byId = new Dictionary<OrderId, Order>(snapshot.Orders.Length);
        foreach (var so in snapshot.Orders)
        {
            var o = FromSnapshot(m, so);
            byId[o.Id] = o;
            if (!so.Held) continue;
            m._orders.Add(o.Id, o);
            if (o.Status == OrderStatus.PendingPayment && !o.IsHold) m.PendingOrderCount++;
            if (IsLiveDeadline(o, o.ReservedUntilMs)) m._expiries.Enqueue(o, (o.ReservedUntilMs, o.Id.Value));
        }
        foreach (var o in m._orders.Values.Where(o => OrderTransitions.IsTerminal(o.Status)).OrderBy(o => o.TerminalAtMs).ThenBy(o => o.Id.Value))
        {
            m._terminalOrders.Enqueue((o.TerminalAtMs + m._options.TerminalOrderRetentionMs, o));
        }
        foreach (var k in snapshot.Keys.OrderBy(k => k.ExpiresAtMs))
        {
            m._idempotency.Add(k.Key, new IdempotencyEntry(byId[k.OrderId], k.Fingerprint, k.ExpiresAtMs));
            m._idempotencyKeys.Enqueue((k.ExpiresAtMs, k.Key));
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
                entry = new TransactionEntry(null, null, t.OrderId, t.ExpiresAtMs);
                m._transactionIds.Enqueue((t.ExpiresAtMs, t.TransactionId));
            }
            m._transactions[t.TransactionId] = t.Succeeded ? entry with { Succeeded = result } : entry with { Failed = result };
        }
        m.VerifyInvariants();
        return m;
    }

    private static SnapshotTransaction ToSnapshot(string tx, in TransactionEntry e, in CommandResult r, bool succeeded) =>
        new(tx, e.OrderId, e.ExpiresAtMs, r.Code, r.Status, r.Value, r.ReservedUntilMs, r.Field, r.PaymentSessionId, succeeded);

    private static SnapshotOrder ToSnapshot(Order o, bool held)
    {
        var allocations = new SnapshotAllocation[o.Allocations.Count];
        for (var i = 0; i < allocations.Length; i++)
        {
            ref var a = ref o.Allocations[i];
            allocations[i] = new SnapshotAllocation(a.Item.Sku, a.Row.WarehouseId, a.Quantity, a.UnitPrice);
        }
        return new SnapshotOrder(o.Id, o.Status, held, o.CustomerId, o.IdempotencyKey, o.PaymentMethod, o.PaymentSessionId,
            o.PaidTransactionId, o.Amount, o.CreatedAtMs, o.ReservedUntilMs, o.TerminalAtMs, o.Fingerprint, o.LineCount, allocations, o.CheckoutAborted, o.PaymentUrl,
            o.RemoteShards, o.RemoteAmount, o.RemoteLineCount, o.IsHold, o.HoldConfirmed);
    }

    private static Order FromSnapshot(ReservationStateMachine m, SnapshotOrder so)
    {
        var o = new Order
        {
            Id = so.Id, Status = so.Status, CustomerId = so.CustomerId, IdempotencyKey = so.IdempotencyKey, PaymentMethod = so.PaymentMethod,
            PaymentSessionId = so.PaymentSessionId, PaidTransactionId = so.PaidTransactionId, Amount = so.Amount, CreatedAtMs = so.CreatedAtMs,
            ReservedUntilMs = so.ReservedUntilMs, TerminalAtMs = so.TerminalAtMs, Fingerprint = so.Fingerprint, LineCount = so.LineCount,
            CheckoutAborted = so.CheckoutAborted, PaymentUrl = so.PaymentUrl,
            RemoteShards = so.RemoteShards, RemoteAmount = so.RemoteAmount, RemoteLineCount = so.RemoteLineCount, IsHold = so.IsHold, HoldConfirmed = so.HoldConfirmed,
        };
        foreach (var a in so.Allocations)
        {
            if (!m._skus.TryGetValue(a.Sku, out var item) || item.FindRow(a.WarehouseId) is var row && row < 0)
            {
                throw new InvalidDataException($"Order {so.Id} allocates sku {a.Sku} in warehouse {a.WarehouseId}, which the snapshot lacks.");
            }
            o.Allocations.Add(new Allocation { Item = item, RowIndex = row, Quantity = a.Quantity, UnitPrice = a.UnitPrice });
        }
        return o;
    }
}
