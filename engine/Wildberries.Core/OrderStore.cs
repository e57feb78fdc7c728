namespace Wildberries.Core;

/// <summary>
/// Orders as structs in one growable slab, and their allocations as ranges of a second slab of plain data, each with
/// a free list: a checkout takes a free slot and a free range (or the next at the end) and allocates nothing once
/// the slabs have grown to the shard's working set. Slots are named by index; a handle adds the slot's generation,
/// so that an entry queued for an order that has since been freed (and its slot reused) is recognised as stale.
/// </summary>
/// <remarks>The slabs never shrink: memory stays at the largest number of orders held at once.</remarks>
internal sealed class OrderStore
{
    private OrderRecord[] _records;
    private int _top;
    private int _freeSlot = -1;

    private Allocation[] _allocations;
    private int _allocationTop;

    // The first free range of each length; a free range links to the next of its length through its first Item.
    private int[] _freeRanges = [-1, -1, -1, -1, -1, -1, -1, -1];

    private readonly KeyArena _keys;

    /// <summary>
    /// Room for <paramref name="capacity"/> orders, their allocations and key bytes: 2 and 16 an order, or more when
    /// more are known to come (a restore).
    /// </summary>
    public OrderStore(int capacity, int allocations = 0, long keyBytes = 0, bool commit = false)
    {
        capacity = Math.Max(capacity, 16);
        _records = new OrderRecord[capacity];
        _allocations = new Allocation[Math.Max(allocations, capacity * 2)];
        _keys = new KeyArena(Math.Max(keyBytes, capacity * 16L), commit);
        if (commit)
        {
            Prefault.Touch(_records);
            Prefault.Touch(_allocations);
        }
    }

    /// <summary>The slots ever used (free ones included): slots are below this.</summary>
    public int Top => _top;

    /// <summary>Slots in use.</summary>
    public int Count { get; private set; }

    /// <summary>The record in <paramref name="slot"/>; the reference is good until the next <see cref="Add"/>.</summary>
    public ref OrderRecord this[int slot] => ref _records[slot];

    /// <summary>Takes a slot for a new order, its record empty but for its generation.</summary>
    public int Add()
    {
        int slot;
        if (_freeSlot >= 0)
        {
            slot = _freeSlot;
            _freeSlot = _records[slot].FirstAllocation;
        }
        else
        {
            if (_top == _records.Length) Array.Resize(ref _records, _records.Length * 2);
            slot = _top++;
        }
        _records[slot] = new OrderRecord { Generation = _records[slot].Generation, CustomerId = "" };
        Count++;
        return slot;
    }

    /// <summary>Gives a slot and its allocations back: no index or key refers to it any more.</summary>
    public void Free(int slot)
    {
        ref var r = ref _records[slot];
        Invariant.That(!r.Held && !r.Keyed, "a slot is freed only when nothing refers to it");
        FreeRange(r.FirstAllocation, r.AllocationCount);
        _keys.Free(r.KeyStart, r.KeyLength);
        r = new OrderRecord { Generation = r.Generation + 1, FirstAllocation = _freeSlot, CustomerId = "" };
        _freeSlot = slot;
        Count--;
    }

    /// <summary>A name for the order now in <paramref name="slot"/> that goes stale when the slot is freed.</summary>
    public long Handle(int slot) => ((long)_records[slot].Generation << 32) | (uint)slot;

    /// <summary>The slot of <paramref name="handle"/>, or false when its order has been freed since.</summary>
    public bool TryResolve(long handle, out int slot)
    {
        slot = (int)(uint)handle;
        return _records[slot].Generation == (int)(handle >> 32);
    }

    /// <summary>The allocations of an order; the span is good until the next <see cref="SetAllocations"/>.</summary>
    public Span<Allocation> Allocations(in OrderRecord order) => _allocations.AsSpan(order.FirstAllocation, order.AllocationCount);

    /// <summary>Replaces the allocations of an order by <paramref name="items"/>.</summary>
    public void SetAllocations(ref OrderRecord order, ReadOnlySpan<Allocation> items)
    {
        FreeRange(order.FirstAllocation, order.AllocationCount);
        order.FirstAllocation = TakeRange(items.Length);
        order.AllocationCount = items.Length;
        items.CopyTo(_allocations.AsSpan(order.FirstAllocation, items.Length));
    }

    /// <summary>The ASCII bytes of an order's idempotency key (empty for a hold).</summary>
    public ReadOnlySpan<byte> Key(in OrderRecord order) => _keys[order.KeyStart, order.KeyLength];

    /// <summary>The idempotency key of an order as a string (allocates: for snapshots and reads, not the checkout path).</summary>
    public string KeyString(in OrderRecord order) => System.Text.Encoding.ASCII.GetString(Key(order));

    /// <summary>Gives a new order (its key still empty) its idempotency key, printable ASCII.</summary>
    public void SetKey(ref OrderRecord order, ReadOnlySpan<char> key)
    {
        Invariant.That(order.KeyLength == 0, "an order's key is set once");
        order.KeyStart = _keys.Add(key);
        order.KeyLength = key.Length;
    }

    private int TakeRange(int length)
    {
        if (length == 0) return 0;
        if (length < _freeRanges.Length && _freeRanges[length] is var free and >= 0)
        {
            _freeRanges[length] = _allocations[free].Item;
            return free;
        }
        if (_allocationTop + length > _allocations.Length)
        {
            Array.Resize(ref _allocations, Math.Max(_allocations.Length * 2, _allocationTop + length));
        }
        var start = _allocationTop;
        _allocationTop += length;
        return start;
    }

    private void FreeRange(int start, int length)
    {
        if (length == 0) return;
        if (length >= _freeRanges.Length)
        {
            var old = _freeRanges.Length;
            Array.Resize(ref _freeRanges, Math.Max(old * 2, length + 1));
            _freeRanges.AsSpan(old).Fill(-1);
        }
        _allocations[start] = new Allocation { Item = _freeRanges[length] };
        _freeRanges[length] = start;
    }
}
