using Wildberries.Core;

namespace Wildberries.Core.Tests;

/// <summary>
/// An obviously-correct model of the reservation rules: plain lists, linear scans, and reserved/committed never
/// stored but summed from the orders each time. Slow on purpose; the state machine must agree with it exactly.
/// </summary>
internal sealed class ReferenceModel(StateMachineOptions options)
{
    internal sealed class MLine
    {
        public long Sku;
        public int Qty;
        public long Price;
        public List<(int Wh, int Qty)> Allocs = [];
    }

    internal sealed class MOrder
    {
        public OrderId Id;
        public OrderStatus Status;
        public string Customer = "";
        public string Request = "";
        public long Amount;
        public long ReservedUntil;
        public long TerminalAt;
        public string? Session;
        public string? PaidTx;
        public List<MLine> Lines = [];
    }

    private readonly Dictionary<long, (long Price, int Max, bool Active)> _items = [];
    private readonly Dictionary<(long Sku, int Wh), long> _onHand = [];
    private readonly Dictionary<string, (MOrder Order, string Request, long Expires)> _keys = [];
    // Per transaction: the first answer to its failure and to its success, the order, and when it is forgotten.
    private readonly Dictionary<string, (CommandResult? Failed, CommandResult? Succeeded, OrderId Id, long Expires)> _txs = [];
    private long _seq;

    public long Now { get; private set; }

    public List<MOrder> Orders { get; } = [];

    /// <summary>Every order ever created (also evicted ones), for picking targets of later commands.</summary>
    public List<MOrder> Created { get; } = [];

    public long Reserved(long sku, int wh) => Sum(sku, wh, OrderStatus.PendingPayment);

    public long Committed(long sku, int wh) => Sum(sku, wh, OrderStatus.Paid);

    private long Sum(long sku, int wh, OrderStatus status) =>
        Orders.Where(o => o.Status == status).SelectMany(o => o.Lines).Where(l => l.Sku == sku)
            .SelectMany(l => l.Allocs).Where(a => a.Wh == wh).Sum(a => (long)a.Qty);

    private long Avail(long sku, int wh) => _onHand[(sku, wh)] - Reserved(sku, wh) - Committed(sku, wh);

    public IEnumerable<StockLevel> Stock() =>
        _onHand.OrderBy(kv => kv.Key.Sku).ThenBy(kv => kv.Key.Wh)
            .Select(kv => new StockLevel(kv.Key.Sku, kv.Key.Wh, kv.Value, Reserved(kv.Key.Sku, kv.Key.Wh), Committed(kv.Key.Sku, kv.Key.Wh)));

    public CommandResult Apply(in Command c)
    {
        Now = Math.Max(Now, c.TimestampMs);
        foreach (var o in Orders.Where(o => o.Status == OrderStatus.PendingPayment && o.ReservedUntil <= Now).ToList())
        {
            Finish(o, OrderStatus.Expired);
        }
        Orders.RemoveAll(o => OrderTransitions.IsTerminal(o.Status) && o.TerminalAt + options.TerminalOrderRetentionMs <= Now);
        foreach (var k in _keys.Where(k => k.Value.Expires <= Now).Select(k => k.Key).ToList()) _keys.Remove(k);
        foreach (var k in _txs.Where(k => k.Value.Expires <= Now).Select(k => k.Key).ToList()) _txs.Remove(k);

        return c.Kind switch
        {
            CommandKind.UpsertItem => Upsert(c),
            CommandKind.AdjustStock => Adjust(c),
            CommandKind.Checkout => Checkout(c),
            CommandKind.AttachPayment => Attach(c),
            CommandKind.PaymentResult => Pay(c),
            CommandKind.Cancel => Cancel(c),
            CommandKind.Extend => Extend(c),
            CommandKind.Ship => Ship(c),
            _ => CommandResult.Of(ResultCode.Ok),
        };
    }

    private void Finish(MOrder o, OrderStatus status)
    {
        o.Status = status;
        o.TerminalAt = Now;
    }

