namespace Wildberries.Protocol;

/// <summary>The server's answer to Hello: the connection's role, the limits it enforces, and the shard map.</summary>
/// <param name="Role"><c>storefront</c> or <c>admin</c>.</param>
/// <param name="FrameBytesMax">The largest frame length the server accepts.</param>
/// <param name="InFlightMax">Requests the server works on at once for this connection; beyond it, it stops reading.</param>
/// <param name="Shards">One entry per shard; a null endpoint is this connection's server.</param>
public sealed record Welcome(string Role, int FrameBytesMax, int InFlightMax, IReadOnlyList<ShardEndpoint> Shards);

/// <summary>Where a shard is served.</summary>
/// <param name="Shard">The shard number.</param>
/// <param name="Endpoint">A <c>tcp://host:port</c> address, or null for the server that sent the map.</param>
public readonly record struct ShardEndpoint(int Shard, string? Endpoint);

/// <summary>A failed request or a protocol error, with the stable code HTTP's problem documents use.</summary>
/// <param name="Code">The stable problem code (<c>insufficient_stock</c>, <c>forbidden</c>, ...).</param>
/// <param name="Status">The HTTP status the same failure has over HTTP.</param>
/// <param name="Title">Human text.</param>
/// <param name="Detail">More human text, if any.</param>
/// <param name="Field">The path of the offending field, if any.</param>
/// <param name="Shortages">The short lines of an <c>insufficient_stock</c>.</param>
public sealed record ProblemBody(string Code, int Status, string Title, string? Detail = null, string? Field = null, IReadOnlyList<Shortage>? Shortages = null);

/// <summary>A line the stock could not cover.</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="Requested">Units asked for.</param>
/// <param name="Available">Units available.</param>
public readonly record struct Shortage(long Sku, int Requested, long Available);

/// <summary>One line of a checkout.</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="Qty">Units.</param>
public readonly record struct CartLine(long Sku, int Qty);

/// <summary>A checkout: prices and totals are never accepted from clients, the engine computes them.</summary>
/// <param name="IdempotencyKey">1 to 255 printable ASCII characters; a retry with the same key answers the first outcome.</param>
/// <param name="CustomerId">The customer.</param>
/// <param name="Lines">The lines.</param>
/// <param name="Warehouses">Warehouses to allocate from, in order of preference; null: any.</param>
/// <param name="PaymentMethod">The payment method, if the storefront names one.</param>
public sealed record CheckoutRequest(string IdempotencyKey, string CustomerId, IReadOnlyList<CartLine> Lines, IReadOnlyList<int>? Warehouses = null, string? PaymentMethod = null);

/// <summary>An order as the API shows it.</summary>
/// <param name="OrderId">The order id.</param>
/// <param name="Status"><c>PENDING_PAYMENT</c>, <c>PAID</c>, <c>FULFILLED</c>, <c>CANCELLED</c>, ...</param>
/// <param name="Amount">The total in minor units.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="ReservedUntilMs">While pending payment: when the reservation expires (Unix ms).</param>
/// <param name="PaymentUrl">While pending payment: the payment page.</param>
/// <param name="Lines">The lines with their allocations.</param>
public sealed record Order(string OrderId, string Status, long Amount, string Currency, long? ReservedUntilMs, string? PaymentUrl, IReadOnlyList<OrderLine> Lines);

/// <summary>A line of an order.</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="Qty">Units.</param>
/// <param name="Price">Unit price in minor units.</param>
/// <param name="Allocations">Where the units come from.</param>
public sealed record OrderLine(long Sku, int Qty, long Price, IReadOnlyList<Allocation> Allocations);

/// <summary>Units of a line taken from one warehouse.</summary>
/// <param name="WarehouseId">The warehouse.</param>
/// <param name="Qty">Units.</param>
public readonly record struct Allocation(int WarehouseId, int Qty);

/// <summary>An order named by id, and the customer asking (who must own it).</summary>
/// <param name="OrderId">The order id.</param>
/// <param name="CustomerId">The customer; null for admin operations.</param>
public sealed record OrderRef(string OrderId, string? CustomerId);

/// <summary>A page of a customer's order history, newest first.</summary>
/// <param name="CustomerId">The customer.</param>
/// <param name="Before">The previous page's <see cref="OrderPage.Next"/>; null for the first page.</param>
/// <param name="Limit">Orders per page (1 to 100).</param>
public sealed record OrderHistoryQuery(string CustomerId, string? Before = null, int Limit = 20);

/// <summary>Orders of a history page, and the cursor of the next page (null after the last).</summary>
/// <param name="Orders">The orders (no payment links: the history is read from the projection).</param>
/// <param name="Next">The next page's <see cref="OrderHistoryQuery.Before"/>.</param>
public sealed record OrderPage(IReadOnlyList<Order> Orders, string? Next);

