namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    // Scratch for ordering a SKU's warehouses during allocation; grows to the widest SKU, then never again.
    private int[] _candidates = new int[16];

    // The SKU slot of each line of the checkout being applied, looked up once (-1: a line of another shard).
    private int[] _lineItems = new int[16];

    // The allocations of the order being made (or paid again), before they are copied into the store's slab.
    private Allocation[] _allocationScratch = new Allocation[16];
    private int _allocationScratchCount;

    /// <summary>
    /// Reserves every line or none. Validates everything first, then checks every line's availability, and only
    /// then touches stock, so a failure never leaves a partial reservation behind (invariant 3).
    /// </summary>
    private CommandResult Checkout(in Command c, int keyHash)
    {
        var lines = c.Lines!;
        var key = c.IdempotencyKey!;
        PrefetchSkuRecords(lines);
        var fingerprint = Fingerprint(c);
        if (FindKey(key, keyHash) is var seen and >= 0)
        {
            if (_store[seen].Fingerprint != fingerprint)
            {
                return new CommandResult { Code = ResultCode.IdempotencyKeyReused, OrderId = _store[seen].Id, Field = "idempotencyKey" };
            }
            return Describe(_store[seen]) with { Replayed = true };
        }

        // Lines of other shards (a cross-shard cart, at home here) are held there in a second phase.
        var refused = ResolveLines(lines, c.Warehouses, allowForeign: true, out var foreign);
        if (refused.HasValue) return refused.Value;
        if (foreign == lines.Length) return new CommandResult { Code = ResultCode.WrongShard, Field = CommandRules.LineField(0, "sku") };

        var slot = _store.Add();
        ref var order = ref _store[slot];
        order.Id = OrderId.Create(_options.ShardId, ++_orderSequence);
        order.CustomerId = c.CustomerId!;
        _store.SetKey(ref order, key);
        order.PaymentMethod = c.PaymentMethod;
        order.CreatedAtMs = _nowMs;
        order.ReservedUntilMs = _nowMs + _options.ReservationTtlMs;
        order.Fingerprint = fingerprint;
        order.LineCount = lines.Length - foreign;
        order.Amount = AllocateLines(ref order, lines, c.Warehouses);
        if (foreign > 0)
        {
            order.More.RemoteShards = RemoteShardsOf(lines);
            order.More.RemoteLineCount = foreign;
        }

        MoveTo(slot, foreign > 0 ? OrderStatus.Preparing : OrderStatus.PendingPayment);
        order.Held = true;
        IndexOrder(slot);
        var handle = _store.Handle(slot);
        // now + the TTL: never earlier than any deadline queued before (see _checkoutExpiries).
        order.InCheckoutQueue = true;
        _checkoutExpiries.Enqueue(handle);
        // The key expires at CreatedAtMs + the idempotency window (KeyExpiresAt).
        RememberKey(slot, keyHash);
        // A cross-shard order is created (and announced) when its home confirms it, after every hold is in place.
        if (foreign == 0) Emit(EventKind.OrderCreated, order);
        return Describe(order);
    }

    /// <summary>
    /// Looks up the SKU of every line this shard owns (into <see cref="_lineItems"/>; -1 for lines of other shards
    /// when <paramref name="allowForeign"/>) and checks catalog, cap and availability, all before any stock moves.
    /// </summary>
    private CommandResult? ResolveLines(CheckoutLine[] lines, int[]? warehouses, bool allowForeign, out int foreign)
    {
        foreign = 0;
        if (_lineItems.Length < lines.Length) _lineItems = new int[Math.Max(lines.Length, _lineItems.Length * 2)];
        var items = _lineItems;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            items[i] = -1;
            if (!OwnsSku(line.Sku))
            {
                if (!allowForeign) return new CommandResult { Code = ResultCode.WrongShard, Field = CommandRules.LineField(i, "sku") };
                foreign++;
                continue;
            }
            var slot = _skus.Find(line.Sku);
            if (slot < 0 || !_skus[slot].InCatalog)
            {
                return new CommandResult { Code = ResultCode.UnknownSku, Field = CommandRules.LineField(i, "sku") };
            }
            ref var item = ref _skus[slot];
            if (!item.Active) return new CommandResult { Code = ResultCode.SkuInactive, Field = CommandRules.LineField(i, "sku") };
            if (line.Quantity > item.MaxPerOrder) return new CommandResult { Code = ResultCode.OverMaxPerOrder, Field = CommandRules.LineField(i, "qty") };
            items[i] = slot;
        }

        var shortCount = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            if (items[i] >= 0 && AvailableFor(items[i], warehouses) < lines[i].Quantity) shortCount++;
        }
        return shortCount > 0 ? Shortages(lines, warehouses, shortCount) : null;
    }

    /// <summary>Reserves every resolved line of <see cref="_lineItems"/> for <paramref name="order"/>; returns their amount.</summary>
    private long AllocateLines(ref OrderRecord order, CheckoutLine[] lines, int[]? warehouses)
    {
        long amount = 0;
        _allocationScratchCount = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var item = _lineItems[i];
            if (item < 0) continue;
            var price = _skus[item].Price;
            Allocate(item, lines[i].Quantity, price, warehouses, commit: false);
            amount = checked(amount + (price * lines[i].Quantity));
        }
        _store.SetAllocations(ref order, _allocationScratch.AsSpan(0, _allocationScratchCount));
        return amount;
    }

    /// <summary>What a line could reserve: over the preferred warehouses only, or over all of the SKU's.</summary>
    private long AvailableFor(int item, int[]? warehouses)
    {
        if (warehouses is null) return _skus.TotalAvailable(item);
        long total = 0;
        foreach (var w in warehouses)
        {
            var r = _skus.FindRow(item, w);
            if (r >= 0) total += Math.Max(0, _skus.Row(item, r).Available);
        }
        return total;
    }

    private CommandResult Shortages(CheckoutLine[] lines, int[]? warehouses, int shortCount)
    {
        var shortages = new Shortage[shortCount];
        var k = 0;
        foreach (var line in lines)
        {
            if (!OwnsSku(line.Sku)) continue;
            var available = AvailableFor(_skus.Find(line.Sku), warehouses);
            if (available < line.Quantity) shortages[k++] = new Shortage(line.Sku, line.Quantity, available);
        }
        return new CommandResult { Code = ResultCode.InsufficientStock, Shortages = shortages };
    }

    /// <summary>
    /// Takes <paramref name="quantity"/> units of one SKU: all from the first candidate warehouse that has enough,
    /// otherwise split across candidates in order. Candidates are the preference list, or every warehouse by most
    /// available first (ties: lower warehouse id). The caller has checked that enough is available.
    /// </summary>
    /// <remarks>The allocations are appended to <see cref="_allocationScratch"/>.</remarks>
    private void Allocate(int item, int quantity, long unitPrice, int[]? preference, bool commit)
    {
        var n = FillCandidates(item, preference);
        var start = _allocationScratchCount;
        for (var k = 0; k < n; k++)
        {
            if (_skus.Row(item, _candidates[k]).Available >= quantity)
            {
                AddScratch(new Allocation { Item = item, RowIndex = _candidates[k], Quantity = quantity, UnitPrice = unitPrice });
                break;
            }
        }
        if (_allocationScratchCount == start)
        {
            var remaining = quantity;
            for (var k = 0; k < n && remaining > 0; k++)
            {
                var available = _skus.Row(item, _candidates[k]).Available;
                if (available <= 0) continue;
                var take = (int)Math.Min(available, remaining);
                AddScratch(new Allocation { Item = item, RowIndex = _candidates[k], Quantity = take, UnitPrice = unitPrice });
                remaining -= take;
            }
            Invariant.That(remaining == 0, "a line is allocated only after its availability was checked");
        }
        for (var i = start; i < _allocationScratchCount; i++)
        {
            if (commit) CommitAvailable(_allocationScratch[i]);
            else Reserve(_allocationScratch[i]);
        }
    }

    private void AddScratch(in Allocation a)
    {
        if (_allocationScratchCount == _allocationScratch.Length) Array.Resize(ref _allocationScratch, _allocationScratch.Length * 2);
        _allocationScratch[_allocationScratchCount++] = a;
    }

    private int FillCandidates(int item, int[]? preference)
    {
        var rowCount = _skus[item].RowCount;
        if (_candidates.Length < Math.Max(rowCount, preference?.Length ?? 0))
        {
            _candidates = new int[Math.Max(rowCount, preference?.Length ?? 0) * 2];
        }
        var n = 0;
        if (preference is not null)
        {
            foreach (var w in preference)
            {
                var r = _skus.FindRow(item, w);
                if (r >= 0) _candidates[n++] = r;
            }
            return n;
        }
        // Insertion sort: a SKU sits in a handful of warehouses.
        for (var r = 0; r < rowCount; r++)
        {
            var j = n++;
            while (j > 0 && Before(_skus.Row(item, r), _skus.Row(item, _candidates[j - 1])))
            {
                _candidates[j] = _candidates[j - 1];
                j--;
            }
            _candidates[j] = r;
        }
        return n;

        static bool Before(in StockRow a, in StockRow b) =>
            a.Available > b.Available || (a.Available == b.Available && a.WarehouseId < b.WarehouseId);
    }

    /// <summary>The request's identity for idempotency: same key and same fingerprint means the same request.</summary>
    private static ulong Fingerprint(in Command c)
    {
        var h = new StateHash(0xC0FFEE);
        h.Add(c.CustomerId);
        h.Add(c.PaymentMethod);
        foreach (var line in c.Lines!)
        {
            h.Add(line.Sku);
            h.Add(line.Quantity);
        }
        h.Add(c.Warehouses?.Length ?? -1);
        if (c.Warehouses is not null)
        {
            foreach (var w in c.Warehouses) h.Add(w);
        }
        return h.Value;
    }

    private static CommandResult Describe(in OrderRecord order) => new()
    {
        Code = ResultCode.Ok,
        OrderId = order.Id,
        Status = order.Status,
        Value = order.Amount,
        ReservedUntilMs = order.Status is OrderStatus.PendingPayment or OrderStatus.Preparing ? order.ReservedUntilMs : 0,
        PaymentSessionId = order.PaymentSessionId,
    };
}
