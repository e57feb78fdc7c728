namespace Wildberries.Ring;

/// <summary>
/// Spins a little, then yields the core on every retry: low latency, and polite to other threads when idle.
/// </summary>
public sealed class YieldingWaitStrategy : IWaitStrategy
{
    private const int SpinTries = 100;

    /// <inheritdoc />
    public long WaitFor(long sequence, SequenceBarrier barrier)
    {
        ArgumentNullException.ThrowIfNull(barrier);
        var counter = SpinTries;
        long available;
        while ((available = barrier.DependentValue) < sequence && !barrier.IsAlerted)
        {
            if (counter > 0)
            {
                counter--;
                Thread.SpinWait(1);
            }
            else
            {
                Thread.Yield();
            }
        }
        return available;
    }

    /// <inheritdoc />
    public void SignalAllWhenBlocking()
    {
    }
}
