using System.Diagnostics;
using System.Globalization;
using HdrHistogram;
using Wildberries.Core;

namespace Wildberries.Bench.Core;

/// <summary>
/// The state machine's memory with many live orders, in one process and without a journal: managed heap and RSS per
/// pending 2-line order with its idempotency key, the checkout latency (GC pauses show in its tail) and the GC's own
/// pause time while more orders arrive on top of them, a full blocking collection of that heap, and how fast a fresh
/// machine applies the same checkouts (replay at memory speed) and restores from an in-memory snapshot.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- memory [--orders 1000000] [--more 2000000]</c>;
/// GC settings are compared by running it under <c>DOTNET_gcServer=1</c>, <c>DOTNET_GCgen0size=...</c> and the like.
/// </summary>
public static class MemoryLoad
{
    private const int Skus = 10_000;
    private const long NowMs = 1_700_000_000_000;

    public static Task RunAsync(string[] args)
    {
        var orders = CommandLine.Option(args, "--orders", 1_000_000);
        var more = CommandLine.Option(args, "--more", 2_000_000);
        var gc = GCSettings();
        Console.WriteLine(Invariant($"State machine memory on {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm}Z; {gc}"));

        // The catalog alone (10,000 SKUs x 3 warehouses), so that it is not counted per order.
        var heap0 = Heap();
        var catalogOnly = Build(0, 0, out _);
        var catalogBytes = Heap() - heap0;
        GC.KeepAlive(catalogOnly);
        catalogOnly = null;

        // 1 M pending 2-line orders in a machine sized for them (OrdersCapacityHint = orders, as a flash-sale shard
        // is configured): everything it holds for them counts, the room made up front included.
        heap0 = Heap();
        var rss0 = Rss();
        var machine = Build(orders, orders, out var lsn);
        var heap1 = Heap();
        var rss1 = Rss();
        var perOrder = (heap1 - heap0 - catalogBytes) / (double)orders;
        Console.WriteLine(Invariant($"memory per live order ({orders:N0} pending 2-line orders, keys \"k<n>\" of 2-8 chars, OrdersCapacityHint = {orders:N0}): {perOrder:N0} B of managed heap; RSS +{(rss1 - rss0) / 1048576.0:N0} MiB ({(rss1 - rss0) / (double)orders:N0} B an order); catalog alone {catalogBytes / 1048576.0:N1} MiB"));
        Console.WriteLine(Invariant($"  the commands' key strings (about {KeyBytes(orders) / (double)orders:N0} B an order, 96 B for a UUID key) are not kept: the machine copies a key's ASCII bytes (8 B here, 36 for a UUID)"));

        // The same orders in a machine left to grow its tables as they fill (the default hint of 1,024).
        var grown0 = Heap();
        var grown = Build(1_024, orders, out _);
        var grownPerOrder = (Heap() - grown0 - catalogBytes) / (double)orders;
        GC.KeepAlive(grown);
        grown = null;
        Console.WriteLine(Invariant($"  the same orders in a machine that grows as they come (OrdersCapacityHint = 1,024): {grownPerOrder:N0} B an order"));

        // A full blocking collection marks every live order: its time is the worst pause the heap's shape can cause.
        var full = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var t = Stopwatch.GetTimestamp();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
            full.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        full.Sort();
        Console.WriteLine(Invariant($"full blocking GC with {orders:N0} live orders: {full[0]:N1} / {full[1]:N1} / {full[2]:N1} ms (min / median / max of 3)"));

        // More checkouts on top: commands are made as the journal's decoder would (a new key string each), so gen0
        // fills and is collected while millions of orders are live; the per-checkout latency tail shows the pauses.
        MeasureCheckouts(machine, ref lsn, orders, more);

        // Replay at memory speed: a fresh machine applies the same checkouts (commands prepared beforehand).
        GC.KeepAlive(machine);
        machine = null;
        Heap();
        Replay(orders);
        return Task.CompletedTask;
    }

