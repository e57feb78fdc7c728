using System.Diagnostics;
using System.Globalization;
using HdrHistogram;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Bench.Durable;

/// <summary>
/// The durability benchmark (not BenchmarkDotNet: it measures an open system over seconds, with latency
/// percentiles): durable checkouts per second at 1, 16 and 256 concurrent callers, latency at half the peak load,
/// journal replay speed, and recovery of a large state from a snapshot.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- durable [--seconds 5] [--rows 10000000] [--orders 1000000] [--trace]</c>.
/// </summary>
public static class DurableLoad
{
    private const int Skus = 10_000;

    public static async Task RunAsync(string[] args)
    {
        var seconds = CommandLine.Option(args, "--seconds", 5);
        var rows = CommandLine.Option(args, "--rows", 10_000_000);
        var orders = CommandLine.Option(args, "--orders", 1_000_000);
        // --trace: an ActivityListener records every checkout's activities, the cost of tracing while a collector listens.
        using var tracing = args.Contains("--trace") ? new ActivityListener
        {
            ShouldListenTo = s => s.Name == EngineTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        } : null;
        if (tracing is not null) ActivitySource.AddActivityListener(tracing);
        Console.WriteLine($"Durable engine on {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}, FASTER journal in a temp directory{(tracing is null ? "" : ", checkouts traced")}");

        double peak = 0;
        string? replayDirectory = null;
        foreach (var callers in new[] { 1, 16, 256, 4096 })
        {
            var dir = Directory.CreateTempSubdirectory("wb-durable-").FullName;
            Settle();
            var r = await MeasureAsync(dir, callers, TimeSpan.FromSeconds(seconds));
            Console.WriteLine(Describe($"{callers,3} callers, closed loop", r));
            if (callers == 4096)
            {
                peak = r.PerSecond;
                replayDirectory = dir;
            }
            else
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        foreach (var fraction in new[] { 0.1, 0.25, 0.5 })
        {
            Settle();
            var paced = Directory.CreateTempSubdirectory("wb-durable-").FullName;
            var r = await MeasurePacedAsync(paced, TimeSpan.FromSeconds(seconds), ratePerSecond: peak * fraction);
            Console.WriteLine(Describe($"open loop at {fraction:P0} of peak ({peak * fraction:N0}/s offered)", r));
            Directory.Delete(paced, recursive: true);
        }

        // Replay: reopen the 4096-caller journal; no snapshot exists there, so every entry is replayed.
        var started = Stopwatch.GetTimestamp();
        var hinted = new EngineOptions { StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 22, SkusCapacityHint = Skus } };
        await using (var reopened = ReservationEngine.Open(hinted, Journal(replayDirectory!)))
        {
            var report = reopened.Recovery[0];
            Console.WriteLine($"journal replay: {report.ReplayedEntries:N0} entries in {report.ReplayDuration.TotalMilliseconds:N0} ms = {report.ReplayedEntries / report.ReplayDuration.TotalSeconds:N0} entries/s; recovery in all (with hash and invariant checks) {report.Duration.TotalMilliseconds:N0} ms");
        }
        Directory.Delete(replayDirectory!, recursive: true);

        SnapshotRecovery(rows, orders);
    }

    // The previous run's engine (millions of orders) is garbage now: collect it before the next run is measured.
    private static void Settle()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    private static JournalOptions Journal(string dir) => new() { Directory = dir, SnapshotEveryEntries = 0 };

    private sealed record Result(long Count, double PerSecond, LongHistogram Latency, long Commits);

    private static string Describe(string what, Result r) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{what}: {r.PerSecond,10:N0} checkouts/s, p50 {Ms(r.Latency, 50)} ms, p99 {Ms(r.Latency, 99)} ms, p99.9 {Ms(r.Latency, 99.9)} ms, max {r.Latency.GetMaxValue() / 1000.0:F2} ms; {r.Count / Math.Max(1, r.Commits):N0} checkouts per commit");

    private static string Ms(LongHistogram h, double percentile) =>
        (h.GetValueAtPercentile(percentile) / 1000.0).ToString("F2", CultureInfo.InvariantCulture);