    private CommandResult Upsert(in Command c)
    {
        if (c.Sku <= 0) return CommandResult.Invalid("sku");
        if (string.IsNullOrEmpty(c.Name)) return CommandResult.Invalid("name");
        if (c.Price < 0 || c.Price > options.PriceMax) return CommandResult.Invalid("price");
        if (c.Expected < 1 || c.Expected > options.QuantityPerLineMax) return CommandResult.Invalid("maxPerOrder");
        _items[c.Sku] = (c.Price, (int)c.Expected, c.Flag);
        return new CommandResult { Value = c.Price };
    }

    private CommandResult Adjust(in Command c)
    {
        if (c.Sku <= 0) return CommandResult.Invalid("sku");
        if (c.WarehouseId <= 0) return CommandResult.Invalid("warehouseId");
        if (c.Flag && (c.Value < 0 || c.Value > options.OnHandMax)) return CommandResult.Invalid("onHand");
        if (!c.Flag && (c.Value == 0 || Math.Abs(c.Value) > options.OnHandMax)) return CommandResult.Invalid("delta");
        if (c.HasExpected && (!c.Flag || c.Expected < 0)) return CommandResult.Invalid("expectedOnHand");
        var current = _onHand.GetValueOrDefault((c.Sku, c.WarehouseId));
        if (c.HasExpected && c.Expected != current) return new CommandResult { Code = ResultCode.OnHandMismatch, Value = current };
        var next = c.Flag ? c.Value : current + c.Value;
        if (next < 0 || next > options.OnHandMax) return new CommandResult { Code = ResultCode.OnHandOutOfRange, Value = current };
        _onHand[(c.Sku, c.WarehouseId)] = next;
        return new CommandResult { Value = next };
    }

    private static CommandResult Describe(MOrder o) => new()
    {
        OrderId = o.Id, Status = o.Status, Value = o.Amount,
        ReservedUntilMs = o.Status == OrderStatus.PendingPayment ? o.ReservedUntil : 0, PaymentSessionId = o.Session,
    };

    private long AvailFor(long sku, int[]? whs)
    {
        var rows = _onHand.Keys.Where(k => k.Sku == sku && (whs is null || whs.Contains(k.Wh)));
        return rows.Sum(k => Math.Max(0, Avail(k.Sku, k.Wh)));
    }

    private List<(int Wh, int Qty)> Allocate(long sku, int qty, int[]? whs)
    {
        var candidates = whs is not null
            ? whs.Where(w => _onHand.ContainsKey((sku, w))).ToList()
            : _onHand.Keys.Where(k => k.Sku == sku).Select(k => k.Wh).OrderByDescending(w => Avail(sku, w)).ThenBy(w => w).ToList();
        foreach (var w in candidates)
        {
            if (Avail(sku, w) >= qty) return [(w, qty)];
        }
        var result = new List<(int, int)>();
        var remaining = qty;
        foreach (var w in candidates)
        {
            var take = (int)Math.Min(Math.Max(0, Avail(sku, w)), remaining);
            if (take > 0) result.Add((w, take));
            remaining -= take;
        }
        return result;
    }

