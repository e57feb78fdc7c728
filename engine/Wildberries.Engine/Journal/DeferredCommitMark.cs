namespace Wildberries.Engine.Journal;

/// <summary>
/// Writes the <see cref="CommitMark"/> off the acknowledgement path: the journal stage posts each commit point and
/// goes on; one background thread writes the newest one posted, at most once per <c>interval</c>, so a batch costs
/// one synchronous write (FASTER's commit) instead of two.
/// </summary>
/// <remarks>
/// The mark is then a lower bound of what was acknowledged, never more: it still turns "FASTER recovered an empty
/// or shorter log" (commit file or segments lost) into a refusal for everything older than the last interval.
/// The newest batches are covered by FASTER's own commit records, which sit in the log beside the entries they
/// commit (fast-commit mode) and are read back with FASTER's per-entry checksum and our own, plus our check that
/// log sequence numbers follow on. A failed mark write is reported by <see cref="ThrowIfFailed"/>, which the
/// journal calls before it commits the next batch: the batches acknowledged before are durable (FASTER's commit
/// records hold them), so the failure belongs to the next batch, which is then never committed.
/// </remarks>
internal sealed class DeferredCommitMark : IDisposable
{
    private readonly CommitMark _mark;
    private readonly TimeSpan _interval;
    private readonly object _gate = new();
    private readonly Thread _thread;
    private readonly Action? _alsoSync;
    private (long Lsn, long Begin, long Until) _pending;
    private bool _hasPending;
    private bool _stopping;
    private Exception? _error;
    private long _written;

    /// <summary>Starts the writer; <paramref name="alsoSync"/> runs before each mark write (FASTER's commit file).</summary>
    public DeferredCommitMark(CommitMark mark, TimeSpan interval, string name, Action? alsoSync = null)
    {
        _mark = mark;
        _alsoSync = alsoSync;
        _interval = interval;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>How many marks the background thread wrote (for tests and the benchmark).</summary>
    public long Written => Volatile.Read(ref _written);

    /// <summary>Test hook: runs on the writer thread before each mark write (a test throws from it).</summary>
    internal Action? BeforeWrite { get; set; }

    /// <summary>Why the background writer stopped, if a mark write failed.</summary>
    public Exception? Failure
    {
        get
        {
            lock (_gate) return _error;
        }
    }

    /// <summary>Throws when a mark write failed: the journal calls it before each commit, so that batch fails uncommitted.</summary>
    public void ThrowIfFailed()
    {
        lock (_gate)
        {
            if (_error is not null) throw new IOException($"Writing {CommitMark.FileName} failed after the last acknowledged batch: {_error.Message}", _error);
        }
    }

    /// <summary>Records a commit point to be written soon (nothing happens once a write failed).</summary>
    public void Post(long lsn, long beginAddress, long untilAddress)
    {
        lock (_gate)
        {
            if (_error is not null) return;
            _pending = (lsn, beginAddress, untilAddress);
            if (_hasPending) return;
            _hasPending = true;
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Writes what was posted last (if not yet written) and stops the thread.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
        _thread.Join();
    }

    private void Run()
    {
        while (true)
        {
            (long Lsn, long Begin, long Until) next;
            lock (_gate)
            {
                while (!_hasPending && !_stopping) Monitor.Wait(_gate);
                if (!_hasPending) return;
                next = _pending;
                _hasPending = false;
            }
            try
            {
                BeforeWrite?.Invoke();
                _alsoSync?.Invoke();
                _mark.Write(next.Lsn, next.Begin, next.Until);
                Interlocked.Increment(ref _written);
            }
            catch (Exception ex)
            {
                // Any failure, not only I/O: an exception escaping this thread would end the process; kept, it fails
                // the next batch before that batch is committed.
                lock (_gate) _error = ex;
                return;
            }
            lock (_gate)
            {
                // Rate limit: one mark write per interval keeps the second fsync rare and off the commit's way.
                // Posts pulse the gate, so wait out the whole interval; a stop ends the pause and still writes
                // what is pending (the loop comes back to it once).
                var until = Environment.TickCount64 + (long)_interval.TotalMilliseconds;
                long left;
                while (!_stopping && (left = until - Environment.TickCount64) > 0) Monitor.Wait(_gate, (int)left);
            }
        }
    }
}
