namespace Wildberries.Core;

/// <summary>
/// The deterministic heart of one shard: stock, reservations and orders. Commands go in (with their log sequence
/// number and timestamp), a <see cref="CommandResult"/> and events come out. No I/O, no clock, no randomness, no
/// threads: applying the same commands to a fresh instance always gives the same state (<see cref="ComputeStateHash"/>).
/// </summary>
/// <remarks>Not thread-safe by design: one writer thread owns it (LMAX's single-writer principle).</remarks>
public sealed partial class ReservationStateMachine
{
    private readonly StateMachineOptions _options;
    // Every SKU, by slot (allocations name SKUs by slot) and by number.
    private readonly SkuTable _skus;

    // SKUs in the catalog, ordered, for keyset paging; changes only when an item is first upserted.
    private readonly CatalogIndex _catalog = new();
    private readonly OrderStore _store;

    // The orders held (live and within their retention window), by id: their slots in the store.
    private readonly SlotTable _orders;
    // Idempotency keys remembered: the slot of the order each made; the key, its fingerprint and expiry are in the record.
    private readonly SlotTable _idempotency;
    private readonly Dictionary<string, TransactionEntry> _transactions;

    // Checkout deadlines (now + the fixed reservation TTL, with a clock that only grows) come in deadline order, then
    // id order: a first-in first-out queue of store handles holds them, 8 bytes each; the deadline is the record's
    // (while it is marked InCheckoutQueue). Every other deadline (extended orders, holds, some restored ones) is in a
    // heap by (deadline, id); an extended order leaves the queue (its entry is skipped when it surfaces), as does
    // one whose order has been freed since. Expiry takes from both in (deadline, id) order.
    private readonly Queue<long> _checkoutExpiries;
    private readonly PriorityQueue<long, (long DeadlineMs, ulong Id)> _expiries;

    // Timestamps only grow, so first-in is first-out for fixed windows: eviction never scans.
    private readonly Queue<(long EvictAtMs, long Handle)> _terminalOrders;
    // Keyed orders in the order their keys expire (a fixed window from a clock that only grows), as store handles.
    private readonly Queue<long> _idempotencyKeys;
    private readonly Queue<(long EvictAtMs, string TransactionId)> _transactionIds;

    private EventBuffer _events = new();
    private long _lsn;
    private long _nowMs;
    private long _orderSequence;
    private int _eventIndex;

    // Invariant 6: the sum of every row's on-hand count, moved only by stock adjustments and shipments, so that
    // VerifyInvariants catches any other code path that touches on-hand. Int128: a billion rows at the limit fit.
    private Int128 _onHandLedger;

    /// <summary>Creates an empty shard state.</summary>
    public ReservationStateMachine(StateMachineOptions? options = null)
        : this(options, 0, 0, 0, 0)
    {
    }

    // Sized for the options' hints, or for the given orders, SKUs, allocations and key bytes when more (a restore
    // knows what is coming).
    private ReservationStateMachine(StateMachineOptions? options, int ordersAtLeast, int skusAtLeast, int allocations, long keyBytes)
    {
        _options = (options ?? new StateMachineOptions()).Validate();
        // What every pending order needs is sized up front, so that steady traffic never pays for a rehash of millions
        // of entries on the writer thread; what only some orders need (payments, retention, extensions) grows as used.
        var orders = Math.Max(_options.OrdersCapacityHint, ordersAtLeast);
        var skus = Math.Max(_options.SkusCapacityHint, skusAtLeast);
        // Mapped now unless told not to: otherwise the writer takes a page fault at the first write of every page of
        // these tables under the first load (the slot tables are written at random), 100-250 ms at a flash sale's rate.
        var commit = _options.CommitTablesUpFront;
        _skus = new SkuTable(skus, commit);
        _store = new OrderStore(orders, allocations, keyBytes, commit);
        _orders = new SlotTable(orders, commit);
        _idempotency = new SlotTable(orders, commit);
        _transactions = new Dictionary<string, TransactionEntry>(StringComparer.Ordinal);
        _checkoutExpiries = new Queue<long>(orders);
        _expiries = new PriorityQueue<long, (long, ulong)>();
        _terminalOrders = new Queue<(long, long)>();
        _idempotencyKeys = new Queue<long>(orders);
        _transactionIds = new Queue<(long, string)>();
    }

