using System.Diagnostics;
using System.Globalization;
using HdrHistogram;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Durability;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Reads;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Bench.Durable;

/// <summary>
/// The durability benchmark (not BenchmarkDotNet: it measures an open system over seconds, with latency
/// percentiles): one journal commit alone and one caller's checkouts, each against the raw device (synchronous
/// 4 KiB writes in the same directory, like <c>dd oflag=dsync</c>, interleaved with them), durable checkouts per second at 1, 16, 256 and 4,096 concurrent callers, latency in an
/// open loop at 10/25/50 % of the peak (with what happened meanwhile: GC pauses, thread pool, commit times),
/// journal replay speed, and recovery of a large state from a snapshot.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- durable [--quick] [--seconds 5] [--repeat 1]
/// [--compare | --compare-device | --compare-legacy] [--only commit,closed,open,replay,snapshot] [--rows 10000000] [--orders 1000000] [--trace]</c>.
/// <c>--quick</c>: 2-second loads at 1 and 4,096 callers and a small snapshot, under a minute. <c>--compare</c>:
/// every load also with the pipeline before small batches were applied on the journal thread (every batch handed to
/// the apply thread: one more wake-up a command at low load). <c>--compare-device</c>:
/// every load and the single commit also with FASTER's own log device (the write issued on a thread-pool thread, the
/// commit completed on FASTER's commit worker) instead of <c>SyncFileDevice</c>; <c>--compare-legacy</c>: with the
/// commit path before issue 15 (commit mark fsynced on every batch, FASTER's commit file on every commit, a
/// Thread.Yield spin through the write). Side by side in the same run (the open loops offer the same rate to both: a
/// fraction of the new path's peak). Every load also prints the bytes the process allocated per checkout. <c>--repeat N</c>: everything N
/// times, for the spread. <c>--compare-tables</c>: every open loop also with the state machine's tables mapped as
/// first written (before: the writer stalled on page faults in the first 100-250 ms of a fresh engine);
/// <c>--lazy-tables</c>: only that way. <c>--pool-trace</c>: the thread pool, the answers and each thread's CPU and
/// page faults every 10 ms around the open loop's slowest checkouts (over 20 ms).
/// </summary>
public static class DurableLoad
{
    private const int Skus = 10_000;

    public static async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var seconds = CommandLine.Option(args, "--seconds", quick ? 2 : 5);
        var rows = CommandLine.Option(args, "--rows", quick ? 300_000 : 10_000_000);
        var orders = CommandLine.Option(args, "--orders", quick ? 30_000 : 1_000_000);
        var repeat = CommandLine.Option(args, "--repeat", 1);
        // --compare: the same run also with the pipeline before (every batch handed to the apply thread);
        // --compare-device: with FASTER's own device (the commit path before SyncFileDevice: the write on a pool
        // thread, the commit completed on FASTER's commit worker); --compare-legacy: the path before issue 15.
        var compare = args.Contains("--compare") || args.Contains("--compare-device") || args.Contains("--compare-legacy");
        s_baseline = args.Contains("--compare-legacy") ? Baseline.BeforeIssue15 : args.Contains("--compare-device") ? Baseline.FasterDevice : Baseline.SeparateApply;
        s_taskPerCheckout = args.Contains("--task-per-checkout");
        s_poolTrace = args.Contains("--pool-trace");
        s_lazyTables = args.Contains("--lazy-tables");
        var tableModes = args.Contains("--compare-tables") ? new[] { true, false } : [s_lazyTables];
        var onlyAt = Array.IndexOf(args, "--only");
        var only = onlyAt >= 0 && onlyAt + 1 < args.Length ? args[onlyAt + 1].Split(',') : null;
        bool Run(string part) => only is null || only.Contains(part);
        int[] callerCounts = quick ? [1, 4096] : [1, 16, 256, 4096];
        var paths = compare ? new[] { true, false } : [false];
        var duration = TimeSpan.FromSeconds(seconds);
        // --trace: an ActivityListener records every checkout's activities, the cost of tracing while a collector listens.
        using var tracing = args.Contains("--trace") ? new ActivityListener
        {
            ShouldListenTo = s => s.Name == EngineTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        } : null;
        if (tracing is not null) ActivitySource.AddActivityListener(tracing);
        Console.WriteLine($"Durable engine on {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, FASTER journal in {Path.GetTempPath()}, server GC {System.Runtime.GCSettings.IsServerGC}, GC latency mode {System.Runtime.GCSettings.LatencyMode}{(tracing is null ? "" : ", checkouts traced")}");

