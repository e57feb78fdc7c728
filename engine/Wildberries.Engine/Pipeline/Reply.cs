using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// A pooled, reusable awaitable for one answer: the engine allocates nothing per call once the pool is warm.
/// </summary>
/// <remarks>
/// The writer thread never runs a caller's continuation: <see cref="Complete"/> queues this object itself to the
/// thread pool (it is its own work item, so queuing allocates nothing), and the continuation runs there inline.
/// </remarks>
internal sealed class Reply<T> : IValueTaskSource<T>, IThreadPoolWorkItem
{
    // Bounded so a burst does not pin memory forever: 4096 replies cover thousands of callers in flight.
    private const int PoolCapacity = 4096;
    private static readonly ConcurrentQueue<Reply<T>> Pool = new();
    private static int _pooled;

    private ManualResetValueTaskSourceCore<T> _core;
    private T _result = default!;
    private Exception? _error;

    public static Reply<T> Rent()
    {
        if (Pool.TryDequeue(out var reply))
        {
            Interlocked.Decrement(ref _pooled);
            return reply;
        }
        return new Reply<T>();
    }

    public ValueTask<T> Task => new(this, _core.Version);

    /// <summary>Hands the answer to the caller's thread; called on the writer thread.</summary>
    public void Complete(T result)
    {
        _result = result;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <summary>Fails the call; called on the writer thread.</summary>
    public void Fail(Exception error)
    {
        _error = error;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute()
    {
        if (_error is { } error)
        {
            _error = null;
            _core.SetException(error);
        }
        else
        {
            _core.SetResult(_result);
        }
    }

    public T GetResult(short token)
    {
        // A spent answer read again (or one read before it is ready) fails without touching the reply: recycling it
        // here would put it in the pool twice, and two later callers would share it.
        if (token != _core.Version || _core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            throw new InvalidOperationException("This answer was already read, or is not ready yet: await an engine call once.");
        }
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            _result = default!;
            if (Interlocked.Increment(ref _pooled) <= PoolCapacity) Pool.Enqueue(this);
            else Interlocked.Decrement(ref _pooled);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
