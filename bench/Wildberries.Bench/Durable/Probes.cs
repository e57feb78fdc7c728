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
            Thread.Sleep(1);
            var late = (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency - 1_000;
            lock (_pauses)
            {
                _oversleep.RecordValue(Math.Max(0, late));
                _maxQueue = Math.Max(_maxQueue, ThreadPool.PendingWorkItemCount);
                _maxThreads = Math.Max(_maxThreads, ThreadPool.ThreadCount);
            }
        }
    }
}
