namespace Wildberries.Ring;

/// <summary>
/// A sequencer for exactly one producer thread: claiming is two plain field writes, no interlocked operation.
/// </summary>
public sealed class SingleProducerSequencer : Sequencer
{
    // Owned by the producer thread only; never read elsewhere, so no fences are needed on them.
    private long _nextValue = Sequence.InitialValue;
    private long _cachedGatingValue = Sequence.InitialValue;

    /// <summary>Creates the sequencer.</summary>
    public SingleProducerSequencer(int bufferSize, IWaitStrategy waitStrategy)
        : base(bufferSize, waitStrategy)
    {
    }

    /// <inheritdoc />
    public override long Next(int n)
    {
        ThrowIfBadClaim(n);
        var next = _nextValue + n;
        var wrapPoint = next - BufferSize;
        if (wrapPoint > _cachedGatingValue || _cachedGatingValue > _nextValue)
        {
            // Full fence so consumers polling the cursor see how far we got while we wait on them.
            Cursor.SetVolatile(_nextValue);
            var spin = default(SpinWait);
            long minSequence;
            while (wrapPoint > (minSequence = Sequence.Min(GatingSequences, _nextValue)))
            {
                BackOff(ref spin);
            }
            _cachedGatingValue = minSequence;
        }
        _nextValue = next;
        return next;
    }

    /// <inheritdoc />
    public override bool TryNext(int n, out long sequence)
    {
        ThrowIfBadClaim(n);
        var next = _nextValue + n;
        var wrapPoint = next - BufferSize;
        if (wrapPoint > _cachedGatingValue || _cachedGatingValue > _nextValue)
        {
            Cursor.SetVolatile(_nextValue);
            var minSequence = Sequence.Min(GatingSequences, _nextValue);
            _cachedGatingValue = minSequence;
            if (wrapPoint > minSequence)
            {
                sequence = 0;
                return false;
            }
        }
        _nextValue = next;
        sequence = next;
        return true;
    }

    /// <inheritdoc />
    public override void Publish(long sequence)
    {
        Cursor.Value = sequence;
        WaitStrategy.SignalAllWhenBlocking();
    }

    /// <inheritdoc />
    public override void Publish(long low, long high) => Publish(high);

    /// <inheritdoc />
    public override bool IsAvailable(long sequence)
    {
        var cursor = Cursor.Value;
        return sequence <= cursor && sequence > cursor - BufferSize;
    }

    /// <inheritdoc />
    public override long GetHighestPublishedSequence(long nextSequence, long availableSequence) => availableSequence;

    private void ThrowIfBadClaim(int n)
    {
        if (n < 1 || n > BufferSize)
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, "A claim must be between 1 and the ring size.");
        }
    }
}
