namespace Wildberries.Protocol;

/// <summary>The type byte of a frame (docs/protocol.md, "Frame types"); an answer is its request's type with <see cref="Answer"/> set.</summary>
public enum FrameType : byte
{
    /// <summary>The client's first frame: its API key.</summary>
    Hello = 0x01,

    /// <summary>The server's answer to <see cref="Hello"/>: role, limits and shard map.</summary>
    Welcome = 0x02,

    /// <summary>A failed request (its id) or a protocol error (id 0, then the connection closes).</summary>
    Error = 0x03,

    /// <summary>Storefront: checkout.</summary>
    Checkout = 0x10,

    /// <summary>Storefront: one order of a customer.</summary>
    GetOrder = 0x11,

    /// <summary>Storefront: cancel an unpaid order.</summary>
    CancelOrder = 0x12,

    /// <summary>Storefront: one catalog item with its availability per warehouse.</summary>
    GetItem = 0x13,

    /// <summary>Storefront: availability of many SKUs.</summary>
    Availability = 0x14,

    /// <summary>Storefront: a catalog page.</summary>
    ListItems = 0x15,

    /// <summary>Storefront: a page of a customer's order history (the server needs PostgreSQL).</summary>
    ListOrders = 0x16,

    /// <summary>Admin: create or update a catalog item.</summary>
    PutItem = 0x20,

    /// <summary>Admin: a batch of stock adjustments.</summary>
    StockBatch = 0x21,

    /// <summary>Admin: ship a paid order.</summary>
    ShipOrder = 0x22,

    /// <summary>Admin: promote this standby to primary.</summary>
    Promote = 0x23,

    /// <summary>Admin: replication status of every shard.</summary>
    Replication = 0x24,

    /// <summary>The bit an answer sets on its request's type.</summary>
    Answer = 0x80,
}
