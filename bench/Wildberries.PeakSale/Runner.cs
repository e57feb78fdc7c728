using System.Diagnostics;
using HdrHistogram;

namespace Wildberries.PeakSale;

/// <summary>What one system did with the sale, and whether its books balance.</summary>
public sealed record SaleResult(
    string System, int Visits, long Orders, long ShortCheckouts, double CheckoutsPerSecond, double P50Ms, double P99Ms, double Seconds,
    long Oversold, long ReservedMismatches, long CommittedMismatches, long LostOrders);

/// <summary>Runs one flash sale against one system and checks the outcome.</summary>
public static class Runner
{
    public static async Task<SaleResult> RunAsync(IReservationSystem system, FlashSaleOptions sale, Visit[] visits, Action<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(sale);
        ArgumentNullException.ThrowIfNull(visits);
        await system.LoadAsync(sale);
        var histograms = Enumerable.Range(0, sale.Concurrency).Select(_ => new LongHistogram(120_000_000, 3)).ToArray();
        var acknowledged = new List<string>[sale.Concurrency];
        long shorts = 0, done = 0;
        var next = -1;
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, sale.Concurrency).Select(worker => Task.Run(async () =>
        {
            var mine = acknowledged[worker] = [];
            int i;
            while ((i = Interlocked.Increment(ref next)) < visits.Length)
            {
                var visit = visits[i];
                var t0 = Stopwatch.GetTimestamp();
                var order = await system.CheckoutAsync($"v{visit.Customer}", visit);
                histograms[worker].RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency));
                if (order is null)
                {
                    Interlocked.Increment(ref shorts);
                }
                else
                {
                    mine.Add(order);
                    if (visit.Payment != Payment.Never) await system.PayAsync(order, visit.Payment == Payment.Pays);
                }
                if (Interlocked.Increment(ref done) % 1_000 == 0) progress?.Invoke((double)done / visits.Length);
            }
        })));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        progress?.Invoke(1);
        var latency = new LongHistogram(120_000_000, 3);
        foreach (var h in histograms) latency.Add(h);

        var audit = await system.AuditAsync();
        var ids = audit.Orders.Select(o => o.Id).ToHashSet(StringComparer.Ordinal);
        var acked = acknowledged.SelectMany(a => a).ToList();
        var sums = new Dictionary<(long, int), (long Reserved, long Committed)>();
        foreach (var o in audit.Orders)
        {
            foreach (var l in o.Lines)
            {
                sums.TryGetValue((l.Sku, l.Warehouse), out var s);
                if (o.Status == "PENDING") s.Reserved += l.Qty;
                if (o.Status == "PAID") s.Committed += l.Qty;
                sums[(l.Sku, l.Warehouse)] = s;
            }
        }
        long oversold = 0, reservedBad = 0, committedBad = 0;
        foreach (var r in audit.Rows)
        {
            if (r.Reserved + r.Committed > r.OnHand || r.Reserved < 0 || r.Committed < 0) oversold++;
            var s = sums.GetValueOrDefault((r.Sku, r.Warehouse));
            if (s.Reserved != r.Reserved) reservedBad++;
            if (s.Committed != r.Committed) committedBad++;
        }
        return new SaleResult(system.Name, visits.Length, acked.Count, shorts, visits.Length / seconds,
            latency.GetValueAtPercentile(50) / 1000.0, latency.GetValueAtPercentile(99) / 1000.0, seconds,
            oversold, reservedBad, committedBad, acked.Count(id => !ids.Contains(id)));
    }
}
