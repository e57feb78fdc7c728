namespace Wildberries.Core;

/// <summary>
/// Every outcome a caller can cause, as a value. A bug is an exception; these are not.
/// The numbers and the wire codes are stable: clients and dashboards key on them.
/// </summary>
public enum ResultCode : byte
{
    /// <summary>Done (or, with <see cref="CommandResult.Replayed"/>, done before and answered the same).</summary>
    Ok = 0,

    /// <summary>A field is missing, malformed or out of range; <see cref="CommandResult.Field"/> names it.</summary>
    InvalidArgument = 1,

    /// <summary>A SKU is not in the catalog.</summary>
    UnknownSku = 2,

    /// <summary>A SKU is in the catalog but not for sale.</summary>
    SkuInactive = 3,

    /// <summary>A line asks for more than the item's anti-scalper cap.</summary>
    OverMaxPerOrder = 4,

    /// <summary>Two lines of one cart name the same SKU.</summary>
    DuplicateSku = 5,

    /// <summary>At least one line cannot be reserved; <see cref="CommandResult.Shortages"/> lists them.</summary>
    InsufficientStock = 6,

    /// <summary>The idempotency key was used before with a different request.</summary>
    IdempotencyKeyReused = 7,

    /// <summary>No such order here (or not the caller's).</summary>
    OrderNotFound = 8,

    /// <summary>The order's state does not allow this command; <see cref="CommandResult.Status"/> is its state.</summary>
    InvalidState = 9,

    /// <summary>A payment's amount differs from the order's: refused, the order is not paid.</summary>
    AmountMismatch = 10,

    /// <summary>A payment's currency differs from the order's: refused, the order is not paid.</summary>
    CurrencyMismatch = 11,

    /// <summary>A second successful payment for an order already paid: the extra charge must be refunded.</summary>
    AlreadyPaid = 12,

    /// <summary>A late payment found its stock gone: the order needs a refund, nothing was oversold.</summary>
    RefundRequired = 13,

    /// <summary>A compare-and-set stock update found another on-hand count; <see cref="CommandResult.Value"/> is it.</summary>
    OnHandMismatch = 14,

    /// <summary>The adjustment would make on-hand negative or exceed its limit.</summary>
    OnHandOutOfRange = 15,

    /// <summary>The SKU or order belongs to another shard.</summary>
    WrongShard = 16,

    /// <summary>
    /// A number is beyond the limit that keeps every sum and product of the state within 64 bits (a price, a stock
    /// count or delta); <see cref="CommandResult.Field"/> names it.
    /// </summary>
    OutOfRange = 17,
}

/// <summary>The stable snake_case codes used in problem documents and metrics.</summary>
public static class ResultCodes
{
    private static readonly string[] Wire =
    [
        "ok", "invalid_argument", "unknown_sku", "sku_inactive", "over_max_per_order", "duplicate_sku",
        "insufficient_stock", "idempotency_key_reused", "order_not_found", "invalid_state", "amount_mismatch",
        "currency_mismatch", "already_paid", "refund_required", "on_hand_mismatch", "on_hand_out_of_range", "wrong_shard", "out_of_range",
    ];

    /// <summary>The wire code of <paramref name="code"/>.</summary>
    public static string ToWire(ResultCode code) => Wire[(int)code];

    /// <summary>Every code, for tests and documentation.</summary>
    public static IReadOnlyList<ResultCode> All { get; } = Enum.GetValues<ResultCode>();
}

/// <summary>One line of a cart that could not be reserved.</summary>
public readonly record struct Shortage(long Sku, int Requested, long Available);

/// <summary>
/// What a command did. A small value: the per-call reply of the engine, copied without allocating except for the
/// rare parts (shortages, field paths) that only failures carry.
/// </summary>
public readonly record struct CommandResult
{
    /// <summary>The outcome.</summary>
    public ResultCode Code { get; init; }

    /// <summary>The order concerned (checkout: the new or replayed order).</summary>
    public OrderId OrderId { get; init; }

    /// <summary>The order's status after the command.</summary>
    public OrderStatus Status { get; init; }

    /// <summary>Checkout: the order amount; stock: the new (or, on a mismatch, current) on-hand count.</summary>
    public long Value { get; init; }

    /// <summary>Until when the reservation is held (Unix ms), for pending orders.</summary>
    public long ReservedUntilMs { get; init; }

    /// <summary>True when this answers a request seen before (idempotency key, transaction id, session).</summary>
    public bool Replayed { get; init; }

    /// <summary>The field path of an invalid argument, such as <c>lines[2].qty</c>.</summary>
    public string? Field { get; init; }

    /// <summary>Insufficient stock: every short line.</summary>
    public Shortage[]? Shortages { get; init; }

    /// <summary>Attach-payment: the session recorded for the order (the first one, on a replay).</summary>
    public string? PaymentSessionId { get; init; }

    /// <summary>Whether the command succeeded.</summary>
    public bool IsOk => Code == ResultCode.Ok;

    /// <summary>The order amount of a checkout.</summary>
    public long Amount => Value;

    /// <summary>A result with just a code.</summary>
    public static CommandResult Of(ResultCode code) => new() { Code = code };

    /// <summary>An invalid-argument result naming <paramref name="field"/>.</summary>
    public static CommandResult Invalid(string field) => new() { Code = ResultCode.InvalidArgument, Field = field };

    /// <summary>An out-of-range result naming <paramref name="field"/>.</summary>
    public static CommandResult OutOfRange(string field) => new() { Code = ResultCode.OutOfRange, Field = field };
}
