namespace Wildberries.PeakSale;

/// <summary>A stock row as a system reports it at the end.</summary>
public readonly record struct AuditRow(long Sku, int Warehouse, long OnHand, long Reserved, long Committed);

/// <summary>A line of an order as a system reports it at the end.</summary>
public readonly record struct AuditLine(long Sku, int Warehouse, int Qty);

/// <summary>An order as a system reports it at the end: PENDING, PAID or CANCELLED.</summary>
public sealed record AuditOrder(string Id, string Status, AuditLine[] Lines);

/// <summary>Everything a system holds at the end of a sale, for the outcome checks.</summary>
public sealed record Audit(AuditRow[] Rows, AuditOrder[] Orders);

/// <summary>One way to run a flash sale: the engine, the host over HTTP, PostgreSQL, Redis.</summary>
public interface IReservationSystem : IAsyncDisposable
{
    /// <summary>The name in the results table.</summary>
    string Name { get; }

    /// <summary>Creates the catalog and stock of the sale.</summary>
    Task LoadAsync(FlashSaleOptions sale);

    /// <summary>Reserves every line or nothing; the order id, or null when some line is short.</summary>
    Task<string?> CheckoutAsync(string idempotencyKey, Visit visit);

    /// <summary>The payment result of an order.</summary>
    Task PayAsync(string orderId, bool succeeded);

    /// <summary>Everything it holds now.</summary>
    Task<Audit> AuditAsync();
}
