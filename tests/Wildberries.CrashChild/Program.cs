using System.Globalization;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

// Usage: Wildberries.CrashChild <data directory> <run number> <clients>
// Prints "READY", then one line per acknowledged command: "C <key> <orderId> <amount>" or "P <orderId>".
// Runs until killed, or stops by itself after 60 seconds.
var directory = args[0];
var run = int.Parse(args[1], CultureInfo.InvariantCulture);
var clients = int.Parse(args[2], CultureInfo.InvariantCulture);
const int Skus = 20;

await using var engine = ReservationEngine.Open(new EngineOptions(), new JournalOptions { Directory = directory, SnapshotEveryEntries = 2_000 });
if (engine.Recovery[0].LastLsn == 0)
{
    for (var sku = 1; sku <= Skus; sku++) await engine.UpsertItemAsync(sku, $"item {sku}", 100 * sku, maxPerOrder: 3);
}
// Fresh stock every run, so checkouts keep succeeding across kills.
for (var sku = 1; sku <= Skus; sku++) await engine.AdjustStockAsync(sku, 1 + ((sku + run) % 3), 300);
var output = TextWriter.Synchronized(Console.Out);
output.WriteLine("READY");
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

// A snapshot while the clients run, so kills also land during snapshot writes and journal truncation.
var snapshot = Task.Run(async () =>
{
    await Task.Delay(20 + (run * 13 % 150));
    await engine.SnapshotAsync();
});

var tasks = Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
{
    for (var i = 0; !stop.IsCancellationRequested; i++)
    {
        var key = $"r{run}-c{client}-{i}";
        var sku = 1 + ((client * 7 + i) % Skus);
        var r = await engine.CheckoutAsync(key, $"customer-{client}", [new CheckoutLine(sku, 1 + (i % 3))]);
        if (!r.IsOk) continue;
        output.WriteLine($"C {key} {r.OrderId} {r.Amount}");
        if (i % 2 == 0)
        {
            var p = await engine.ApplyPaymentAsync(r.OrderId, $"tx-{key}", true, r.Amount, "RUB");
            if (p.IsOk) output.WriteLine($"P {r.OrderId}");
        }
    }
})).ToArray();
await Task.WhenAll(tasks);
await snapshot;