    private static async Task<Result> MeasureAsync(string dir, int callers, TimeSpan duration)
    {
        var options = new EngineOptions { StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 21, SkusCapacityHint = Skus } };
        await using var engine = ReservationEngine.Open(options, Journal(dir));
        await Task.WhenAll(Workload.CatalogCommands(Skus).Select(c => engine.SubmitAsync(c).AsTask()));
        var commitsBefore = CountCommits(engine);
        var carts = Workload.Carts(1 << 16, 1, Skus, SkuMix.Zipf);
        var histograms = Enumerable.Range(0, callers).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
        var counts = new long[callers];
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);

        await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
        {
            var h = histograms[c];
            for (var i = 0; ; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                if (t0 >= end) break;
                var r = await engine.CheckoutAsync($"{c}-{i}", "customer", carts[(c * 7919 + i) & 0xFFFF]);
                if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
                h.RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency));
                counts[c]++;
            }
        })));
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var all = new LongHistogram(60_000_000, 3);
        foreach (var h in histograms) all.Add(h);
        var total = counts.Sum();
        return new Result(total, total / elapsed, all, CountCommits(engine) - commitsBefore);
    }

    /// <summary>
    /// Open loop: one pacing thread starts a checkout at every scheduled instant whatever the answers do, and the
    /// latency is counted from the scheduled instant (no coordinated omission).
    /// </summary>
    private static async Task<Result> MeasurePacedAsync(string dir, TimeSpan duration, double ratePerSecond)
    {
        var options = new EngineOptions { StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 21, SkusCapacityHint = Skus } };
        await using var engine = ReservationEngine.Open(options, Journal(dir));
        await Task.WhenAll(Workload.CatalogCommands(Skus).Select(c => engine.SubmitAsync(c).AsTask()));
        var carts = Workload.Carts(1 << 16, 1, Skus, SkuMix.Zipf);
        var commitsBefore = CountCommits(engine);
        var histogram = new LongHistogram(60_000_000, 3);
        var inflight = new List<Task>();
        var interval = Stopwatch.Frequency / ratePerSecond;
        var start = Stopwatch.GetTimestamp();
        var count = (long)(duration.TotalSeconds * ratePerSecond);
        var pacer = new Thread(() =>
        {
            for (long i = 0; i < count; i++)
            {
                var scheduled = start + (long)(i * interval);
                // Sleep while more than a millisecond ahead, then issue everything due: the pacer must not take a core.
                while (scheduled - Stopwatch.GetTimestamp() > Stopwatch.Frequency / 1000) Thread.Sleep(1);
                var task = Record(engine.CheckoutAsync($"p-{i}", "customer", carts[i & 0xFFFF]), scheduled, histogram);
                if (!task.IsCompleted) lock (inflight) inflight.Add(task);
            }
        }) { IsBackground = true, Name = "pacer" };
        pacer.Start();
        pacer.Join();
        Task[] pending;
        lock (inflight) pending = [.. inflight];
        await Task.WhenAll(pending);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new Result(count, count / elapsed, histogram, CountCommits(engine) - commitsBefore);

        static async Task Record(ValueTask<CommandResult> answer, long scheduled, LongHistogram histogram)
        {
            var r = await answer;
            if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
            var micros = (Stopwatch.GetTimestamp() - scheduled) * 1_000_000 / Stopwatch.Frequency;
            lock (histogram) histogram.RecordValue(Math.Max(0, micros));
        }
    }

    // Every commit is one observation in the commit-latency histogram.
    private static long CountCommits(ReservationEngine engine) => engine.CommitLatency.Sum(h => h.Read().Counts.Sum());

    /// <summary>Recovery of a large state: rows stock rows and orders pending orders, saved as a snapshot and loaded back.</summary>
    private static void SnapshotRecovery(int rows, int orders)
    {
        var skus = rows / 3;
        Console.WriteLine($"building a state of {skus * 3:N0} stock rows and {orders:N0} orders...");
        var options = new StateMachineOptions { OrdersCapacityHint = orders, SkusCapacityHint = skus };
        var machine = new ReservationStateMachine(options);
        var events = new EventBuffer();
        long lsn = 0;
        void Apply(Command c)
        {
            c.Lsn = ++lsn;
            c.TimestampMs = 1_700_000_000_000;
            events.Clear();
            machine.Apply(c, events);
        }
        for (long sku = 1; sku <= skus; sku++)
        {
            Apply(Command.UpsertItem(sku, "item", 100, 100, true));
            for (var w = 1; w <= 3; w++) Apply(Command.SetStockOnHand(sku, w, 1_000));
        }
        for (var i = 0; i < orders; i++) Apply(Command.Checkout("k" + i.ToString(CultureInfo.InvariantCulture), "c", [new CheckoutLine(1 + (i % skus), 1)]));

        var dir = Directory.CreateTempSubdirectory("wb-snapshot-").FullName;
        try
        {
            var store = new SnapshotStore(dir);
            var t = Stopwatch.GetTimestamp();
            var captured = machine.CaptureSnapshot();
            var capture = Stopwatch.GetElapsedTime(t);
            var file = store.Save(captured, 0, machine.ComputeStateHash());
            var save = Stopwatch.GetElapsedTime(t) - capture;
            var size = new FileInfo(file.Path).Length;
            captured = null;
            machine = null;
            GC.Collect();

            t = Stopwatch.GetTimestamp();
            var loaded = store.LoadLatest(options, []) ?? throw new InvalidOperationException("snapshot did not load");
            var load = Stopwatch.GetElapsedTime(t);
            Console.WriteLine($"snapshot of {skus * 3:N0} rows + {orders:N0} orders: capture {capture.TotalMilliseconds:N0} ms (off the writer: the snapshotter's own copy), write {save.TotalMilliseconds:N0} ms, {size / 1048576.0:N0} MiB");
            Console.WriteLine($"recovery from it (read, verify, restore, rebuild indexes, check hash and invariants): {load.TotalMilliseconds:N0} ms; state hash {loaded.Machine.ComputeStateHash():x16}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
