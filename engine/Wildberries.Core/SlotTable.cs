using System.Numerics;

namespace Wildberries.Core;

/// <summary>Tells whether the order in a slot is the one looked for (a struct, so the lookup is specialised, not a call through a delegate).</summary>
internal interface ISlotMatch
{
    bool Matches(int slot);
}

/// <summary>
/// A hash index from a key held in an order's record to the order's slot: open addressing with linear probing, one
/// 8-byte bucket per entry (the key's 32-bit hash and the slot), at most 70 % full. The key itself is not stored:
/// a probe compares it in the record (the hash first), so an index entry costs 8-11 bytes instead of a dictionary
/// entry's 40 and more. Deletion shifts the following entries back, so no tombstones pile up.
/// </summary>
internal sealed class SlotTable
{
    private long[] _buckets;
    private int _mask;

    /// <param name="capacity">Entries to make room for.</param>
    /// <param name="commit">Whether to map every page of the table now (<see cref="Prefault"/>).</param>
    public SlotTable(int capacity, bool commit = false)
    {
        _buckets = new long[Size(capacity)];
        if (commit) Prefault.Touch(_buckets);
        _mask = _buckets.Length - 1;
    }

    public int Count { get; private set; }

    /// <summary>The slot whose key hashes to <paramref name="hash"/> and matches, or -1.</summary>
    public int Find<TMatch>(int hash, TMatch match)
        where TMatch : struct, ISlotMatch
    {
        for (var i = hash & _mask; ; i = (i + 1) & _mask)
        {
            var b = _buckets[i];
            if (b == 0) return -1;
            if ((int)(b >> 32) == hash && match.Matches((int)b - 1)) return (int)b - 1;
        }
    }

    /// <summary>
    /// The slot of the first entry with <paramref name="hash"/>, or -1, without comparing keys: for a prefetch hint,
    /// which may name the wrong slot (two keys with one hash) at no cost but a wasted load.
    /// </summary>
    public int FirstWithHash(int hash)
    {
        for (var i = hash & _mask; ; i = (i + 1) & _mask)
        {
            var b = _buckets[i];
            if (b == 0) return -1;
            if ((int)(b >> 32) == hash) return (int)b - 1;
        }
    }

    /// <summary>Starts loading the bucket where a look-up of <paramref name="hash"/> begins.</summary>
    public void Prefetch(int hash) => Core.Prefetch.Line(ref _buckets[hash & _mask]);

    /// <summary>Adds a slot whose key is not in the table yet.</summary>
    public void Add(int hash, int slot)
    {
        if ((Count + 1) * 10L > _buckets.Length * 7L) Grow();
        Insert(_buckets, _mask, hash, slot);
        Count++;
    }

    /// <summary>Removes the entry of <paramref name="slot"/> (whose key hashes to <paramref name="hash"/>).</summary>
    public void Remove(int hash, int slot)
    {
        var i = hash & _mask;
        while (_buckets[i] != Bucket(hash, slot))
        {
            Invariant.That(_buckets[i] != 0, "a slot removed from an index is in it");
            i = (i + 1) & _mask;
        }
        // Backward shift: every following entry of the run that may sit at i moves there.
        for (var j = (i + 1) & _mask; _buckets[j] != 0; j = (j + 1) & _mask)
        {
            var home = (int)(_buckets[j] >> 32) & _mask;
            var stays = i <= j ? home > i && home <= j : home > i || home <= j;
            if (stays) continue;
            _buckets[i] = _buckets[j];
            i = j;
        }
        _buckets[i] = 0;
        Count--;
    }

    /// <summary>Every slot in the table, in bucket order (which follows the hashes: deterministic for a given content).</summary>
    public IEnumerable<int> Slots()
    {
        foreach (var b in _buckets)
        {
            if (b != 0) yield return (int)b - 1;
        }
    }

    private void Grow()
    {
        var buckets = new long[_buckets.Length * 2];
        var mask = buckets.Length - 1;
        foreach (var b in _buckets)
        {
            if (b != 0) Insert(buckets, mask, (int)(b >> 32), (int)b - 1);
        }
        (_buckets, _mask) = (buckets, mask);
    }

    private static void Insert(long[] buckets, int mask, int hash, int slot)
    {
        var i = hash & mask;
        while (buckets[i] != 0) i = (i + 1) & mask;
        buckets[i] = Bucket(hash, slot);
    }

    private static long Bucket(int hash, int slot) => ((long)hash << 32) | (uint)(slot + 1);

    /// <summary>A power-of-two bucket count that holds <paramref name="capacity"/> entries at most 70 % full.</summary>
    internal static int Size(int capacity) => (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, (capacity * 10L / 7) + 1));
}
