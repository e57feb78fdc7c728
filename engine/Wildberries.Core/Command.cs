using System.Runtime.InteropServices;

namespace Wildberries.Core;

/// <summary>The kinds of journaled input the state machine accepts.</summary>
public enum CommandKind : byte
{
    /// <summary>An empty slot; applying it is a bug.</summary>
    None = 0,

    /// <summary>Creates or replaces a catalog item.</summary>
    UpsertItem = 1,

    /// <summary>Changes a stock row by a delta, or sets its on-hand count (optionally compare-and-set).</summary>
    AdjustStock = 2,

    /// <summary>Reserves every line of a cart, or nothing.</summary>
    Checkout = 3,

    /// <summary>Records the payment provider's session for an order.</summary>
    AttachPayment = 4,

    /// <summary>The provider's verdict on a payment.</summary>
    PaymentResult = 5,

    /// <summary>Cancels a pending order and releases its reservation.</summary>
    Cancel = 6,

    /// <summary>Moves a pending order's reservation deadline.</summary>
    Extend = 7,

    /// <summary>A paid order left the warehouse.</summary>
    Ship = 8,

    /// <summary>Time passes: expires reservations and evicts what outlived its retention window.</summary>
    Tick = 9,

    /// <summary>Home shard: every other shard holds its lines; the preparing order becomes pending (the commit point).</summary>
    ConfirmOrder = 10,

    /// <summary>Home shard: another shard could not hold its lines; the preparing order is undone as if never made.</summary>
    AbortOrder = 11,

    /// <summary>Stock shard: holds the lines of an order at home elsewhere, all or nothing, until a deadline.</summary>
    HoldStock = 12,

    /// <summary>Stock shard: the home confirmed the order; the hold no longer expires by itself.</summary>
    ConfirmHold = 13,

    /// <summary>Stock shard: gives back what a hold has (reserved or committed units); idempotent.</summary>
    ReleaseHold = 14,

    /// <summary>Stock shard: commits a hold's units (again, from what is available, if it was released); idempotent.</summary>
    CommitHold = 15,

    /// <summary>Stock shard: a hold's committed units leave on-hand; idempotent.</summary>
    ShipHold = 16,

    /// <summary>Home shard: the other shards' answer to a late payment: all committed (paid), or not (refund).</summary>
    RepayOutcome = 17,
}

/// <summary>One line of a cart: a SKU and how many units.</summary>
public readonly record struct CheckoutLine(long Sku, int Quantity);

/// <summary>
/// One journaled input: a tagged union sized for a ring slot (pinned by a test). Build it with the static
/// factories; <see cref="Lsn"/> and <see cref="TimestampMs"/> are assigned by the journal stage, never by callers.
/// </summary>
/// <remarks>
/// The few scalar and text fields are shared between kinds (their per-kind names are the properties below), so a
/// command is one fixed-size struct that is written into the ring in place without allocating.
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
public struct Command
{
    /// <summary>The log sequence number, contiguous per shard from 1.</summary>
    public long Lsn;

    /// <summary>Unix milliseconds assigned before the command was journaled: the state machine's only clock.</summary>
    public long TimestampMs;

    /// <summary>The SKU of item and stock commands.</summary>
    public long Sku;

    /// <summary>The order of order commands.</summary>
    public OrderId OrderId;

    /// <summary>Price, stock delta or on-hand count, payment amount or TTL, depending on <see cref="Kind"/>.</summary>
    public long Value;

    /// <summary>The expected on-hand count of a compare-and-set adjustment, or an item's max per order.</summary>
    public long Expected;

    /// <summary>Idempotency key, item name, payment session id or transaction id.</summary>
    public string? Text;

    /// <summary>Customer id, the reason of a stock adjustment, or the provider's event id of a payment.</summary>
    public string? Customer;

    /// <summary>Payment method of a checkout, currency of a payment, or payment page of an attach-payment.</summary>
    public string? Extra;

    /// <summary>The lines of a checkout; the array belongs to the command once submitted.</summary>
    public CheckoutLine[]? Lines;

    /// <summary>The warehouses of a checkout in preference order (nearest first); null for "most stock first".</summary>
    public int[]? Warehouses;

    /// <summary>The warehouse of a stock adjustment.</summary>
    public int WarehouseId;

    /// <summary>What this command is.</summary>
    public CommandKind Kind;

    /// <summary>Active (item), absolute (stock), succeeded (payment), checkout aborted (cancel).</summary>
    public bool Flag;

    /// <summary>Whether <see cref="Expected"/> is set (compare-and-set adjustment).</summary>
    public bool HasExpected;

    /// <summary>The idempotency key of a checkout.</summary>
    public readonly string? IdempotencyKey => Text;

    /// <summary>The transaction id of a payment result.</summary>
    public readonly string? TransactionId => Text;

    /// <summary>The payment session id of an attach-payment command.</summary>
    public readonly string? PaymentSessionId => Text;

    /// <summary>The name of an item.</summary>
    public readonly string? Name => Text;

    /// <summary>The customer of a checkout, cancel or extend (null: an operator acting for the customer).</summary>
    public readonly string? CustomerId => Customer;

    /// <summary>The provider's event id of a payment result (null when the provider sends none).</summary>
    public readonly string? EventId => Customer;

    /// <summary>
    /// A cancel by the host that gave up on a checkout before answering it (the payment provider was unreachable):
    /// every replay of the checkout's idempotency key answers with that failure.
    /// </summary>
    public readonly bool AbortsCheckout => Flag;

    /// <summary>The reason of a stock adjustment, kept in the journal for audits.</summary>
    public readonly string? Reason => Customer;

    /// <summary>The price of an item, in minor units.</summary>
    public readonly long Price => Value;

