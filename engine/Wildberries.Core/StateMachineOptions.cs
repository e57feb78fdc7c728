namespace Wildberries.Core;

/// <summary>
/// The limits and windows of one shard's state machine. Immutable; validated once by <see cref="Validate"/>.
/// Every default says why it is what it is.
/// </summary>
public sealed record StateMachineOptions
{
    /// <summary>One minute: shorter than a customer needs to type a card number.</summary>
    public const long ReservationTtlMsMin = 60_000;

    /// <summary>One day: a reservation held longer is stock hidden from every other buyer.</summary>
    public const long ReservationTtlMsMax = 86_400_000;

    /// <summary>
    /// The end of year 9999 in Unix ms: a command stamped later (a broken clock, a damaged entry) does not move the
    /// state machine's clock, so now + any window stays far from 64-bit overflow.
    /// </summary>
    public const long TimestampMsMax = 253_402_300_799_999;

    /// <summary>2,048 characters: the longest URL every browser and proxy passes on.</summary>
    public const int PaymentUrlLengthMax = 2_048;

    /// <summary>One year: the longest idempotency or retention window; longer is memory held for nothing.</summary>
    public const long WindowMsMax = 366L * 86_400_000;

    /// <summary>This shard's number, carried in every order id and event so consumers can de-duplicate exactly.</summary>
    public int ShardId { get; init; }

    /// <summary>How many shards SKUs are spread over; a command for a SKU of another shard is refused.</summary>
    public int ShardCount { get; init; } = 1;

    /// <summary>The one currency of the marketplace (ISO 4217); money is in its minor units.</summary>
    public string Currency { get; init; } = "RUB";

    /// <summary>15 minutes: long enough to pay with 3-D Secure, short enough that abandoned carts return stock quickly.</summary>
    public long ReservationTtlMs { get; init; } = 15 * 60_000;

    /// <summary>24 hours: clients retry within minutes; a day covers retries across an outage and a restart.</summary>
    public long IdempotencyWindowMs { get; init; } = 86_400_000;

    /// <summary>24 hours: late payments and support look-ups need a finished order for a while; history lives downstream.</summary>
    public long TerminalOrderRetentionMs { get; init; } = 86_400_000;

    /// <summary>100 lines: larger than any real cart, small enough that one checkout cannot hold the writer long.</summary>
    public int LinesPerCheckoutMax { get; init; } = 100;

    /// <summary>10,000 units per line: a wholesale pallet; above that it is an error or an attack.</summary>
    public int QuantityPerLineMax { get; init; } = 10_000;

    /// <summary>64 warehouses in a preference list: more than a region has; bounds the allocation work per line.</summary>
    public int WarehousesPerCheckoutMax { get; init; } = 64;

    /// <summary>255 printable ASCII characters: what the HTTP Idempotency-Key draft and common providers allow.</summary>
    public int IdempotencyKeyLengthMax { get; init; } = 255;

    /// <summary>128 characters: fits any UUID or account number with room to spare.</summary>
    public int IdentifierLengthMax { get; init; } = 128;

    /// <summary>256 characters: a product title; longer names belong to the catalog service, not the checkout.</summary>
    public int NameLengthMax { get; init; } = 256;

    /// <summary>One billion units per stock row: keeps every sum of rows far from 64-bit overflow.</summary>
    public long OnHandMax { get; init; } = 1_000_000_000;

    /// <summary>10^12 minor units (10 billion roubles): price x quantity x lines stays below 2^63.</summary>
    public long PriceMax { get; init; } = 1_000_000_000_000;

    /// <summary>The default anti-scalper cap when an item does not set one.</summary>
    public int MaxPerOrderDefault { get; init; } = 100;

    /// <summary>
    /// Orders (their indexes, deadline and key queues, two allocations and 16 bytes of key each) to make room for at
    /// start: 1,024 by default; a flash-sale shard sets the orders it expects within the retention window, so the
    /// writer never stops to rehash millions of entries. Payments, retention and extensions grow as used.
    /// </summary>
    public int OrdersCapacityHint { get; init; } = 1_024;

