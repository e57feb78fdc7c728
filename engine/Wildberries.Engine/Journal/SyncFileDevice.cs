using System.Collections.Concurrent;
using FASTER.core;
using Microsoft.Win32.SafeHandles;

namespace Wildberries.Engine.Journal;

/// <summary>
/// A FASTER log device that writes on the calling thread: each write is one positional <c>pwrite</c> on a segment
/// file opened write-through (<c>O_SYNC</c>), and FASTER's completion runs inline before the call returns.
/// </summary>
/// <remarks>
/// FASTER's managed device issues every write as a <c>FileStream</c> async write, which on Linux runs the
/// <c>pwrite</c> on a thread-pool thread, and completes the flush there: on two cores those hand-offs cost about as
/// much as the write. Here the journal thread that commits also writes, so when <c>CommitStrongly</c> returns the
/// batch and its commit record are on disk (<see cref="FasterJournal"/> checks <c>FlushedUntilAddress</c>). Reads are
/// positional too and also complete inline. With <c>readOnly</c> (an offline check) no file is created: a missing
/// segment reads as zeros, and writes fail.
/// </remarks>
internal sealed class SyncFileDevice : StorageDeviceBase
{
    private readonly ConcurrentDictionary<int, SafeFileHandle> _handles = new();
    private readonly bool _readOnly;
    private volatile bool _disposed;

    public SyncFileDevice(string filename, bool readOnly = false)
        : base(filename, 512, Devices.CAPACITY_UNSPECIFIED)
    {
        _readOnly = readOnly;
        var directory = Path.GetDirectoryName(Path.GetFullPath(filename))!;
        if (!readOnly) Directory.CreateDirectory(directory);
    }

    /// <summary>How many writes were made (for tests).</summary>
    public long WriteCount => Volatile.Read(ref _writes);

    /// <summary>How many times the directory was fsynced after a segment file was created (for tests).</summary>
    public long DirectorySyncs => Volatile.Read(ref _directorySyncs);

    private long _writes;
    private long _directorySyncs;

    /// <summary>Test hook: every write fails with an I/O error (a full or dead disk).</summary>
    internal bool FailWrites { get; set; }

    public override void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        HandleCapacity(segmentId);
        uint error = 0;
        try
        {
            if (_readOnly) throw new InvalidOperationException($"{FileName} was opened read-only.");
            if (FailWrites) throw new IOException($"Writing {FileName} failed (injected).");
            var handle = Handle(segmentId) ?? throw new IOException($"No segment file {segmentId} of {FileName}.");
            var writing = System.Diagnostics.Stopwatch.GetTimestamp();
            unsafe
            {
                RandomAccess.Write(handle, new ReadOnlySpan<byte>((void*)sourceAddress, (int)numBytesToWrite), (long)destinationAddress);
            }
            Pipeline.JournalStalls.Observe("device: O_SYNC write", writing);
            Interlocked.Increment(ref _writes);
        }
        catch (Exception ex)
        {
            // Any failure reaches FASTER as a failed write (which fails the commit), never as an exception that skips
            // the callback and leaves the commit waiting.
            error = ErrorCode(ex);
            numBytesToWrite = 0;
        }
        callback(error, numBytesToWrite, context);
    }

    public override void ReadAsync(int segmentId, ulong sourceAddress, IntPtr destinationAddress, uint readLength, DeviceIOCompletionCallback callback, object context)
    {
        uint error = 0;
        var read = 0;
        try
        {
            unsafe
            {
                var destination = new Span<byte>((void*)destinationAddress, (int)readLength);
                var handle = Handle(segmentId);
                if (handle is not null)
                {
                    // A short read is the end of the file: what was never written reads as zeros.
                    while (read < destination.Length)
                    {
                        var n = RandomAccess.Read(handle, destination[read..], (long)sourceAddress + read);
                        if (n == 0) break;
                        read += n;
                    }
                }
                destination[read..].Clear();
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            error = ErrorCode(ex);
            read = 0;
        }
        callback(error, error == 0 ? readLength : 0, context);
    }

    public override void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result)
    {
        RemoveSegment(segment);
        callback(result);
    }

    public override void RemoveSegment(int segment)
    {
        if (_readOnly) return;
        if (_handles.TryRemove(segment, out var handle)) handle.Dispose();
        try
        {
            File.Delete(GetSegmentFilename(FileName, segment));
        }
        catch (IOException)
        {
            // Gone already, or still open elsewhere: FASTER's own device ignores it too.
        }
    }

    public override long GetFileSize(int segment)
    {
        if (segmentSize > 0) return segmentSize;
        var handle = Handle(segment);
        return handle is null ? 0 : RandomAccess.GetLength(handle);
    }

    public override void Dispose()
    {
        _disposed = true;
        foreach (var segment in _handles.Keys)
        {
            if (_handles.TryRemove(segment, out var handle)) handle.Dispose();
        }
    }

    /// <summary>
    /// The open segment, made if missing (unless read-only), for a read as for a write: FASTER reads its first segment as
    /// it opens, and that open handle is how the offline commands (<c>backup</c>, <c>verify</c>) see that a server runs on
    /// the directory, even before its first write.
    /// </summary>
    private SafeFileHandle? Handle(int segment)
    {
        if (_handles.TryGetValue(segment, out var handle)) return handle;
        ObjectDisposedException.ThrowIf(_disposed, this);
        var path = GetSegmentFilename(FileName, segment);
        if (_readOnly && !File.Exists(path)) return null;
        lock (_handles)
        {
            if (_handles.TryGetValue(segment, out handle)) return handle;
            var opening = System.Diagnostics.Stopwatch.GetTimestamp();
            var created = !_readOnly && !File.Exists(path);
            var opened = _readOnly
                ? File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete)
                : File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, FileOptions.WriteThrough);
            if (created)
            {
                // O_SYNC makes the file's data and size durable, not its name: a new segment's directory entry
                // is synced before anything written to it can be acknowledged.
                Snapshots.DirectorySync.Fsync(Path.GetDirectoryName(Path.GetFullPath(path))!);
                Interlocked.Increment(ref _directorySyncs);
            }
            _handles[segment] = opened;
            Pipeline.JournalStalls.Observe(created ? "device: new segment file + directory fsync" : "device: segment file opened", opening);
            return opened;
        }
    }

    private static uint ErrorCode(Exception ex) => ex.HResult is var h && (h & 0xFFFF) != 0 ? (uint)(h & 0xFFFF) : uint.MaxValue;
}
