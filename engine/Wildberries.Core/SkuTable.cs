namespace Wildberries.Core;

/// <summary>
/// The machine's SKUs by SKU number: open addressing with linear probing over 16-byte entries (the number and the
/// state), at most 70 % full, never removed from. A look-up reads one entry (one cache line, usually) where a
/// dictionary reads its bucket array and then its entry array: one cache miss less per checkout line.
/// </summary>
internal sealed class SkuTable
{
    private Entry[] _entries;
    private int _mask;

    public SkuTable(int capacity)
    {
        _entries = new Entry[SlotTable.Size(capacity)];
        _mask = _entries.Length - 1;
    }

    public int Count { get; private set; }

    /// <summary>The state of <paramref name="sku"/>, or null when the machine has never heard of it.</summary>
    public SkuState? Find(long sku)
    {
        var entries = _entries;
        for (var i = Hash(sku) & _mask; ; i = (i + 1) & _mask)
        {
            ref var e = ref entries[i];
            if (e.State is null) return null;
            if (e.Sku == sku) return e.State;
        }
    }

    /// <summary>Starts loading the entry where a look-up of <paramref name="sku"/> begins.</summary>
    public void Prefetch(long sku) => Core.Prefetch.Line(ref _entries[Hash(sku) & _mask]);

    /// <summary>Adds a SKU that is not in the table yet.</summary>
    public void Add(SkuState state)
    {
        if ((Count + 1) * 10L > _entries.Length * 7L) Grow();
        Insert(_entries, _mask, state);
        Count++;
    }

    private void Grow()
    {
        var entries = new Entry[_entries.Length * 2];
        var mask = entries.Length - 1;
        foreach (var e in _entries)
        {
            if (e.State is not null) Insert(entries, mask, e.State);
        }
        (_entries, _mask) = (entries, mask);
    }

    private static void Insert(Entry[] entries, int mask, SkuState state)
    {
        var i = Hash(state.Sku) & mask;
        while (entries[i].State is not null) i = (i + 1) & mask;
        entries[i] = new Entry { Sku = state.Sku, State = state };
    }

    // Not ShardRouter's hash: on a shard, every SKU has the same residue of that one, which would crowd the table.
    private static int Hash(long sku) => (int)(StateHash.Mix((ulong)sku ^ 0x9E3779B97F4A7C15) >> 32);

    private struct Entry
    {
        public long Sku;
        public SkuState? State;
    }
}
