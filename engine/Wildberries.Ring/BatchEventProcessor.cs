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
                    // The stage before may have run this one in place meanwhile (TryRunInPlace): start after it. It
                    // wrote this sequence before its own, which is what the barrier let us see.
                    next = Sequence.Value + 1;
                    if (available >= next)
                    {
                        RunBatch(next, available);
                        next = available + 1;
                    }
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
    /// of the stage's own thread, when the stage has finished everything before <paramref name="first"/>. Returns
    /// false, doing nothing, when it has not: its own thread then takes the slots as usual. Saves the hand-off (a
    /// wake-up of the stage's thread) when the stream is slow.
    /// </summary>
    /// <remarks>
    /// Only the stage this one waits on (its barrier's only sequence) may call it, from its handler at the end of
    /// the batch <paramref name="first"/> to <paramref name="last"/>, before its sequence passes them. That is what
    /// keeps the handler on one thread at a time without a lock: this stage's thread only takes slots the calling
    /// stage has passed, so while the calling stage is inside its batch, this one's thread can only be finishing
    /// slots before <paramref name="first"/> (then the check below refuses) or be waiting.
    /// The handler's <see cref="IEventHandler{T}.OnStart"/> and <see cref="IEventHandler{T}.OnShutdown"/> are not ordered
    /// against an in-place run (the loop is Running before OnStart, and may end while a run is under way): a handler
    /// that does work in them must not be run in place. After this returns, the slots may already be reused by
    /// producers (they wait on this stage, which is now ahead of the caller): the caller must not read them again.
    /// </remarks>
    public bool TryRunInPlace(long first, long last)
    {
        if (last < first || Sequence.Value != first - 1 || Volatile.Read(ref _state) != Running) return false;
        RunBatch(first, last);
        return true;
    }

    /// <summary>
    /// Hands <paramref name="first"/> to <paramref name="last"/> to the handler as one batch, then moves this stage's
    /// sequence past them (after the handler: that store is what publishes its work) and wakes whoever waits on this
    /// stage: the next stage, or producers on a full ring. A wait that found nothing new signals nothing.
    /// </summary>
    private void RunBatch(long first, long last)
    {
        for (var next = first; next < last; next++)
        {
            _handler.OnEvent(ref _ring[next], next, false);
        }
        _handler.OnEvent(ref _ring[last], last, true);
        Sequence.Value = last;
        _ring.Sequencer.WaitStrategy.SignalAllWhenBlocking();
    }

    /// <summary>Stops the loop once it has nothing more to consume.</summary>
    public void Halt()
    {
        Volatile.Write(ref _state, Halted);
        _barrier.Alert();
    }
}
