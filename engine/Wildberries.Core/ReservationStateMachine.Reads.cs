namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    /// <summary>An immutable copy of an order, or false when it is unknown or evicted.</summary>
    public bool TryGetOrder(OrderId id, out OrderView view)
    {
        if (!TryFindSlot(id, out var slot) || _store[slot].IsHold || _store[slot].Status == OrderStatus.Aborted)
        {
            view = null!;
            return false;
        }
        view = ToView(_store[slot]);
        return true;
    }

    /// <summary>
    /// The order a checkout's idempotency key made, even one evicted after its retention window while the key is
    /// still remembered (its replays still answer), or false when the key is unknown.
    /// </summary>
    public bool TryGetOrderByKey(string? idempotencyKey, out OrderView view)
    {
        if (idempotencyKey is null || FindKey(idempotencyKey) is not (>= 0 and var slot))
        {
            view = null!;
            return false;
        }
        view = ToView(_store[slot]);
        return true;
    }

    /// <summary>The catalog item of <paramref name="sku"/>, or false when it is not in the catalog.</summary>
    public bool TryGetItem(long sku, out ItemView item)
    {
        if (_skus.Find(sku) is not (>= 0 and var slot) || !_skus[slot].InCatalog)
        {
            item = null!;
            return false;
        }
        item = ItemOf(slot);
        return true;
    }

    /// <summary>
    /// Catalog items with SKU greater than <paramref name="afterSku"/>, in SKU order, at most <paramref name="limit"/>:
    /// keyset paging that stays correct while items are added.
    /// </summary>
    public ItemView[] ListItems(long afterSku, int limit)
    {
        var skus = _catalog.After(afterSku, limit);
        var page = new ItemView[skus.Count];
        for (var i = 0; i < page.Length; i++) page[i] = ItemOf(_skus.Find(skus[i]));
        return page;
    }

    /// <summary>The stock row of (<paramref name="sku"/>, <paramref name="warehouseId"/>); zeros when it does not exist.</summary>
    public StockLevel GetStock(long sku, int warehouseId)
    {
        if (_skus.Find(sku) is >= 0 and var s)
        {
            var r = _skus.FindRow(s, warehouseId);
            if (r >= 0) return ToLevel(sku, _skus.Row(s, r));
        }
        return new StockLevel(sku, warehouseId, 0, 0, 0);
    }

    /// <summary>Every stock row of a SKU, by warehouse id.</summary>
    public StockLevel[] GetStockRows(long sku)
    {
        if (_skus.Find(sku) is not (>= 0 and var s)) return [];
        var rows = new StockLevel[_skus[s].RowCount];
        for (var i = 0; i < rows.Length; i++) rows[i] = ToLevel(sku, _skus.Row(s, i));
        Array.Sort(rows, static (a, b) => a.WarehouseId.CompareTo(b.WarehouseId));
        return rows;
    }

    /// <summary>Every stock row, ordered by SKU then warehouse: for tests, snapshots and audits, not hot paths.</summary>
    public IEnumerable<StockLevel> AllStock() =>
        Enumerable.Range(0, _skus.Count).Select(s => _skus[s].Sku).Order().SelectMany(GetStockRows);

    /// <summary>
    /// This shard's hold of an order at home on another shard: its lines and allocations here (status: held as
    /// PENDING_PAYMENT, committed as PAID, FULFILLED, or released as CANCELLED or EXPIRED); false when there is none.
    /// </summary>
    public bool TryGetHold(OrderId id, out OrderView view)
    {
        if (!TryFindSlot(id, out var slot) || !_store[slot].IsHold)
        {
            view = null!;
            return false;
        }
        view = ToView(_store[slot]);
        return true;
    }

    /// <summary>
    /// What a checkout of <paramref name="lines"/> (all of this shard) would be refused for, without reserving
    /// anything: the first unknown, inactive or capped line, else every short line; null when all could be reserved.
    /// </summary>
    public CommandResult? CheckLines(CheckoutLine[] lines, int[]? warehouses)
    {
        ArgumentNullException.ThrowIfNull(lines);
        return ResolveLines(lines, warehouses, allowForeign: false, out _);
    }

    /// <summary>Every order at home here, by id: for tests, snapshots and audits, not hot paths.</summary>
    public IEnumerable<OrderView> AllOrders() =>
        _orders.Slots().Where(s => !_store[s].IsHold && _store[s].Status != OrderStatus.Aborted).OrderBy(s => _store[s].Id.Value).Select(s => ToView(_store[s]));

    /// <summary>Every hold of an order at home elsewhere, by order id: for audits, not hot paths.</summary>
    public IEnumerable<OrderView> AllHolds() => _orders.Slots().Where(s => _store[s].IsHold).OrderBy(s => _store[s].Id.Value).Select(s => ToView(_store[s]));

    private static StockLevel ToLevel(long sku, in StockRow row) =>
        new(sku, row.WarehouseId, row.OnHand, row.Reserved, row.Committed);

    private ItemView ItemOf(int slot)
    {
        ref var s = ref _skus[slot];
        return new ItemView(s.Sku, _skus.Name(slot), s.Price, s.MaxPerOrder, s.Active);
    }

    private OrderView ToView(in OrderRecord order)
    {
        var lines = new OrderLineView[order.LineCount];
        var lineIndex = -1;
        var allocations = new List<AllocationView>();
        var all = _store.Allocations(order);
        for (var i = 0; i <= all.Length; i++)
        {
            var boundary = i == all.Length || lineIndex < 0 || all[i].Item != all[i - 1].Item;
            if (boundary && lineIndex >= 0)
            {
                ref var prev = ref all[i - 1];
                var qty = 0;
                foreach (var a in allocations) qty += a.Quantity;
                lines[lineIndex] = new OrderLineView(_skus[prev.Item].Sku, qty, prev.UnitPrice, [.. allocations]);
                allocations.Clear();
            }
            if (i == all.Length) break;
            if (boundary) lineIndex++;
            ref var cur = ref all[i];
            allocations.Add(new AllocationView(WarehouseOf(cur), cur.Quantity));
        }
        Invariant.That(lineIndex + 1 == order.LineCount, "an order has one allocation group per line");
        return new OrderView(order.Id, order.Status, order.CustomerId, order.Amount, _options.Currency, order.CreatedAtMs,
            order.ReservedUntilMs, order.PaymentSessionId, order.PaidTransactionId, lines, order.CheckoutAborted, order.PaymentUrl, order.RemoteShards);
    }

    private int WarehouseOf(in Allocation a) => _skus.Row(a.Item, a.RowIndex).WarehouseId;
}
