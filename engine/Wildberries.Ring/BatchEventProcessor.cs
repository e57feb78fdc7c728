namespace Wildberries.Ring;

/// <summary>
/// Runs one stage on its own thread: waits on its barrier, hands every available slot to the handler as one
/// batch, then advances its sequence so later stages and the producers can move on.
/// </summary>
public sealed class BatchEventProcessor<T>
{
    private const int Idle = 0;
    private const int Running = 1;
    private const int Halted = 2;

    private readonly RingBuffer<T> _ring;
    private readonly SequenceBarrier _barrier;
    private readonly IEventHandler<T> _handler;
    private int _state;

    // Who runs the handler right now: 0 nobody, 1 this stage's thread or a thread running it in place (TryRunInPlace).
    private int _owner;

    /// <summary>Creates a stage reading <paramref name="ring"/> behind <paramref name="barrier"/>.</summary>
    public BatchEventProcessor(RingBuffer<T> ring, SequenceBarrier barrier, IEventHandler<T> handler)
    {
        ArgumentNullException.ThrowIfNull(ring);
        ArgumentNullException.ThrowIfNull(barrier);
        ArgumentNullException.ThrowIfNull(handler);
        _ring = ring;
        _barrier = barrier;
        _handler = handler;
    }

    /// <summary>The last sequence this stage has finished with.</summary>
    public Sequence Sequence { get; } = new();

    /// <summary>The exception that stopped the stage, if its handler threw.</summary>
    public Exception? Fault { get; private set; }

    /// <summary>Whether the stage loop is running.</summary>
    public bool IsRunning => Volatile.Read(ref _state) == Running;

    /// <summary>
    /// The stage loop; call on a dedicated thread. Returns after <see cref="Halt"/>, or when the handler throws
    /// (the exception is kept in <see cref="Fault"/> and rethrown to the thread).
    /// </summary>
    public void Run()
    {
        if (Interlocked.CompareExchange(ref _state, Running, Idle) != Idle)
        {
            throw new InvalidOperationException("The processor is already running or was halted.");
        }
        _barrier.ClearAlert();
        _handler.OnStart();
        try
        {
            var next = Sequence.Value + 1;
            while (true)
            {
                var available = _barrier.WaitFor(next);
                if (available >= next)
                {
                    Own();
                    try
                    {
                        // Another thread may have run the stage in place meanwhile (TryRunInPlace): start after it.
                        next = Sequence.Value + 1;
                        if (available >= next)
                        {
                            for (; next < available; next++)
                            {
                                _handler.OnEvent(ref _ring[next], next, false);
                            }
                            _handler.OnEvent(ref _ring[next], next, true);
                            Sequence.Value = available;
                        }
                    }
                    finally
                    {
                        Volatile.Write(ref _owner, 0);
                    }
                    next = Sequence.Value + 1;
                    // Wake whoever waits on this stage: the next stage, or producers on a full ring.
                    _ring.Sequencer.WaitStrategy.SignalAllWhenBlocking();
                }
                else if (Volatile.Read(ref _state) == Halted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            Fault = ex;
            Volatile.Write(ref _state, Halted);
            throw;
        }
        finally
        {
            _handler.OnShutdown();
        }
    }

    /// <summary>
    /// Runs this stage's handler for <paramref name="first"/> to <paramref name="last"/> on the calling thread, in place
    /// of the stage's own thread, when the stage is idle and has finished everything before <paramref name="first"/>;
    /// the slots must already be past every stage this one waits on (the caller is the stage just before it, at the
    /// end of its batch). Returns false, doing nothing, when the stage is busy or behind: its own thread then takes
    /// the slots as usual. Saves the hand-off (a wake-up of the stage's thread) when the stream is slow.
    /// </summary>
    public bool TryRunInPlace(long first, long last)
    {
        if (last < first || Sequence.Value != first - 1 || Volatile.Read(ref _state) != Running) return false;
        if (Interlocked.CompareExchange(ref _owner, 1, 0) != 0) return false;
        try
        {
            // Checked again while owning: the stage's thread may have taken these slots between the two looks.
            if (Sequence.Value != first - 1) return false;
            for (var next = first; next < last; next++)
            {
                _handler.OnEvent(ref _ring[next], next, false);
            }
            _handler.OnEvent(ref _ring[last], last, true);
            Sequence.Value = last;
        }
        finally
        {
            Volatile.Write(ref _owner, 0);
        }
        _ring.Sequencer.WaitStrategy.SignalAllWhenBlocking();
        return true;
    }

    // Short: whoever else owns the stage is running one small batch in place.
    private void Own()
    {
        var spin = default(SpinWait);
        while (Interlocked.CompareExchange(ref _owner, 1, 0) != 0) spin.SpinOnce(sleep1Threshold: -1);
    }

    /// <summary>Stops the loop once it has nothing more to consume.</summary>
    public void Halt()
    {
        Volatile.Write(ref _state, Halted);
        _barrier.Alert();
    }
}
