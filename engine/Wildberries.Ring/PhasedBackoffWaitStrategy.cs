using System.Diagnostics;

namespace Wildberries.Ring;

/// <summary>
/// The default: spin briefly, then yield the core, then park on a monitor until a publisher or an upstream stage
/// signals. A busy stream is caught while spinning or yielding, so publishers rarely pay for a wake-up; an idle
/// consumer parks after <see cref="YieldTimeoutDefault"/> and costs no CPU.
/// </summary>
/// <remarks>
/// Parking works as in <see cref="BlockingWaitStrategy"/>: a publisher takes the lock only when someone is parked
/// (it reads the parked count after a full fence, which pairs with the waiter's interlocked increment before it
/// re-reads the sequence, so a wake-up cannot be lost), and only once per park: the waiter clears a "signalled"
/// flag with a full fence before each look at the sequence, and a publisher that finds it already set knows a
/// wake-up is on its way and that the woken waiter will look again. <see cref="Parked"/> and <see cref="ParkCount"/> let a
/// test or a metric see that an idle consumer really sleeps.
/// </remarks>
public sealed class PhasedBackoffWaitStrategy : IWaitStrategy
{
    /// <summary>Spin rounds before yielding: about a microsecond, to catch a producer in mid-publish.</summary>
    public const int SpinTriesDefault = 64;

    /// <summary>How long to keep yielding before parking: 1 ms, many batches' worth of gaps in a busy stream.</summary>
    public static readonly TimeSpan YieldTimeoutDefault = TimeSpan.FromMilliseconds(1);

    private readonly object _gate = new();
    private readonly int _spinTries;
    private readonly long _yieldTicks;
    private int _parked;
    private int _signalled;
    private long _parkCount;

    /// <summary>Creates the strategy: <paramref name="spinTries"/> spins, then yields for <paramref name="yieldTimeout"/> (default 1 ms), then parks.</summary>
    public PhasedBackoffWaitStrategy(int spinTries = SpinTriesDefault, TimeSpan? yieldTimeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(spinTries);
        var yield = yieldTimeout ?? YieldTimeoutDefault;
        ArgumentOutOfRangeException.ThrowIfLessThan(yield, TimeSpan.Zero);
        _spinTries = spinTries;
        _yieldTicks = (long)(yield.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>How many waiters are parked right now.</summary>
    public int Parked => Volatile.Read(ref _parked);

    /// <summary>How many times a waiter has parked since the strategy was created.</summary>
    public long ParkCount => Interlocked.Read(ref _parkCount);

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

        if (_yieldTicks > 0)
        {
            var deadline = Stopwatch.GetTimestamp() + _yieldTicks;
            do
            {
                available = barrier.DependentValue;
                if (available >= sequence || barrier.IsAlerted) return available;
                Thread.Yield();
            }
            while (Stopwatch.GetTimestamp() < deadline);
        }

        lock (_gate)
        {
            // Full fence: the increment is visible before we read the sequence again.
            Interlocked.Increment(ref _parked);
            try
            {
                while (true)
                {
                    // Re-arm the signal before looking (full fence): a publish after this look signals again.
                    Interlocked.Exchange(ref _signalled, 0);
                    if ((available = barrier.DependentValue) >= sequence || barrier.IsAlerted) break;
                    Interlocked.Increment(ref _parkCount);
                    Monitor.Wait(_gate);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _parked);
            }
        }
        return available;
    }

    /// <inheritdoc />
    public void SignalAllWhenBlocking()
    {
        // Full fence: the caller's sequence store is visible before we read the parked count.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _parked) == 0) return;
        // One wake-up per park: while a signal is on its way, further publishes need not take the lock (with the
        // blocking strategy every publish did, fighting the waking consumer for the monitor).
        if (Interlocked.Exchange(ref _signalled, 1) != 0) return;
        lock (_gate)
        {
            Monitor.PulseAll(_gate);
        }
    }
}
