using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Wildberries.Core;

/// <summary>One stock row, per (SKU, warehouse). Lives in its SKU's row array, mutated in place.</summary>
internal struct StockRow
{
    public int WarehouseId;
    public long OnHand;
    public long Reserved;
    public long Committed;

    public readonly long Available => OnHand - Reserved - Committed;
}

/// <summary>Everything the shard knows of one SKU: its catalog item (if any) and its stock rows.</summary>
internal sealed class SkuState(long sku, int slot)
{
    public readonly long Sku = sku;

    // Its place in the machine's SKU table: allocations name their SKU by it, so the allocation slab holds no references.
    public readonly int Slot = slot;
    public bool InCatalog;
    public string Name = "";
    public long Price;
    public int MaxPerOrder;
    public bool Active;

    // Inside the object for the usual few warehouses (one cache miss less per checkout), append-only so an
    // allocation can keep a row's index for the life of the order.
    public SmallList<StockRow> Rows;

    public int RowCount => Rows.Count;

    public int FindRow(int warehouseId)
    {
        for (var i = 0; i < Rows.Count; i++)
        {
            if (Rows[i].WarehouseId == warehouseId) return i;
        }
        return -1;
    }

    public int AddRow(int warehouseId)
    {
        Rows.Add(new StockRow { WarehouseId = warehouseId });
        return Rows.Count - 1;
    }

    public long TotalAvailable()
    {
        long total = 0;
        for (var i = 0; i < Rows.Count; i++) total += Math.Max(0, Rows[i].Available);
        return total;
    }
}

/// <summary>
/// Units of one line taken from one stock row: the SKU by its slot in the machine's SKU table, so that the slab of
/// allocations is plain data (20 bytes each, nothing for the GC to trace).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct Allocation
{
    public int Item;
    public int RowIndex;
    public int Quantity;
    public long UnitPrice;
}

[InlineArray(4)]
internal struct Inline4<T>
{
    private T _first;
}

/// <summary>
/// A list whose first four items live inside the object that holds it: the common order (a few lines, each
/// from one warehouse) and the common SKU (a few warehouses) then cost no array of their own.
/// </summary>
internal struct SmallList<T>
{
    public const int InlineCapacity = 4;

    private Inline4<T> _inline;
    private T[]? _overflow;

    public int Count { get; private set; }

    [UnscopedRef]
    public ref T this[int index] =>
        ref index < InlineCapacity ? ref _inline[index] : ref _overflow![index - InlineCapacity];

    public void Add(in T item)
    {
        if (Count >= InlineCapacity)
        {
            var i = Count - InlineCapacity;
            if (_overflow is null) _overflow = new T[4];
            else if (i == _overflow.Length) Array.Resize(ref _overflow, _overflow.Length * 2);
            _overflow[i] = item;
        }
        else
        {
            _inline[Count] = item;
        }
        Count++;
    }

    public void Clear()
    {
        for (var i = 0; i < Count; i++) this[i] = default!;
        _overflow = null;
        Count = 0;
    }
}

/// <summary>
/// An order as the state machine holds it: a record in the <see cref="OrderStore"/>'s slab, never leaves the writer
/// thread (see <see cref="OrderView"/>). Its allocations are a range of the store's allocation slab; what only paid,
/// attached or cross-shard orders have lives in <see cref="Extras"/>, made when first needed (never at checkout).
/// </summary>
internal struct OrderRecord
{
    public string CustomerId;
    public string IdempotencyKey;
    public string? PaymentMethod;
    public OrderExtras? Extras;
    public OrderId Id;
    public long Amount;
    public long CreatedAtMs;
    public long ReservedUntilMs;
    public long TerminalAtMs;
    public ulong Fingerprint;

    // Until when the idempotency key remembers this order (while Keyed); the key's request fingerprint is Fingerprint.
    public long KeyExpiresAtMs;
    public int FirstAllocation;
    public int AllocationCount;
    public int LineCount;

    // Bumped each time the slot is freed: a queue entry made for an earlier order in this slot no longer matches.
    public int Generation;
    public OrderStatus Status;

    // The host gave up on the checkout before answering it (payment provider unreachable): replays say so again.
    public bool CheckoutAborted;

    // On a stock shard, IsHold: this record is the hold of an order at home elsewhere (its id names that shard);
    // HoldConfirmed: the home decided, the hold no longer expires by itself and follows the home's commit, release
    // and ship.
    public bool IsHold;
    public bool HoldConfirmed;

    // What keeps the slot: Held, the order is in the machine's order index (live or within its retention window);
    // Keyed, an idempotency key remembers it (its replays answer even after it left the index). Neither: freed.
    public bool Held;
    public bool Keyed;

    public readonly string? PaymentSessionId => Extras?.PaymentSessionId;
    public readonly string? PaymentUrl => Extras?.PaymentUrl;
    public readonly string? PaidTransactionId => Extras?.PaidTransactionId;
    public readonly int[]? RemoteShards => Extras?.RemoteShards;
    public readonly long RemoteAmount => Extras?.RemoteAmount ?? 0;
    public readonly int RemoteLineCount => Extras?.RemoteLineCount ?? 0;

    public OrderExtras More => Extras ??= new OrderExtras();
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