    private CommandResult Checkout(in Command c)
    {
        var lines = c.Lines!;
        if (!Validate.IsKey(c.IdempotencyKey, options.IdempotencyKeyLengthMax)) return CommandResult.Invalid("idempotencyKey");
        if (string.IsNullOrEmpty(c.CustomerId)) return CommandResult.Invalid("customerId");
        if (lines.Length == 0 || lines.Length > options.LinesPerCheckoutMax) return CommandResult.Invalid("lines");
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Sku <= 0) return CommandResult.Invalid($"lines[{i}].sku");
            if (lines[i].Quantity < 1 || lines[i].Quantity > options.QuantityPerLineMax) return CommandResult.Invalid($"lines[{i}].qty");
            if (lines.Take(i).Any(l => l.Sku == lines[i].Sku)) return new CommandResult { Code = ResultCode.DuplicateSku, Field = $"lines[{i}].sku" };
        }
        var whs = c.Warehouses;
        if (whs is not null)
        {
            if (whs.Length == 0) return CommandResult.Invalid("warehouses");
            for (var i = 0; i < whs.Length; i++)
            {
                if (whs[i] <= 0 || whs.Take(i).Contains(whs[i])) return CommandResult.Invalid($"warehouses[{i}]");
            }
        }

        var request = $"{c.CustomerId}|{c.PaymentMethod}|{string.Join(",", lines)}|{(whs is null ? "-" : string.Join(",", whs))}";
        if (_keys.TryGetValue(c.IdempotencyKey!, out var seen))
        {
            return seen.Request == request
                ? Describe(seen.Order) with { Replayed = true }
                : new CommandResult { Code = ResultCode.IdempotencyKeyReused, OrderId = seen.Order.Id, Field = "idempotencyKey" };
        }
        for (var i = 0; i < lines.Length; i++)
        {
            if (!_items.TryGetValue(lines[i].Sku, out var item)) return new CommandResult { Code = ResultCode.UnknownSku, Field = $"lines[{i}].sku" };
            if (!item.Active) return new CommandResult { Code = ResultCode.SkuInactive, Field = $"lines[{i}].sku" };
            if (lines[i].Quantity > item.Max) return new CommandResult { Code = ResultCode.OverMaxPerOrder, Field = $"lines[{i}].qty" };
        }
        var shortages = lines.Where(l => AvailFor(l.Sku, whs) < l.Quantity).Select(l => new Shortage(l.Sku, l.Quantity, AvailFor(l.Sku, whs))).ToArray();
        if (shortages.Length > 0) return new CommandResult { Code = ResultCode.InsufficientStock, Shortages = shortages };

        var order = new MOrder
        {
            Id = OrderId.Create(options.ShardId, ++_seq), Status = OrderStatus.PendingPayment, Customer = c.CustomerId!,
            Request = request, ReservedUntil = Now + options.ReservationTtlMs,
        };
        foreach (var l in lines)
        {
            var price = _items[l.Sku].Price;
            order.Lines.Add(new MLine { Sku = l.Sku, Qty = l.Quantity, Price = price, Allocs = Allocate(l.Sku, l.Quantity, whs) });
            order.Amount += price * l.Quantity;
        }
        Orders.Add(order);
        Created.Add(order);
        _keys[c.IdempotencyKey!] = (order, request, Now + options.IdempotencyWindowMs);
        return Describe(order);
    }

    private MOrder? Find(OrderId id, string? customer) =>
        Orders.FirstOrDefault(o => o.Id == id && (customer is null || o.Customer == customer));

    private CommandResult Attach(in Command c)
    {
        if (!Validate.IsKey(c.PaymentSessionId, options.IdempotencyKeyLengthMax)) return CommandResult.Invalid("paymentSessionId");
        var o = Find(c.OrderId, null);
        if (o is null) return new CommandResult { Code = ResultCode.OrderNotFound, OrderId = c.OrderId };
        if (o.Session is not null) return Describe(o) with { Replayed = true };
        if (o.Status != OrderStatus.PendingPayment) return new CommandResult { Code = ResultCode.InvalidState, OrderId = o.Id, Status = o.Status };
        o.Session = c.PaymentSessionId;
        return Describe(o);
    }

    private CommandResult Pay(in Command c)
    {
        if (!Validate.IsKey(c.TransactionId, options.IdempotencyKeyLengthMax)) return CommandResult.Invalid("txId");
        if (c.Amount < 0) return CommandResult.Invalid("amount");
        if (c.Currency is not { Length: 3 }) return CommandResult.Invalid("currency");
        var known = _txs.TryGetValue(c.TransactionId!, out var seen);
        if (known)
        {
            if (seen.Id != c.OrderId) return CommandResult.Invalid("txId");
            var first = c.Flag ? seen.Succeeded : seen.Failed;
            if (first is { } f) return f with { Replayed = true };
        }
        else
        {
            seen = (null, null, c.OrderId, Now + options.IdempotencyWindowMs);
        }
        var o = Find(c.OrderId, null);
        CommandResult result;
        if (o is null)
        {
            if (!c.Flag) return new CommandResult { Code = ResultCode.OrderNotFound, OrderId = c.OrderId };
            // Money for an order nobody holds goes back.
            result = new CommandResult { Code = ResultCode.RefundRequired, OrderId = c.OrderId, Value = c.Amount };
        }
        else if (!c.Flag)
        {
            if (o.Status == OrderStatus.PendingPayment) Finish(o, OrderStatus.Cancelled);
            result = Describe(o);
        }
        else if (c.Currency != options.Currency)
        {
            result = new CommandResult { Code = ResultCode.CurrencyMismatch, OrderId = o.Id, Status = o.Status, Value = o.Amount };
        }
        else if (c.Amount != o.Amount)
        {
            result = new CommandResult { Code = ResultCode.AmountMismatch, OrderId = o.Id, Status = o.Status, Value = o.Amount };
        }
        else if (o.Status == OrderStatus.PendingPayment)
        {
            o.Status = OrderStatus.Paid;
            o.PaidTx = c.TransactionId;
            result = Describe(o);
        }
        else if (o.Status is OrderStatus.Expired or OrderStatus.Cancelled)
        {
            if (o.Lines.All(l => AvailFor(l.Sku, null) >= l.Qty))
            {
                var fresh = o.Lines.Select(l => Allocate(l.Sku, l.Qty, null)).ToList();
                for (var i = 0; i < o.Lines.Count; i++) o.Lines[i].Allocs = fresh[i];
                o.Status = OrderStatus.Paid;
                o.PaidTx = c.TransactionId;
                result = Describe(o);
            }
            else
            {
                Finish(o, OrderStatus.RefundRequired);
                o.PaidTx = c.TransactionId;
                result = new CommandResult { Code = ResultCode.RefundRequired, OrderId = o.Id, Status = o.Status, Value = o.Amount };
            }
        }
        else
        {
            result = new CommandResult { Code = ResultCode.AlreadyPaid, OrderId = o.Id, Status = o.Status, Value = o.Amount };
        }
        // A refused amount or currency leaves no trace: the corrected event may use the same transaction id.
        if (result.Code is ResultCode.AmountMismatch or ResultCode.CurrencyMismatch) return result;
        _txs[c.TransactionId!] = c.Flag ? seen with { Succeeded = result } : seen with { Failed = result };
        return result;
    }

    private CommandResult Cancel(in Command c)
    {
        var o = Find(c.OrderId, c.CustomerId);
        if (o is null) return new CommandResult { Code = ResultCode.OrderNotFound, OrderId = c.OrderId };
        if (o.Status == OrderStatus.Cancelled) return Describe(o) with { Replayed = true };
        if (o.Status != OrderStatus.PendingPayment) return new CommandResult { Code = ResultCode.InvalidState, OrderId = o.Id, Status = o.Status };
        Finish(o, OrderStatus.Cancelled);
        return Describe(o);
    }

    private CommandResult Extend(in Command c)
    {
        if (c.TtlMs < StateMachineOptions.ReservationTtlMsMin || c.TtlMs > StateMachineOptions.ReservationTtlMsMax) return CommandResult.Invalid("ttlMs");
        var o = Find(c.OrderId, c.CustomerId);
        if (o is null) return new CommandResult { Code = ResultCode.OrderNotFound, OrderId = c.OrderId };
        if (o.Status != OrderStatus.PendingPayment) return new CommandResult { Code = ResultCode.InvalidState, OrderId = o.Id, Status = o.Status };
        o.ReservedUntil = Now + c.TtlMs;
        return Describe(o);
    }

    private CommandResult Ship(in Command c)
    {
        var o = Find(c.OrderId, null);
        if (o is null) return new CommandResult { Code = ResultCode.OrderNotFound, OrderId = c.OrderId };
        if (o.Status == OrderStatus.Fulfilled) return Describe(o) with { Replayed = true };
        if (o.Status != OrderStatus.Paid) return new CommandResult { Code = ResultCode.InvalidState, OrderId = o.Id, Status = o.Status };
        foreach (var l in o.Lines)
        {
            foreach (var (wh, qty) in l.Allocs) _onHand[(l.Sku, wh)] = Math.Max(0, _onHand[(l.Sku, wh)] - qty);
        }
        Finish(o, OrderStatus.Fulfilled);
        return Describe(o);
    }
}
