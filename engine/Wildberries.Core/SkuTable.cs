using System.Runtime.CompilerServices;

namespace Wildberries.Core;

/// <summary>One stock row, per (SKU, warehouse). Lives in its SKU's record (or its overflow), mutated in place.</summary>
internal struct StockRow
{
    public int WarehouseId;
    public long OnHand;
    public long Reserved;
    public long Committed;

    public readonly long Available => OnHand - Reserved - Committed;
}

[InlineArray(SkuTable.InlineRows)]
internal struct InlineRows
{
    private StockRow _first;
}

/// <summary>
/// Everything the shard keeps of one SKU but its name: 128 bytes of plain data in the <see cref="SkuTable"/>'s slab,
/// its first <see cref="SkuTable.InlineRows"/> stock rows inside (the usual SKU sits in a few warehouses), so that a
/// checkout line reads its SKU and rows from one record, and the GC has nothing in the slab to trace.
/// </summary>
internal struct SkuRecord
{
    private const int InCatalogFlag = 1;
    private const int ActiveFlag = 2;

    public long Sku;
    public long Price;
    public int MaxPerOrder;

    // The rows from the fourth on are in the table's overflow list of this number minus one (0: none).
    public int Overflow;
    public int RowCount;
    private int _flags;
    public InlineRows Rows;

    public bool InCatalog
    {
        readonly get => (_flags & InCatalogFlag) != 0;
        set => _flags = value ? _flags | InCatalogFlag : _flags & ~InCatalogFlag;
    }

    public bool Active
    {
        readonly get => (_flags & ActiveFlag) != 0;
        set => _flags = value ? _flags | ActiveFlag : _flags & ~ActiveFlag;
    }
}

/// <summary>
/// The machine's SKUs: records in one slab by slot (the order the machine first heard of them; allocations name
/// their SKU by slot), names beside them, and an index by SKU number (a <see cref="SlotTable"/>: 8-byte buckets of
/// a 32-bit hash of the number and the slot). A look-up reads one bucket and then the record, which holds the number
/// compared and the rows the line needs.
/// </summary>
internal sealed class SkuTable
{
    /// <summary>The stock rows a record holds itself; a SKU in more warehouses keeps the rest in an overflow list.</summary>
    public const int InlineRows = 3;

    private SkuRecord[] _records;
    private string[] _names;
    private StockRow[][] _overflow = [];
    private int _overflowCount;

    // The slot of each SKU by the hash of its number; the number itself is compared in the record.
    private readonly SlotTable _index;

    public SkuTable(int capacity, bool commit = false)
    {
        capacity = Math.Max(16, capacity);
        _records = new SkuRecord[capacity];
        _names = new string[capacity];
        _index = new SlotTable(capacity, commit);
        if (commit)
        {
            Prefault.Touch(_records);
            Prefault.Touch(_names);
        }
    }

    /// <summary>SKUs known: slots are below this.</summary>
    public int Count { get; private set; }

    /// <summary>The record in <paramref name="slot"/>; the reference is good until the next <see cref="Add"/>.</summary>
    public ref SkuRecord this[int slot] => ref _records[slot];

    /// <summary>The records of every SKU, by slot; good until the next <see cref="Add"/>.</summary>
    public Span<SkuRecord> Records => _records.AsSpan(0, Count);

    /// <summary>The catalog name of the SKU in <paramref name="slot"/> ("" until its item is upserted).</summary>
    public ref string Name(int slot) => ref _names[slot];

    /// <summary>The slot of <paramref name="sku"/>, or -1 when the machine has never heard of it.</summary>
    public int Find(long sku) => _index.Find(Hash(sku), new SameSku(_records, sku));

    /// <summary>Starts loading the bucket where a look-up of <paramref name="sku"/> begins.</summary>
    public void Prefetch(long sku) => _index.Prefetch(Hash(sku));

