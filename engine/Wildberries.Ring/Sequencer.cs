namespace Wildberries.Ring;

/// <summary>
/// Hands out slots to producers and tells consumers which slots are published, without ever overtaking the
/// slowest gating consumer.
/// </summary>
public abstract class Sequencer
{
    private Sequence[] _gatingSequences = [];

    /// <summary>Creates a sequencer over a ring of <paramref name="bufferSize"/> slots (a power of two).</summary>
    protected Sequencer(int bufferSize, IWaitStrategy waitStrategy)
    {
        if (bufferSize < 1 || (bufferSize & (bufferSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bufferSize), bufferSize, "The ring size must be a positive power of two.");
        }
        ArgumentNullException.ThrowIfNull(waitStrategy);
        BufferSize = bufferSize;
        WaitStrategy = waitStrategy;
    }

    /// <summary>The number of slots in the ring.</summary>
    public int BufferSize { get; }

    /// <summary>How consumers of this ring wait.</summary>
    public IWaitStrategy WaitStrategy { get; }

    /// <summary>The highest claimed (single producer: published) sequence.</summary>
    public Sequence Cursor { get; } = new();

    /// <summary>The consumers that producers may not overtake (normally the last stage of the pipeline).</summary>
    protected Sequence[] GatingSequences => Volatile.Read(ref _gatingSequences);

    /// <summary>Claims the next slot, waiting while the ring is full.</summary>
    public long Next() => Next(1);

    /// <summary>Claims the next <paramref name="n"/> slots and returns the highest, waiting while the ring is full.</summary>
    public abstract long Next(int n);

    /// <summary>Claims the next <paramref name="n"/> slots unless the ring is full; never waits.</summary>
    public abstract bool TryNext(int n, out long sequence);

    /// <summary>Makes the slot at <paramref name="sequence"/> visible to consumers.</summary>
    public abstract void Publish(long sequence);

    /// <summary>Makes the slots from <paramref name="low"/> to <paramref name="high"/> visible to consumers.</summary>
    public abstract void Publish(long low, long high);

    /// <summary>Whether the slot at <paramref name="sequence"/> has been published and not yet overwritten.</summary>
    public abstract bool IsAvailable(long sequence);

    /// <summary>
    /// The highest sequence from <paramref name="nextSequence"/> up to <paramref name="availableSequence"/> such
    /// that every slot before it is published (multi-producer rings publish out of order).
    /// </summary>
    public abstract long GetHighestPublishedSequence(long nextSequence, long availableSequence);

    /// <summary>Slots that can be claimed right now without waiting.</summary>
    public long RemainingCapacity => BufferSize - (Cursor.Value - Sequence.Min(GatingSequences, Cursor.Value));

    /// <summary>Adds consumers that producers must not overtake.</summary>
    public void AddGatingSequences(params Sequence[] sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var cursor = Cursor.Value;
        foreach (var s in sequences) s.Value = cursor;
        Sequence[] current, updated;
        do
        {
            current = GatingSequences;
            updated = [.. current, .. sequences];
        }
        while (Interlocked.CompareExchange(ref _gatingSequences, updated, current) != current);
    }

    /// <summary>
    /// A barrier for a consumer that may read what is published and what every one of <paramref name="dependents"/>
    /// has processed (none: straight after the producers).
    /// </summary>
    public SequenceBarrier NewBarrier(params Sequence[] dependents) => new(this, dependents);

    /// <summary>Waits a little while a producer finds the ring full; gives the core away after a few rounds.</summary>
    protected static void BackOff(ref SpinWait spin) => spin.SpinOnce(sleep1Threshold: -1);
}
