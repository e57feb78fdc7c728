using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using HdrHistogram;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Kafka;
using Wildberries.Engine.Replication;
using Wildberries.PeakSale;
using Wildberries.Testing;
using static Wildberries.Bench.Events.EventPublishingLoad;

namespace Wildberries.Bench.Replication;

/// <summary>
/// Replication through Kafka against none, in one run: a durable engine (FASTER journal in a temp directory) per
/// phase, N concurrent customers doing the flash-sale workload (the peak-sale generator's carts and payment mix) in a
/// closed loop for a fixed time, phases alternating none / <c>local</c> / <c>replicated</c> / <c>replicated</c> /
/// <c>local</c> / none after a warm-up. Reports durable checkouts/s and checkout latency per mode and the ratios to
/// none. Then two open-loop phases at half load: <c>local</c> at 50 % of the local throughput measured above, sampling
/// the primary's replication lag every 10 ms; <c>replicated</c> at 50 % of the replicated throughput with a standby
/// engine in the same process following the same topic, measuring the time from a checkout's acknowledgement to the
/// standby having applied it. First, a calibration: what one append (one Kafka transaction) costs on the idle cluster.
/// Every phase also reports the journal's commits (from the engine's commit-latency buckets), CPU, allocation and GC,
/// because on a shared 2-core machine the disk and the scheduler move the numbers more than replication does.
/// The broker is librdkafka's mock cluster (3 brokers) in a child process on the same machine (and cores): not a
/// real Kafka. Each Kafka phase writes its own topic (<c>benchN.journal.0</c>, created up front with one partition:
/// the mock has no CreateTopics, and the adapter would wait 5 s for it before relying on auto-creation) and
/// transactional.id (<c>benchN-journal-0</c>), so no phase reads or fences another's.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- replication [--quick] [--seconds 5] [--rounds 2] [--callers 256] [--skus 10000] [--half-seconds 5] [--half-rate N] [--timeline]</c>
/// (<c>--half-rate N</c>: offer N visits/s at "half load" instead of half the measured throughput; with <c>--rounds 0</c>
/// only the half-load phases run. <c>--timeline</c>: both nodes' replication status and the thread pool every 100 ms of
/// the half-load phases).
/// </summary>
public static class ReplicationLoad
{
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan SampleEvery = TimeSpan.FromMilliseconds(10);

    public static async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var seconds = CommandLine.Option(args, "--seconds", quick ? 2 : 5);
        var rounds = CommandLine.Option(args, "--rounds", quick ? 1 : 2);
        var callers = CommandLine.Option(args, "--callers", 256);
        var skus = CommandLine.Option(args, "--skus", 10_000);
        var halfSeconds = CommandLine.Option(args, "--half-seconds", quick ? 2 : 5);
        // --half-rate N: offer N visits/s in both half-load phases instead of half the measured throughput (needed with --rounds 0).
        var halfRate = CommandLine.Option(args, "--half-rate", 0);
        if (rounds == 0 && halfRate <= 0) throw new ArgumentException("--rounds 0 skips the closed-loop phases: give --half-rate.");
        // --timeline prints, for the half-load phases, both nodes' replication status every 100 ms.
        var timeline = args.Contains("--timeline");
        var sale = new FlashSaleOptions { Skus = skus, HotSkus = 300, Visits = 1 << 16, Concurrency = callers };
        var visits = FlashSale.Visits(sale);

        Console.WriteLine($"Replication benchmark: {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}, .NET {Environment.Version}; {MachineLoad()}");
        Console.WriteLine($"Durable engine (FASTER journal in a temp directory, one shard), a fresh one per phase; {callers} concurrent customers in a closed loop, {seconds} s per phase, {rounds} round(s) of none/local/replicated/replicated/local/none after a 1 s warm-up (replicated).");
        Console.WriteLine($"Workload: the peak-sale generator's visits (carts of 1-5 lines, 70 % from a Zipf hot set of {sale.HotSkus} SKUs, {skus:N0} SKUs x 3 warehouses; 80 % pay, 5 % fail, 15 % never pay; the payment right after its checkout), stock deep enough that nothing sells out. Latency: the checkout's call only.");
        Console.WriteLine("Modes: none = no replication configured; local = acknowledged after the local fsync, the command log shipped from the journal behind it; replicated = acknowledged after the local fsync and Kafka's commit of the transaction holding the entry (acks=all).");
        Console.WriteLine($"BROKER: librdkafka's MOCK cluster (3 brokers) in a CHILD PROCESS on the same {Environment.ProcessorCount} cores, one topic per Kafka phase (1 partition, replication 3). Not a real Kafka: no disks, no network; its latencies are not a real cluster's.");

        await using var cluster = await KafkaMockCluster.StartAsync(brokers: 3, timeout: TimeSpan.FromSeconds(30));
        var bench = new Bench(cluster, sale, visits, callers);
        await bench.CalibrateAppendAsync();

        if (rounds > 0) Console.WriteLine(Describe(await bench.RunClosedAsync(Mode.Replicated, TimeSpan.FromSeconds(1), "warm-up")));
        var results = new List<ClosedResult>();
        for (var round = 0; round < rounds; round++)
        {
            foreach (var mode in new[] { Mode.None, Mode.Local, Mode.Replicated, Mode.Replicated, Mode.Local, Mode.None })
            {
                var r = await bench.RunClosedAsync(mode, TimeSpan.FromSeconds(seconds), $"r{round}");
                results.Add(r);
                Console.WriteLine(Describe(r));
            }
        }