    /// <summary>SKUs to make room for at start (1,024 by default; the catalog size of the shard is a good value).</summary>
    public int SkusCapacityHint { get; init; } = 1_024;

    /// <summary>
    /// Whether the tables sized by <see cref="OrdersCapacityHint"/> and <see cref="SkusCapacityHint"/> get their
    /// memory mapped when the state machine is made (true by default): the process's resident memory takes their whole
    /// size at once, and the first load does not stall the writer on page faults (false: the way before, mapped as
    /// first written).
    /// </summary>
    public bool CommitTablesUpFront { get; init; } = true;

    /// <summary>Runs the full O(state) invariant check after every command: for tests, never for production load.</summary>
    public bool VerifyInvariantsEveryCommand { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public StateMachineOptions Validate()
    {
        Check(ShardCount is >= 1 and <= OrderId.ShardMax + 1, nameof(ShardCount), $"must be 1 to {OrderId.ShardMax + 1}");
        Check(ShardId >= 0 && ShardId < ShardCount, nameof(ShardId), "must be 0 to ShardCount - 1");
        Check(Currency is { Length: 3 } && Currency.All(char.IsAsciiLetterUpper), nameof(Currency), "must be a 3-letter ISO 4217 code");
        Check(ReservationTtlMs is >= ReservationTtlMsMin and <= ReservationTtlMsMax, nameof(ReservationTtlMs), "must be 1 minute to 24 hours");
        Check(IdempotencyWindowMs is >= 60_000 and <= WindowMsMax, nameof(IdempotencyWindowMs), "must be 1 minute to 366 days");
        Check(TerminalOrderRetentionMs is >= 0 and <= WindowMsMax, nameof(TerminalOrderRetentionMs), "must be 0 to 366 days");
        Check(LinesPerCheckoutMax is >= 1 and <= 10_000, nameof(LinesPerCheckoutMax), "must be 1 to 10000");
        Check(QuantityPerLineMax is >= 1 and <= 1_000_000, nameof(QuantityPerLineMax), "must be 1 to 1000000");
        Check(WarehousesPerCheckoutMax is >= 1 and <= 1024, nameof(WarehousesPerCheckoutMax), "must be 1 to 1024");
        Check(IdempotencyKeyLengthMax is >= 1 and <= 1024, nameof(IdempotencyKeyLengthMax), "must be 1 to 1024");
        Check(IdentifierLengthMax is >= 1 and <= 1024, nameof(IdentifierLengthMax), "must be 1 to 1024");
        Check(NameLengthMax is >= 1 and <= 4096, nameof(NameLengthMax), "must be 1 to 4096");
        Check(OnHandMax is >= 1 and <= 1_000_000_000_000, nameof(OnHandMax), "must be 1 to 10^12");
        Check(PriceMax is >= 1 and <= 1_000_000_000_000, nameof(PriceMax), "must be 1 to 10^12");
        Check(OrdersCapacityHint is >= 0 and <= 100_000_000, nameof(OrdersCapacityHint), "must be 0 to 100000000");
        Check(SkusCapacityHint is >= 0 and <= 100_000_000, nameof(SkusCapacityHint), "must be 0 to 100000000");
        Check(MaxPerOrderDefault >= 1 && MaxPerOrderDefault <= QuantityPerLineMax, nameof(MaxPerOrderDefault), "must be 1 to QuantityPerLineMax");
        // price x quantity x lines must fit in a long with the amounts of every order summed downstream.
        Check((decimal)PriceMax * QuantityPerLineMax * LinesPerCheckoutMax < long.MaxValue / 4, nameof(PriceMax), "PriceMax x QuantityPerLineMax x LinesPerCheckoutMax overflows an amount");
        return this;
    }

    private static void Check(bool ok, string name, string message)
    {
        if (!ok) throw new ArgumentException($"StateMachineOptions.{name} {message}.", name);
    }
}