    /// <summary>The options this state machine enforces.</summary>
    public StateMachineOptions Options => _options;

    /// <summary>The log sequence number of the last command applied.</summary>
    public long LastLsn => _lsn;

    /// <summary>The state machine's clock: the newest command timestamp seen (Unix ms).</summary>
    public long NowMs => _nowMs;

    /// <summary>Orders held in memory (live and within their retention window).</summary>
    public int OrderCount => _orders.Count;

    /// <summary>Orders waiting for payment.</summary>
    public int PendingOrderCount { get; private set; }

    /// <summary>Idempotency keys remembered.</summary>
    public int IdempotencyKeyCount => _idempotency.Count;

    /// <summary>The earliest reservation deadline (Unix ms), or <see cref="long.MaxValue"/> when none is pending.</summary>
    public long NextExpiryMs => NextExpiry(out _, out _);

    /// <summary>
    /// Applies one command. <see cref="Command.Lsn"/> must be the next sequence number; events go to
    /// <paramref name="events"/>, which the caller clears when it has published them.
    /// </summary>
    public CommandResult Apply(in Command command, EventBuffer events)
    {
        ArgumentNullException.ThrowIfNull(events);
        Invariant.That(command.Lsn == _lsn + 1, "commands are applied in log order without gaps");
        _lsn = command.Lsn;
        _events = events;
        _eventIndex = 0;
        var keyHash = command.Kind == CommandKind.Checkout ? PrefetchCheckout(command, 1) : 0;
        AdvanceClock(command.TimestampMs);

        // The edge checked these rules before journaling; checking again means no entry, however it was made, can
        // stop the shard: a refused command is a result, and time still passed.
        if (CommandRules.IsRefused(command, _options, out var refusal)) return refusal;
        var result = command.Kind switch
        {
            CommandKind.UpsertItem => UpsertItem(command),
            CommandKind.AdjustStock => AdjustStock(command),
            CommandKind.Checkout => Checkout(command, keyHash),
            CommandKind.AttachPayment => AttachPayment(command),
            CommandKind.PaymentResult => PaymentResult(command),
            CommandKind.Cancel => Cancel(command),
            CommandKind.Extend => Extend(command),
            CommandKind.Ship => Ship(command),
            CommandKind.ConfirmOrder => ConfirmOrder(command),
            CommandKind.AbortOrder => AbortOrder(command),
            CommandKind.RepayOutcome => RepayOutcome(command),
            CommandKind.HoldStock => HoldStock(command),
            CommandKind.ConfirmHold => ConfirmHold(command),
            CommandKind.ReleaseHold => ReleaseHold(command),
            CommandKind.CommitHold => CommitHold(command),
            CommandKind.ShipHold => ShipHold(command),
            _ => CommandResult.Of(ResultCode.Ok), // a tick: time passed above
        };

        if (_options.VerifyInvariantsEveryCommand) VerifyInvariants();
        return result;
    }

    /// <summary>
    /// Asks for what a checkout will read first from its large tables (the key's bucket, the new order's bucket, the
    /// first lines' SKU buckets) before it is checked; returns the key's hash (0 without a key: the checks refuse it).
    /// Waits for nothing: the SKU records, which only their buckets locate, are asked for when the checkout starts
    /// (<see cref="PrefetchSkuRecords"/>), after the checks, by when the buckets are in.
    /// </summary>
    private int PrefetchCheckout(in Command c, int ordersAhead)
    {
        if (c.Text is not { } key || key.Length > _options.IdempotencyKeyLengthMax) return 0; // refused by the checks
        var keyHash = KeyHash(key);
        _idempotency.Prefetch(keyHash);
        if (_orderSequence <= OrderId.SequenceMax - ordersAhead) _orders.Prefetch(IdHash(OrderId.Create(_options.ShardId, _orderSequence + ordersAhead)));
        if (c.Lines is not { } lines) return keyHash;
        for (var i = 0; i < lines.Length && i < 4; i++) _skus.Prefetch(lines[i].Sku);
        return keyHash;
    }

