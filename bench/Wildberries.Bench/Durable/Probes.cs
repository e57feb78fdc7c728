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
/// does), and direct with write-through (<c>O_DIRECT|O_SYNC</c>, <c>dd oflag=direct,dsync</c>, the way FASTER
/// writes its log). The lower median of the two is the floor.
/// </summary>
internal static class DeviceProbe
{
    private const int Block = 4096;
    private const int Blocks = 1024;

    // FILE_FLAG_NO_BUFFERING: .NET opens the file with O_DIRECT on Linux (FASTER's device uses the same flag).
    private const FileOptions NoBuffering = (FileOptions)0x20000000;

    public static (ProbeResult Dsync, ProbeResult Direct) Measure(string directory, int writes)
    {
        var path = Path.Combine(directory, $"wb-device-probe-{Environment.ProcessId}");
        try
        {
            // O_DIRECT needs a buffer aligned to the block: a pinned array with an aligned 4 KiB window in it.
            var pinned = GC.AllocateArray<byte>(2 * Block, pinned: true);
            var skew = (int)(Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0) % Block);
            var block = pinned.AsMemory(skew == 0 ? 0 : Block - skew, Block);
            block.Span.Fill(0x5A);
            ProbeResult dsync;
            using (var file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, FileOptions.None))
            {
                for (var i = 0; i < Blocks; i++) RandomAccess.Write(file, block.Span, (long)i * Block);
                RandomAccess.FlushToDisk(file);
                dsync = Time(writes, i =>
                {
                    RandomAccess.Write(file, block.Span, (long)(i % Blocks) * Block);
                    DataSync(file);
                });
            }
            using var direct = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.WriteThrough | NoBuffering);
            return (dsync, Time(writes, i => RandomAccess.Write(direct, block.Span, (long)(i % Blocks) * Block)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static ProbeResult Time(int writes, Action<int> write)
    {
        var histogram = new LongHistogram(10_000_000, 3);
        for (var i = 0; i < writes; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            write(i);
            histogram.RecordValue((Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency);
        }
        return new ProbeResult(writes, histogram.GetValueAtPercentile(50), histogram.GetValueAtPercentile(99));
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

/// <summary>The journal alone: one entry appended and committed, again and again, in a fresh directory.</summary>
internal static class CommitProbe
{
    public static ProbeResult Measure(bool legacyCommitPath, int commits)
    {
        var directory = Directory.CreateTempSubdirectory("wb-commit-probe-").FullName;
        try
        {
            using var journal = new FasterJournal(directory, new JournalOptions { Directory = directory, LegacyCommitPath = legacyCommitPath });
            foreach (var _ in journal.ReadAfter(0))
            {
            }
            var checkout = Command.Checkout("idem-7f3a9c1e-42", "customer-1234567", [new CheckoutLine(42, 1)]);
            var histogram = new LongHistogram(10_000_000, 3);
            for (var i = 1; i <= commits; i++)
            {
                var c = checkout;
                c.Lsn = i;
                c.TimestampMs = 1_700_000_000_000;
                var t0 = Stopwatch.GetTimestamp();
                journal.Append(c);
                journal.Commit();
                histogram.RecordValue((Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency);
            }
            return new ProbeResult(commits, histogram.GetValueAtPercentile(50), histogram.GetValueAtPercentile(99));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
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
