namespace Wildberries.Host.Http;

#pragma warning disable CA1819 // JSON contracts carry arrays.

/// <summary>POST /v1/checkout. Prices and totals are never accepted from clients: the engine computes them.</summary>
public sealed record CheckoutBody(string CustomerId, CheckoutLineBody[] Lines, int[]? Warehouses = null, string? PaymentMethod = null);

/// <summary>One line of a checkout.</summary>
public sealed record CheckoutLineBody(long Sku, int Qty);

/// <summary>The answer to a checkout.</summary>
public sealed record OrderBody(
    string OrderId, string Status, long Amount, string Currency, DateTimeOffset? ReservedUntil, string? PaymentUrl, OrderLineBody[] Lines);

/// <summary>A line of an order.</summary>
public sealed record OrderLineBody(long Sku, int Qty, long Price, AllocationBody[] Allocations);

/// <summary>Where a line's units come from.</summary>
public sealed record AllocationBody(int WarehouseId, int Qty);

/// <summary>POST /v1/payments/callback, from the payment provider.</summary>
public sealed record PaymentCallbackBody(string EventId, string TxId, string OrderId, string Status, long Amount, string Currency);

/// <summary>PUT /v1/admin/items/{sku}.</summary>
public sealed record ItemBody(string Name, long Price, int? MaxPerOrder = null, bool Active = true);

/// <summary>POST /v1/admin/stock: a batch of adjustments with one reason.</summary>
public sealed record StockBatchBody(string Reason, StockLineBody[] Adjustments);

/// <summary>Either a delta, or an absolute on-hand count with an optional expected value (compare-and-set).</summary>
public sealed record StockLineBody(long Sku, int WarehouseId, long? Delta = null, long? OnHand = null, long? ExpectedOnHand = null);

/// <summary>The result of one stock adjustment: its result code and the on-hand count after it (or the current one).</summary>
public sealed record StockLineResult(long Sku, int WarehouseId, string Result, long OnHand, string? Field);

/// <summary>The readiness answer: ready and, where they apply, this node's role and how far events and the command log lag.</summary>
public sealed record ReadyBody(
    string Status,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] LagBody? Events,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] LagBody? Replication,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] LagBody? Projection = null);

/// <summary>GET /v1/orders: a page of the customer's order history, newest first; <c>next</c> is the <c>before</c> of the next page (null on the last).</summary>
public sealed record OrderPageBody(
    OrderBody[] Orders,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] string? Next);

/// <summary>A lag: entries behind, and the age of the oldest one in seconds.</summary>
public sealed record LagBody(long LagEntries, double LagSeconds);

/// <summary>
/// One shard's replication, as <c>GET /v1/admin/replication</c> and a promotion report it, with the shard's state hash
/// and the last log sequence number applied (equal hashes at equal numbers: equal replicas).
/// </summary>
public sealed record ReplicationBody(int Shard, string Role, string Mode, int Epoch, string? Refusing, long Lsn, long LagEntries, double LagMs, long DroppedStale, string? LastError, string StateHash, long AppliedLsn);

/// <summary>The liveness answer: the process is up (it says nothing about the engine; readiness does).</summary>
public sealed record LiveBody(string Status);

/// <summary>GET /v1/catalog/items/{sku}: an item, its price and currency, and what is available, in total and per warehouse.</summary>
public sealed record CatalogItemBody(long Sku, string Name, long Price, string Currency, int MaxPerOrder, bool Active, long Available, WarehouseAvailableBody[] Warehouses);

/// <summary>What one warehouse has available of an item.</summary>
public sealed record WarehouseAvailableBody(int WarehouseId, long Available);

/// <summary>GET /v1/catalog/availability: the available count of each SKU asked, in the order asked (0 for an unknown SKU).</summary>
public sealed record AvailabilityBody(SkuAvailableBody[] Items);

/// <summary>The available count of one SKU.</summary>
public sealed record SkuAvailableBody(long Sku, long Available);

/// <summary>GET /v1/catalog/items: a page of the catalog in SKU order; <c>next</c> is the <c>after</c> of the next page (absent on the last).</summary>
public sealed record CatalogPageBody(CatalogListItemBody[] Items, string? Next);

/// <summary>An item in a catalog page.</summary>
public sealed record CatalogListItemBody(long Sku, string Name, long Price, int MaxPerOrder, bool Active, long Available);

/// <summary>The answer to PUT /v1/admin/items/{sku}: the item as stored (the per-order maximum filled in when not given).</summary>
public sealed record ItemSavedBody(long Sku, string Name, long Price, int MaxPerOrder, bool Active);

/// <summary>The answer to POST /v1/admin/stock: one result per adjustment, in the order sent.</summary>
public sealed record StockBatchResultBody(StockLineResult[] Results);

/// <summary>The answer to an accepted payment webhook: the result code, the order and its status now, and whether the event was seen before.</summary>
public sealed record PaymentCallbackResultBody(string Result, string OrderId, string? Status, bool Duplicate);