        await Task.Yield(); // the last phase's engine may still be on this stack
        Console.WriteLine();
        var rate = new Dictionary<Mode, double> { [Mode.None] = 2.0 * halfRate, [Mode.Local] = 2.0 * halfRate, [Mode.Replicated] = 2.0 * halfRate };
        foreach (var mode in rounds == 0 ? [] : new[] { Mode.None, Mode.Local, Mode.Replicated })
        {
            var of = results.Where(r => r.Mode == mode).ToList();
            rate[mode] = of.Sum(r => r.Checkouts) / of.Sum(r => r.Seconds);
            var latency = new LongHistogram(60_000_000, 3);
            foreach (var r in of) latency.Add(r.Latency);
            Console.WriteLine(Invariant(
                $"SUMMARY {Name(mode),-10}: {rate[mode],8:N0} checkouts/s, p50 {Ms(latency, 50)} ms, p99 {Ms(latency, 99)} ms, p99.9 {Ms(latency, 99.9)} ms, max {latency.GetMaxValue() / 1000.0:F2} ms ({of.Count} phases, {of.Sum(r => r.Checkouts):N0} checkouts, {of.Sum(r => r.Refused)} refused)")
                + (mode == Mode.None ? "" : Invariant($"; /none = {rate[mode] / rate[Mode.None]:F3}")));
        }
        for (var round = 0; round < rounds; round++)
        {
            var inRound = results.Where(r => r.Name == $"r{round}").ToList();
            double Rate(Mode m) => inRound.Where(r => r.Mode == m).Sum(r => r.Checkouts) / inRound.Where(r => r.Mode == m).Sum(r => r.Seconds);
            Console.WriteLine(Invariant($"SUMMARY round r{round}: none {Rate(Mode.None):N0}/s, local {Rate(Mode.Local):N0}/s, replicated {Rate(Mode.Replicated):N0}/s; local/none = {Rate(Mode.Local) / Rate(Mode.None):F3}, replicated/none = {Rate(Mode.Replicated) / Rate(Mode.None):F3}"));
        }
        if (rounds > 0) Console.WriteLine(Invariant($"SUMMARY local/none = {rate[Mode.Local] / rate[Mode.None]:F3}, replicated/none = {rate[Mode.Replicated] / rate[Mode.None]:F3}, replicated/local = {rate[Mode.Replicated] / rate[Mode.Local]:F3}"));
        if (halfRate > 0) rate = new Dictionary<Mode, double> { [Mode.None] = 2.0 * halfRate, [Mode.Local] = 2.0 * halfRate, [Mode.Replicated] = 2.0 * halfRate };

