namespace Wildberries.Core;

/// <summary>A stock row's counts at one moment.</summary>
public readonly record struct StockLevel(long Sku, int WarehouseId, long OnHand, long Reserved, long Committed)
{
    /// <summary>What a checkout may still reserve (negative only after a shortfall).</summary>
    public long Available => OnHand - Reserved - Committed;
}

/// <summary>A catalog item as the state machine holds it.</summary>
public sealed record ItemView(long Sku, string Name, long Price, int MaxPerOrder, bool Active);

/// <summary>Where part of a line's units were taken from.</summary>
public readonly record struct AllocationView(int WarehouseId, int Quantity);

/// <summary>One line of an order with its price at checkout and its allocations.</summary>
public sealed record OrderLineView(long Sku, int Quantity, long UnitPrice, AllocationView[] Allocations);

/// <summary>
/// An immutable copy of an order, safe to hand to other threads. <see cref="CheckoutAborted"/>: the host gave up on
/// the checkout before answering it (payment provider unreachable), so replays of its key answer that failure;
/// <see cref="PaymentUrl"/>: the payment page recorded with the session, so replays answer the same link;
/// <see cref="RemoteShards"/>: the other shards holding lines of a cross-shard order (the engine merges their lines in).
/// </summary>
public sealed record OrderView(
    OrderId OrderId,
    OrderStatus Status,
    string CustomerId,
    long Amount,
    string Currency,
    long CreatedAtMs,
    long ReservedUntilMs,
    string? PaymentSessionId,
    string? PaidTransactionId,
    OrderLineView[] Lines,
    bool CheckoutAborted = false,
    string? PaymentUrl = null,
    int[]? RemoteShards = null);
