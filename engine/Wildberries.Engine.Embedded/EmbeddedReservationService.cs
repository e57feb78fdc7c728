using Wildberries.Core;
using Wildberries.Protocol;
using ProtocolOrder = Wildberries.Protocol.Order;

namespace Wildberries.Engine.Embedded;

/// <summary>
/// <see cref="IReservationService"/> over a <see cref="ReservationEngine"/> in this process: the same calls, records and
/// problem codes as <c>ReservationClient</c>, so a service chooses embedding or a server by configuration. There is
/// no payment provider in-process: a checkout reserves and answers the order without a payment link, and the embedding
/// service opens the payment session itself (as the server does after the same reservation).
/// </summary>
public sealed class EmbeddedReservationService(ReservationEngine engine) : IReservationService
{
    /// <summary>1 to 255 printable ASCII characters: the HTTP API's and the protocol's idempotency key.</summary>
    public const int IdempotencyKeyLengthMax = 255;

    /// <inheritdoc />
    public async Task<ProtocolOrder> CheckoutAsync(CheckoutRequest checkout, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(checkout);
        if (!Validate.IsKey(checkout.IdempotencyKey, IdempotencyKeyLengthMax)) throw Invalid("Idempotency-Key", "1 to 255 printable ASCII characters.");
        var lines = checkout.Lines.Select(l => new CheckoutLine(l.Sku, l.Qty)).ToArray();
        var (r, order) = await engine.SubmitWithOrderAsync(Command.Checkout(checkout.IdempotencyKey, checkout.CustomerId, lines, checkout.Warehouses?.ToArray(), checkout.PaymentMethod)).ConfigureAwait(false);
        return r.IsOk ? ToOrder(order!) : throw new ReservationException(ResultProblems.Describe(r));
    }

    /// <inheritdoc />
    public async Task<ProtocolOrder> GetOrderAsync(string orderId, string customerId, CancellationToken cancellation = default)
    {
        var order = OrderId.TryParse(orderId, out var id) ? await engine.GetOrderAsync(id).ConfigureAwait(false) : null;
        if (order is null || !string.Equals(order.CustomerId, customerId, StringComparison.Ordinal)) throw new ReservationException(OrderNotFound);
        return ToOrder(order);
    }

    /// <inheritdoc />
    public async Task<ProtocolOrder> CancelOrderAsync(string orderId, string customerId, CancellationToken cancellation = default)
    {
        if (!OrderId.TryParse(orderId, out var id)) throw new ReservationException(OrderNotFound);
        var (r, order) = await engine.SubmitWithOrderAsync(Command.Cancel(id, customerId)).ConfigureAwait(false);
        return r.IsOk ? ToOrder(order!) : throw new ReservationException(ResultProblems.Describe(r));
    }

    /// <inheritdoc />
    public async Task<ItemDetail> GetItemAsync(long sku, CancellationToken cancellation = default)
    {
        var item = await engine.GetItemAsync(sku).ConfigureAwait(false) ?? throw new ReservationException(new ProblemBody("unknown_sku", 404, "The SKU is not in the catalog."));
        var rows = new Reads.WarehouseAvailability[64];
        engine.Availability.TryRead(sku, rows, out var total, out var count);
        var stock = rows.Take(Math.Min(count, rows.Length)).Select(w => new WarehouseStock(w.WarehouseId, w.Available)).ToArray();
        return new ItemDetail(item.Sku, item.Name, item.Price, engine.Options.StateMachine.Currency, item.MaxPerOrder, item.Active, total, stock);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<SkuAvailability>> GetAvailabilityAsync(IReadOnlyList<long> skus, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(skus);
        return Task.FromResult<IReadOnlyList<SkuAvailability>>([.. skus.Select(s => new SkuAvailability(s, engine.Availability.GetAvailable(s)))]);
    }

    /// <inheritdoc />
    public async Task<CatalogPage> ListItemsAsync(long afterSku = 0, int limit = 100, CancellationToken cancellation = default)
    {
        var items = await engine.ListItemsAsync(afterSku, limit).ConfigureAwait(false);
        return new CatalogPage([.. items.Select(i => new CatalogItem(i.Sku, i.Name, i.Price, i.MaxPerOrder, i.Active, engine.Availability.GetAvailable(i.Sku)))], items.Length == limit ? items[^1].Sku : null);
    }

    /// <inheritdoc />
    public async Task<ItemUpsert> PutItemAsync(ItemUpsert item, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        var max = item.MaxPerOrder ?? engine.Options.StateMachine.MaxPerOrderDefault;
        var r = await engine.SubmitAsync(Command.UpsertItem(item.Sku, item.Name, item.Price, max, item.Active)).ConfigureAwait(false);
        return r.IsOk ? item with { MaxPerOrder = max } : throw new ReservationException(ResultProblems.Describe(r));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<StockResult>> AdjustStockAsync(StockBatch batch, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var pending = batch.Adjustments.Select(a => engine.SubmitAsync(a.Delta is { } delta
            ? Command.AdjustStockDelta(a.Sku, a.WarehouseId, delta, batch.Reason)
            : Command.SetStockOnHand(a.Sku, a.WarehouseId, a.OnHand ?? throw Invalid("adjustments", "Give either delta or onHand."), a.ExpectedOnHand, batch.Reason)).AsTask()).ToArray();
        var results = new StockResult[pending.Length];
        for (var i = 0; i < pending.Length; i++)
        {
            var (a, r) = (batch.Adjustments[i], await pending[i].ConfigureAwait(false));
            results[i] = new StockResult(a.Sku, a.WarehouseId, ResultCodes.ToWire(r.Code), r.Value, r.Field);
        }
        return results;
    }

    /// <inheritdoc />
    public async Task<ProtocolOrder> ShipOrderAsync(string orderId, CancellationToken cancellation = default)
    {
        if (!OrderId.TryParse(orderId, out var id)) throw new ReservationException(OrderNotFound);
        var (r, order) = await engine.SubmitWithOrderAsync(Command.Ship(id)).ConfigureAwait(false);
        return r.IsOk ? ToOrder(order!) : throw new ReservationException(ResultProblems.Describe(r));
    }

    private static readonly ProblemBody OrderNotFound = new("order_not_found", 404, "No such order.");

    private static ReservationException Invalid(string field, string detail) =>
        new(new ProblemBody("invalid_argument", 400, "A field is missing, malformed or out of range.", detail, field));

    private static ProtocolOrder ToOrder(OrderView o) => new(
        o.OrderId.ToString(), OrderTransitions.ToWire(o.Status), o.Amount, o.Currency,
        o.Status == OrderStatus.PendingPayment ? o.ReservedUntilMs : null, o.Status == OrderStatus.PendingPayment ? o.PaymentUrl : null,
        [.. o.Lines.Select(l => new OrderLine(l.Sku, l.Quantity, l.UnitPrice, [.. l.Allocations.Select(a => new Allocation(a.WarehouseId, a.Quantity))]))]);
}