    /// <summary>
    /// Starts loading the record of <paramref name="sku"/> (its header and rows: 128 bytes) without waiting for it:
    /// the record of the first bucket of the probe with the number's hash, not compared (a record asked for in vain
    /// costs a load, nothing more). Waits only for the buckets, which a <see cref="Prefetch"/> may have asked for.
    /// </summary>
    public void PrefetchRecord(long sku)
    {
        var slot = _index.FirstWithHash(Hash(sku));
        if ((uint)slot >= (uint)_records.Length) return;
        ref var r = ref _records[slot];
        ref var first = ref Unsafe.As<SkuRecord, byte>(ref r);
        Core.Prefetch.Line(ref first);
        Core.Prefetch.Line(ref Unsafe.Add(ref first, 64));
        Core.Prefetch.Line(ref Unsafe.Add(ref first, 127));
    }

    /// <summary>Adds a SKU that is not in the table yet; returns its slot.</summary>
    public int Add(long sku, int maxPerOrder)
    {
        if (Count == _records.Length)
        {
            Array.Resize(ref _records, _records.Length * 2);
            Array.Resize(ref _names, _records.Length);
        }
        var slot = Count++;
        _records[slot] = new SkuRecord { Sku = sku, MaxPerOrder = maxPerOrder };
        _names[slot] = "";
        _index.Add(Hash(sku), slot);
        return slot;
    }

    /// <summary>Row <paramref name="index"/> of the SKU in <paramref name="slot"/>; good until the next <see cref="Add"/> or <see cref="AddRow"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref StockRow Row(int slot, int index)
    {
        ref var r = ref _records[slot];
        if (index < InlineRows) return ref r.Rows[index];
        return ref _overflow[r.Overflow - 1][index - InlineRows];
    }

    /// <summary>The index of the SKU's row of <paramref name="warehouseId"/>, or -1.</summary>
    public int FindRow(int slot, int warehouseId)
    {
        ref var r = ref _records[slot];
        var inline = Math.Min(r.RowCount, InlineRows);
        for (var i = 0; i < inline; i++)
        {
            if (r.Rows[i].WarehouseId == warehouseId) return i;
        }
        if (r.RowCount <= InlineRows) return -1;
        var rest = _overflow[r.Overflow - 1];
        for (var i = 0; i < r.RowCount - InlineRows; i++)
        {
            if (rest[i].WarehouseId == warehouseId) return i + InlineRows;
        }
        return -1;
    }

    /// <summary>Adds an empty row of <paramref name="warehouseId"/> (append-only: a row keeps its index for good).</summary>
    public int AddRow(int slot, int warehouseId)
    {
        ref var r = ref _records[slot];
        var index = r.RowCount;
        if (index >= InlineRows)
        {
            if (r.Overflow == 0)
            {
                if (_overflowCount == _overflow.Length) Array.Resize(ref _overflow, Math.Max(4, _overflow.Length * 2));
                _overflow[_overflowCount++] = new StockRow[4];
                r.Overflow = _overflowCount;
            }
            ref var rest = ref _overflow[r.Overflow - 1];
            if (index - InlineRows == rest.Length) Array.Resize(ref rest, rest.Length * 2);
        }
        r.RowCount = index + 1;
        Row(slot, index) = new StockRow { WarehouseId = warehouseId };
        return index;
    }

    /// <summary>The units of the SKU available over all its rows (a row below zero counts as none).</summary>
    public long TotalAvailable(int slot)
    {
        ref var r = ref _records[slot];
        long total = 0;
        var inline = Math.Min(r.RowCount, InlineRows);
        for (var i = 0; i < inline; i++) total += Math.Max(0, r.Rows[i].Available);
        for (var i = InlineRows; i < r.RowCount; i++) total += Math.Max(0, Row(slot, i).Available);
        return total;
    }

    // Not ShardRouter's hash: on a shard, every SKU has the same residue of that one, which would crowd the table.
    private static int Hash(long sku) => (int)(StateHash.Mix((ulong)sku ^ 0x9E3779B97F4A7C15) >> 32);

    private readonly struct SameSku(SkuRecord[] records, long sku) : ISlotMatch
    {
        public bool Matches(int slot) => records[slot].Sku == sku;
    }
}
