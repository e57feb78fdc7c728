namespace Wildberries.Core;

/// <summary>
/// Units of one line taken from one stock row: the SKU by its slot in the machine's SKU table, so that the slab of
/// allocations is plain data (16 bytes each, nothing for the GC to trace). The quantity (at most
/// <see cref="QuantityMax"/>, above any <see cref="StateMachineOptions.QuantityPerLineMax"/>) and the unit price (at most
/// <see cref="UnitPriceMax"/>, above any <see cref="StateMachineOptions.PriceMax"/>) share one 64-bit word.
/// </summary>
internal struct Allocation
{
    public const int QuantityMax = (1 << 24) - 1;
    public const long UnitPriceMax = (1L << 40) - 1;

    public int Item;
    public int RowIndex;
    private long _quantityAndPrice;

    public int Quantity
    {
        readonly get => (int)(_quantityAndPrice & QuantityMax);
        set
        {
            Invariant.That((uint)value <= QuantityMax, "an allocation's quantity fits its 24 bits");
            _quantityAndPrice = (_quantityAndPrice & ~(long)QuantityMax) | (uint)value;
        }
    }

    public long UnitPrice
    {
        readonly get => _quantityAndPrice >>> 24;
        set
        {
            Invariant.That((ulong)value <= UnitPriceMax, "an allocation's unit price fits its 40 bits");
            _quantityAndPrice = (_quantityAndPrice & QuantityMax) | (value << 24);
        }
    }
}

/// <summary>
/// An order as the state machine holds it: a record in the <see cref="OrderStore"/>'s slab, never leaves the writer
/// thread (see <see cref="OrderView"/>). Its allocations are a range of the store's allocation slab and its
/// idempotency key a range of the store's key arena; what only paid, attached or cross-shard orders have lives in
/// <see cref="Extras"/>, made when first needed (never at checkout). 88 bytes: times are 48-bit (every time the
/// machine handles is below <see cref="TimeLimit"/>, year 10889) and share their words with small counts and the flags.
/// </summary>
internal struct OrderRecord
{
    /// <summary>Times are kept in 48 bits: every one is below this (the clock stops at year 9999, windows add at most a year).</summary>
    public const long TimeLimit = 1L << 48;

    private const long Low48 = TimeLimit - 1;

    public string CustomerId;
    public string? PaymentMethod;
    public OrderExtras? Extras;
    public OrderId Id;
    public long Amount;
    public ulong Fingerprint;

    // CreatedAtMs (48 bits) and LineCount (16: at most 10,000 lines); ReservedUntilMs (48), Status (8) and the
    // flags (8); TerminalAtMs (48) and the key's length (16: at most 1,024 characters).
    private long _createdAndLines;
    private long _reservedStatusFlags;
    private long _terminalAndKeyLength;

    public int FirstAllocation;
    public int AllocationCount;

    // Bumped each time the slot is freed: a queue entry made for an earlier order in this slot no longer matches.
    public int Generation;

    // Where the idempotency key's ASCII bytes start in the store's key arena (in 4-byte units); "" for holds.
    public int KeyStart;

    public long CreatedAtMs
    {
        readonly get => _createdAndLines & Low48;
        set => _createdAndLines = (_createdAndLines & ~Low48) | Time(value);
    }

    public int LineCount
    {
        readonly get => (int)(_createdAndLines >>> 48);
        set
        {
            Invariant.That((uint)value <= ushort.MaxValue, "a line count fits 16 bits");
            _createdAndLines = (_createdAndLines & Low48) | ((long)value << 48);
        }
    }

    public long ReservedUntilMs
    {
        readonly get => _reservedStatusFlags & Low48;
        set => _reservedStatusFlags = (_reservedStatusFlags & ~Low48) | Time(value);
    }

    public OrderStatus Status
    {
        readonly get => (OrderStatus)(byte)(_reservedStatusFlags >>> 48);
        set => _reservedStatusFlags = (_reservedStatusFlags & ~(0xFFL << 48)) | ((long)(byte)value << 48);
    }

    public long TerminalAtMs
    {
        readonly get => _terminalAndKeyLength & Low48;
        set => _terminalAndKeyLength = (_terminalAndKeyLength & ~Low48) | Time(value);
    }

