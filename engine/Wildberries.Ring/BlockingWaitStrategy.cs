namespace Wildberries.Ring;

/// <summary>
/// The default: a short spin, then sleep on a monitor until a publisher or an upstream stage signals.
/// </summary>
/// <remarks>
/// On a 2-core machine a spinning consumer steals the core its producer needs, so blocking is the default.
/// Unlike the classic Disruptor blocking strategy, a publisher takes the lock only when someone is actually
/// waiting: it reads <see cref="_waiters"/> after a full fence, which pairs with the waiter's interlocked
/// increment before it re-reads the sequence (Dekker's pattern), so a wake-up can never be lost.
/// </remarks>
public sealed class BlockingWaitStrategy : IWaitStrategy
{
    /// <summary>Spins before blocking. 64 rounds is about a microsecond: long enough to catch a producer in mid-publish, short enough not to matter when idle.</summary>
    public const int SpinTriesDefault = 64;

    private readonly object _gate = new();
    private readonly int _spinTries;
    private int _waiters;

    /// <summary>Creates the strategy; <paramref name="spinTries"/> of 0 blocks at once.</summary>
    public BlockingWaitStrategy(int spinTries = SpinTriesDefault)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(spinTries);
        _spinTries = spinTries;
    }

    /// <inheritdoc />
    public long WaitFor(long sequence, SequenceBarrier barrier)
    {
        ArgumentNullException.ThrowIfNull(barrier);
        long available;
        for (var i = 0; i < _spinTries; i++)
        {
            available = barrier.DependentValue;
            if (available >= sequence || barrier.IsAlerted) return available;
            Thread.SpinWait(4);
        }

        lock (_gate)
        {
            // Full fence: the increment is visible before we read the sequence again.
            Interlocked.Increment(ref _waiters);
            try
            {
                while ((available = barrier.DependentValue) < sequence && !barrier.IsAlerted)
                {
                    Monitor.Wait(_gate);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _waiters);
            }
        }
        return available;
    }

    /// <inheritdoc />
    public void SignalAllWhenBlocking()
    {
        // Full fence: the caller's sequence store is visible before we read the waiter count.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _waiters) == 0) return;
        lock (_gate)
        {
            Monitor.PulseAll(_gate);
        }
    }
}