    /// <summary>The amount of a payment, in minor units.</summary>
    public readonly long Amount => Value;

    /// <summary>The currency of a payment.</summary>
    public readonly string? Currency => Extra;

    /// <summary>The payment page of an attach-payment command, where the customer is sent (kept for replays).</summary>
    public readonly string? PaymentUrl => Extra;

    /// <summary>The payment method a checkout asked for.</summary>
    public readonly string? PaymentMethod => Extra;

    /// <summary>The new time-to-live of an extended reservation, from now.</summary>
    public readonly long TtlMs => Value;

    /// <summary>Creates or replaces a catalog item.</summary>
    public static Command UpsertItem(long sku, string name, long price, int maxPerOrder, bool active) =>
        new() { Kind = CommandKind.UpsertItem, Sku = sku, Text = name, Value = price, Expected = maxPerOrder, Flag = active };

    /// <summary>Adds <paramref name="delta"/> units (negative: removes) to a stock row.</summary>
    public static Command AdjustStockDelta(long sku, int warehouseId, long delta, string? reason = null) =>
        new() { Kind = CommandKind.AdjustStock, Sku = sku, WarehouseId = warehouseId, Value = delta, Customer = reason };

    /// <summary>Sets a stock row's on-hand count, if it still equals <paramref name="expectedOnHand"/> when given.</summary>
    public static Command SetStockOnHand(long sku, int warehouseId, long onHand, long? expectedOnHand = null, string? reason = null) =>
        new()
        {
            Kind = CommandKind.AdjustStock, Sku = sku, WarehouseId = warehouseId, Value = onHand, Flag = true,
            HasExpected = expectedOnHand.HasValue, Expected = expectedOnHand ?? 0, Customer = reason,
        };

    /// <summary>Reserves a cart for a customer under an idempotency key.</summary>
    public static Command Checkout(string idempotencyKey, string customerId, CheckoutLine[] lines, int[]? warehouses = null, string? paymentMethod = null) =>
        new() { Kind = CommandKind.Checkout, Text = idempotencyKey, Customer = customerId, Lines = lines, Warehouses = warehouses, Extra = paymentMethod };

    /// <summary>Records the provider's payment session of an order.</summary>
    public static Command AttachPayment(OrderId orderId, string paymentSessionId, string? paymentUrl = null) =>
        new() { Kind = CommandKind.AttachPayment, OrderId = orderId, Text = paymentSessionId, Extra = paymentUrl };

    /// <summary>The provider's verdict on a payment of <paramref name="amount"/> in <paramref name="currency"/>.</summary>
    public static Command PaymentResult(OrderId orderId, string transactionId, bool succeeded, long amount, string currency, string? eventId = null) =>
        new() { Kind = CommandKind.PaymentResult, OrderId = orderId, Text = transactionId, Flag = succeeded, Value = amount, Extra = currency, Customer = eventId };

    /// <summary>Cancels a pending order; <paramref name="customerId"/> must own it unless null (operator).</summary>
    public static Command Cancel(OrderId orderId, string? customerId = null) =>
        new() { Kind = CommandKind.Cancel, OrderId = orderId, Customer = customerId };

    /// <summary>
    /// Releases a pending order whose checkout the host could not complete (the payment provider was unreachable),
    /// so that every replay of its idempotency key answers with the same failure.
    /// </summary>
    public static Command AbortCheckout(OrderId orderId) =>
        new() { Kind = CommandKind.Cancel, OrderId = orderId, Flag = true };

    /// <summary>Holds a pending order's reservation until now + <paramref name="ttlMs"/>.</summary>
    public static Command Extend(OrderId orderId, long ttlMs, string? customerId = null) =>
        new() { Kind = CommandKind.Extend, OrderId = orderId, Value = ttlMs, Customer = customerId };

    /// <summary>Marks a paid order shipped: its units leave the warehouse.</summary>
    public static Command Ship(OrderId orderId) => new() { Kind = CommandKind.Ship, OrderId = orderId };

    /// <summary>Lets time pass.</summary>
    public static Command Tick() => new() { Kind = CommandKind.Tick };

    /// <summary>Confirms a preparing order whose other shards hold <paramref name="remoteLines"/> lines worth <paramref name="remoteAmount"/>.</summary>
    public static Command ConfirmOrder(OrderId orderId, long remoteAmount, int remoteLines) =>
        new() { Kind = CommandKind.ConfirmOrder, OrderId = orderId, Value = remoteAmount, Expected = remoteLines };

    /// <summary>Undoes a preparing order: its home reservation goes back, its idempotency key is forgotten.</summary>
    public static Command AbortOrder(OrderId orderId) => new() { Kind = CommandKind.AbortOrder, OrderId = orderId };

    /// <summary>Holds this shard's <paramref name="lines"/> of an order at home on another shard until <paramref name="deadlineMs"/>.</summary>
    public static Command HoldStock(OrderId orderId, CheckoutLine[] lines, int[]? warehouses, long deadlineMs) =>
        new() { Kind = CommandKind.HoldStock, OrderId = orderId, Lines = lines, Warehouses = warehouses, Value = deadlineMs };

    /// <summary>A command on the hold of <paramref name="orderId"/>: confirm, release, commit or ship.</summary>
    public static Command OnHold(CommandKind kind, OrderId orderId) => new() { Kind = kind, OrderId = orderId };

    /// <summary>The other shards' answer to a late payment of a cross-shard order.</summary>
    public static Command RepayOutcome(OrderId orderId, bool committedEverywhere) =>
        new() { Kind = CommandKind.RepayOutcome, OrderId = orderId, Flag = committedEverywhere };

    /// <summary>The deadline of a hold (Unix ms).</summary>
    public readonly long DeadlineMs => Value;
}
