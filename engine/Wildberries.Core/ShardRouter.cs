namespace Wildberries.Core;

/// <summary>
/// Which shard owns a SKU: a fixed, well-mixed hash, so neighbouring SKUs (one seller's range) spread out.
/// Deterministic across processes and versions: changing it would move stock between journals.
/// </summary>
public static class ShardRouter
{
    /// <summary>The shard of <paramref name="sku"/> among <paramref name="shardCount"/>.</summary>
    public static int ShardOf(long sku, int shardCount)
    {
        if (shardCount == 1) return 0;
        return (int)(StateHash.Mix((ulong)sku) % (ulong)shardCount);
    }
}