    private static void MeasureCheckouts(ReservationStateMachine machine, ref long lsn, int from, int count)
    {
        var events = new EventBuffer();
        var histogram = new LongHistogram(10_000_000_000, 3);
        var pause0 = GC.GetTotalPauseDuration();
        var (g0, g1, g2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        var allocated0 = GC.GetTotalAllocatedBytes(precise: true);
        var start = Stopwatch.GetTimestamp();
        for (var i = from; i < from + count; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var c = CheckoutCommand(i);
            c.Lsn = ++lsn;
            c.TimestampMs = NowMs;
            events.Clear();
            var r = machine.Apply(c, events);
            if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
            histogram.RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - t) * 1_000_000_000 / Stopwatch.Frequency));
        }
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated0;
        var pause = GC.GetTotalPauseDuration() - pause0;
        Console.WriteLine(Invariant($"{count:N0} more checkouts on top of {from:N0} live orders (command made per checkout): {count / seconds:N0}/s; latency p50 {Us(histogram, 50)} us, p99 {Us(histogram, 99)} us, p99.99 {Us(histogram, 99.99)} us, max {histogram.GetMaxValue() / 1e6:F2} ms"));
        Console.WriteLine(Invariant($"  GC during them: {pause.TotalMilliseconds:N0} ms paused in all ({pause.TotalSeconds / seconds:P1} of the time); collections gen0 {GC.CollectionCount(0) - g0}, gen1 {GC.CollectionCount(1) - g1}, gen2 {GC.CollectionCount(2) - g2}; {allocated / (double)count:N0} B allocated a checkout (its command included)"));
    }

    private static void Replay(int orders)
    {
        var commands = new Command[orders];
        for (var i = 0; i < orders; i++) commands[i] = CheckoutCommand(i);
        var machine = new ReservationStateMachine(new StateMachineOptions { OrdersCapacityHint = orders, SkusCapacityHint = Skus });
        var lsn = LoadCatalog(machine);
        var events = new EventBuffer();
        var allocated0 = GC.GetTotalAllocatedBytes(precise: true);
        var t = Stopwatch.GetTimestamp();
        for (var i = 0; i < orders; i++)
        {
            commands[i].Lsn = ++lsn;
            commands[i].TimestampMs = NowMs;
            events.Clear();
            machine.Apply(commands[i], events);
        }
        var apply = Stopwatch.GetElapsedTime(t);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated0;
        Console.WriteLine(Invariant($"replay at memory speed: {orders:N0} checkouts applied to a fresh machine in {apply.TotalMilliseconds:N0} ms = {orders / apply.TotalSeconds:N0} entries/s, {allocated / (double)orders:N0} B allocated an entry"));

        t = Stopwatch.GetTimestamp();
        var snapshot = machine.CaptureSnapshot();
        var capture = Stopwatch.GetElapsedTime(t);
        var hash = machine.ComputeStateHash();
        machine = null;
        t = Stopwatch.GetTimestamp();
        var restored = ReservationStateMachine.Restore(snapshot, new StateMachineOptions { OrdersCapacityHint = orders, SkusCapacityHint = Skus });
        var restore = Stopwatch.GetElapsedTime(t);
        if (restored.ComputeStateHash() != hash) throw new InvalidOperationException("the restored machine hashes differently");
        Console.WriteLine(Invariant($"snapshot in memory of {orders:N0} orders: capture {capture.TotalMilliseconds:N0} ms, restore (with the invariant check) {restore.TotalMilliseconds:N0} ms; state hash {hash:x16}"));
    }

    private static ReservationStateMachine Build(int hint, int orders, out long lsn)
    {
        var machine = new ReservationStateMachine(new StateMachineOptions { OrdersCapacityHint = hint, SkusCapacityHint = Skus });
        lsn = LoadCatalog(machine);
        var events = new EventBuffer();
        for (var i = 0; i < orders; i++)
        {
            var c = CheckoutCommand(i);
            c.Lsn = ++lsn;
            c.TimestampMs = NowMs;
            events.Clear();
            if (!machine.Apply(c, events).IsOk) throw new InvalidOperationException("checkout failed");
        }
        return machine;
    }

    private static long LoadCatalog(ReservationStateMachine machine) => Workload.LoadCatalog(machine, Skus, NowMs);

    private static readonly string[] Customers = [.. Enumerable.Range(0, 1000).Select(i => "customer-" + i.ToString(CultureInfo.InvariantCulture))];

    // Two distinct SKUs of the catalog; the key is new per order, the customer one of 1,000.
    private static Command CheckoutCommand(int i) =>
        Command.Checkout("k" + i.ToString(CultureInfo.InvariantCulture), Customers[i % Customers.Length],
            [new CheckoutLine(1 + (i % Skus), 1), new CheckoutLine(1 + ((i + 1) % Skus), 1)]);

    // A string is a 20-byte header (object header, method table, length), its UTF-16 chars and a terminator, in 8s.
    private static long KeyBytes(int orders)
    {
        long total = 0;
        for (var i = 0; i < orders; i++)
        {
            var chars = 1 + i.ToString(CultureInfo.InvariantCulture).Length;
            total += (20 + (2 * chars) + 2 + 7) / 8 * 8;
        }
        return total;
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static long Rss()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    private static string Us(LongHistogram h, double percentile) =>
        (h.GetValueAtPercentile(percentile) / 1000.0).ToString("F1", CultureInfo.InvariantCulture);

    private static string GCSettings() =>
        Invariant($"GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, latency mode {System.Runtime.GCSettings.LatencyMode}; {string.Join(", ", GcVariables.Select(v => $"{v}={Environment.GetEnvironmentVariable("DOTNET_" + v) ?? "-"}"))}");

    private static readonly string[] GcVariables = ["gcServer", "gcConcurrent", "TieredPGO", "GCgen0size", "GCHeapCount", "GCHeapAffinitizeMask"];

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
