namespace Wildberries.Ring;

/// <summary>
/// Spins without ever giving up the core: the lowest latency, only for machines with a core per busy thread.
/// </summary>
public sealed class BusySpinWaitStrategy : IWaitStrategy
{
    /// <inheritdoc />
    public long WaitFor(long sequence, SequenceBarrier barrier)
    {
        ArgumentNullException.ThrowIfNull(barrier);
        long available;
        while ((available = barrier.DependentValue) < sequence && !barrier.IsAlerted)
        {
            Thread.SpinWait(1);
        }
        return available;
    }

    /// <inheritdoc />
    public void SignalAllWhenBlocking()
    {
    }
}
