namespace Wildberries.Protocol;

/// <summary>
/// The reservation service as a caller sees it, whether it calls a server over the binary protocol
/// (<c>ReservationClient</c>) or embeds the engine: a service switches between them by configuration. Failures are
/// <see cref="ReservationException"/>s with the stable problem codes of the HTTP API.
/// </summary>
public interface IReservationService
{
    /// <summary>Reserves the lines and opens the payment session; a retry with the same idempotency key answers the first outcome.</summary>
    Task<Order> CheckoutAsync(CheckoutRequest checkout, CancellationToken cancellation = default);

    /// <summary>One order of <paramref name="customerId"/>.</summary>
    Task<Order> GetOrderAsync(string orderId, string customerId, CancellationToken cancellation = default);

    /// <summary>Cancels an unpaid order of <paramref name="customerId"/>, releasing its stock.</summary>
    Task<Order> CancelOrderAsync(string orderId, string customerId, CancellationToken cancellation = default);

    /// <summary>One catalog item with its availability per warehouse.</summary>
    Task<ItemDetail> GetItemAsync(long sku, CancellationToken cancellation = default);

    /// <summary>Units available of each SKU, in the order asked.</summary>
    Task<IReadOnlyList<SkuAvailability>> GetAvailabilityAsync(IReadOnlyList<long> skus, CancellationToken cancellation = default);

    /// <summary>A catalog page: items after <paramref name="afterSku"/>.</summary>
    Task<CatalogPage> ListItemsAsync(long afterSku = 0, int limit = 100, CancellationToken cancellation = default);

    /// <summary>Admin: creates or updates a catalog item.</summary>
    Task<ItemUpsert> PutItemAsync(ItemUpsert item, CancellationToken cancellation = default);

    /// <summary>Admin: applies a batch of stock adjustments, in order.</summary>
    Task<IReadOnlyList<StockResult>> AdjustStockAsync(StockBatch batch, CancellationToken cancellation = default);

    /// <summary>Admin: ships a paid order.</summary>
    Task<Order> ShipOrderAsync(string orderId, CancellationToken cancellation = default);
}