        Console.WriteLine();
        Console.WriteLine($"Half load: open loop for {halfSeconds} s, a visit started at every scheduled instant whatever the answers do (latency from that instant). Standby: a second durable engine in this process (its own FASTER journal on the same disk) following the primary's topic; on the mock a fetch is answered only when fetch.wait.max.ms (100 ms) runs out, so it sees each record up to 100 ms late.");
        var local = await bench.RunOpenAsync(Mode.Local, rate[Mode.Local] / 2, TimeSpan.FromSeconds(halfSeconds), withStandby: false, timeline);
        Console.WriteLine(Describe(local, halfRate > 0 ? "--half-rate" : $"50 % of local's {rate[Mode.Local]:N0} checkouts/s"));
        var replicated = await bench.RunOpenAsync(Mode.Replicated, rate[Mode.Replicated] / 2, TimeSpan.FromSeconds(halfSeconds), withStandby: true, timeline);
        Console.WriteLine(Describe(replicated, halfRate > 0 ? "--half-rate" : $"50 % of replicated's {rate[Mode.Replicated]:N0} checkouts/s"));
        await Task.Yield();
        Console.WriteLine(Invariant($"SUMMARY replication lag at half load, local mode (primary's Replication[0].LagMs every 10 ms: age of the oldest journaled entry Kafka has not acknowledged, from its journal timestamp): p50 {local.LagMs.GetValueAtPercentile(50)} ms, p99 {local.LagMs.GetValueAtPercentile(99)} ms, max {local.LagMs.GetMaxValue()} ms; LagEntries p99 {local.LagEntries.GetValueAtPercentile(99)}, max {local.LagEntries.GetMaxValue()}"));
        if (replicated.AckToApplied is { } applied)
        {
            Console.WriteLine(Invariant($"SUMMARY standby apply lag at half load, replicated mode (checkout acknowledged -> standby's applied LSN reaches the primary's Kafka-acknowledged LSN at that moment; 1 ms polling): p50 {Ms(applied, 50)} ms, p99 {Ms(applied, 99)} ms, p99.9 {Ms(applied, 99.9)} ms, max {applied.GetMaxValue() / 1000.0:F2} ms over {applied.TotalCount:N0} checkouts"));
        }
        Console.WriteLine(bench.DisposeFailures.Count == 0 ? "SUMMARY every engine disposed cleanly" : $"SUMMARY ENGINE DISPOSE FAILURES: {bench.DisposeFailures.Count} ({string.Join("; ", bench.DisposeFailures)})");
        Console.WriteLine($"SUMMARY managed heap after settling: {GC.GetTotalMemory(forceFullCollection: true) / 1048576.0:F0} MiB; at the end: {MachineLoad()}");
    }

    /// <summary>The machine's load average and I/O pressure (Linux), for the record: other work on these cores moves every number.</summary>
    private static string MachineLoad()
    {
        static string Read(string path, Func<string, string> pick)
        {
            try
            {
                return pick(File.ReadAllText(path));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return "?";
            }
        }
        var load = Read("/proc/loadavg", t => string.Join(' ', t.Split(' ').Take(3)));
        var io = Read("/proc/pressure/io", t => t.Split('\n')[0].Split(' ').FirstOrDefault(f => f.StartsWith("avg60=", StringComparison.Ordinal))?["avg60=".Length..] ?? "?");
        return $"load average {load}, I/O pressure (some, 60 s) {io} %";
    }

    private enum Mode
    {
        None,
        Local,
        Replicated,
    }

    private static string Name(Mode mode) => mode switch
    {
        Mode.None => "none",
        Mode.Local => "local",
        _ => "replicated",
    };

    private sealed record ClosedResult(
        string Name, Mode Mode, long Checkouts, double Seconds, LongHistogram Latency, long Refused, string? FirstRefusal,
        double CpuSeconds, double MockCpuSeconds, GcUse Gc, Commits Commits, long MaxLagEntries, long MaxLagMs, double DrainMs, double OpenMs, string? LastError);

    private sealed record OpenResult(
        Mode Mode, double Offered, long Checkouts, double Seconds, LongHistogram Latency, LongHistogram[] BySecond, long Refused, string? FirstRefusal,
        double CpuSeconds, double MockCpuSeconds, GcUse Gc, Commits Commits, double LongestGapMs, LongHistogram PoolQueue, int MaxPoolThreads, LongHistogram LagMs, LongHistogram LagEntries, double DrainMs, string? LastError,
        LongHistogram? AckToApplied, LongHistogram? StandbyBehind, LongHistogram? StandbyLagMs, long StandbyMaxLagEntries, double StandbyDrainMs, string? HashCheck);

    private sealed record GcUse(double PauseSeconds, int Gen2, long AllocatedBytes);

    /// <summary>The journal's commits (one fsync each) in a window, from the engine's commit-latency buckets.</summary>
    private sealed record Commits(long Count, double MeanMs, long Over100Ms, long Over250Ms, long Over1s)
    {
        public static long[] Read(ReservationEngine engine) => engine.CommitLatency[0].Read() is var (counts, sum) ? [.. counts, sum] : [];

        public static Commits Between(long[] before, long[] after)
        {
            var d = after.Zip(before, (a, b) => a - b).ToArray();
            var buckets = d[..^1];
            var bounds = Wildberries.Engine.Reads.LatencyHistogram.BoundsMicros;
            long Over(long micros) => buckets.Where((_, i) => i >= bounds.Length || bounds[i] > micros).Sum();
            var count = buckets.Sum();
            return new Commits(count, count == 0 ? 0 : d[^1] / 1000.0 / count, Over(100_000), Over(250_000), Over(1_000_000));
        }

        public override string ToString() => Invariant($"journal commits {Count:N0} (mean {MeanMs:F2} ms; over 100 ms: {Over100Ms}, over 250 ms: {Over250Ms}, over 1 s: {Over1s})");
    }

    private static string Describe(ClosedResult r) => Invariant(
        $"{r.Name} {Name(r.Mode),-10}: {r.Checkouts / r.Seconds,8:N0} checkouts/s, p50 {Ms(r.Latency, 50)} ms, p99 {Ms(r.Latency, 99)} ms, p99.9 {Ms(r.Latency, 99.9)} ms, max {r.Latency.GetMaxValue() / 1000.0:F2} ms; CPU per checkout: this process {r.CpuSeconds / Math.Max(1, r.Checkouts) * 1e6:F1} us, the mock broker {r.MockCpuSeconds / Math.Max(1, r.Checkouts) * 1e6:F1} us; allocated {r.Gc.AllocatedBytes / (double)Math.Max(1, r.Checkouts) / 1024:F1} KiB per checkout, GC pauses {100 * r.Gc.PauseSeconds / r.Seconds:F0} % ({r.Gc.Gen2} gen2); {r.Commits}")
        + (r.Mode == Mode.None ? "" : Invariant($"; Kafka lag during load max {r.MaxLagEntries:N0} entries / {r.MaxLagMs:N0} ms, drained {r.DrainMs:N0} ms after; engine opened in {r.OpenMs:N0} ms"))
        + (r.Refused > 0 ? Invariant($"; REFUSED {r.Refused:N0} (first: {r.FirstRefusal})") : "")
        + (r.LastError is null ? "" : $"; last replication error: {r.LastError}");

    private static string Describe(OpenResult r, string offered)
    {
        var s = Invariant(
            $"half load {Name(r.Mode),-10}: offered {r.Offered:N0} visits/s ({offered}), done {r.Checkouts / r.Seconds:N0} checkouts/s; checkout latency from its scheduled instant p50 {Ms(r.Latency, 50)} ms, p99 {Ms(r.Latency, 99)} ms, p99.9 {Ms(r.Latency, 99.9)} ms, max {r.Latency.GetMaxValue() / 1000.0:F2} ms; cores busy: this process {r.CpuSeconds / r.Seconds:F2}, the mock broker {r.MockCpuSeconds / r.Seconds:F2}; GC pauses {100 * r.Gc.PauseSeconds / r.Seconds:F0} % ({r.Gc.Gen2} gen2); the watcher thread's longest gap between 1 ms sleeps {r.LongestGapMs:F0} ms; thread pool: up to {r.MaxPoolThreads} threads, queue p50 {r.PoolQueue.GetValueAtPercentile(50):N0} / p99 {r.PoolQueue.GetValueAtPercentile(99):N0} / max {r.PoolQueue.GetMaxValue():N0} work items; primary's {r.Commits}; ")
            + $"p99 by second of the schedule {string.Join(" / ", r.BySecond.Select(h => Ms(h, 99)))} ms (the visit's end, with its payment); "
            + Invariant($"primary's LagMs (every 10 ms, {r.LagMs.TotalCount:N0} samples) p50 {r.LagMs.GetValueAtPercentile(50)} ms, p99 {r.LagMs.GetValueAtPercentile(99)} ms, max {r.LagMs.GetMaxValue()} ms; LagEntries p50 {r.LagEntries.GetValueAtPercentile(50)}, p99 {r.LagEntries.GetValueAtPercentile(99)}, max {r.LagEntries.GetMaxValue()}; primary drained {r.DrainMs:N0} ms after the load");
        if (r.AckToApplied is { } a)
        {
            s += Invariant($"; STANDBY: acknowledged -> applied p50 {Ms(a, 50)} ms, p99 {Ms(a, 99)} ms, p99.9 {Ms(a, 99.9)} ms, max {a.GetMaxValue() / 1000.0:F2} ms ({a.TotalCount:N0} checkouts); primary's Kafka-acknowledged LSN - standby's applied LSN (every 10 ms) p50 {r.StandbyBehind!.GetValueAtPercentile(50)}, p99 {r.StandbyBehind.GetValueAtPercentile(99)}, max {r.StandbyBehind.GetMaxValue()} entries; standby's own LagMs p50 {r.StandbyLagMs!.GetValueAtPercentile(50)} ms, p99 {r.StandbyLagMs.GetValueAtPercentile(99)} ms, max {r.StandbyLagMs.GetMaxValue()} ms, its LagEntries max {r.StandbyMaxLagEntries:N0}; caught up {r.StandbyDrainMs:N0} ms after the load; {r.HashCheck}");
        }
        if (r.Refused > 0) s += Invariant($"; REFUSED {r.Refused:N0} (first: {r.FirstRefusal})");
        if (r.LastError is not null) s += $"; last replication error: {r.LastError}";
        return s;
    }

    private static string Ms(LongHistogram h, double percentile) => (h.GetValueAtPercentile(percentile) / 1000.0).ToString("F2", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>The run's fixed parts: the cluster, the workload, and the counter that gives each Kafka phase its own topic.</summary>
    private sealed class Bench(KafkaMockCluster cluster, FlashSaleOptions sale, Visit[] visits, int callers)
    {
        private int _phase;

        private static EngineOptions EngineOptions(FlashSaleOptions sale) =>
            new() { StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 21, SkusCapacityHint = sale.Skus } };

        /// <summary>A fresh topic (created now, one partition) and transactional.id for one phase; null for none.</summary>
        private async Task<string?> NewPrefixAsync(Mode mode)
        {
            if (mode == Mode.None) return null;
            var prefix = string.Create(CultureInfo.InvariantCulture, $"bench{++_phase}");
            // The mock has no CreateTopics: created here, the adapter finds the topic at once instead of waiting 5 s for
            // an answer and falling back to auto-creation (4 partitions).
            await cluster.CreateTopicAsync(prefix + ".journal.0", 1);
            return prefix;
        }

        /// <summary>Engines whose DisposeAsync threw (see <see cref="Node"/>).</summary>
        public List<string> DisposeFailures { get; } = [];

        private ReplicationOptions? Replication(Mode mode, string? prefix, NodeRole role, List<KafkaCommandLog> logs) => mode == Mode.None ? null : new ReplicationOptions
        {
            CommandLog = shard =>
            {
                var log = KafkaCommandLog.Open(new KafkaCommandLogOptions { BootstrapServers = cluster.Bootstrap, TopicPrefix = prefix + ".journal.", TransactionalIdPrefix = prefix + "-journal-" }, shard);
                lock (logs) logs.Add(log);
                return log;
            },
            Mode = mode == Mode.Local ? ReplicationMode.Local : ReplicationMode.Replicated,
            Role = role,
        };

        /// <summary>
        /// What one append costs on this cluster, alone (no engine, no load): a KafkaCommandLog writing batches of 1,
        /// 100 and 1,000 entries of 200 bytes, one transaction each, exactly as the engine's shipper does. Printed.
        /// </summary>
        public async Task CalibrateAppendAsync()
        {
            var prefix = await NewPrefixAsync(Mode.Replicated);
            await Task.Run(() =>
            {
                using var log = KafkaCommandLog.Open(new KafkaCommandLogOptions { BootstrapServers = cluster.Bootstrap, TopicPrefix = prefix + ".journal.", TransactionalIdPrefix = prefix + "-journal-" }, 0);
                var body = new byte[200];
                new Random(42).NextBytes(body);
                long lsn = 0, next = 0;
                var line = new List<string>();
                foreach (var (size, times) in new[] { (1, 200), (100, 100), (1_000, 30) })
                {
                    var h = new LongHistogram(60_000_000, 3);
                    for (var i = -5; i < times; i++)
                    {
                        var writes = Enumerable.Range(0, size).Select(_ => new CommandLogWrite(++lsn, body)).ToList();
                        var t0 = Stopwatch.GetTimestamp();
                        next = log.Append(writes, 1, next, TimeSpan.FromSeconds(10)).NextPosition;
                        if (i >= 0) h.RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency));
                    }
                    line.Add(Invariant($"{size:N0} entr{(size == 1 ? "y" : "ies")} p50 {Ms(h, 50)} ms, p99 {Ms(h, 99)} ms"));
                }
                Console.WriteLine($"Calibration, one Kafka append (a transaction: produce, commit with acks=all) on the idle mock, alone: {string.Join("; ", line)}");
            });
        }

        /// <summary>Opens an engine of <paramref name="role"/> on <paramref name="dir"/>, keeping the command logs it opens.</summary>
        private Node OpenNode(Mode mode, string? prefix, string dir, NodeRole role, string label)
        {
            var logs = new List<KafkaCommandLog>();
            var started = Stopwatch.GetTimestamp();
            try
            {
                var engine = ReservationEngine.Open(EngineOptions(sale), new JournalOptions { Directory = dir, SnapshotEveryEntries = 0 }, replication: Replication(mode, prefix, role, logs));
                return new Node(engine, logs, Stopwatch.GetElapsedTime(started).TotalMilliseconds, this, label);
            }
            catch
            {
                foreach (var log in logs) log.Dispose();
                throw;
            }
        }

        /// <summary>A primary with the catalog loaded (and, with replication, in the command log).</summary>
        private async Task<Node> OpenPrimaryAsync(Mode mode, string? prefix, string dir, string label)
        {
            var node = OpenNode(mode, prefix, dir, NodeRole.Primary, label);
            try
            {
                var engine = node.Engine;
                await Task.WhenAll(CatalogCommands(sale).Select(c => engine.SubmitAsync(c).AsTask()));
                // Local mode ships the catalog behind the acknowledgements: let it reach Kafka before the window.
                if (mode != Mode.None && await DrainAsync(engine) is null) throw new InvalidOperationException($"The command log did not catch up with the catalog within a minute: {engine.Replication[0]}");
                return node;
            }
            catch
            {
                await node.DisposeAsync();
                throw;
            }
        }

        private static async Task SettleAsync()
        {
            // The previous phase's engine may have finished disposing on this very stack: yield first, so that it is garbage.
            await Task.Yield();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        public async Task<ClosedResult> RunClosedAsync(Mode mode, TimeSpan duration, string name)
        {
            await SettleAsync();
            var prefix = await NewPrefixAsync(mode);
            var dir = Directory.CreateTempSubdirectory("wb-replication-").FullName;
            try
            {
                await using var node = await OpenPrimaryAsync(mode, prefix, dir, $"{name} {Name(mode)}");
                var engine = node.Engine;
                var openMs = node.OpenMs;
                var histograms = Enumerable.Range(0, callers).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
                var counts = new long[callers];
                var refusals = new Refusals();
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var mock0 = MockCpu();
                var pause0 = GC.GetTotalPauseDuration();
                var gen2Before = GC.CollectionCount(2);
                var allocated0 = GC.GetTotalAllocatedBytes();
                var commits0 = Commits.Read(engine);
                var start = Stopwatch.GetTimestamp();
                var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
                using var sampling = new CancellationTokenSource();
                var sampler = mode == Mode.None ? Task.FromResult((0L, 0L, (string?)null)) : SampleMaxLagAsync(engine, sampling.Token);

                await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
                {
                    var h = histograms[c];
                    for (var i = 0; ; i++)
                    {
                        var t0 = Stopwatch.GetTimestamp();
                        if (t0 >= end) break;
                        var visit = visits[(c * 7919 + i) & (visits.Length - 1)];
                        if (await VisitAsync(engine, visit, string.Create(CultureInfo.InvariantCulture, $"{name}-{c}-{i}"), refusals, t0, h) is null) continue;
                        counts[c]++;
                    }
                })));
                var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                var mockCpu = (MockCpu() - mock0).TotalSeconds;
                var gc = new GcUse((GC.GetTotalPauseDuration() - pause0).TotalSeconds, GC.CollectionCount(2) - gen2Before, GC.GetTotalAllocatedBytes() - allocated0);
                var commits = Commits.Between(commits0, Commits.Read(engine));
                await sampling.CancelAsync();
                var (maxEntries, maxMs, lastError) = await sampler;
                double drainMs = 0;
                if (mode != Mode.None)
                {
                    drainMs = await DrainAsync(engine) ?? throw new InvalidOperationException($"The command log did not catch up within {DrainLimit.TotalSeconds} s of the load's end: {engine.Replication[0]}");
                }
                var all = new LongHistogram(60_000_000, 3);
                foreach (var h in histograms) all.Add(h);
                return new ClosedResult(name, mode, counts.Sum(), elapsed, all, refusals.Count, refusals.First, cpu, mockCpu, gc, commits, maxEntries, maxMs, drainMs, openMs, lastError);
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        /// <summary>
        /// Open loop at <paramref name="visitsPerSecond"/>: a pacing thread starts a visit at every scheduled instant
        /// whatever the answers do (as many in flight as that takes); checkout latency counts from the scheduled
        /// instant. The primary's replication status is sampled every 10 ms; with a standby, a second engine on
        /// another directory follows the same topic, and every acknowledged checkout waits (in a watcher polling every
        /// millisecond) for the standby's applied LSN to reach the primary's Kafka-acknowledged LSN read at the acknowledgement.
        /// </summary>
        public async Task<OpenResult> RunOpenAsync(Mode mode, double visitsPerSecond, TimeSpan duration, bool withStandby, bool timeline)
        {
            await SettleAsync();
            var prefix = await NewPrefixAsync(mode);
            var dir = Directory.CreateTempSubdirectory("wb-replication-").FullName;
            var standbyDir = Directory.CreateTempSubdirectory("wb-replication-standby-").FullName;
            try
            {
                await using var node = await OpenPrimaryAsync(mode, prefix, dir, $"half load {Name(mode)}");
                var engine = node.Engine;
                await using var standbyNode = withStandby ? OpenNode(mode, prefix, standbyDir, NodeRole.Standby, $"half load {Name(mode)} standby") : null;
                var standby = standbyNode?.Engine;
                if (standby is not null && await CaughtUpAsync(engine, standby) is null) throw new InvalidOperationException($"The standby did not apply the catalog within a minute: {standby.Replication[0]}");

                var latency = new LongHistogram(60_000_000, 3);
                var bySecond = Enumerable.Range(0, (int)Math.Ceiling(duration.TotalSeconds)).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
                var refusals = new Refusals();
                var acks = new ConcurrentQueue<(long AckedAt, long Lsn)>();
                long done = 0;
                var watcher = new Watcher(engine, standby, acks, timeline ? () => Interlocked.Read(ref done) : null);
                var inflight = new List<Task>();
                var interval = Stopwatch.Frequency / visitsPerSecond;
                var count = (long)(duration.TotalSeconds * visitsPerSecond);
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var mock0 = MockCpu();
                var pause0 = GC.GetTotalPauseDuration();
                var gen2Before = GC.CollectionCount(2);
                var allocated0 = GC.GetTotalAllocatedBytes();
                var commits0 = Commits.Read(engine);
                var start = Stopwatch.GetTimestamp();
                watcher.Start();
                var pacer = new Thread(() =>
                {
                    for (long i = 0; i < count; i++)
                    {
                        var scheduled = start + (long)(i * interval);
                        // Sleep while more than a millisecond ahead, then issue everything due: the pacer must not take a core.
                        while (scheduled - Stopwatch.GetTimestamp() > Stopwatch.Frequency / 1000) Thread.Sleep(1);
                        var task = Run(i, scheduled);
                        if (!task.IsCompleted) lock (inflight) inflight.Add(task);
                    }
                }) { IsBackground = true, Name = "pacer" };
                pacer.Start();
                pacer.Join();
                Task[] pending;
                lock (inflight) pending = [.. inflight];
                await Task.WhenAll(pending);
                var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                var mockCpu = (MockCpu() - mock0).TotalSeconds;
                var gc = new GcUse((GC.GetTotalPauseDuration() - pause0).TotalSeconds, GC.CollectionCount(2) - gen2Before, GC.GetTotalAllocatedBytes() - allocated0);
                var commits = Commits.Between(commits0, Commits.Read(engine));
                watcher.StopSampling();

                var drainMs = await DrainAsync(engine) ?? throw new InvalidOperationException($"The command log did not catch up within {DrainLimit.TotalSeconds} s of the load's end: {engine.Replication[0]}");
                double standbyDrainMs = 0;
                string? hashCheck = null;
                if (standby is not null)
                {
                    standbyDrainMs = await CaughtUpAsync(engine, standby) ?? throw new InvalidOperationException($"The standby did not catch up within {DrainLimit.TotalSeconds} s of the load's end: primary {engine.Replication[0]}, standby {standby.Replication[0]}");
                    hashCheck = await CompareStatesAsync(engine, standby);
                }
                await watcher.StopAsync();
                foreach (var line in watcher.Timeline) Console.WriteLine(line);
                return new OpenResult(mode, visitsPerSecond, Interlocked.Read(ref done), elapsed, latency, bySecond, refusals.Count, refusals.First, cpu, mockCpu, gc, commits, watcher.LongestGapMs, watcher.PoolQueue, watcher.MaxPoolThreads,
                    watcher.LagMs, watcher.LagEntries, drainMs, watcher.LastError,
                    standby is null ? null : watcher.AckToApplied, standby is null ? null : watcher.StandbyBehind, standby is null ? null : watcher.StandbyLagMs, watcher.StandbyMaxLagEntries, standbyDrainMs, hashCheck);

                async Task Run(long i, long scheduled)
                {
                    var visit = visits[i & (visits.Length - 1)];
                    var lsn = await VisitAsync(engine, visit, string.Create(CultureInfo.InvariantCulture, $"h-{i}"), refusals, scheduled, latency, standby is null ? null : acks);
                    if (lsn is null) return;
                    Interlocked.Increment(ref done);
                    var second = bySecond[Math.Min(bySecond.Length - 1, (scheduled - start) / Stopwatch.Frequency)];
                    lock (second) second.RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - scheduled) * 1_000_000 / Stopwatch.Frequency));
                }
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
                Directory.Delete(standbyDir, recursive: true);
            }
        }

        /// <summary>
        /// One visit: the checkout (its latency from <paramref name="t0"/> into <paramref name="latency"/>), then its
        /// payment unless the customer never pays. With <paramref name="acks"/>, the acknowledgement's time and the
        /// primary's Kafka-acknowledged LSN at that moment are queued for the standby watcher. Null when refused.
        /// </summary>
        private static async Task<long?> VisitAsync(
            ReservationEngine engine, Visit visit, string key, Refusals refusals, long t0, LongHistogram latency, ConcurrentQueue<(long, long)>? acks = null)
        {
            var lines = Array.ConvertAll(visit.Lines, l => new CheckoutLine(l.Sku, l.Qty));
            try
            {
                var r = await engine.CheckoutAsync(key, $"c{visit.Customer}", lines);
                var ackedAt = Stopwatch.GetTimestamp();
                if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
                var micros = Math.Max(0, (ackedAt - t0) * 1_000_000 / Stopwatch.Frequency);
                lock (latency) latency.RecordValue(micros);
                long lsn = 0;
                if (acks is not null)
                {
                    lsn = engine.Replication[0].Lsn;
                    acks.Enqueue((ackedAt, lsn));
                }
                if (visit.Payment != Payment.Never)
                {
                    var paid = await engine.ApplyPaymentAsync(r.OrderId, "tx-" + r.OrderId, visit.Payment == Payment.Pays, r.Amount, "RUB");
                    if (!paid.IsOk) throw new InvalidOperationException($"payment failed: {paid.Code}");
                }
                return lsn;
            }
            catch (ShardUnavailableException e)
            {
                refusals.Note(e);
                await Task.Delay(10); // a refusing shard answers at once: do not spin on it
                return null;
            }
        }
    }

    /// <summary>
    /// An engine and the command logs its replication opened. Disposing it disposes the engine and then the logs
    /// (again: a log's Dispose is idempotent): when the engine's DisposeAsync throws, it stops before it disposes its
    /// logs, whose Kafka clients would otherwise live on. Such a failure is printed and counted, not thrown.
    /// </summary>
    private sealed class Node(ReservationEngine engine, List<KafkaCommandLog> logs, double openMs, Bench bench, string label) : IAsyncDisposable
    {
        public ReservationEngine Engine => engine;

        public double OpenMs => openMs;

        public async ValueTask DisposeAsync()
        {
            try
            {
                await engine.DisposeAsync();
            }
            catch (Exception e)
            {
                var what = $"{label}: ReservationEngine.DisposeAsync threw {e.GetType().FullName}: {e.Message} ({e.StackTrace?.Split('\n').FirstOrDefault(l => l.Contains("Wildberries.", StringComparison.Ordinal))?.Trim()})";
                bench.DisposeFailures.Add(what);
                Console.WriteLine($"  ENGINE DISPOSE FAILED, {what}");
            }
            finally
            {
                foreach (var log in logs) log.Dispose();
            }
        }
    }

    /// <summary>Writes refused with 503-like errors (replication unavailable, fenced): counted, the first kept.</summary>
    private sealed class Refusals
    {
        private long _count;
        private string? _first;

        public long Count => Interlocked.Read(ref _count);

        public string? First => Volatile.Read(ref _first);

        public void Note(ShardUnavailableException e)
        {
            Interlocked.Increment(ref _count);
            Interlocked.CompareExchange(ref _first, $"{e.Reason}: {e.Message}", null);
        }
    }

    /// <summary>Every 10 ms during a closed-loop window: the most the primary's command log fell behind, and its last error.</summary>
    private static async Task<(long MaxEntries, long MaxMs, string? LastError)> SampleMaxLagAsync(ReservationEngine engine, CancellationToken cancellation)
    {
        long maxEntries = 0, maxMs = 0;
        string? lastError = null;
        while (!cancellation.IsCancellationRequested)
        {
            var s = engine.Replication[0];
            maxEntries = Math.Max(maxEntries, s.LagEntries);
            maxMs = Math.Max(maxMs, (long)s.LagMs);
            lastError = s.LastError ?? lastError;
            try
            {
                await Task.Delay(SampleEvery, cancellation);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return (maxEntries, maxMs, lastError);
    }

    /// <summary>Waits until the primary's command log has every journaled entry (twice in a row, 20 ms apart); the time it took, or null after a minute.</summary>
    private static async Task<double?> DrainAsync(ReservationEngine engine)
    {
        var started = Stopwatch.GetTimestamp();
        var clean = 0;
        while (Stopwatch.GetElapsedTime(started) < DrainLimit)
        {
            var s = engine.Replication[0];
            clean = s.LagEntries == 0 && s.LagMs == 0 ? clean + 1 : 0;
            if (clean == 2) return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            await Task.Delay(20);
        }
        return null;
    }

    /// <summary>Waits until the standby has applied everything the primary's command log acknowledged; the time it took, or null after a minute.</summary>
    private static async Task<double?> CaughtUpAsync(ReservationEngine primary, ReservationEngine standby)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < DrainLimit)
        {
            var p = primary.Replication[0];
            var s = standby.Replication[0];
            if (s.Refusal == WriteRefusal.Stopped) throw new InvalidOperationException($"The standby stopped: {s.LastError}");
            if (p.LagEntries == 0 && s.Lsn >= p.Lsn) return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            await Task.Delay(5);
        }
        return null;
    }

    /// <summary>The primary's and the standby's applied LSN and state hash, once they are at the same LSN (at most 10 s).</summary>
    private static async Task<string> CompareStatesAsync(ReservationEngine primary, ReservationEngine standby)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var (pl, ph) = await primary.GetAppliedStateAsync();
            var (sl, sh) = await standby.GetAppliedStateAsync();
            if (pl == sl) return ph == sh ? Invariant($"state hashes equal at LSN {pl:N0}") : Invariant($"STATE HASHES DIFFER at LSN {pl:N0}: primary {ph:x16}, standby {sh:x16}");
            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(10)) return Invariant($"STANDBY NOT AT THE PRIMARY'S LSN after 10 s: primary {pl:N0}, standby {sl:N0}");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// A thread of its own during an open-loop phase. Every 10 ms: the primary's LagMs and LagEntries into histograms,
    /// and with a standby, how far its applied LSN is behind the primary's Kafka-acknowledged LSN and its own LagMs.
    /// Every millisecond: the acknowledged checkouts whose LSN the standby has applied, their wait into a histogram.
    /// </summary>
    private sealed class Watcher(ReservationEngine primary, ReservationEngine? standby, ConcurrentQueue<(long AckedAt, long Lsn)> acks, Func<long>? done)
    {
        /// <summary>With <c>--timeline</c>: every 100 ms, the checkouts done so far and both nodes' replication status.</summary>
        public List<string> Timeline { get; } = [];

        private readonly PriorityQueue<long, long> _waiting = new();
        private volatile bool _sampling = true;
        private volatile bool _stop;
        private Thread? _thread;

        public LongHistogram LagMs { get; } = new(3_600_000, 3);

        /// <summary>The thread pool's queue (work items waiting) and its threads, every 10 ms: the engine's replies and FASTER's I/O completions run there.</summary>
        public LongHistogram PoolQueue { get; } = new(100_000_000, 3);

        public int MaxPoolThreads { get; private set; }

        public LongHistogram LagEntries { get; } = new(100_000_000, 3);

        public LongHistogram AckToApplied { get; } = new(60_000_000, 3);

        public LongHistogram StandbyBehind { get; } = new(100_000_000, 3);

        public LongHistogram StandbyLagMs { get; } = new(3_600_000, 3);

        public long StandbyMaxLagEntries { get; private set; }

        public string? LastError { get; private set; }

        /// <summary>The longest time between two turns of the loop (each sleeps 1 ms): how long this process got no CPU, or was stopped by the GC.</summary>
        public double LongestGapMs { get; private set; }

        public void Start()
        {
            _thread = new Thread(Loop) { IsBackground = true, Name = "replication watcher" };
            _thread.Start();
        }

        /// <summary>The load stopped: no more 10 ms samples; acknowledged checkouts are still followed until <see cref="StopAsync"/>.</summary>
        public void StopSampling() => _sampling = false;

        /// <summary>Stops once every acknowledged checkout was seen applied by the standby (or after 10 s).</summary>
        public async Task StopAsync()
        {
            var started = Stopwatch.GetTimestamp();
            while (standby is not null && (!acks.IsEmpty || Volatile.Read(ref _waitingCount) > 0) && Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(10)) await Task.Delay(5);
            _stop = true;
            _thread?.Join();
        }

        private int _waitingCount;

        private void Loop()
        {
            var nextSample = Stopwatch.GetTimestamp();
            var sampleTicks = (long)(SampleEvery.TotalSeconds * Stopwatch.Frequency);
            var last = Stopwatch.GetTimestamp();
            var began = last;
            var nextLine = last;
            while (!_stop)
            {
                var now = Stopwatch.GetTimestamp();
                if (_sampling) LongestGapMs = Math.Max(LongestGapMs, (now - last) * 1000.0 / Stopwatch.Frequency);
                last = now;
                if (_sampling && now >= nextSample)
                {
                    nextSample = now + sampleTicks;
                    var p = primary.Replication[0];
                    if (done is not null && now >= nextLine)
                    {
                        nextLine += Stopwatch.Frequency / 10;
                        var s = standby?.Replication[0];
                        Timeline.Add(Invariant($"  t={(now - began) * 1000 / Stopwatch.Frequency,5} ms done {done(),8:N0}; pool {ThreadPool.ThreadCount} threads, {ThreadPool.PendingWorkItemCount:N0} queued; primary lsn {p.Lsn,8:N0} lag {p.LagEntries,6:N0} entries {p.LagMs,6:N0} ms{(s is null ? "" : Invariant($"; standby lsn {s.Lsn,8:N0} lag {s.LagEntries,6:N0} entries {s.LagMs,6:N0} ms"))}"));
                    }
                    LagMs.RecordValue((long)p.LagMs);
                    PoolQueue.RecordValue(ThreadPool.PendingWorkItemCount);
                    MaxPoolThreads = Math.Max(MaxPoolThreads, ThreadPool.ThreadCount);
                    LagEntries.RecordValue(p.LagEntries);
                    LastError = p.LastError ?? LastError;
                    if (standby is not null)
                    {
                        var s = standby.Replication[0];
                        StandbyBehind.RecordValue(Math.Max(0, p.Lsn - s.Lsn));
                        StandbyLagMs.RecordValue((long)s.LagMs);
                        StandbyMaxLagEntries = Math.Max(StandbyMaxLagEntries, s.LagEntries);
                    }
                }
                if (standby is not null)
                {
                    while (acks.TryDequeue(out var a)) _waiting.Enqueue(a.AckedAt, a.Lsn);
                    var applied = standby.Replication[0].Lsn;
                    var seenAt = Stopwatch.GetTimestamp();
                    while (_waiting.TryPeek(out var ackedAt, out var lsn) && lsn <= applied)
                    {
                        _waiting.Dequeue();
                        AckToApplied.RecordValue(Math.Max(0, (seenAt - ackedAt) * 1_000_000 / Stopwatch.Frequency));
                    }
                    Volatile.Write(ref _waitingCount, _waiting.Count);
                }
                Thread.Sleep(1);
            }
        }
    }
}
