using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Runtime.InteropServices;
using HdrHistogram;
using Microsoft.Win32.SafeHandles;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Bench.Durable;

/// <summary>Latency percentiles of a probe, in microseconds.</summary>
internal readonly record struct ProbeResult(long Count, double P50Micros, double P99Micros);

/// <summary>
/// The floor a durable commit cannot beat: one synchronous 4 KiB write on the same file system, in place in a
/// preallocated file, timed two ways: buffered and followed by <c>fdatasync</c> (what <c>dd bs=4k oflag=dsync</c>
/// does), and through a handle opened with <see cref="FileOptions.WriteThrough"/> (<c>O_SYNC</c>, the way
/// FASTER's device opens the log here). The lower median of the two is the floor. The disk is shared and its
/// latency moves by 10x from one second to the next, so the probe is interleaved with what it is compared to
/// (<see cref="WriteOnce"/> between commits or checkouts) rather than run before it.
/// </summary>
internal sealed class DeviceProbe : IDisposable
{
    private const int Block = 4096;
    private const int Blocks = 1024;

    private readonly string _path;
    private readonly SafeFileHandle _buffered;
    private readonly SafeFileHandle _sync;
    private readonly byte[] _block = new byte[Block];
    private readonly LongHistogram _dsync = new(10_000_000, 3);
    private readonly LongHistogram _oSync = new(10_000_000, 3);
    private int _next;

