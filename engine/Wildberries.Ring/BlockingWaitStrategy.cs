namespace Wildberries.Ring;

/// <summary>
/// A short spin, then sleep on a monitor until a publisher or an upstream stage signals: the phased backoff with no
/// yield phase (the least CPU, a wake-up on almost every batch of a busy stream).
/// </summary>
/// <remarks>
/// On a 2-core machine a spinning consumer steals the core its producer needs. Unlike the classic Disruptor
/// blocking strategy, a publisher takes the lock only when someone is actually waiting, and once per park (see
/// <see cref="PhasedBackoffWaitStrategy"/>), so a wake-up can never be lost and is never paid for twice.
/// </remarks>
public sealed class BlockingWaitStrategy : IWaitStrategy
{
    /// <summary>Spins before blocking. 64 rounds is about a microsecond: long enough to catch a producer in mid-publish, short enough not to matter when idle.</summary>
    public const int SpinTriesDefault = PhasedBackoffWaitStrategy.SpinTriesDefault;

    private readonly PhasedBackoffWaitStrategy _phases;

    /// <summary>Creates the strategy; <paramref name="spinTries"/> of 0 blocks at once.</summary>
    public BlockingWaitStrategy(int spinTries = SpinTriesDefault) => _phases = new PhasedBackoffWaitStrategy(spinTries, TimeSpan.Zero);

    /// <inheritdoc />
    public long WaitFor(long sequence, SequenceBarrier barrier) => _phases.WaitFor(sequence, barrier);

    /// <inheritdoc />
    public void SignalAllWhenBlocking() => _phases.SignalAllWhenBlocking();
}
