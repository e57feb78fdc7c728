namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    private CommandResult UpsertItem(in Command c)
    {
        if (!OwnsSku(c.Sku)) return CommandResult.Of(ResultCode.WrongShard);
        var item = GetOrAddSku(c.Sku);
        if (!item.InCatalog) _catalog.Add(c.Sku);
        item.InCatalog = true;
        item.Name = c.Name!;
        item.Price = c.Price;
        item.MaxPerOrder = (int)c.Expected;
        item.Active = c.Flag;
        return new CommandResult { Code = ResultCode.Ok, Value = c.Price };
    }

    /// <summary>
    /// Warehouse sync: a delta, or an absolute count with an optional expected value (compare-and-set). Stock may
    /// arrive before the catalog item does. A count below what is reserved and committed is accepted (the
    /// warehouse is the truth about its shelves) and reported as a shortfall.
    /// </summary>
    private CommandResult AdjustStock(in Command c)
    {
        if (!OwnsSku(c.Sku)) return CommandResult.Of(ResultCode.WrongShard);
        var absolute = c.Flag;

        var item = _skus.Find(c.Sku);
        var rowIndex = item?.FindRow(c.WarehouseId) ?? -1;
        var current = rowIndex >= 0 ? item!.Rows[rowIndex].OnHand : 0;
        if (c.HasExpected && c.Expected != current) return new CommandResult { Code = ResultCode.OnHandMismatch, Value = current };

        var next = absolute ? c.Value : current + c.Value;
        if (next < 0 || next > _options.OnHandMax) return new CommandResult { Code = ResultCode.OnHandOutOfRange, Value = current };

        item ??= GetOrAddSku(c.Sku);
        if (rowIndex < 0) rowIndex = item.AddRow(c.WarehouseId);
        ref var row = ref item.Rows[rowIndex];
        _onHandLedger += next - row.OnHand;
        row.OnHand = next;
        EmitStock(EventKind.StockChanged, item, row);
        if (row.OnHand < row.Reserved + row.Committed) EmitStock(EventKind.StockShortfall, item, row);
        return new CommandResult { Code = ResultCode.Ok, Value = next };
    }

    private SkuState GetOrAddSku(long sku)
    {
        var item = _skus.Find(sku);
        if (item is null)
        {
            item = new SkuState(sku, _skus.Count) { MaxPerOrder = _options.MaxPerOrderDefault };
            if (item.Slot == _skuSlots.Length) Array.Resize(ref _skuSlots, _skuSlots.Length * 2);
            _skuSlots[item.Slot] = item;
            _skus.Add(item);
        }
        return item;
    }

    private void Reserve(in Allocation a)
    {
        var item = _skuSlots[a.Item];
        ref var row = ref item.Rows[a.RowIndex];
        Invariant.That(a.Quantity > 0 && row.Available >= a.Quantity, "a reservation never makes available negative");
        row.Reserved += a.Quantity;
        EmitStock(EventKind.StockChanged, item, row);
    }

    private void Release(in Allocation a)
    {
        var item = _skuSlots[a.Item];
        ref var row = ref item.Rows[a.RowIndex];
        row.Reserved -= a.Quantity;
        Invariant.That(row.Reserved >= 0, "reserved is never negative");
        EmitStock(EventKind.StockChanged, item, row);
    }

    private void CommitReserved(in Allocation a)
    {
        var item = _skuSlots[a.Item];
        ref var row = ref item.Rows[a.RowIndex];
        row.Reserved -= a.Quantity;
        row.Committed += a.Quantity;
        Invariant.That(row.Reserved >= 0, "reserved is never negative");
        EmitStock(EventKind.StockChanged, item, row);
    }

    /// <summary>Gives committed units back to available: a paid part of an order whose other parts could not be paid.</summary>
    private void ReleaseCommitted(in Allocation a)
    {
        var item = _skuSlots[a.Item];
        ref var row = ref item.Rows[a.RowIndex];
        row.Committed -= a.Quantity;
        Invariant.That(row.Committed >= 0, "committed is never negative");
        EmitStock(EventKind.StockChanged, item, row);
    }

    private void CommitAvailable(in Allocation a)
    {
        var item = _skuSlots[a.Item];
        ref var row = ref item.Rows[a.RowIndex];
        Invariant.That(a.Quantity > 0 && row.Available >= a.Quantity, "a late payment never oversells");
        row.Committed += a.Quantity;
        EmitStock(EventKind.StockChanged, item, row);
    }

    private void ShipCommitted(in Allocation a)
    {
        var item = _skuSlots[a.Item];
        ref var row = ref item.Rows[a.RowIndex];
        row.Committed -= a.Quantity;
        // After a shortfall (the warehouse counted fewer units than were sold) the shipment still left, so the
        // count it contradicts ends at zero rather than below: a negative shelf would refuse the next receipt.
        var shipped = Math.Min(a.Quantity, Math.Max(0, row.OnHand));
        row.OnHand -= shipped;
        _onHandLedger -= shipped;
        Invariant.That(row.Committed >= 0, "committed is never negative");
        EmitStock(EventKind.StockChanged, item, row);
    }
}