        for (var round = 1; round <= repeat; round++)
        {
            if (repeat > 1) Console.WriteLine($"--- round {round} of {repeat}");
            if (only is not null && only.Contains("device"))
            {
                Console.WriteLine($"one synchronous 4 KiB write, four ways, interleaved, {(quick ? 3_000 : 10_000):N0} each:");
                DeviceWays.Run(Path.GetTempPath(), quick ? 3_000 : 10_000);
            }
            if (Run("commit"))
            {
                using var device = new DeviceProbe(Path.GetTempPath());
                // The journal alone has no pipeline: its comparison is with the baseline's journal, if it has one.
                var (now, before) = CommitProbe.Measure(device, compare && s_baseline != Baseline.SeparateApply, quick ? 1_000 : 3_000, dir => Journal(dir, legacy: true));
                Console.WriteLine("journal alone, 1 entry per commit, " + device.Describe());
                foreach (var (legacy, c) in before is { } b ? new[] { (true, b), (false, now) } : [(false, now)])
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {PathName(legacy)}: p50 {c.P50Micros / 1000.0:F3} ms{Ratio(c.P50Micros, device.FloorMicros)}, p99 {c.P99Micros / 1000.0:F3} ms"));
                }
            }

            double peak = 0;
            string? replayDirectory = null;
            if (Run("closed") || Run("open") || Run("replay"))
            {
                foreach (var callers in callerCounts)
                {
                    if (!Run("closed") && callers != 4096) continue;
                    if (callers == 1 && compare)
                    {
                        // One caller, both paths: alternating blocks on two engines open side by side, one device probe.
                        Settle();
                        await MeasureOneCallerSideBySideAsync(duration * 2);
                        continue;
                    }
                    foreach (var legacy in paths)
                    {
                        var dir = Directory.CreateTempSubdirectory("wb-durable-").FullName;
                        Settle();
                        // One caller: a device write between checkouts, so the floor is measured on the same disk moments.
                        using var device = callers == 1 ? new DeviceProbe(Path.GetTempPath()) : null;
                        var r = await MeasureAsync(dir, callers, duration, legacy, device);
                        Console.WriteLine(Describe($"{callers,4} callers, closed loop, {PathName(legacy)}", r) + (device is null ? "" : Ratio(r.Latency.GetValueAtPercentile(50), device.FloorMicros) + "\n    " + device.Describe()));
                        if (callers == 4096 && !legacy)
                        {
                            peak = r.PerSecond;
                            replayDirectory = dir;
                        }
                        else
                        {
                            Directory.Delete(dir, recursive: true);
                        }
                    }
                }
            }

            if (Run("open"))
            {
                foreach (var fraction in new[] { 0.1, 0.25, 0.5 })
                {
                    foreach (var legacy in paths)
                    foreach (var lazyTables in tableModes)
                    {
                        Settle();
                        var paced = Directory.CreateTempSubdirectory("wb-durable-").FullName;
                        using var probe = new RuntimeProbe();
                        var r = await MeasurePacedAsync(paced, duration, ratePerSecond: peak * fraction, legacy, lazyTables);
                        var tables = tableModes.Length > 1 || s_lazyTables ? (lazyTables ? ", tables mapped as written (before)" : ", tables mapped up front") : "";
                        Console.WriteLine(Describe($"open loop at {fraction:P0} of peak ({peak * fraction:N0}/s offered), {PathName(legacy)}{tables}", r));
                        Console.WriteLine("    meanwhile: " + probe.Describe() + "; " + DescribeCommits(r));
                        Console.WriteLine(DescribeStalls(r, probe.Events()));
                        if (r.PoolTimeline.Length > 0) Console.WriteLine(r.PoolTimeline);
                        Directory.Delete(paced, recursive: true);
                    }
                }
            }