    /// <summary>
    /// Asks for the records of the first lines' SKUs (number, price and rows, which every line reads and writes),
    /// located through their buckets (asked for by <see cref="PrefetchCheckout"/>); the checkout's fingerprint and
    /// key look-up run while they load.
    /// </summary>
    private void PrefetchSkuRecords(CheckoutLine[] lines)
    {
        for (var i = 0; i < lines.Length && i < 4; i++) _skus.PrefetchRecord(lines[i].Sku);
    }

    /// <summary>
    /// A hint that <paramref name="next"/> is the command applied after the one being applied now (the ring's next
    /// slot): starts loading the cache lines a checkout reads first from the large tables, so that they arrive while
    /// the current command is applied instead of when <paramref name="next"/> needs them. Changes no state; any
    /// command, even one the checks will refuse, is fine; calling it or not never changes a result.
    /// </summary>
    public void Prefetch(in Command next)
    {
        // If the current command makes an order, the next one's is the one after.
        if (next.Kind == CommandKind.Checkout) PrefetchCheckout(next, 2);
    }

    /// <summary>Time passes: reservations whose deadline has come expire; old terminal orders and keys are evicted.</summary>
    private void AdvanceClock(long timestampMs)
    {
        // The journal stage assigns non-decreasing timestamps; an older one (a clock step back) does not rewind time,
        // and one beyond year 9999 (a broken clock) does not advance it, so deadlines and windows never overflow.
        if (timestampMs > _nowMs && timestampMs <= StateMachineOptions.TimestampMsMax) _nowMs = timestampMs;
        ExpireDue();
        EvictRetired();
    }

    private void Emit(EventKind kind, in OrderRecord order, string? transactionId = null, long amount = -1) =>
        _events.Add(new EngineEvent
        {
            Kind = kind, Shard = _options.ShardId, Lsn = _lsn, Index = _eventIndex++, TimestampMs = _nowMs,
            OrderId = order.Id, Amount = amount < 0 ? order.Amount : amount, TransactionId = transactionId,
        });

    /// <summary>Money arrived for an order this shard no longer holds (unknown or evicted): it must go back.</summary>
    private void EmitOrphanRefund(OrderId orderId, long amount, string transactionId) =>
        _events.Add(new EngineEvent
        {
            Kind = EventKind.RefundRequired, Shard = _options.ShardId, Lsn = _lsn, Index = _eventIndex++, TimestampMs = _nowMs,
            OrderId = orderId, Amount = amount, TransactionId = transactionId,
        });

    private void EmitStock(EventKind kind, long sku, in StockRow row) =>
        _events.Add(new EngineEvent
        {
            Kind = kind, Shard = _options.ShardId, Lsn = _lsn, Index = _eventIndex++, TimestampMs = _nowMs,
            Sku = sku, WarehouseId = row.WarehouseId, OnHand = row.OnHand, Reserved = row.Reserved, Committed = row.Committed,
        });

    private void MoveTo(int slot, OrderStatus next)
    {
        ref var order = ref _store[slot];
        Invariant.That(order.IsHold ? OrderTransitions.IsAllowedForHold(order.Status, next) : OrderTransitions.IsAllowed(order.Status, next), "order states only move along the arrows");
        if (!order.IsHold && order.Status == OrderStatus.PendingPayment) PendingOrderCount--;
        if (!order.IsHold && next == OrderStatus.PendingPayment) PendingOrderCount++;
        order.Status = next;
        if (OrderTransitions.IsTerminal(next))
        {
            order.TerminalAtMs = _nowMs;
            _terminalOrders.Enqueue((_nowMs + _options.TerminalOrderRetentionMs, _store.Handle(slot)));
        }
    }

    private bool OwnsSku(long sku) => ShardRouter.ShardOf(sku, _options.ShardCount) == _options.ShardId;

    // Pending orders, preparing ones and unconfirmed holds expire; a confirmed hold follows its home instead.
    private static bool IsLiveDeadline(in OrderRecord order, long deadlineMs) =>
        order.Status is OrderStatus.PendingPayment or OrderStatus.Preparing && order.ReservedUntilMs == deadlineMs && !order.HoldConfirmed;
}
