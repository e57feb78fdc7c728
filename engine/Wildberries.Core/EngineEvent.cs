namespace Wildberries.Core;

/// <summary>The outbox events that the warehouse, notifications, search and caches read.</summary>
public enum EventKind : byte
{
    /// <summary>A checkout reserved stock and created an order.</summary>
    OrderCreated = 1,

    /// <summary>An order was paid: its units are committed.</summary>
    OrderPaid = 2,

    /// <summary>An order was cancelled or its payment failed.</summary>
    OrderCancelled = 3,

    /// <summary>An order's reservation ran out.</summary>
    OrderExpired = 4,

    /// <summary>An order was shipped.</summary>
    OrderFulfilled = 5,

    /// <summary>Money was taken that must go back (late payment without stock, or a second charge).</summary>
    RefundRequired = 6,

    /// <summary>A stock row changed; carries its new counts.</summary>
    StockChanged = 7,

    /// <summary>A warehouse count fell below what is reserved and committed on the row.</summary>
    StockShortfall = 8,
}

/// <summary>
/// One event. (<see cref="Shard"/>, <see cref="Lsn"/>, <see cref="Index"/>) identifies it exactly, so consumers
/// de-duplicate redeliveries.
/// </summary>
public readonly record struct EngineEvent
{
    /// <summary>What happened.</summary>
    public EventKind Kind { get; init; }

    /// <summary>The shard whose command caused it.</summary>
    public int Shard { get; init; }

    /// <summary>The log sequence number of that command.</summary>
    public long Lsn { get; init; }

    /// <summary>The event's position among the events of that command.</summary>
    public int Index { get; init; }

    /// <summary>The command's timestamp (Unix ms).</summary>
    public long TimestampMs { get; init; }

    /// <summary>The order, for order events.</summary>
    public OrderId OrderId { get; init; }

    /// <summary>The SKU, for stock events.</summary>
    public long Sku { get; init; }

    /// <summary>The warehouse, for stock events.</summary>
    public int WarehouseId { get; init; }

    /// <summary>Stock events: on-hand after the change.</summary>
    public long OnHand { get; init; }

    /// <summary>Stock events: reserved after the change.</summary>
    public long Reserved { get; init; }

    /// <summary>Stock events: committed after the change.</summary>
    public long Committed { get; init; }

    /// <summary>Order events: the order amount; refunds: the amount to return.</summary>
    public long Amount { get; init; }

    /// <summary>Payment events: the provider's transaction id.</summary>
    public string? TransactionId { get; init; }

    /// <summary>Stock events: what is available after the change (may be negative after a shortfall).</summary>
    public long Available => OnHand - Reserved - Committed;
}

/// <summary>
/// Where the state machine writes the events of the command it applies: a growable array reused across commands,
/// so steady traffic allocates nothing.
/// </summary>
public sealed class EventBuffer
{
    private EngineEvent[] _items = new EngineEvent[64];

    /// <summary>How many events are held.</summary>
    public int Count { get; private set; }

    /// <summary>The events held, oldest first.</summary>
    public ReadOnlySpan<EngineEvent> Events => _items.AsSpan(0, Count);

    /// <summary>Appends an event.</summary>
    public void Add(in EngineEvent e)
    {
        if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
        _items[Count++] = e;
    }

    /// <summary>Forgets every event, keeping the storage.</summary>
    public void Clear() => Count = 0;
}
