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
    /// <summary>
    /// Loads the sale, runs the <paramref name="warmUp"/> visits unmeasured (their own idempotency keys; they take some
    /// stock as any early customer would), then the measured <paramref name="visits"/> at the sale's concurrency, and
    /// audits: the outcome checks cover every order, warm-up ones included. <paramref name="measuring"/> is told when the
    /// measured window starts (true) and ends (false).
    /// </summary>
    public static async Task<SaleResult> RunAsync(IReservationSystem system, FlashSaleOptions sale, Visit[] visits, Action<double>? progress = null, Visit[]? warmUp = null, Action<bool>? measuring = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(sale);
        ArgumentNullException.ThrowIfNull(visits);
        await system.LoadAsync(sale);
        var acknowledged = new List<string>();
        if (warmUp is { Length: > 0 }) await DriveAsync(system, warmUp, sale.Concurrency, "w", acknowledged, null, null);
        var histograms = Enumerable.Range(0, sale.Concurrency).Select(_ => new LongHistogram(120_000_000, 3)).ToArray();
        var warmOrders = acknowledged.Count;
        measuring?.Invoke(true);
        var started = Stopwatch.GetTimestamp();
        var shorts = await DriveAsync(system, visits, sale.Concurrency, "v", acknowledged, histograms, progress);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        measuring?.Invoke(false);
        progress?.Invoke(1);
        var latency = new LongHistogram(120_000_000, 3);
        foreach (var h in histograms) latency.Add(h);

        var audit = await system.AuditAsync();
        var ids = audit.Orders.Select(o => o.Id).ToHashSet(StringComparer.Ordinal);
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
        return new SaleResult(system.Name, visits.Length, acknowledged.Count - warmOrders, shorts, visits.Length / seconds,
            latency.GetValueAtPercentile(50) / 1000.0, latency.GetValueAtPercentile(99) / 1000.0, seconds,
            oversold, reservedBad, committedBad, acknowledged.Count(id => !ids.Contains(id)));
    }

    /// <summary>Runs the visits with <paramref name="concurrency"/> customers at a time; how many checkouts were short.</summary>
    private static async Task<long> DriveAsync(
        IReservationSystem system, Visit[] visits, int concurrency, string keyPrefix, List<string> acknowledged, LongHistogram[]? histograms, Action<double>? progress)
    {
        var mine = new List<string>[concurrency];
        long shorts = 0, done = 0;
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var orders = mine[worker] = [];
            int i;
            while ((i = Interlocked.Increment(ref next)) < visits.Length)
            {
                var visit = visits[i];
                var t0 = Stopwatch.GetTimestamp();
                var order = await system.CheckoutAsync(keyPrefix + visit.Customer.ToString(System.Globalization.CultureInfo.InvariantCulture), visit);
                histograms?[worker].RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency));
                if (order is null)
                {
                    Interlocked.Increment(ref shorts);
                }
                else
                {
                    orders.Add(order);
                    if (visit.Payment != Payment.Never) await system.PayAsync(order, visit.Payment == Payment.Pays);
                }
                if (Interlocked.Increment(ref done) % 1_000 == 0) progress?.Invoke((double)done / visits.Length);
            }
        })));
        foreach (var m in mine) acknowledged.AddRange(m);
        return shorts;
    }
}