    /// <summary>The idempotency key's length in characters (one ASCII byte each).</summary>
    public int KeyLength
    {
        readonly get => (int)(_terminalAndKeyLength >>> 48);
        set
        {
            Invariant.That((uint)value <= ushort.MaxValue, "a key's length fits 16 bits");
            _terminalAndKeyLength = (_terminalAndKeyLength & Low48) | ((long)value << 48);
        }
    }

    // The host gave up on the checkout before answering it (payment provider unreachable): replays say so again.
    public bool CheckoutAborted { readonly get => Flag(1); set => SetFlag(1, value); }

    // On a stock shard, IsHold: this record is the hold of an order at home elsewhere (its id names that shard);
    // HoldConfirmed: the home decided, the hold no longer expires by itself and follows the home's commit, release
    // and ship.
    public bool IsHold { readonly get => Flag(2); set => SetFlag(2, value); }

    public bool HoldConfirmed { readonly get => Flag(4); set => SetFlag(4, value); }

    // What keeps the slot: Held, the order is in the machine's order index (live or within its retention window);
    // Keyed, an idempotency key remembers it (its replays answer even after it left the index). Neither: freed.
    public bool Held { readonly get => Flag(8); set => SetFlag(8, value); }

    public bool Keyed { readonly get => Flag(16); set => SetFlag(16, value); }

    // Its deadline is in the machine's checkout queue (first in, first out), not in the heap of other deadlines.
    public bool InCheckoutQueue { readonly get => Flag(32); set => SetFlag(32, value); }

    // Its key expires at Extras.KeyExpiresAtMs, not at CreatedAtMs + the idempotency window (a restored snapshot's key).
    public bool KeyExpiryInExtras { readonly get => Flag(64); set => SetFlag(64, value); }

    public readonly string? PaymentSessionId => Extras?.PaymentSessionId;
    public readonly string? PaymentUrl => Extras?.PaymentUrl;
    public readonly string? PaidTransactionId => Extras?.PaidTransactionId;
    public readonly int[]? RemoteShards => Extras?.RemoteShards;
    public readonly long RemoteAmount => Extras?.RemoteAmount ?? 0;
    public readonly int RemoteLineCount => Extras?.RemoteLineCount ?? 0;

    public OrderExtras More => Extras ??= new OrderExtras();

    private readonly bool Flag(int bit) => (_reservedStatusFlags & ((long)bit << 56)) != 0;

    private void SetFlag(int bit, bool on) =>
        _reservedStatusFlags = on ? _reservedStatusFlags | ((long)bit << 56) : _reservedStatusFlags & ~((long)bit << 56);

    private static long Time(long ms)
    {
        Invariant.That((ulong)ms < TimeLimit, "a time the machine keeps fits 48 bits");
        return ms;
    }
}

/// <summary>
/// The parts of an order most orders do not have at checkout: the payment session and page, the paying transaction,
/// and, for a cross-shard order at home here, the other shards holding its lines, their amount and line count
/// (their allocations live in those shards' holds).
/// </summary>
internal sealed class OrderExtras
{
    public string? PaymentSessionId;
    public string? PaymentUrl;
    public string? PaidTransactionId;
    public int[]? RemoteShards;
    public long RemoteAmount;
    public int RemoteLineCount;

    // Only when KeyExpiryInExtras: when the key is forgotten.
    public long KeyExpiresAtMs;
}


/// <summary>
/// A remembered payment transaction and the first answer to each verdict it was sent with. The answers live in a
/// small object made when one is recorded, so that the table sized for every order of the retention window (most of
/// which never pay within it) holds 24 bytes a slot, not two full results.
/// </summary>
internal readonly struct TransactionEntry(OrderId orderId, long expiresAtMs)
{
    private readonly TransactionAnswers? _answers;

    public OrderId OrderId { get; } = orderId;

    public long ExpiresAtMs { get; } = expiresAtMs;

    public CommandResult? Failed
    {
        get => _answers?.Failed;
        init => _answers = new TransactionAnswers(value, _answers?.Succeeded);
    }

    public CommandResult? Succeeded
    {
        get => _answers?.Succeeded;
        init => _answers = new TransactionAnswers(_answers?.Failed, value);
    }
}

/// <summary>The first answers of one transaction, immutable: a new one is made when the other verdict is recorded.</summary>
internal sealed record TransactionAnswers(CommandResult? Failed, CommandResult? Succeeded);
