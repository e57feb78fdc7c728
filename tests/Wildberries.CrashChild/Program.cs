using System.Globalization;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

// Usage: Wildberries.CrashChild <data directory> <run number> <clients> [shards=2]
// Prints "READY", then one line per acknowledged command: "C <key> <orderId> <amount>" or "P <orderId>".
// With shards=N (N > 1) the engine keeps N shards and the clients mostly buy carts spanning shards; a checkout line
// then also names the cart, "C <key> <orderId> <amount> <sku>x<qty>,<sku>x<qty>,...", a cancel is "X <orderId>" and a refused checkout "R <key> <code>".
// Runs until killed, or stops by itself after 60 seconds.
var directory = args[0];
var run = int.Parse(args[1], CultureInfo.InvariantCulture);
var clients = int.Parse(args[2], CultureInfo.InvariantCulture);
var shards = args.Length > 3 && args[3].StartsWith("shards=", StringComparison.Ordinal) ? int.Parse(args[3].AsSpan(7), CultureInfo.InvariantCulture) : 1;
const int Skus = 20;
var journal = new JournalOptions { Directory = directory, SnapshotEveryEntries = 2_000 };

if (shards > 1)
{
    await CrossShardAsync();
    return;
}

await using var engine = ReservationEngine.Open(new EngineOptions(), journal);
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

// Carts spanning shards under load: two-phase reservations, payments (their holds committed) and cancels (their
// holds released), killed at any step.
async Task CrossShardAsync()
{
    await using var engine = ReservationEngine.Open(new EngineOptions { ShardCount = shards }, journal);
    var skusOf = Enumerable.Range(0, shards)
        .Select(s => Enumerable.Range(1, Skus).Select(k => (long)k).Where(k => ShardRouter.ShardOf(k, shards) == s).ToArray())
        .ToArray();
    if (skusOf.Any(s => s.Length < 2)) throw new InvalidOperationException("every shard needs at least two SKUs");
    // Upserted every run (the same item again changes nothing), so a run killed while seeding cannot leave a shard bare.
    for (var sku = 1; sku <= Skus; sku++) await engine.UpsertItemAsync(sku, $"item {sku}", 100 * sku, maxPerOrder: 3);
    // Plenty of most SKUs, but the last SKU of each shard is scarce: carts with it are refused now and then, at home
    // or by the hold on the other shard (the order is then aborted at home).
    var scarce = skusOf.Select(s => s[^1]).ToHashSet();
    for (var sku = 1; sku <= Skus; sku++) await engine.AdjustStockAsync(sku, 1 + ((sku + run) % 3), scarce.Contains(sku) ? 3 : 100);
    var output = TextWriter.Synchronized(Console.Out);
    output.WriteLine("READY");
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

    var snapshot = Task.Run(async () =>
    {
        await Task.Delay(20 + (run * 13 % 150));
        await engine.SnapshotAsync();
    });

    var tasks = Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
    {
#pragma warning disable CA5394 // Workload shape, not security.
        var random = new Random(run * 1_000 + client);
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var key = $"r{run}-c{client}-{i}";
            // Mostly a line on each of two shards (home first, picked at random) plus sometimes a third anywhere;
            // one cart in six stays on one shard.
            var home = random.Next(shards);
            var other = (home + 1 + random.Next(shards - 1)) % shards;
            var skus = new List<long> { skusOf[home][random.Next(skusOf[home].Length)] };
            if (random.Next(6) > 0) skus.Add(skusOf[other][random.Next(skusOf[other].Length)]);
            if (random.Next(2) == 0)
            {
                var s = random.Next(shards);
                var third = skusOf[s][random.Next(skusOf[s].Length)];
                if (!skus.Contains(third)) skus.Add(third);
            }
            CheckoutLine[] lines = [.. skus.Select(sku => new CheckoutLine(sku, 1 + random.Next(3)))];
            var action = random.Next(6);
#pragma warning restore CA5394
            var r = await engine.CheckoutAsync(key, $"customer-{client}", lines);
            if (!r.IsOk)
            {
                output.WriteLine($"R {key} {r.Code}");
                continue;
            }
            output.WriteLine($"C {key} {r.OrderId} {r.Amount} {string.Join(',', lines.Select(l => $"{l.Sku}x{l.Quantity}"))}");
            if (action < 3)
            {
                var p = await engine.ApplyPaymentAsync(r.OrderId, $"tx-{key}", true, r.Amount, "RUB");
                if (p.IsOk) output.WriteLine($"P {r.OrderId}");
            }
            else if (action == 3)
            {
                var x = await engine.CancelAsync(r.OrderId);
                if (x.IsOk) output.WriteLine($"X {r.OrderId}");
            }
        }
    })).ToArray();
    await Task.WhenAll(tasks);
    await snapshot;
}
