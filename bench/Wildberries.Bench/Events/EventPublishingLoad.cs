using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using HdrHistogram;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Kafka;
using Wildberries.PeakSale;
using Wildberries.Testing;

namespace Wildberries.Bench.Events;

/// <summary>
/// The peak sale with event publishing off against on, in one run: a durable engine (FASTER journal in a temp
/// directory), N concurrent customers doing the flash-sale workload (the peak-sale generator's carts and payment mix)
/// for a fixed time, once per phase, phases alternating off/on (ABBA, after a warm-up). Reports checkouts/s both ways
/// and their ratio, events/s published, and the end-to-end lag of every event produced during the timed window: from
/// the command's journaled time (the CloudEvent <c>time</c>, also the Kafka message timestamp; ms resolution) to the
/// moment a Confluent consumer in this process receives it from <c>wb.events</c>.
/// The broker is librdkafka's mock cluster in a child process on the same machine (and cores): not a real Kafka.
/// With <c>--breakdown</c>, phases that do part of the publisher's work show where the cost is: reading the event feed
/// only, reading it and encoding every event as a CloudEvent, and publishing to Kafka with the consumer paused.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- events [--quick] [--breakdown] [--seconds 5] [--rounds 3] [--callers 256] [--partitions 6] [--skus 10000]</c>.
/// </summary>
public static class EventPublishingLoad
{
    private const string Topic = "wb.events";
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(60);

    public static async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var seconds = CommandLine.Option(args, "--seconds", quick ? 2 : 5);
        var rounds = CommandLine.Option(args, "--rounds", quick ? 1 : 3);
        var callers = CommandLine.Option(args, "--callers", 256);
        var partitions = CommandLine.Option(args, "--partitions", 6);
        var skus = CommandLine.Option(args, "--skus", 10_000);
        // --breakdown adds phases that only read the event feed (and acknowledge), and that also encode CloudEvents, without Kafka.
        var breakdown = args.Contains("--breakdown");
        var sale = new FlashSaleOptions { Skus = skus, HotSkus = 300, Visits = 1 << 16, Concurrency = callers };
        var visits = FlashSale.Visits(sale);

        Console.WriteLine($"Event publishing benchmark: {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}, .NET {Environment.Version}");
        Console.WriteLine($"Durable engine (FASTER journal in a temp directory), {callers} concurrent customers, {seconds} s per phase, {rounds} round(s) of {(breakdown ? "off/feed/feed+json/kafka-unread/kafka, then backwards" : "off/on/on/off")} after a 1 s warm-up (publishing on).");
        Console.WriteLine($"Workload: the peak-sale generator's visits (carts of 1-5 lines, 70 % from a Zipf hot set of {sale.HotSkus} SKUs, {skus:N0} SKUs x 3 warehouses; 80 % pay, 5 % fail, 15 % never pay), stock deep enough that nothing sells out.");
        Console.WriteLine($"BROKER: librdkafka's MOCK cluster (3 brokers) in a CHILD PROCESS on the same {Environment.ProcessorCount} cores, topic {Topic} with {partitions} partitions; the consumer runs in this process. Not a real Kafka.");

        await using var cluster = await KafkaMockCluster.StartAsync(brokers: 3, timeout: TimeSpan.FromSeconds(30));
        await cluster.CreateTopicAsync(Topic, partitions);
        using var consumer = new EventConsumer(cluster.Bootstrap, partitions);

        await RunPhaseAsync(cluster.Bootstrap, consumer, sale, visits, callers, TimeSpan.FromSeconds(1), Mode.Kafka, "warm-up");
        var results = new List<PhaseResult>();
        for (var round = 0; round < rounds; round++)
        {
            Mode[] order = breakdown ? [Mode.Off, Mode.Feed, Mode.FeedJson, Mode.KafkaUnread, Mode.Kafka, Mode.Kafka, Mode.KafkaUnread, Mode.FeedJson, Mode.Feed, Mode.Off] : [Mode.Off, Mode.Kafka, Mode.Kafka, Mode.Off];
            foreach (var mode in order)
            {
                var r = await RunPhaseAsync(cluster.Bootstrap, consumer, sale, visits, callers, TimeSpan.FromSeconds(seconds), mode, $"r{round}");
                results.Add(r);
                Console.WriteLine(r.Describe());
            }
        }

