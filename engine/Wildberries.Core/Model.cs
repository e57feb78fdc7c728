using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

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
internal sealed class SkuState(long sku)
{
    public readonly long Sku = sku;
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

/// <summary>Units of one line taken from one stock row.</summary>
internal struct Allocation
{
    public SkuState Item;
    public int RowIndex;
    public int Quantity;
    public long UnitPrice;

    public readonly ref StockRow Row => ref Item.Rows[RowIndex];
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

/// <summary>An order as the state machine holds it; never leaves the writer thread (see <see cref="OrderView"/>).</summary>
internal sealed class Order
{
    public OrderId Id;
    public OrderStatus Status;
    public string CustomerId = "";
    public string IdempotencyKey = "";
    public string? PaymentMethod;
    public string? PaymentSessionId;
    public string? PaymentUrl;
    public string? PaidTransactionId;
    public long Amount;
    public long CreatedAtMs;
    public long ReservedUntilMs;
    public long TerminalAtMs;
    public ulong Fingerprint;
    public int LineCount;

    // The host gave up on the checkout before answering it (payment provider unreachable): replays say so again.
    public bool CheckoutAborted;

    // Cross-shard orders. On the home shard: the other shards holding lines of this order, their amount and line
    // count (their allocations live in those shards' holds). On a stock shard, IsHold: this object is the hold of an
    // order at home elsewhere (its id names that shard); HoldConfirmed: the home decided, the hold no longer expires
    // by itself and follows the home's commit, release and ship.
    public int[]? RemoteShards;
    public long RemoteAmount;
    public int RemoteLineCount;
    public bool IsHold;
    public bool HoldConfirmed;
    public SmallList<Allocation> Allocations;
}

/// <summary>A remembered idempotency key: the order it made and the fingerprint of the request that made it.</summary>
internal readonly record struct IdempotencyEntry(Order Order, ulong Fingerprint, long ExpiresAtMs);

/// <summary>A remembered payment transaction and the first answer to each verdict it was sent with.</summary>
internal readonly record struct TransactionEntry(CommandResult? Failed, CommandResult? Succeeded, OrderId OrderId, long ExpiresAtMs);