            if (Run("replay") && replayDirectory is not null)
            {
                // Replay: reopen the 4096-caller journal; no snapshot exists there, so every entry is replayed.
                var hinted = new EngineOptions { StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 22, SkusCapacityHint = Skus } };
                // Twice: the first start also pays for the first JIT of the read and apply code; the breakdown after it.
                for (var start = 1; start <= 2; start++)
                {
                    Settle();
                    await using var reopened = ReservationEngine.Open(hinted, Journal(replayDirectory, legacy: false));
                    var report = reopened.Recovery[0];
                    Console.WriteLine($"journal replay, start {start}: {report.ReplayedEntries:N0} entries in {report.ReplayDuration.TotalMilliseconds:N0} ms = {report.ReplayedEntries / report.ReplayDuration.TotalSeconds:N0} entries/s; recovery in all (with hash and invariant checks) {report.Duration.TotalMilliseconds:N0} ms");
                }
                ReplayBreakdown(Journal(replayDirectory, legacy: false), hinted.StateMachine);
            }
            if (replayDirectory is not null) Directory.Delete(replayDirectory, recursive: true);

            if (Run("snapshot")) SnapshotRecovery(rows, orders);
        }
    }

    private enum Baseline
    {
        SeparateApply,
        FasterDevice,
        BeforeIssue15,
    }

    private static Baseline s_baseline;
    private static bool s_taskPerCheckout;
    private static bool s_poolTrace;
    private static bool s_lazyTables;

    private static string PathName(bool legacy) => !legacy ? "now (small batches applied on the journal thread)" : s_baseline switch
    {
        Baseline.BeforeIssue15 => "before issue 15 (2 fsyncs/batch)",
        Baseline.FasterDevice => "FASTER's device (pool write, commit worker)",
        _ => "every batch to the apply thread",
    };

    // --lazy-tables: the state machine's tables mapped as first written (before: the first 100-250 ms of a window
    // stalled the writer on page faults).
    private static EngineOptions Engine(bool legacy, bool lazyTables = false) => new()
    {
        StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 21, SkusCapacityHint = Skus, CommitTablesUpFront = !(lazyTables || s_lazyTables) },
        SeparateApplyThread = legacy && s_baseline == Baseline.SeparateApply,
    };

    private static string Ratio(double micros, double deviceMicros) =>
        deviceMicros > 0 ? string.Create(CultureInfo.InvariantCulture, $" = {micros / deviceMicros:F2}x the device") : "";

    // The previous run's engine (millions of orders) is garbage now: collect it before the next run is measured.
    private static void Settle()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    private static JournalOptions Journal(string dir, bool legacy) => new()
    {
        Directory = dir,
        SnapshotEveryEntries = 0,
        LegacyCommitPath = legacy && s_baseline == Baseline.BeforeIssue15,
        FasterManagedDevice = legacy && s_baseline == Baseline.FasterDevice,
    };

    private sealed record Result(long Count, double PerSecond, LongHistogram Latency, long Commits, long[]? CommitBuckets = null, long CommitSumMicros = 0)
    {
        /// <summary>Bytes the whole process allocated per checkout while it was measured (the load's own included).</summary>
        public double AllocatedPerCheckout { get; init; }

        /// <summary>Open loop: how late the pacer itself issued its latest checkout (the load generator's stall), ms.</summary>
        public double PacerLateMaxMs { get; init; }

        /// <summary>Open loop: the journal path's calls over 5 ms in the window (offset from its start in ms, what, ms).</summary>
        public List<(double AtMs, string What, double Ms)> Stalls { get; init; } = [];

        /// <summary>Open loop: when the window started (UTC), and its 3 slowest checkouts (scheduled at, ms from the start; latency, ms).</summary>
        public DateTime StartedUtc { get; init; }

        public List<(double ScheduledMs, double LatencyMs)> Slowest { get; init; } = [];

        /// <summary>Batches the journal thread applied itself.</summary>
        public long InPlaceBatches { get; init; }

        /// <summary>Open loop with --pool-trace: the thread pool every 10 ms around the slowest checkouts.</summary>
        public string PoolTimeline { get; init; } = "";
    }

    // The engine's commit histogram has coarse buckets: name the bucket holding the median and the 99th percentile.
    private static string DescribeCommits(Result r)
    {
        if (r.CommitBuckets is not { } counts) return "";
        var total = counts.Sum();
        if (total == 0) return "no commits";
        string At(double q)
        {
            long seen = 0;
            for (var i = 0; i < counts.Length; i++)
            {
                seen += counts[i];
                if (seen >= q * total) return i < LatencyHistogram.BoundsMicros.Length ? $"<= {LatencyHistogram.BoundsMicros[i] / 1000.0:0.###} ms" : "> 1 s";
            }
            return "?";
        }
        return string.Create(CultureInfo.InvariantCulture, $"commits: {total:N0}, mean {r.CommitSumMicros / (double)total / 1000.0:F2} ms, p50 {At(0.5)}, p99 {At(0.99)}, slowest {At(1.0)}");
    }

    // What was slow in an open-loop window: the journal's calls over 5 ms by kind, and what overlapped the slowest checkouts.
    private static string DescribeStalls(Result r, List<(DateTime At, string What, double Ms)> runtime)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"    pacer issued its latest checkout {r.PacerLateMaxMs:F1} ms late; {r.InPlaceBatches:N0} batches applied on the journal thread; journal calls over 5 ms: ");
        text += r.Stalls.Count == 0 ? "none" : string.Join(", ", r.Stalls.GroupBy(x => x.What).Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key} {g.Count()}x (max {g.Max(x => x.Ms):F1} ms)")));
        // Every event as an interval from the window's start (ms): journal calls end at AtMs, runtime events begin at At.
        var events = r.Stalls.Select(x => (From: x.AtMs - x.Ms, x.What, x.Ms))
            .Concat(runtime.Select(x => (From: (x.At - r.StartedUtc).TotalMilliseconds, x.What, x.Ms))).ToList();
        foreach (var (scheduled, latency) in r.Slowest)
        {
            var overlapping = events.Where(e => e.From < scheduled + latency && e.From + e.Ms > scheduled).OrderBy(e => e.From).ToList();
            text += string.Create(CultureInfo.InvariantCulture, $"\n      a checkout scheduled at {scheduled:F1} ms took {latency:F1} ms; meanwhile: ")
                + (overlapping.Count == 0 ? "nothing over 5 ms on the journal path, no GC, no late sleep" : string.Join("; ", overlapping.Take(6).Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.What} {e.Ms:F1} ms from {e.From:F1}"))));
        }
        return text;
    }

    private static string Describe(string what, Result r) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{what}: {r.PerSecond,10:N0} checkouts/s, p50 {Ms(r.Latency, 50)} ms, p99 {Ms(r.Latency, 99)} ms, p99.9 {Ms(r.Latency, 99.9)} ms, max {r.Latency.GetMaxValue() / 1000.0:F2} ms; {r.AllocatedPerCheckout:N0} B allocated per checkout; {r.Count / Math.Max(1, r.Commits):N0} checkouts per commit");

    private static string Ms(LongHistogram h, double percentile) =>
        (h.GetValueAtPercentile(percentile) / 1000.0).ToString("F2", CultureInfo.InvariantCulture);

    private static async Task<Result> MeasureAsync(string dir, int callers, TimeSpan duration, bool legacy, DeviceProbe? device)
    {
        await using var engine = ReservationEngine.Open(Engine(legacy), Journal(dir, legacy));
        await Task.WhenAll(Workload.CatalogCommands(Skus).Select(c => engine.SubmitAsync(c).AsTask()));
        var commitsBefore = CountCommits(engine);
        var carts = Workload.Carts(1 << 16, 1, Skus, SkuMix.Zipf);
        var histograms = Enumerable.Range(0, callers).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
        var counts = new long[callers];
        long probeTicks = 0;
        var allocatedBefore = GC.GetTotalAllocatedBytes();
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
                if (device is not null)
                {
                    var d0 = Stopwatch.GetTimestamp();
                    device.WriteOnce();
                    Interlocked.Add(ref probeTicks, Stopwatch.GetTimestamp() - d0);
                }
            }
        })));
        // The device writes between checkouts are not the engine's time.
        var elapsed = (Stopwatch.GetTimestamp() - start - Interlocked.Read(ref probeTicks)) / (double)Stopwatch.Frequency;
        var all = new LongHistogram(60_000_000, 3);
        foreach (var h in histograms) all.Add(h);
        var total = counts.Sum();
        return new Result(total, total / elapsed, all, CountCommits(engine) - commitsBefore) { AllocatedPerCheckout = (GC.GetTotalAllocatedBytes() - allocatedBefore) / (double)Math.Max(1, total) };
    }

    /// <summary>
    /// One caller on each path, side by side: two engines open at once, blocks of 100 checkouts alternating between
    /// them (the idle one's stage threads park meanwhile; the first 2 of a block, which wake them, are not counted),
    /// each checkout followed by a device write. Both see the same seconds of a shared disk and CPU; prints each p50
    /// against the one device probe and the ratio of the two.
    /// </summary>
    private static async Task MeasureOneCallerSideBySideAsync(TimeSpan duration)
    {
        using var device = new DeviceProbe(Path.GetTempPath());
        var dirs = new[] { Directory.CreateTempSubdirectory("wb-durable-").FullName, Directory.CreateTempSubdirectory("wb-durable-").FullName };
        var engines = new ReservationEngine[2];
        try
        {
            for (var e = 0; e < 2; e++)
            {
                engines[e] = ReservationEngine.Open(Engine(legacy: e == 0), Journal(dirs[e], legacy: e == 0));
                await Task.WhenAll(Workload.CatalogCommands(Skus).Select(c => engines[e].SubmitAsync(c).AsTask()));
            }
            var carts = Workload.Carts(1 << 16, 1, Skus, SkuMix.Zipf);
            var histograms = new[] { new LongHistogram(60_000_000, 3), new LongHistogram(60_000_000, 3) };
            var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            await Task.Run(async () =>
            {
                for (var i = 0; Stopwatch.GetTimestamp() < end; i++)
                {
                    var e = (i / 100) & 1;
                    var t0 = Stopwatch.GetTimestamp();
                    var r = await engines[e].CheckoutAsync($"s-{i}", "customer", carts[i & 0xFFFF]);
                    if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
                    if (i % 100 >= 2) histograms[e].RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency));
                    device.WriteOnce();
                }
            });
            for (var e = 0; e < 2; e++)
            {
                var h = histograms[e];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   1 caller, side by side, {PathName(e == 0),-50} {h.TotalCount,6:N0} checkouts, p50 {Ms(h, 50)} ms{Ratio(h.GetValueAtPercentile(50), device.FloorMicros)}, p90 {Ms(h, 90)} ms, p99 {Ms(h, 99)} ms"));
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    now / before, p50: {histograms[1].GetValueAtPercentile(50) / (double)Math.Max(1, histograms[0].GetValueAtPercentile(50)):F2}; {engines[1].InPlaceBatches:N0} batches applied on the journal thread\n    {device.Describe()}"));
        }
        finally
        {
            foreach (var engine in engines) if (engine is not null) await engine.DisposeAsync();
            foreach (var dir in dirs) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Open loop: one pacing thread starts a checkout at every scheduled instant whatever the answers do, and the
    /// latency is counted from the scheduled instant (no coordinated omission).
    /// </summary>
    private static async Task<Result> MeasurePacedAsync(string dir, TimeSpan duration, double ratePerSecond, bool legacy, bool lazyTables = false)
    {
        await using var engine = ReservationEngine.Open(Engine(legacy, lazyTables), Journal(dir, legacy));
        await Task.WhenAll(Workload.CatalogCommands(Skus).Select(c => engine.SubmitAsync(c).AsTask()));
        var carts = Workload.Carts(1 << 16, 1, Skus, SkuMix.Zipf);
        var commitsBefore = CountCommits(engine);
        var (bucketsBefore, sumBefore) = engine.CommitLatency[0].Read();
        var histogram = new LongHistogram(60_000_000, 3);
        var inflight = new List<Task>();
        // The load's own garbage is not the engine's: answers are recorded by pooled continuations, not a Task each
        // (--task-per-checkout: the way before, an async Task per checkout).
        var recorder = s_taskPerCheckout ? null : new PacedRecorder(histogram);
        var interval = Stopwatch.Frequency / ratePerSecond;
        var allocatedBefore = GC.GetTotalAllocatedBytes();
        var startedUtc = DateTime.UtcNow;
        var start = Stopwatch.GetTimestamp();
        recorder?.StartAt(start);
        var count = (long)(duration.TotalSeconds * ratePerSecond);
        var inPlaceBefore = engine.InPlaceBatches;
        long lateMax = 0;
        long issued = 0;
        using var sampler = s_poolTrace ? new PoolSampler(() => Volatile.Read(ref issued), () => recorder?.Answered ?? 0) : null;
        var pacer = new Thread(() =>
        {
            for (long i = 0; i < count; i++)
            {
                var scheduled = start + (long)(i * interval);
                // Sleep while more than a millisecond ahead, then issue everything due: the pacer must not take a core.
                while (scheduled - Stopwatch.GetTimestamp() > Stopwatch.Frequency / 1000) Thread.Sleep(1);
                lateMax = Math.Max(lateMax, Stopwatch.GetTimestamp() - scheduled);
                var answer = engine.CheckoutAsync($"p-{i}", "customer", carts[i & 0xFFFF]);
                Volatile.Write(ref issued, i + 1);
                if (recorder is not null)
                {
                    recorder.Track(answer, scheduled);
                    continue;
                }
                var task = Record(answer, scheduled, histogram);
                if (!task.IsCompleted) lock (inflight) inflight.Add(task);
            }
        }) { IsBackground = true, Name = "pacer" };
        pacer.Start();
        pacer.Join();
        Task[] pending;
        lock (inflight) pending = [.. inflight];
        await Task.WhenAll(pending);
        if (recorder is not null) await recorder.Drain();
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var (bucketsAfter, sumAfter) = engine.CommitLatency[0].Read();
        var buckets = bucketsAfter.Select((c, i) => c - bucketsBefore[i]).ToArray();
        var stalls = Wildberries.Engine.Pipeline.JournalStalls.Since(start).Select(x => ((x.EndedTicks - start) * 1000.0 / Stopwatch.Frequency, x.What, x.Ms)).ToList();
        return new Result(count, count / elapsed, histogram, CountCommits(engine) - commitsBefore, buckets, sumAfter - sumBefore)
        {
            AllocatedPerCheckout = (GC.GetTotalAllocatedBytes() - allocatedBefore) / (double)Math.Max(1, count),
            PacerLateMaxMs = lateMax * 1000.0 / Stopwatch.Frequency,
            Stalls = stalls,
            StartedUtc = startedUtc,
            Slowest = recorder?.Slowest() ?? [],
            InPlaceBatches = engine.InPlaceBatches - inPlaceBefore,
            PoolTimeline = sampler is null || recorder is null ? "" : string.Join("\n", recorder.Slowest().Where(x => x.LatencyMs > 20).OrderBy(x => x.ScheduledMs)
                .Select(x => string.Create(CultureInfo.InvariantCulture, $"      pool around the checkout scheduled at {x.ScheduledMs:F1} ms ({x.LatencyMs:F1} ms):\n") + sampler.Describe(start, x.ScheduledMs - 30, x.ScheduledMs + x.LatencyMs + 20))),
        };

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

    /// <summary>
    /// Where replay's time goes, on the same journal: FASTER's scan alone, the read (scan, checksum, decode) and the
    /// read with every command applied to a fresh state machine, for the read before issue 15 (FASTER's copy,
    /// MessagePack's reader) and the current ones; 5 rounds alternating, the best of each printed (a shared machine).
    /// </summary>
    private static void ReplayBreakdown(JournalOptions options, StateMachineOptions machineOptions)
    {
        using var journal = new FasterJournal(options.ShardDirectory(0), options);
        foreach (var _ in journal.ReadAfter(0)) break; // recovery's first read: the journal's end is known after it
        (string Name, Func<ReservationStateMachine?, long> Run)[] ways =
        [
            ("scan alone (FASTER, in place)", _ => journal.CountEntries()),
            ("read, before (copy + MessagePack)", _ => Count(CopyingJournalRead.Read(journal))),
            ("read, in place + span reader", _ => Count(journal.Read(0, 0, JournalReadMode.InPlace))),
            ("read, recovery's (arrays reused)", _ => Count(journal.Read(0, 0, JournalReadMode.Replay))),
            ("read+apply, before", m => Apply(CopyingJournalRead.Read(journal), m!)),
            ("read+apply, in turn (recovery with more shards than half the cores)", m => ShardRecovery.Replay(journal, m!, 0, ahead: false)),
            ("read+apply, decoded ahead on a 2nd thread (recovery when a core is spare)", m => ShardRecovery.Replay(journal, m!, 0, ahead: true)),
        ];
        var best = new (double PerSecond, double Bytes)[ways.Length];
        for (var round = 0; round < 5; round++)
        {
            for (var w = 0; w < ways.Length; w++)
            {
                Settle();
                var machine = ways[w].Name.StartsWith("read+apply", StringComparison.Ordinal) ? new ReservationStateMachine(machineOptions) : null;
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var t = Stopwatch.GetTimestamp();
                var n = ways[w].Run(machine);
                var perSecond = n / Stopwatch.GetElapsedTime(t).TotalSeconds;
                var bytes = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)Math.Max(1, n);
                if (perSecond > best[w].PerSecond) best[w] = (perSecond, bytes);
            }
        }
        for (var w = 0; w < ways.Length; w++)
        {
            Console.WriteLine($"    {ways[w].Name,-58} {best[w].PerSecond,12:N0} entries/s, {best[w].Bytes,5:N0} B allocated an entry");
        }

        static long Count(IEnumerable<JournalEntry> entries)
        {
            long n = 0;
            foreach (var _ in entries) n++;
            return n;
        }

        static long Apply(IEnumerable<JournalEntry> entries, ReservationStateMachine machine)
        {
            var events = new EventBuffer();
            long n = 0;
            foreach (var entry in entries)
            {
                events.Clear();
                machine.Apply(entry.Command, events);
                n++;
            }
            return n;
        }
    }

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

            Console.WriteLine($"snapshot of {skus * 3:N0} rows + {orders:N0} orders: capture {capture.TotalMilliseconds:N0} ms (off the writer: the snapshotter's own copy), write {save.TotalMilliseconds:N0} ms, {size / 1048576.0:N0} MiB");
            // The load before issue 15's change (read, then checksum, then decode) and the current one, on the same file.
            foreach (var sequential in new[] { true, false })
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                var phases = new SnapshotLoadPhases { Sequential = sequential };
                t = Stopwatch.GetTimestamp();
                var loaded = store.LoadLatest(options, [], phases: phases) ?? throw new InvalidOperationException("snapshot did not load");
                var load = Stopwatch.GetElapsedTime(t);
                Console.WriteLine($"recovery from it, {(sequential ? "before (read, verify, decode in turn)" : "now (verify beside the decode)")}: {load.TotalMilliseconds:N0} ms; {phases}; state hash {loaded.Machine.ComputeStateHash():x16}");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Records the open loop's answers with pooled continuations (no Task, closure or state machine per checkout):
    /// the latency from the scheduled instant to the answer, as the awaiting Task did.
    /// </summary>
    private sealed class PacedRecorder(LongHistogram histogram)
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<Pending> _pool = new();
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<(long Latency, long Scheduled)> _slowest = [];
        private long _outstanding = 1; // the pacer's own hold, released by Drain
        private long _start;
        private long _answered;

        /// <summary>Answers recorded so far.</summary>
        public long Answered => Volatile.Read(ref _answered);

        public void StartAt(long start) => _start = start;

        /// <summary>The 3 slowest answers: scheduled at (ms from the start) and latency (ms).</summary>
        public List<(double ScheduledMs, double LatencyMs)> Slowest()
        {
            lock (histogram) return [.. _slowest.OrderByDescending(x => x.Latency).Select(x => ((x.Scheduled - _start) * 1000.0 / Stopwatch.Frequency, x.Latency / 1000.0))];
        }
        private Exception? _error;

        public void Track(ValueTask<CommandResult> answer, long scheduled)
        {
            if (answer.IsCompleted)
            {
                Record(answer.Result, scheduled);
                return;
            }
            Interlocked.Increment(ref _outstanding);
            if (!_pool.TryDequeue(out var pending)) pending = new Pending(this);
            pending.Start(answer, scheduled);
        }

        public Task Drain()
        {
            Release();
            return _drained.Task;
        }

        private void Release()
        {
            if (Interlocked.Decrement(ref _outstanding) != 0) return;
            if (Volatile.Read(ref _error) is { } error) _drained.TrySetException(error);
            else _drained.TrySetResult();
        }

        private void Record(CommandResult r, long scheduled)
        {
            if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
            var micros = (Stopwatch.GetTimestamp() - scheduled) * 1_000_000 / Stopwatch.Frequency;
            lock (histogram)
            {
                _answered++;
                histogram.RecordValue(Math.Max(0, micros));
                // Three slowest kept, but not three of one stall: a new one replaces another within 50 ms of it, or the fastest.
                var near = _slowest.FindIndex(x => Math.Abs(x.Scheduled - scheduled) < Stopwatch.Frequency / 20);
                if (near >= 0)
                {
                    if (_slowest[near].Latency < micros) _slowest[near] = (micros, scheduled);
                }
                else if (_slowest.Count < 3) _slowest.Add((micros, scheduled));
                else
                {
                    var min = 0;
                    for (var k = 1; k < 3; k++) if (_slowest[k].Latency < _slowest[min].Latency) min = k;
                    if (_slowest[min].Latency < micros) _slowest[min] = (micros, scheduled);
                }
            }
        }

        private sealed class Pending
        {
            private readonly PacedRecorder _owner;
            private readonly Action _completed;
            private System.Runtime.CompilerServices.ValueTaskAwaiter<CommandResult> _awaiter;
            private long _scheduled;

            public Pending(PacedRecorder owner)
            {
                _owner = owner;
                _completed = Completed;
            }

            public void Start(ValueTask<CommandResult> answer, long scheduled)
            {
                _scheduled = scheduled;
                _awaiter = answer.GetAwaiter();
                _awaiter.UnsafeOnCompleted(_completed);
            }

            private void Completed()
            {
                var (awaiter, scheduled) = (_awaiter, _scheduled);
                _awaiter = default;
                try
                {
                    _owner.Record(awaiter.GetResult(), scheduled);
                }
                catch (Exception ex)
                {
                    Interlocked.CompareExchange(ref _owner._error, ex, null);
                }
                _owner._pool.Enqueue(this);
                _owner.Release();
            }
        }
    }
}
