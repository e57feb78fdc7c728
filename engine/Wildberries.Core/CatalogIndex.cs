namespace Wildberries.Core;

/// <summary>
/// The SKUs in the catalog, ordered, for keyset paging: a sorted array of most of them and a small sorted set of the
/// ones added since it was last merged in (when that set passes an eighth of the array, at least 4,096). Millions of
/// items cost 8 bytes each and no object apiece (a <see cref="SortedSet{T}"/> node is 48 bytes and one object for the
/// GC to trace), and a restore builds the array in one pass; an add costs a set insertion, and a merge now and then
/// O(n) (amortized O(1) an add).
/// </summary>
internal sealed class CatalogIndex
{
    private long[] _sorted = [];
    private int _count;
    private readonly SortedSet<long> _recent = [];

    /// <summary>SKUs in the catalog.</summary>
    public int Count => _count + _recent.Count;

    /// <summary>Adds a SKU to the catalog (nothing if it is there already).</summary>
    public void Add(long sku)
    {
        if (Array.BinarySearch(_sorted, 0, _count, sku) >= 0 || !_recent.Add(sku)) return;
        if (_recent.Count > Math.Max(4096, _count / 8)) Merge();
    }

    /// <summary>
    /// Replaces the whole catalog by the first <paramref name="count"/> of <paramref name="skus"/> (an array it keeps),
    /// sorting them in place unless they already are and dropping repeats.
    /// </summary>
    public void Reset(long[] skus, int count)
    {
        var span = skus.AsSpan(0, count);
        for (var i = 1; i < span.Length; i++)
        {
            if (span[i] <= span[i - 1])
            {
                span.Sort();
                var k = 1;
                for (var j = 1; j < span.Length; j++)
                {
                    if (span[j] != span[k - 1]) span[k++] = span[j];
                }
                count = k;
                break;
            }
        }
        (_sorted, _count) = (skus, count);
        _recent.Clear();
    }

    /// <summary>Up to <paramref name="limit"/> SKUs of the catalog greater than <paramref name="afterSku"/>, in order.</summary>
    public List<long> After(long afterSku, int limit)
    {
        var page = new List<long>(Math.Min(limit, 1024));
        if (afterSku == long.MaxValue) return page;
        var i = LowerBound(afterSku + 1);
        using var recent = _recent.GetViewBetween(afterSku + 1, long.MaxValue).GetEnumerator();
        var hasRecent = recent.MoveNext();
        while (page.Count < limit)
        {
            var hasSorted = i < _count;
            if (!hasSorted && !hasRecent) break;
            if (hasSorted && (!hasRecent || _sorted[i] < recent.Current))
            {
                page.Add(_sorted[i++]);
            }
            else
            {
                page.Add(recent.Current);
                hasRecent = recent.MoveNext();
            }
        }
        return page;
    }

    private int LowerBound(long sku)
    {
        var i = Array.BinarySearch(_sorted, 0, _count, sku);
        return i >= 0 ? i : ~i;
    }

    private void Merge()
    {
        var merged = new long[_count + _recent.Count];
        var (i, k) = (0, 0);
        foreach (var sku in _recent)
        {
            while (i < _count && _sorted[i] < sku) merged[k++] = _sorted[i++];
            merged[k++] = sku;
        }
        while (i < _count) merged[k++] = _sorted[i++];
        (_sorted, _count) = (merged, k);
        _recent.Clear();
    }
}
