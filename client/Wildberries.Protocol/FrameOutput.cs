using System.Buffers;
using System.IO.Pipelines;

namespace Wildberries.Protocol;

/// <summary>
/// The frames one side of a connection writes, from many operations at once (the server's answers, the client's
/// requests). A frame is encoded on the caller's thread, then appended to a pending buffer under a short lock; one
/// writer at a time moves the whole pending buffer to the pipe and flushes it. The caller that finds no writer running
/// becomes the writer, on its own thread; the others only append and return. So a burst of N frames (a group commit
/// completing hundreds of checkouts) leaves in one or a few flushes with no hand-off between threads: an async lock
/// taken per frame hands the lock to each waiter through the thread pool, N hops in a row for N frames.
/// </summary>
public sealed class FrameOutput
{
    // Encoding scratch per thread: a frame is encoded outside the lock, and no await happens while it is in use.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    // Scratch buffers that grew past this for a large frame are dropped rather than kept per thread.
    private const int ScratchKeepBytes = 64 * 1024;

    private readonly PipeWriter _output;
    private readonly Lock _gate = new();
    private ArrayBufferWriter<byte> _pending = new(4096);
    private ArrayBufferWriter<byte>? _spare = new(4096);
    private bool _writing;
    private Exception? _failed;
    private TaskCompletionSource? _idle;

    private readonly int _pendingBytesMax;

    /// <summary>
    /// Writes to <paramref name="output"/>; nothing else may write to it. Once more than
    /// <paramref name="pendingBytesMax"/> bytes wait behind a flush that does not complete (a peer that does not read),
    /// a write's task completes only when they are flushed, so its caller holds its in-flight slot and the pending
    /// buffer stops growing (default 1 MiB, the largest frame).
    /// </summary>
    public FrameOutput(PipeWriter output, int pendingBytesMax = 1 << 20)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pendingBytesMax);
        _output = output;
        _pendingBytesMax = pendingBytesMax;
    }

    /// <summary>
    /// Queues one frame. The task completes when the frame is handed to the transport if this call became the writer,
    /// at once otherwise (the frame leaves with the writer's next flush), unless the pending bytes are over the cap:
    /// then when everything queued is flushed. Faults with <see cref="IOException"/> when
    /// the output has failed: then no later frame is sent.
    /// </summary>
    public Task WriteAsync<T>(FrameType type, uint requestId, T body, BodyWriter<T> write)
    {
        var scratch = t_scratch ??= new ArrayBufferWriter<byte>(1024);
        MessageCodec.Encode(scratch, body, write);
        try
        {
            lock (_gate)
            {
                if (_failed is not null) return Task.FromException(new IOException("The connection's output failed.", _failed));
                Frame.Write(_pending, type, requestId, scratch.WrittenSpan);
                if (_writing)
                {
                    if (_pending.WrittenCount <= _pendingBytesMax) return Task.CompletedTask;
                    // Backpressure: this frame's caller waits until everything queued has left.
                    _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    return _idle.Task;
                }
                _writing = true;
            }
        }
        finally
        {
            if (scratch.Capacity > ScratchKeepBytes) t_scratch = null;
        }
        return WriteLoopAsync();
    }

    /// <summary>Completes once every frame queued so far is flushed (or faults if the output failed).</summary>
    public Task FlushedAsync()
    {
        lock (_gate)
        {
            if (_failed is not null) return Task.FromException(new IOException("The connection's output failed.", _failed));
            if (!_writing) return Task.CompletedTask;
            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task;
        }
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                ArrayBufferWriter<byte> batch;
                TaskCompletionSource? idle;
                lock (_gate)
                {
                    if (_pending.WrittenCount == 0)
                    {
                        _writing = false;
                        idle = _idle;
                        _idle = null;
                        batch = null!;
                    }
                    else
                    {
                        // Only this loop swaps: the spare is back from the previous round by now.
                        batch = _pending;
                        _pending = _spare!;
                        _spare = null;
                        idle = null;
                    }
                }
                if (batch is null)
                {
                    idle?.TrySetResult();
                    return;
                }
                _output.Write(batch.WrittenSpan);
                batch.ResetWrittenCount();
                lock (_gate) _spare = batch;
                var flushed = await _output.FlushAsync().ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled) throw new IOException("The connection's reader closed.");
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            TaskCompletionSource? idle;
            lock (_gate)
            {
                _failed = ex;
                _writing = false;
                idle = _idle;
                _idle = null;
            }
            idle?.TrySetException(new IOException("The connection's output failed.", ex));
            throw;
        }
    }
}
