namespace Wildberries.Ring;

/// <summary>
/// A sequencer for any number of producer threads: claims race on the cursor with a compare-and-set, and each
/// slot carries its own "published in lap N" flag, so producers may publish out of order.
/// </summary>
public sealed class MultiProducerSequencer : Sequencer
{
    // Cache of the slowest gating sequence, shared by producers: saves reading every gating sequence per claim.
    private readonly Sequence _gatingSequenceCache = new();

    // availableBuffer[i] holds the lap (sequence >> indexShift) in which slot i was last published.
    private readonly int[] _availableBuffer;
    private readonly int _indexMask;
    private readonly int _indexShift;

    /// <summary>Creates the sequencer.</summary>
    public MultiProducerSequencer(int bufferSize, IWaitStrategy waitStrategy)
        : base(bufferSize, waitStrategy)
    {
        _availableBuffer = new int[bufferSize];
        Array.Fill(_availableBuffer, -1);
        _indexMask = bufferSize - 1;
        _indexShift = System.Numerics.BitOperations.Log2((uint)bufferSize);
    }

    /// <inheritdoc />
    public override long Next(int n)
    {
        ThrowIfBadClaim(n);
        var spin = default(SpinWait);
        while (true)
        {
            var current = Cursor.Value;
            var next = current + n;
            var wrapPoint = next - BufferSize;
            var cachedGating = _gatingSequenceCache.Value;
            if (wrapPoint > cachedGating || cachedGating > current)
            {
                var gating = Sequence.Min(GatingSequences, current);
                if (wrapPoint > gating)
                {
                    BackOff(ref spin);
                    continue;
                }
                _gatingSequenceCache.Value = gating;
            }
            else if (Cursor.CompareAndSet(current, next))
            {
                return next;
            }
        }
    }

    /// <inheritdoc />
    public override bool TryNext(int n, out long sequence)
    {
        ThrowIfBadClaim(n);
        while (true)
        {
            var current = Cursor.Value;
            var next = current + n;
            var wrapPoint = next - BufferSize;
            var cachedGating = _gatingSequenceCache.Value;
            if (wrapPoint > cachedGating || cachedGating > current)
            {
                var gating = Sequence.Min(GatingSequences, current);
                _gatingSequenceCache.Value = gating;
                if (wrapPoint > gating)
                {
                    sequence = 0;
                    return false;
                }
            }
            if (Cursor.CompareAndSet(current, next))
            {
                sequence = next;
                return true;
            }
        }
    }

    /// <inheritdoc />
    public override void Publish(long sequence)
    {
        SetAvailable(sequence);
        WaitStrategy.SignalAllWhenBlocking();
    }

    /// <inheritdoc />
    public override void Publish(long low, long high)
    {
        for (var s = low; s <= high; s++) SetAvailable(s);
        WaitStrategy.SignalAllWhenBlocking();
    }

    /// <inheritdoc />
    public override bool IsAvailable(long sequence) =>
        Volatile.Read(ref _availableBuffer[(int)sequence & _indexMask]) == (int)(sequence >>> _indexShift);

    /// <inheritdoc />
    public override long GetHighestPublishedSequence(long nextSequence, long availableSequence)
    {
        for (var s = nextSequence; s <= availableSequence; s++)
        {
            if (!IsAvailable(s)) return s - 1;
        }
        return availableSequence;
    }

    // Release store: the slot's contents, written before, are visible to a consumer that sees the flag.
    private void SetAvailable(long sequence) =>
        Volatile.Write(ref _availableBuffer[(int)sequence & _indexMask], (int)(sequence >>> _indexShift));

    private void ThrowIfBadClaim(int n)
    {
        if (n < 1 || n > BufferSize)
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, "A claim must be between 1 and the ring size.");
        }
    }
}
