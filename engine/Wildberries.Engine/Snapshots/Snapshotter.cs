using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Snapshots;

/// <summary>
/// Takes snapshots without ever stopping the writer: a second state machine, owned by this background task, is
/// fed from the shard's own journal up to its committed end, and it is that machine which is serialised. The
/// price is memory (a second copy of the state) and a background core's worth of work while a snapshot runs.
/// </summary>
internal sealed class Snapshotter : IAsyncDisposable
{
    // The last two snapshots are kept: if the newest is damaged, the older one and a longer replay still recover.
    private const int SnapshotsKept = 2;

    private readonly StateMachineOptions _machineOptions;
    private readonly ICommandJournal _journal;
    private readonly SnapshotStore _store;
    private readonly JournalOptions _options;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Task _loop;
    private readonly EventBuffer _events = new();
    private ReservationStateMachine? _shadow;
    private long _shadowAddress;
    private long _lastSnapshotLsn;
    private DateTimeOffset _lastSnapshotAt;

    public Snapshotter(StateMachineOptions machineOptions, ICommandJournal journal, SnapshotStore store, JournalOptions options, TimeProvider time, long recoveredSnapshotLsn, Func<long>? retainFromLsn = null)
    {
        RetainFromLsn = retainFromLsn;
        _machineOptions = machineOptions;
        _journal = journal;
        _store = store;
        _options = options;
        _time = time;
        _lastSnapshotLsn = recoveredSnapshotLsn;
        _lastSnapshotAt = time.GetUtcNow();
        _loop = options.SnapshotEveryEntries > 0 ? RunAsync(_stop.Token) : Task.CompletedTask;
    }

    /// <summary>
    /// The oldest log sequence number a reader of this shard's journal still needs (an event feed's acknowledged
    /// position); null when there is none. The journal is never truncated past it, and the newest snapshot below it
    /// is kept, so the reader can re-derive what it has not acknowledged.
    /// </summary>
    public Func<long>? RetainFromLsn { get; }

    /// <summary>The newest snapshot written by this process, if any.</summary>
    public SnapshotFile? Latest { get; private set; }

    /// <summary>How long the last snapshot took, end to end, off the writer thread.</summary>
    public TimeSpan LastDuration { get; private set; }

    /// <summary>The last failure of a background snapshot (the journal still holds everything; the next try may succeed).</summary>
    public Exception? LastError { get; private set; }

    /// <summary>Takes a snapshot of everything committed now and returns it (null when nothing new was committed).</summary>
    public async Task<SnapshotFile?> SnapshotNowAsync(CancellationToken cancellation = default)
    {
        await _gate.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            return await Task.Run(TakeSnapshot, cancellation).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _gate.WaitAsync().ConfigureAwait(false);
        _stop.Dispose();
        _gate.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellation)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), _time);
        while (await timer.WaitForNextTickAsync(cancellation).ConfigureAwait(false))
        {
            var behind = _journal.LastLsn - _lastSnapshotLsn;
            var due = behind >= _options.SnapshotEveryEntries || (behind > 0 && _time.GetUtcNow() - _lastSnapshotAt >= _options.SnapshotInterval);
            if (!due) continue;
            try
            {
                await SnapshotNowAsync(cancellation).ConfigureAwait(false);
                LastError = null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A damaged snapshot file, a full disk, a bug: the journal still holds everything; the next try may do.
                LastError = ex;
            }
        }
    }

    private SnapshotFile? TakeSnapshot()
    {
        var started = _time.GetTimestamp();
        if (_shadow is null)
        {
            var loaded = _store.LoadLatest(_machineOptions, []);
            _shadow = loaded?.Machine ?? new ReservationStateMachine(_machineOptions);
            _shadowAddress = loaded?.File.JournalAddress ?? 0;
        }
        foreach (var entry in _journal.ReadAfter(_shadow.LastLsn, _shadowAddress))
        {
            _events.Clear();
            _shadow.Apply(entry.Command, _events);
            _shadowAddress = entry.NextAddress;
        }
        if (_shadow.LastLsn == _lastSnapshotLsn && Latest is not null) return null;

        var file = _store.Save(_shadow.CaptureSnapshot(), _shadowAddress, _shadow.ComputeStateHash());
        var retain = RetainFromLsn?.Invoke() ?? long.MaxValue;
        _store.Prune(SnapshotsKept, retain);
        // The journal must still reach back to the oldest kept snapshot, so that one can be used if the newest fails,
        // and to the state a lagging reader restarts from: without a snapshot below its position, nothing is dropped.
        var kept = _store.List();
        var readerCovered = retain == long.MaxValue || kept.Any(p => SnapshotStore.LsnOf(p) < retain);
        if (kept.Count >= SnapshotsKept && readerCovered)
        {
            var (_, oldest) = SnapshotStore.Read(kept[^1]);
            _journal.TruncateBefore(oldest.JournalAddress);
        }
        Latest = file;
        _lastSnapshotLsn = file.Lsn;
        _lastSnapshotAt = _time.GetUtcNow();
        LastDuration = _time.GetElapsedTime(started);
        return file;
    }
}
