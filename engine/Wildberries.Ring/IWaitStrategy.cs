namespace Wildberries.Ring;

/// <summary>
/// How a consumer waits for a sequence to become available: block, yield or spin. The choice trades latency for CPU.
/// </summary>
public interface IWaitStrategy
{
    /// <summary>
    /// Waits until the barrier's dependent sequence reaches <paramref name="sequence"/> or the barrier is alerted,
    /// and returns the dependent value it saw (below <paramref name="sequence"/> only when alerted).
    /// </summary>
    long WaitFor(long sequence, SequenceBarrier barrier);

    /// <summary>Wakes blocked waiters after a publish or a stage's progress; cheap when nobody is blocked.</summary>
    void SignalAllWhenBlocking();
}