    public DeviceProbe(string directory)
    {
        _path = Path.Combine(directory, $"wb-device-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        _block.AsSpan().Fill(0x5A);
        _buffered = File.OpenHandle(_path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.None);
        for (var i = 0; i < Blocks; i++) RandomAccess.Write(_buffered, _block, (long)i * Block);
        RandomAccess.FlushToDisk(_buffered);
        _sync = File.OpenHandle(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.WriteThrough);
    }

    /// <summary>The lower of the two medians, in microseconds.</summary>
    public double FloorMicros => Math.Min(_dsync.GetValueAtPercentile(50), _oSync.GetValueAtPercentile(50));

    /// <summary>One write each way.</summary>
    public void WriteOnce()
    {
        var offset = (long)(_next++ % Blocks) * Block;
        var t0 = Stopwatch.GetTimestamp();
        RandomAccess.Write(_buffered, _block, offset);
        DataSync(_buffered);
        var t1 = Stopwatch.GetTimestamp();
        RandomAccess.Write(_sync, _block, offset);
        var t2 = Stopwatch.GetTimestamp();
        _dsync.RecordValue((t1 - t0) * 1_000_000 / Stopwatch.Frequency);
        _oSync.RecordValue((t2 - t1) * 1_000_000 / Stopwatch.Frequency);
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"device (interleaved, {_dsync.TotalCount:N0} 4 KiB writes each way): write+fdatasync p50 {_dsync.GetValueAtPercentile(50) / 1000.0:F3} ms p99 {_dsync.GetValueAtPercentile(99) / 1000.0:F3} ms, O_SYNC p50 {_oSync.GetValueAtPercentile(50) / 1000.0:F3} ms p99 {_oSync.GetValueAtPercentile(99) / 1000.0:F3} ms");

    public void Dispose()
    {
        _buffered.Dispose();
        _sync.Dispose();
        File.Delete(_path);
    }

    /// <summary><c>fdatasync</c> of a handle.</summary>
    public static void DataSyncOf(SafeFileHandle file) => DataSync(file);

    private static void DataSync(SafeFileHandle file)
    {
        var added = false;
        file.DangerousAddRef(ref added);
        try
        {
            if (FDataSync((int)file.DangerousGetHandle()) != 0) throw new IOException($"fdatasync failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            if (added) file.DangerousRelease();
        }
    }

    // A blittable signature: plain DllImport needs no unsafe code in the bench.
    [DllImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int FDataSync(int fd);
}

/// <summary>
/// Which synchronous 4 KiB write stalls on this file system (issue 15: the open loop's non-GC stalls were single
/// journal writes of 30-130 ms): the same write four ways, interleaved, in the same directory: in place in a written
/// file (the device probe), appended to a growing file (how the journal's segment grew), and appended inside a file
/// whose blocks were written with zeros beforehand, with <c>O_SYNC</c> and with <c>write</c> + <c>fdatasync</c>
/// (<c>O_DSYNC</c>'s semantics: no journal commit for a timestamp).
/// </summary>
internal static class DeviceWays
{
    private const int Block = 4096;

    public static void Run(string directory, int writes)
    {
        var block = new byte[Block];
        block.AsSpan().Fill(0x5A);
        var paths = Enumerable.Range(0, 4).Select(i => Path.Combine(directory, $"wb-device-ways-{Environment.ProcessId}-{i}")).ToArray();
        var prewritten = (long)writes * Block;
        try
        {
            // 0: in place (written beforehand); 1: appended to an empty file; 2 and 3: appended inside zeros written beforehand.
            foreach (var i in new[] { 0, 2, 3 })
            {
                using var f = File.OpenHandle(paths[i], FileMode.Create, FileAccess.ReadWrite);
                var zeros = new byte[1 << 20];
                for (long at = 0; at < (i == 0 ? 1024 * Block : prewritten); at += zeros.Length) RandomAccess.Write(f, zeros, at);
                RandomAccess.FlushToDisk(f);
            }
            using var inPlace = File.OpenHandle(paths[0], FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.WriteThrough);
            using var growing = File.OpenHandle(paths[1], FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.WriteThrough);
            using var insideSync = File.OpenHandle(paths[2], FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.WriteThrough);
            using var insideData = File.OpenHandle(paths[3], FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            var names = new[] { "in place, O_SYNC (the device probe)", "appended, file grows, O_SYNC (the journal before)", "appended inside written zeros, O_SYNC", "appended inside written zeros, write+fdatasync" };
            var histograms = names.Select(_ => new LongHistogram(10_000_000, 3)).ToArray();
            var slow = new int[4];
            for (var n = 0; n < writes; n++)
            {
                for (var w = 0; w < 4; w++)
                {
                    var way = (w + n) & 3; // rotate the order
                    var t0 = Stopwatch.GetTimestamp();
                    switch (way)
                    {
                        case 0: RandomAccess.Write(inPlace, block, (long)(n % 1024) * Block); break;
                        case 1: RandomAccess.Write(growing, block, (long)n * Block); break;
                        case 2: RandomAccess.Write(insideSync, block, (long)n * Block); break;
                        default:
                            RandomAccess.Write(insideData, block, (long)n * Block);
                            DeviceProbe.DataSyncOf(insideData);
                            break;
                    }
                    var micros = (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency;
                    histograms[way].RecordValue(micros);
                    if (micros > 5_000) slow[way]++;
                }
            }
            for (var w = 0; w < 4; w++)
            {
                var h = histograms[w];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {names[w],-52} p50 {h.GetValueAtPercentile(50) / 1000.0:F3} ms, p99 {h.GetValueAtPercentile(99) / 1000.0:F3} ms, p99.9 {h.GetValueAtPercentile(99.9) / 1000.0:F3} ms, max {h.GetMaxValue() / 1000.0:F1} ms, over 5 ms {slow[w]}x"));
            }
        }
        finally
        {
            foreach (var p in paths) File.Delete(p);
        }
    }
}

/// <summary>
/// The journal alone: one entry appended and committed, again and again, in a fresh directory, interleaved with a
/// device write (and with a commit of the old path, when compared), so all see the same disk.
/// </summary>
internal static class CommitProbe
{
    public static (ProbeResult Now, ProbeResult? Before) Measure(DeviceProbe device, bool compare, int commits, Func<string, JournalOptions> baseline)
    {
        var directories = new List<string>();
        var journals = new List<(FasterJournal Journal, LongHistogram Latency)>();
        try
        {
            foreach (var legacy in compare ? new[] { false, true } : [false])
            {
                var directory = Directory.CreateTempSubdirectory("wb-commit-probe-").FullName;
                directories.Add(directory);
                var journal = new FasterJournal(directory, legacy ? baseline(directory) : new JournalOptions { Directory = directory });
                journals.Add((journal, new LongHistogram(10_000_000, 3)));
                foreach (var _ in journal.ReadAfter(0))
                {
                }
            }
            var checkout = Command.Checkout("idem-7f3a9c1e-42", "customer-1234567", [new CheckoutLine(42, 1)]);
            for (var i = 1; i <= commits; i++)
            {
                device.WriteOnce();
                foreach (var (journal, latency) in journals)
                {
                    var c = checkout;
                    c.Lsn = i;
                    c.TimestampMs = 1_700_000_000_000;
                    var t0 = Stopwatch.GetTimestamp();
                    journal.Append(c);
                    journal.Commit();
                    latency.RecordValue((Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency);
                }
            }
            static ProbeResult Of(LongHistogram h) => new(h.TotalCount, h.GetValueAtPercentile(50), h.GetValueAtPercentile(99));
            return (Of(journals[0].Latency), journals.Count > 1 ? Of(journals[1].Latency) : null);
        }
        finally
        {
            foreach (var (journal, _) in journals) journal.Dispose();
            foreach (var directory in directories) Directory.Delete(directory, recursive: true);
        }
    }
}

/// <summary>
/// What the runtime did during a measurement: every GC pause (from the runtime's own events: suspension begin to
/// restart end), the thread pool's largest queue and thread count, and how late a 1 ms sleep woke up (a starved
/// CPU or a stalled timer shows there).
/// </summary>
internal sealed class RuntimeProbe : EventListener
{
    private const long GcKeyword = 0x1;
    private readonly LongHistogram _pauses = new(10_000_000, 3);
    private readonly LongHistogram _oversleep = new(10_000_000, 3);
    private readonly Thread _sampler;
    private readonly int _gen0 = GC.CollectionCount(0);
    private readonly int _gen1 = GC.CollectionCount(1);
    private readonly int _gen2 = GC.CollectionCount(2);
    private readonly List<(DateTime At, string What, double Ms)> _events = [];
    private DateTime? _suspended;
    private long _maxQueue;
    private int _maxThreads;
    private volatile bool _stop;

    public RuntimeProbe()
    {
        _sampler = new Thread(Sample) { IsBackground = true, Name = "runtime probe" };
        _sampler.Start();
    }

    public string Describe()
    {
        Stop();
        lock (_pauses)
        {
            var gcs = $"GCs gen0/1/2 {GC.CollectionCount(0) - _gen0}/{GC.CollectionCount(1) - _gen1}/{GC.CollectionCount(2) - _gen2}";
            var pauses = _pauses.TotalCount == 0
                ? "no GC pause seen"
                : $"GC pauses {_pauses.TotalCount}: p50 {_pauses.GetValueAtPercentile(50) / 1000.0:F2} ms, max {_pauses.GetMaxValue() / 1000.0:F2} ms";
            return string.Create(CultureInfo.InvariantCulture,
                $"{gcs}, {pauses}; thread pool: up to {_maxThreads} threads, up to {_maxQueue:N0} queued items; a 1 ms sleep overslept p99 {_oversleep.GetValueAtPercentile(99) / 1000.0:F2} ms, max {_oversleep.GetMaxValue() / 1000.0:F2} ms");
        }
    }

    /// <summary>GC pauses, and 1 ms sleeps that took over 6 ms, with when they began.</summary>
    public List<(DateTime At, string What, double Ms)> Events()
    {
        Stop();
        lock (_pauses) return [.. _events];
    }

    public override void Dispose()
    {
        Stop();
        base.Dispose();
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(eventSource, EventLevel.Informational, (EventKeywords)GcKeyword);
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        // Events may arrive before the constructor ran (the base class enables sources first).
        if (_pauses is null) return;
        lock (_pauses)
        {
            if (eventData.EventName is "GCSuspendEEBegin_V1") _suspended = eventData.TimeStamp;
            else if (eventData.EventName is "GCRestartEEEnd_V1" && _suspended is { } begin)
            {
                _pauses.RecordValue(Math.Max(0, (long)(eventData.TimeStamp - begin).TotalMicroseconds));
                _events.Add((begin, "GC pause", (eventData.TimeStamp - begin).TotalMilliseconds));
                _suspended = null;
            }
        }
    }

    private void Stop()
    {
        _stop = true;
        _sampler.Join();
    }

    private void Sample()
    {
        while (!_stop)
        {
            var t0 = Stopwatch.GetTimestamp();
            var at = DateTime.UtcNow;
            Thread.Sleep(1);
            var late = (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency - 1_000;
            lock (_pauses)
            {
                _oversleep.RecordValue(Math.Max(0, late));
                if (late > 5_000) _events.Add((at, "a 1 ms sleep (CPU starved, or suspended)", late / 1000.0 + 1));
                _maxQueue = Math.Max(_maxQueue, ThreadPool.PendingWorkItemCount);
                _maxThreads = Math.Max(_maxThreads, ThreadPool.ThreadCount);
            }
        }
    }
}