/// <summary>One shard's replication, as <c>GET /v1/admin/replication</c> reports it.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Role">primary or standby.</param>
/// <param name="Mode">The replication mode.</param>
/// <param name="Epoch">The leadership epoch.</param>
/// <param name="Refusing">Why writes are refused (a problem code), or null.</param>
/// <param name="Lsn">The command log's position.</param>
/// <param name="LagEntries">Entries behind.</param>
/// <param name="LagMs">Age of the oldest entry behind.</param>
/// <param name="DroppedStale">Stale entries dropped.</param>
/// <param name="LastError">The last error, or null.</param>
/// <param name="StateHash">The applied state's hash (16 hex digits).</param>
/// <param name="AppliedLsn">The last applied journal entry.</param>
public sealed record ShardReplication(int Shard, string Role, string Mode, int Epoch, string? Refusing, long Lsn, long LagEntries, double LagMs, long DroppedStale, string? LastError, string StateHash, long AppliedLsn);

/// <summary>A catalog item with its availability per warehouse.</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="Name">The name.</param>
/// <param name="Price">Unit price in minor units.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="MaxPerOrder">Units allowed per order.</param>
/// <param name="Active">For sale.</param>
/// <param name="Available">Units available in all warehouses.</param>
/// <param name="Warehouses">Units available per warehouse.</param>
public sealed record ItemDetail(long Sku, string Name, long Price, string Currency, int MaxPerOrder, bool Active, long Available, IReadOnlyList<WarehouseStock> Warehouses);

/// <summary>Units available in one warehouse.</summary>
/// <param name="WarehouseId">The warehouse.</param>
/// <param name="Available">Units.</param>
public readonly record struct WarehouseStock(int WarehouseId, long Available);

/// <summary>Units available of one SKU.</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="Available">Units.</param>
public readonly record struct SkuAvailability(long Sku, long Available);

/// <summary>A catalog page query.</summary>
/// <param name="AfterSku">Items after this SKU (0: from the start).</param>
/// <param name="Limit">1 to 1,000 items.</param>
public readonly record struct CatalogQuery(long AfterSku, int Limit);

/// <summary>An item of a catalog page.</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="Name">The name.</param>
/// <param name="Price">Unit price in minor units.</param>
/// <param name="MaxPerOrder">Units allowed per order.</param>
/// <param name="Active">For sale.</param>
/// <param name="Available">Units available.</param>
public sealed record CatalogItem(long Sku, string Name, long Price, int MaxPerOrder, bool Active, long Available);

/// <summary>A catalog page; <paramref name="Next"/> is the <c>AfterSku</c> of the next page (null on the last).</summary>
/// <param name="Items">The items.</param>
/// <param name="Next">The next page's start.</param>
public sealed record CatalogPage(IReadOnlyList<CatalogItem> Items, long? Next);

/// <summary>A catalog upsert, and its answer (where <paramref name="MaxPerOrder"/> is the value in force).</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="Name">The name.</param>
/// <param name="Price">Unit price in minor units.</param>
/// <param name="MaxPerOrder">Units allowed per order; null: the server's default.</param>
/// <param name="Active">For sale.</param>
public sealed record ItemUpsert(long Sku, string Name, long Price, int? MaxPerOrder = null, bool Active = true);

/// <summary>A batch of stock adjustments with one reason (kept in the journal).</summary>
/// <param name="Reason">Why.</param>
/// <param name="Adjustments">1 to 1,000 adjustments.</param>
public sealed record StockBatch(string Reason, IReadOnlyList<StockAdjustment> Adjustments);

/// <summary>Either a delta, or an absolute on-hand count with an optional expected value (compare-and-set).</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="WarehouseId">The warehouse.</param>
/// <param name="Delta">Units to add (negative: remove).</param>
/// <param name="OnHand">The new on-hand count.</param>
/// <param name="ExpectedOnHand">With <paramref name="OnHand"/>: applied only if on-hand is this now.</param>
public readonly record struct StockAdjustment(long Sku, int WarehouseId, long? Delta = null, long? OnHand = null, long? ExpectedOnHand = null);

/// <summary>The result of one stock adjustment.</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="WarehouseId">The warehouse.</param>
/// <param name="Result">The result code (<c>ok</c>, <c>on_hand_mismatch</c>, ...).</param>
/// <param name="OnHand">The on-hand count after it (or the current one, if refused).</param>
/// <param name="Field">The offending field, if any.</param>
public readonly record struct StockResult(long Sku, int WarehouseId, string Result, long OnHand, string? Field);
