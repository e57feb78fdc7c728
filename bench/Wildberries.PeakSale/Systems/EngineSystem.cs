using System.Collections.Concurrent;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

namespace Wildberries.PeakSale.Systems;

/// <summary>The engine in-process with its durable FASTER journal.</summary>
public sealed class EngineSystem : IReservationSystem
{
    private readonly string _directory = Directory.CreateTempSubdirectory("wb-peak-engine-").FullName;
    private readonly ConcurrentDictionary<string, long> _amounts = new(StringComparer.Ordinal);
    private ReservationEngine? _engine;

    public string Name => "engine (in-process, durable)";

    /// <summary>The engine, once loaded (for diagnostics).</summary>
    public ReservationEngine? Engine => _engine;

    public async Task LoadAsync(FlashSaleOptions sale)
    {
        ArgumentNullException.ThrowIfNull(sale);
        var options = new EngineOptions { StateMachine = new StateMachineOptions { OrdersCapacityHint = sale.Visits, SkusCapacityHint = sale.Skus } };
        _engine = ReservationEngine.Open(options, new JournalOptions { Directory = _directory, SnapshotEveryEntries = 0 });
        await Task.WhenAll(Catalog.Commands(sale).Select(c => _engine.SubmitAsync(c).AsTask()));
    }

    public async Task<string?> CheckoutAsync(string idempotencyKey, Visit visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        var r = await _engine!.CheckoutAsync(idempotencyKey, $"c{visit.Customer}", [.. visit.Lines.Select(l => new CheckoutLine(l.Sku, l.Qty))]);
        if (r.Code == ResultCode.InsufficientStock) return null;
        if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
        var id = r.OrderId.ToString();
        _amounts[id] = r.Amount;
        return id;
    }

    public async Task PayAsync(string orderId, bool succeeded)
    {
        if (!OrderId.TryParse(orderId, out var id)) throw new ArgumentException($"not an order id: {orderId}", nameof(orderId));
        var r = await _engine!.ApplyPaymentAsync(id, "tx-" + orderId, succeeded, _amounts[orderId], "RUB");
        if (!r.IsOk) throw new InvalidOperationException($"payment failed: {r.Code}");
    }

    public async Task<Audit> AuditAsync() => ToAudit(await _engine!.AuditAsync());

    internal static Audit ToAudit(EngineAudit a) => new(
        [.. a.Rows.Select(r => new AuditRow(r.Sku, r.WarehouseId, r.OnHand, r.Reserved, r.Committed))],
        [.. a.Orders.Select(o => new AuditOrder(o.OrderId.ToString(), o.Status switch
        {
            OrderStatus.PendingPayment => "PENDING",
            OrderStatus.Paid => "PAID",
            _ => "CANCELLED",
        }, [.. o.Lines.SelectMany(l => l.Allocations.Select(x => new AuditLine(l.Sku, x.WarehouseId, x.Quantity)))]))]);

    public async ValueTask DisposeAsync()
    {
        if (_engine is not null) await _engine.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>The catalog of a sale as engine commands (also what the host loads over its admin API).</summary>
public static class Catalog
{
    public static IEnumerable<Command> Commands(FlashSaleOptions sale)
    {
        ArgumentNullException.ThrowIfNull(sale);
        for (long sku = 1; sku <= sale.Skus; sku++)
        {
            yield return Command.UpsertItem(sku, $"item {sku}", FlashSale.Price(sku), 10, true);
            for (var w = 1; w <= sale.Warehouses; w++) yield return Command.SetStockOnHand(sku, w, FlashSale.Stock(sale, sku));
        }
    }
}
