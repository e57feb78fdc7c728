namespace Wildberries.Protocol;

/// <summary>
/// Which shard a SKU belongs to, as the server computes it (docs/protocol.md, Welcome): clients route a request to
/// the endpoint of its SKU's shard. It must equal the engine's <c>ShardRouter.ShardOf</c>; a test pins that.
/// </summary>
public static class ShardMap
{
    /// <summary>The shard of <paramref name="sku"/> among <paramref name="shardCount"/>.</summary>
    public static int ShardOf(long sku, int shardCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        if (shardCount == 1) return 0;
        // The SplitMix64 finaliser: every input bit flips about half the output bits, so shards fill evenly.
        var z = (ulong)sku;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        z ^= z >> 31;
        return (int)(z % (ulong)shardCount);
    }
}
