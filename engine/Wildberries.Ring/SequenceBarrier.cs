namespace Wildberries.Ring;

/// <summary>
/// What one consumer waits on: the producers' cursor, or the sequences of the stages it comes after.
/// </summary>
public sealed class SequenceBarrier
{
    private readonly Sequencer _sequencer;
    private readonly Sequence[] _dependents;
    private volatile bool _alerted;

    internal SequenceBarrier(Sequencer sequencer, Sequence[] dependents)
    {
        _sequencer = sequencer;
        _dependents = dependents ?? [];
    }

    /// <summary>Whether <see cref="Alert"/> was called: the consumer should stop waiting and look at its state.</summary>
    public bool IsAlerted => _alerted;

    /// <summary>
    /// The highest sequence this consumer may have: the cursor, or the slowest stage it depends on.
    /// </summary>
    public long DependentValue => _dependents.Length == 0 ? _sequencer.Cursor.Value : Sequence.Min(_dependents);

    /// <summary>
    /// Waits until <paramref name="sequence"/> may be consumed and returns the highest consumable sequence (a
    /// batch); returns less than <paramref name="sequence"/> only when alerted.
    /// </summary>
    public long WaitFor(long sequence)
    {
        var spin = default(SpinWait);
        while (true)
        {
            var available = _sequencer.WaitStrategy.WaitFor(sequence, this);
            if (available < sequence) return available;
            // Behind other stages: they only passed published slots. (Asking the sequencer here would be wrong when
            // the sequence waited for is stale, a whole lap behind: a stage run in place may have moved on meanwhile.)
            if (_dependents.Length != 0) return available;
            var highest = _sequencer.GetHighestPublishedSequence(sequence, available);
            if (highest >= sequence) return highest;
            // Claimed but not yet published by a (possibly descheduled) producer: back off briefly.
            if (_alerted) return sequence - 1;
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Wakes the consumer so it can notice a halt.</summary>
    public void Alert()
    {
        _alerted = true;
        _sequencer.WaitStrategy.SignalAllWhenBlocking();
    }

    /// <summary>Clears an alert before the consumer runs again.</summary>
    public void ClearAlert() => _alerted = false;
}
