namespace Wildberries.Core;

/// <summary>Where an order is in its life; see the state diagram in PRODUCT.md.</summary>
public enum OrderStatus : byte
{
    /// <summary>Not an order (the default of an empty result).</summary>
    None = 0,

    /// <summary>Stock reserved, waiting for the payment.</summary>
    PendingPayment = 1,

    /// <summary>Paid: its units are committed until shipped.</summary>
    Paid = 2,

    /// <summary>Shipped: its units left on-hand.</summary>
    Fulfilled = 3,

    /// <summary>Cancelled or payment failed: reservation released.</summary>
    Cancelled = 4,

    /// <summary>Nobody paid in time: reservation released.</summary>
    Expired = 5,

    /// <summary>Paid too late and the stock was gone: the money must go back.</summary>
    RefundRequired = 6,

    /// <summary>
    /// A checkout whose lines span shards, its home part reserved, waiting for the other shards' holds (the first
    /// phase of the two-phase reservation). Never answered to a customer as done; aborted if they fail.
    /// </summary>
    Preparing = 7,

    /// <summary>
    /// A late payment of an order whose lines span shards: its home lines are committed again, the other shards are
    /// asked to commit theirs; it ends PAID, or REFUND_REQUIRED when one of them cannot.
    /// </summary>
    Repaying = 8,

    /// <summary>
    /// A preparing order undone (another shard refused, or nobody finished it): hidden from every read, its key
    /// forgotten, kept only until its retention ends so that every restart can still release its holds.
    /// </summary>
    Aborted = 9,
}

/// <summary>The arrows of the order state diagram, and nothing else (invariant 4).</summary>
public static class OrderTransitions
{
    /// <summary>Whether an order may move from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static bool IsAllowed(OrderStatus from, OrderStatus to) => (from, to) switch
    {
        (OrderStatus.None, OrderStatus.PendingPayment or OrderStatus.Preparing) => true,
        (OrderStatus.Preparing, OrderStatus.PendingPayment or OrderStatus.Aborted) => true,
        (OrderStatus.PendingPayment, OrderStatus.Paid or OrderStatus.Cancelled or OrderStatus.Expired) => true,
        (OrderStatus.Paid, OrderStatus.Fulfilled) => true,
        (OrderStatus.Cancelled or OrderStatus.Expired, OrderStatus.Paid or OrderStatus.RefundRequired or OrderStatus.Repaying) => true,
        (OrderStatus.Repaying, OrderStatus.Paid or OrderStatus.RefundRequired) => true,
        _ => false,
    };

    /// <summary>
    /// The arrows of a hold (one shard's part of an order whose home is another shard): held, then committed with
    /// the payment and shipped, or released; a released or expired hold is committed again by a late payment, and a
    /// committed one released when the order's other parts could not be.
    /// </summary>
    public static bool IsAllowedForHold(OrderStatus from, OrderStatus to) => (from, to) switch
    {
        (OrderStatus.None, OrderStatus.PendingPayment) => true,
        (OrderStatus.PendingPayment, OrderStatus.Paid or OrderStatus.Cancelled or OrderStatus.Expired) => true,
        (OrderStatus.Paid, OrderStatus.Fulfilled or OrderStatus.Cancelled) => true,
        (OrderStatus.Cancelled or OrderStatus.Expired, OrderStatus.Paid) => true,
        _ => false,
    };

    /// <summary>Whether the order holds no stock and waits for nothing but its retention window.</summary>
    public static bool IsTerminal(OrderStatus status) =>
        status is OrderStatus.Fulfilled or OrderStatus.Cancelled or OrderStatus.Expired or OrderStatus.RefundRequired or OrderStatus.Aborted;

    /// <summary>The stable wire name, as in the API (<c>PENDING_PAYMENT</c>).</summary>
    public static string ToWire(OrderStatus status) => status switch
    {
        OrderStatus.PendingPayment => "PENDING_PAYMENT",
        OrderStatus.Paid => "PAID",
        OrderStatus.Fulfilled => "FULFILLED",
        OrderStatus.Cancelled => "CANCELLED",
        OrderStatus.Expired => "EXPIRED",
        OrderStatus.RefundRequired => "REFUND_REQUIRED",
        OrderStatus.Preparing => "PREPARING",
        OrderStatus.Repaying => "REPAYING",
        OrderStatus.Aborted => "ABORTED",
        _ => "NONE",
    };
}