        await Task.Yield(); // the last phase's engine may still be on this stack (see RunPhaseAsync)
        var off = results.Where(r => r.Mode == Mode.Off).ToList();
        var on = results.Where(r => r.Mode == Mode.Kafka).ToList();
        foreach (var mode in new[] { Mode.Feed, Mode.FeedJson, Mode.KafkaUnread })
        {
            var part = results.Where(r => r.Mode == mode).ToList();
            if (part.Count > 0) Console.WriteLine(Invariant($"SUMMARY {mode}: {part.Sum(r => r.Checkouts) / part.Sum(r => r.Seconds):N0} checkouts/s, {part.Sum(r => r.Checkouts) / part.Sum(r => r.Seconds) / (off.Sum(r => r.Checkouts) / off.Sum(r => r.Seconds)):F3} of off"));
        }
        var offRate = off.Sum(r => r.Checkouts) / off.Sum(r => r.Seconds);
        var onRate = on.Sum(r => r.Checkouts) / on.Sum(r => r.Seconds);
        var lag = new LongHistogram(3_600_000, 3);
        foreach (var r in on) lag.Add(r.Lag!);
        var events = on.Sum(r => r.Events);
        Console.WriteLine();
        Console.WriteLine(Invariant($"SUMMARY publishing off: {offRate:N0} checkouts/s; on: {onRate:N0} checkouts/s; on/off = {onRate / offRate:F3} (cost {100 * (1 - onRate / offRate):F1} %, goal <= 10 %)"));
        Console.WriteLine(Invariant($"SUMMARY events committed during the timed windows and read back: {events:N0} ({(double)events / on.Sum(r => r.Checkouts):F2} per checkout); committed at {events / on.Sum(r => r.Seconds):N0} events/s, published and read at {events / on.Sum(r => r.PublishSeconds):N0} events/s (from the window's start to the last one read)"));
        Console.WriteLine(Invariant($"SUMMARY end-to-end lag, journaled time -> consumer received (ms, 1 ms resolution): p50 {lag.GetValueAtPercentile(50)}, p99 {lag.GetValueAtPercentile(99)}, p99.9 {lag.GetValueAtPercentile(99.9)}, max {lag.GetMaxValue()}"));
        Console.WriteLine(Invariant($"SUMMARY drain after the load stopped: max {on.Max(r => r.DrainMs):N0} ms; publisher errors: {on.Sum(r => r.Errors)}; consumer offset resets in publishing phases: {on.Sum(r => r.Resets)}; managed heap after settling: {GC.GetTotalMemory(forceFullCollection: true) / 1048576.0:F0} MiB"));
    }

    private sealed record PhaseResult(
        string Name, Mode Mode, long Checkouts, double Seconds, LongHistogram Latency, long Events, double PublishSeconds, LongHistogram? Lag,
        long MaxLagEntries, double MaxLagSeconds, double DrainMs, int Errors, int Resets, double CpuSeconds, double MockCpuSeconds, GcUse Gc, long PeakRssBytes, long HeapBeforeBytes)
    {
        public bool Publish => Mode == Mode.Kafka;

        public string Describe() => Invariant(
            $"{Name} {Mode,-11}: {Checkouts / Seconds,8:N0} checkouts/s, p50 {Latency.GetValueAtPercentile(50) / 1000.0:F2} ms, p99 {Latency.GetValueAtPercentile(99) / 1000.0:F2} ms; CPU per checkout: this process {CpuSeconds / Checkouts * 1e6:F1} us, the mock broker {MockCpuSeconds / Checkouts * 1e6:F1} us; allocated {Gc.AllocatedBytes / (double)Checkouts / 1024:F1} KiB per checkout, GC pauses {100 * Gc.PauseSeconds / Seconds:F0} % of the time ({Gc.Gen2} gen2); heap before {HeapBeforeBytes / 1048576.0:F0} MiB, peak RSS {PeakRssBytes / 1048576.0:F0} MiB")
            + (Publish
                ? Invariant($"; events committed {Events / Seconds:N0}/s, read {Events / PublishSeconds:N0}/s; lag p50 {Lag!.GetValueAtPercentile(50)} ms p99 {Lag.GetValueAtPercentile(99)} ms max {Lag.GetMaxValue()} ms; publisher lag during load max {MaxLagEntries:N0} entries / {MaxLagSeconds:F2} s; drained {DrainMs:N0} ms after the load; errors {Errors}{(Resets > 0 ? $"; CONSUMER OFFSET RESETS {Resets}: events skipped, count and lag incomplete" : "")}")
                : Mode == Mode.KafkaUnread ? Invariant($"; consumer paused; publisher lag during load max {MaxLagEntries:N0} entries / {MaxLagSeconds:F2} s; drained {DrainMs:N0} ms after the load; errors {Errors}") : "");
    }

    private static async Task<PhaseResult> RunPhaseAsync(
        string bootstrap, EventConsumer consumer, FlashSaleOptions sale, Visit[] visits, int callers, TimeSpan duration, Mode mode, string name)
    {
        // The previous phase's engine and publisher may have finished disposing on this very stack (their DisposeAsync
        // frames still below us, holding them): yield first, so that they are garbage when the heap is measured.
        await Task.Yield();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var publish = mode is Mode.Kafka or Mode.KafkaUnread;
        consumer.Paused = mode == Mode.KafkaUnread;
        var dir = Directory.CreateTempSubdirectory("wb-events-").FullName;
        try
        {
            var options = new EngineOptions { StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 21, SkusCapacityHint = sale.Skus } };
            await using var engine = ReservationEngine.Open(options, new JournalOptions { Directory = dir, SnapshotEveryEntries = 0 });
            await Task.WhenAll(CatalogCommands(sale).Select(c => engine.SubmitAsync(c).AsTask()));

            await using var publisher = publish ? KafkaEventPublisher.Start(engine, new KafkaEventPublisherOptions { BootstrapServers = bootstrap, Topic = Topic }) : null;
            if (publisher is not null && await DrainAsync(publisher) is null) throw new InvalidOperationException("The publisher did not publish the catalog's events within a minute.");

            using var readerStop = new CancellationTokenSource();
            // Opened, like the publisher, before the load, and caught up with the catalog: the feed's own state machine is allocated now, not in the window.
            using var feed = mode is Mode.Feed or Mode.FeedJson ? engine.OpenEventFeed(0, "bench") : null;
            var reader = feed is null ? Task.CompletedTask : Task.Run(() => ReadFeedAsync(feed, mode == Mode.FeedJson, readerStop.Token));
            for (var clean = 0; feed is not null && clean < 2; clean = feed.LagEntries == 0 ? clean + 1 : 0) await Task.Delay(20);
            var histograms = Enumerable.Range(0, callers).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
            var counts = new long[callers];
            var resets0 = consumer.Resets;
            var window = consumer.StartWindow(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var mock0 = MockCpu();
            var allocated0 = GC.GetTotalAllocatedBytes();
            var pause0 = GC.GetTotalPauseDuration();
            var gen2Before = GC.CollectionCount(2);
            var start = Stopwatch.GetTimestamp();
            var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            using var sampling = new CancellationTokenSource();
            var sampler = SampleAsync(publisher, sampling.Token);

            await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
            {
                var h = histograms[c];
                for (var i = 0; ; i++)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    if (t0 >= end) break;
                    var visit = visits[(c * 7919 + i) & (visits.Length - 1)];
                    var lines = Array.ConvertAll(visit.Lines, l => new CheckoutLine(l.Sku, l.Qty));
                    var r = await engine.CheckoutAsync(string.Create(CultureInfo.InvariantCulture, $"{name}-{c}-{i}"), $"c{visit.Customer}", lines);
                    if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
                    h.RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency));
                    counts[c]++;
                    if (visit.Payment != Payment.Never)
                    {
                        var paid = await engine.ApplyPaymentAsync(r.OrderId, "tx-" + r.OrderId, visit.Payment == Payment.Pays, r.Amount, "RUB");
                        if (!paid.IsOk) throw new InvalidOperationException($"payment failed: {paid.Code}");
                    }
                }
            })));
            var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            var mockCpu = (MockCpu() - mock0).TotalSeconds;
            var gc = new GcUse(GC.GetTotalAllocatedBytes() - allocated0, (GC.GetTotalPauseDuration() - pause0).TotalSeconds, GC.CollectionCount(2) - gen2Before);
            window.Close(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

            double drainMs = 0;
            if (publisher is not null)
            {
                drainMs = await DrainAsync(publisher) ?? throw new InvalidOperationException($"The publisher did not catch up within {DrainLimit.TotalSeconds} s of the load's end: {string.Join("; ", publisher.Lag)}");
                consumer.Paused = false;
                if (!await consumer.QuietAsync(TimeSpan.FromMilliseconds(500), DrainLimit)) throw new InvalidOperationException("The consumer kept receiving for a minute after the publisher caught up.");
            }
            await readerStop.CancelAsync();
            await reader;
            await sampling.CancelAsync();
            var (maxEntries, maxSeconds, errors, peakRss) = await sampler;
            var resets = consumer.Resets - resets0;

            var all = new LongHistogram(60_000_000, 3);
            foreach (var h in histograms) all.Add(h);
            var (events, lag, lastReadMs) = window.Read();
            var publishSeconds = Math.Max(elapsed, (lastReadMs - window.StartMs) / 1000.0);
            return new PhaseResult(name, mode, counts.Sum(), elapsed, all, events, publishSeconds, publish ? lag : null, maxEntries, maxSeconds, drainMs, errors, resets, cpu, mockCpu, gc, peakRss, heapBefore);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Waits until every shard's events are read and acknowledged by Kafka (twice in a row, 20 ms apart); the time it took, or null after a minute.</summary>
    private static async Task<double?> DrainAsync(KafkaEventPublisher publisher)
    {
        var started = Stopwatch.GetTimestamp();
        var clean = 0;
        while (Stopwatch.GetElapsedTime(started) < DrainLimit)
        {
            clean = publisher.Lag.All(l => l.LagEntries == 0 && l.LagSeconds == 0) ? clean + 1 : 0;
            if (clean == 2) return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            await Task.Delay(20);
        }
        return null;
    }

    /// <summary>Every 100 ms: the publisher's lag (entries, seconds), its errors, and this process's resident memory.</summary>
    private static async Task<(long MaxEntries, double MaxSeconds, int Errors, long PeakRss)> SampleAsync(KafkaEventPublisher? publisher, CancellationToken cancellation)
    {
        long maxEntries = 0, peakRss = 0;
        double maxSeconds = 0;
        var errors = 0;
        using var self = Process.GetCurrentProcess();
        while (!cancellation.IsCancellationRequested)
        {
            if (publisher is not null)
            {
                foreach (var l in publisher.Lag)
                {
                    maxEntries = Math.Max(maxEntries, l.LagEntries);
                    maxSeconds = Math.Max(maxSeconds, l.LagSeconds);
                    if (l.LastError is not null)
                    {
                        if (errors++ < 5) Console.WriteLine($"  publisher error on shard {l.Shard}: {l.LastError}");
                    }
                }
            }
            self.Refresh();
            peakRss = Math.Max(peakRss, self.WorkingSet64);
            try
            {
                await Task.Delay(100, cancellation);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return (maxEntries, maxSeconds, errors, peakRss);
    }

    /// <summary>CPU time used so far by the mock cluster's process (our child running Wildberries.KafkaMock.dll); zero if not found.</summary>
    private static TimeSpan MockCpu()
    {
        var total = TimeSpan.Zero;
        foreach (var p in Process.GetProcessesByName("dotnet"))
        {
            using (p)
            {
                try
                {
                    if (p.Id == Environment.ProcessId) continue;
                    var cmdline = File.ReadAllText($"/proc/{p.Id}/cmdline");
                    if (cmdline.Contains(KafkaMockCluster.ProgramFile, StringComparison.Ordinal) && ParentOf(p.Id) == Environment.ProcessId) total += p.TotalProcessorTime;
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
                {
                    // It went away, or it is not ours to read.
                }
            }
        }
        return total;

        static int ParentOf(int pid)
        {
            // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so count from the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
        }
    }

    private sealed record GcUse(long AllocatedBytes, double PauseSeconds, int Gen2);

    private enum Mode
    {
        Off,
        Kafka,
        Feed,
        FeedJson,
        KafkaUnread,
    }

    /// <summary>What the publisher does short of Kafka: read shard 0's event feed and acknowledge it (and encode each event as a CloudEvent).</summary>
    private static async Task ReadFeedAsync(Wildberries.Engine.Events.EventFeed feed, bool encode, CancellationToken cancellation)
    {
        var source = new Uri("urn:wildberries:reservations");
        long bytes = 0;
        try
        {
            while (true)
            {
                var batch = await feed.ReadAsync(1_000, cancellation);
                if (encode)
                {
                    foreach (var e in batch) bytes += CloudEventMapper.Encode(CloudEventMapper.ToCloudEvent(e, source, "RUB")).Length;
                }
                feed.Acknowledge(batch[^1].Position);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
        }
        GC.KeepAlive(bytes);
    }

    internal static IEnumerable<Command> CatalogCommands(FlashSaleOptions sale)
    {
        for (long sku = 1; sku <= sale.Skus; sku++)
        {
            yield return Command.UpsertItem(sku, $"item {sku}", FlashSale.Price(sku), 10, true);
            for (var w = 1; w <= sale.Warehouses; w++) yield return Command.SetStockOnHand(sku, w, 300_000_000);
        }
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>The events one phase produced during its timed window, as the consumer received them.</summary>
    private sealed class Window(long startMs)
    {
        private readonly LongHistogram _lag = new(3_600_000, 3);
        private long _endMs = long.MaxValue;
        private long _events;
        private long _lastReadMs;

        public long StartMs => startMs;

        public void Close(long endMs) => Volatile.Write(ref _endMs, endMs);

        public void Record(long timestampMs, long receivedMs)
        {
            if (timestampMs < startMs || timestampMs > Volatile.Read(ref _endMs)) return;
            lock (_lag)
            {
                _lag.RecordValue(Math.Max(0, receivedMs - timestampMs));
                _events++;
                _lastReadMs = Math.Max(_lastReadMs, receivedMs);
            }
        }

        public (long Events, LongHistogram Lag, long LastReadMs) Read()
        {
            var copy = new LongHistogram(3_600_000, 3);
            lock (_lag)
            {
                copy.Add(_lag);
                return (_events, copy, _lastReadMs);
            }
        }
    }

    /// <summary>A Confluent consumer on a thread of its own, assigned every partition of <c>wb.events</c> from the start.</summary>
    private sealed class EventConsumer : IDisposable
    {
        private readonly IConsumer<Ignore, Ignore> _consumer;
        private readonly Thread _thread;
        private readonly CancellationTokenSource _stop = new();
        private Window? _window;
        private volatile bool _paused;
        private int _resets;

        /// <summary>How many times a partition's offset was reset (events skipped) so far.</summary>
        public int Resets => Volatile.Read(ref _resets);

        /// <summary>Paused: the consumer fetches nothing (what publishing costs without a reader on these cores).</summary>
        public bool Paused
        {
            get => _paused;
            set
            {
                _paused = value;
                if (!value) Volatile.Write(ref _lastReceivedTicks, Stopwatch.GetTimestamp());
            }
        }

        private long _lastReceivedTicks = Stopwatch.GetTimestamp();

        public EventConsumer(string bootstrap, int partitions)
        {
            _consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
            {
                BootstrapServers = bootstrap,
                GroupId = "wb-events-bench",
                EnableAutoCommit = false,
                FetchWaitMaxMs = 100,
            })
                // librdkafka logs an offset reset when the consumer asked for events the mock no longer keeps: those were skipped.
                .SetLogHandler((_, m) =>
                {
                    if (m.Message.Contains("offset reset", StringComparison.OrdinalIgnoreCase)) Interlocked.Increment(ref _resets);
                    else if (m.Level <= SyslogLevel.Warning) Console.WriteLine($"  consumer: {m.Message}");
                })
                .Build();
            _consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(Topic, p, Offset.Beginning)));
            _thread = new Thread(Loop) { IsBackground = true, Name = "wb.events consumer" };
            _thread.Start();
        }

        public Window StartWindow(long startMs)
        {
            var w = new Window(startMs);
            Volatile.Write(ref _window, w);
            return w;
        }

        /// <summary>True once nothing arrived for <paramref name="quiet"/>; false if messages keep coming for <paramref name="limit"/>.</summary>
        public async Task<bool> QuietAsync(TimeSpan quiet, TimeSpan limit)
        {
            var started = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(started) < limit)
            {
                if (Stopwatch.GetElapsedTime(Volatile.Read(ref _lastReceivedTicks)) >= quiet) return true;
                await Task.Delay(50);
            }
            return false;
        }

        private void Loop()
        {
            var paused = false;
            while (!_stop.IsCancellationRequested)
            {
                if (_paused != paused)
                {
                    paused = !paused;
                    if (paused) _consumer.Pause(_consumer.Assignment);
                    else _consumer.Resume(_consumer.Assignment);
                }
                ConsumeResult<Ignore, Ignore>? m;
                try
                {
                    m = _consumer.Consume(TimeSpan.FromMilliseconds(100));
                }
                catch (ConsumeException e)
                {
                    Console.WriteLine($"  consumer error: {e.Error.Reason}");
                    continue;
                }
                if (m is null || m.IsPartitionEOF) continue;
                var received = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                Volatile.Write(ref _lastReceivedTicks, Stopwatch.GetTimestamp());
                Volatile.Read(ref _window)?.Record(m.Message.Timestamp.UnixTimestampMs, received);
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _thread.Join(TimeSpan.FromSeconds(5));
            _consumer.Close();
            _consumer.Dispose();
            _stop.Dispose();
        }
    }
}
