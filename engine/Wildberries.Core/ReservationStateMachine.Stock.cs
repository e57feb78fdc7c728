namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    private CommandResult UpsertItem(in Command c)
    {
        if (!OwnsSku(c.Sku)) return CommandResult.Of(ResultCode.WrongShard);
        var slot = GetOrAddSku(c.Sku);
        ref var item = ref _skus[slot];
        if (!item.InCatalog) _catalog.Add(c.Sku);
        item.InCatalog = true;
        _skus.Name(slot) = c.Name!;
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
        var rowIndex = item >= 0 ? _skus.FindRow(item, c.WarehouseId) : -1;
        var current = rowIndex >= 0 ? _skus.Row(item, rowIndex).OnHand : 0;
        if (c.HasExpected && c.Expected != current) return new CommandResult { Code = ResultCode.OnHandMismatch, Value = current };

        var next = absolute ? c.Value : current + c.Value;
        if (next < 0 || next > _options.OnHandMax) return new CommandResult { Code = ResultCode.OnHandOutOfRange, Value = current };

        if (item < 0) item = GetOrAddSku(c.Sku);
        if (rowIndex < 0) rowIndex = _skus.AddRow(item, c.WarehouseId);
        ref var row = ref _skus.Row(item, rowIndex);
        _onHandLedger += next - row.OnHand;
        row.OnHand = next;
        EmitStock(EventKind.StockChanged, c.Sku, row);
        if (row.OnHand < row.Reserved + row.Committed) EmitStock(EventKind.StockShortfall, c.Sku, row);
        return new CommandResult { Code = ResultCode.Ok, Value = next };
    }

    /// <summary>The slot of <paramref name="sku"/>, added (out of the catalog, no rows) if new.</summary>
    private int GetOrAddSku(long sku)
    {
        var slot = _skus.Find(sku);
        return slot >= 0 ? slot : _skus.Add(sku, _options.MaxPerOrderDefault);
    }

    private void Reserve(in Allocation a)
    {
        ref var row = ref _skus.Row(a.Item, a.RowIndex);
        Invariant.That(a.Quantity > 0 && row.Available >= a.Quantity, "a reservation never makes available negative");
        row.Reserved += a.Quantity;
        EmitStock(EventKind.StockChanged, _skus[a.Item].Sku, row);
    }

    private void Release(in Allocation a)
    {
        ref var row = ref _skus.Row(a.Item, a.RowIndex);
        row.Reserved -= a.Quantity;
        Invariant.That(row.Reserved >= 0, "reserved is never negative");
        EmitStock(EventKind.StockChanged, _skus[a.Item].Sku, row);
    }

    private void CommitReserved(in Allocation a)
    {
        ref var row = ref _skus.Row(a.Item, a.RowIndex);
        row.Reserved -= a.Quantity;
        row.Committed += a.Quantity;
        Invariant.That(row.Reserved >= 0, "reserved is never negative");
        EmitStock(EventKind.StockChanged, _skus[a.Item].Sku, row);
    }

    /// <summary>Gives committed units back to available: a paid part of an order whose other parts could not be paid.</summary>
    private void ReleaseCommitted(in Allocation a)
    {
        ref var row = ref _skus.Row(a.Item, a.RowIndex);
        row.Committed -= a.Quantity;
        Invariant.That(row.Committed >= 0, "committed is never negative");
        EmitStock(EventKind.StockChanged, _skus[a.Item].Sku, row);
    }

    private void CommitAvailable(in Allocation a)
    {
        ref var row = ref _skus.Row(a.Item, a.RowIndex);
        Invariant.That(a.Quantity > 0 && row.Available >= a.Quantity, "a late payment never oversells");
        row.Committed += a.Quantity;
        EmitStock(EventKind.StockChanged, _skus[a.Item].Sku, row);
    }

    private void ShipCommitted(in Allocation a)
    {
        ref var row = ref _skus.Row(a.Item, a.RowIndex);
        row.Committed -= a.Quantity;
        // After a shortfall (the warehouse counted fewer units than were sold) the shipment still left, so the
        // count it contradicts ends at zero rather than below: a negative shelf would refuse the next receipt.
        var shipped = Math.Min(a.Quantity, Math.Max(0, row.OnHand));
        row.OnHand -= shipped;
        _onHandLedger -= shipped;
        Invariant.That(row.Committed >= 0, "committed is never negative");
        EmitStock(EventKind.StockChanged, _skus[a.Item].Sku, row);
    }
}
