namespace Wildberries.Protocol;

/// <summary>
/// The most elements of each array an answer can legitimately carry (docs/protocol.md, <i>Limits</i>): a reader
/// refuses a larger count with <see cref="ProtocolFormatException"/> (naming the array) before allocating for it,
/// so a corrupt or hostile frame cannot make the receiver allocate for elements the protocol never sends.
/// </summary>
public static class ProtocolLimits
{
    /// <summary>Shards in a Welcome or a replication status: the engine's shard count ceiling.</summary>
    public const int ShardsMax = 256;

    /// <summary>Lines of an order, and shortages of an <c>insufficient_stock</c> error: the ceiling of the lines-per-checkout setting.</summary>
    public const int OrderLinesMax = 10_000;

    /// <summary>SKUs of an Availability request, and rows of its answer.</summary>
    public const int AvailabilitySkusMax = 1_000;

    /// <summary>Items of a catalog page.</summary>
    public const int CatalogPageMax = 1_000;

    /// <summary>Adjustments of a stock batch, and results of its answer.</summary>
    public const int StockAdjustmentsMax = 1_000;

    /// <summary>Orders of a history page.</summary>
    public const int OrdersPageMax = 100;

    /// <summary>
    /// The fewest bytes an element of an array of arrays takes (a one-byte array header and two one-byte fields):
    /// arrays with no documented limit (an order line's allocations, an item's warehouses) claim at most the bytes
    /// left in the body divided by this.
    /// </summary>
    public const int TupleBytesMin = 3;
}
