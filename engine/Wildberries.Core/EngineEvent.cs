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

    /// <summary>
    /// Engine-internal, never published: an order whose lines span shards changed state, and its holds on
    /// <see cref="EngineEvent.Shards"/> must follow (<see cref="EngineEvent.Action"/>). Derived from the journal like
    /// every event, so a restart finds the same work.
    /// </summary>
    RemoteAction = 100,
}

/// <summary>What the holds of a cross-shard order must do after its home shard decided.</summary>
public enum RemoteAction : byte
{
    /// <summary>Nothing (not a remote action).</summary>
    None = 0,

    /// <summary>Give back whatever the hold has (reserved or committed units): the order was cancelled, expired or aborted.</summary>
    Release = 1,

    /// <summary>Commit the held units: the order was paid.</summary>
    Commit = 2,

    /// <summary>The order shipped: committed units leave on-hand.</summary>
    Ship = 3,

    /// <summary>A late payment: commit the units again if they are there, and report back (all or nothing).</summary>
    Repay = 4,
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

    /// <summary><see cref="EventKind.RemoteAction"/>: what the holds must do.</summary>
    public RemoteAction Action { get; init; }

    /// <summary><see cref="EventKind.RemoteAction"/>: the shards holding lines of the order.</summary>
    public int[]? Shards { get; init; }

    /// <summary>Whether the event is the engine's own business (a remote action), never published to consumers.</summary>
    public bool IsInternal => Kind >= EventKind.RemoteAction;

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
