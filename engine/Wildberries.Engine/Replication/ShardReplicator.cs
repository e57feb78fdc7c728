using System.Buffers;
using Wildberries.Core;
using Wildberries.Engine.Events;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Replication;

/// <summary>
/// One shard's side of replication: the protocol over its command log. As a primary it ships every journal entry
/// (from the ring in <see cref="ReplicationMode.Replicated"/> mode, from the journal in <see cref="ReplicationMode.Local"/>
/// mode) and learns from each append whether a newer primary fenced it; as a standby it applies the log in order.
/// </summary>
/// <remarks>
/// The reading rules, the same for a standby, a promotion and a restarted primary: a marker raises the highest epoch
/// seen; an entry of an older epoch than that is dropped (a fenced primary's late write); an entry at or below the
/// last accepted log sequence number is a duplicate and skipped; one beyond the next is a gap and stops the reader.
/// </remarks>
internal sealed class ShardReplicator : IDisposable
{
    private const string SlotName = "replication";
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(1);

    private readonly int _shard;
    private readonly ReplicationOptions _options;
    private readonly ICommandLog _log;
    private readonly NodeEpoch _node;
    private readonly string? _directory;
    private readonly FeedSlots _slots;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly Queue<Shipment> _queue = new();

    // The replicate stage's current batch, encoded on its thread (touched by that thread only).
    private readonly List<Shipment> _staged = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly ArrayBufferWriter<byte> _encoder = new(256);
    private Task? _loop;
    private CancellationTokenSource? _loopStop;
    private ICommandJournal? _journal;
    private Func<Command, ValueTask<CommandResult>>? _submit;

    private volatile NodeRole _role;
    private volatile WriteRefusal _refusal;
    private Exception? _refusalError;
    private long _verifiedFrom;
    private long _lsn;
    private int _maxEpoch;
    private long _droppedStale;
    private long _lagEntries;
    private long _oldestUnshippedMs;
    private long _lastAppliedMs;
    private string? _lastError;
    private long _checkpointedAt;
    private long _lagMeasuredAt;

    private readonly record struct Shipment(long Lsn, byte[] Entry, long TimestampMs);

    public ShardReplicator(int shard, ReplicationOptions options, NodeEpoch node, string? directory, FeedSlots slots, TimeProvider time)
    {
        _shard = shard;
        _options = options;
        _node = node;
        _directory = directory;
        _slots = slots;
        _time = time;
        _role = options.Role;
        _refusal = options.Role == NodeRole.Standby ? WriteRefusal.Standby : WriteRefusal.None;
        _log = options.CommandLog(shard);
    }

    public int Shard => _shard;

    public ReplicationMode Mode => _options.Mode;

    /// <summary>The highest epoch seen in the log (read it once the follow loop stopped).</summary>
    public int MaxEpochSeen => Volatile.Read(ref _maxEpoch);

    /// <summary>Stops applying the log (before a promotion): what was read so far is applied first.</summary>
    public Task StopFollowingAsync() => _role == NodeRole.Standby ? StopLoopAsync() : Task.CompletedTask;

    /// <summary>A standby whose promotion did not begin follows its log again.</summary>
    public void ResumeFollowing()
    {
        if (_role == NodeRole.Standby && _refusal == WriteRefusal.Standby && _loop is null) StartLoop();
    }

    /// <summary>
    /// A stopped standby reads its log to the end as it is now and applies it: afterwards <see cref="MaxEpochSeen"/>
    /// covers every epoch written so far, so a promotion picks a higher one.
    /// </summary>
    public async Task CatchUpAsync(CancellationToken cancellation)
    {
        if (_role != NodeRole.Standby) return;
        if (_refusal == WriteRefusal.Stopped) throw new InvalidOperationException(RefusalError()!.Message);
        var deadline = _time.GetUtcNow() + _options.StartTimeout;
        var end = _log.EndPosition(_options.StartTimeout);
        var pending = new List<ValueTask<CommandResult>>();
        while (_verifiedFrom < end)
        {
            cancellation.ThrowIfCancellationRequested();
            if (_time.GetUtcNow() > deadline) throw new CommandLogUnavailableException($"Shard {_shard}: the command log was not read to its end ({_verifiedFrom} of {end}) within {_options.StartTimeout.TotalSeconds:F0} s.");
            var batch = _log.Read(_verifiedFrom, TimeSpan.FromSeconds(1), cancellation);
            if (!await ApplyAsync(batch, pending, stopAt: long.MaxValue).ConfigureAwait(false)) throw new InvalidOperationException(RefusalError()!.Message);
        }
    }

    public NodeRole Role => _role;

    /// <summary>Whether the ring's replicate stage ships this shard's commands (a replicated-mode primary not fenced).</summary>
    public bool ShipsFromRing => _options.Mode == ReplicationMode.Replicated && _role == NodeRole.Primary;

    /// <summary>The epoch new entries are written with.</summary>
    public int Epoch => _node.Epoch;

    /// <summary>Why writes are refused now (<see cref="WriteRefusal.None"/> when they are taken).</summary>
    public WriteRefusal Refusal => _refusal;

    /// <summary>The refusal as the exception callers get; null when writes are taken.</summary>
    public ShardUnavailableException? RefusalError() => _refusal switch
    {
        WriteRefusal.None => null,
        WriteRefusal.Standby => new ShardUnavailableException(_shard, WriteRefusal.Standby, $"Shard {_shard} is a standby: it applies the primary's command log and takes no writes. Send writes to the primary, or promote this node (POST /v1/admin/promote)."),
        var reason => new ShardUnavailableException(_shard, reason, Volatile.Read(ref _refusalError)?.Message ?? reason.ToString()),
    };

    public ReplicationStatus Status()
    {
        double lagMs;
        if (_role == NodeRole.Primary)
        {
            var oldest = Volatile.Read(ref _oldestUnshippedMs);
            lagMs = oldest == 0 ? 0 : Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - oldest);
        }
        else
        {
            lagMs = Volatile.Read(ref _lagEntries) == 0 ? 0 : Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - Volatile.Read(ref _lastAppliedMs));
        }
        // A local-mode primary's backlog is the journal past what the log has (not only the batch in flight).
        var lagEntries = _role == NodeRole.Primary && _options.Mode == ReplicationMode.Local && _journal is { } journal
            ? Math.Max(0, journal.LastLsn - Volatile.Read(ref _lsn))
            : Volatile.Read(ref _lagEntries);
        return new ReplicationStatus(_shard, _role, _options.Mode, _node.Epoch, _refusal, Volatile.Read(ref _lsn), lagEntries, lagMs,
            Volatile.Read(ref _droppedStale), Volatile.Read(ref _lastError));
    }

    /// <summary>
    /// Before a primary's pipeline starts (single-threaded, on the recovered state): reads the shard's log from the
    /// last checkpoint to its end; adopts entries of this shard it does not have yet (shipped before a crash lost
    /// them locally); finds out whether a newer primary fenced this node; queues what the log is missing.
    /// Throws <see cref="CommandLogUnavailableException"/> when the log cannot be read to its end in time.
    /// </summary>
    public void SyncAsPrimary(ReservationStateMachine machine, ICommandJournal journal, long snapshotLsn)
    {
        _journal = journal;
        var deadline = _time.GetUtcNow() + _options.StartTimeout;
        if (_node.FencedBy is { } fencedBy)
        {
            // Fenced before (at run time, or as the loser of two promotions of one epoch): it stays so until rebuilt.
            Fence(new CommandLogFencedException($"Shard {_shard}: this node was fenced ({fencedBy}) and must not take writes. Rebuild it as a standby from a snapshot of the current primary."), persist: false);
            return;
        }
        var (position, logLast) = StartingPoint(machine.LastLsn);
        var end = _log.EndPosition(_options.StartTimeout);
        var adopted = ReadAsPrimary(machine, journal, ref position, ref logLast, end, deadline, stopAtMarker: -1);
        if (_refusal == WriteRefusal.None && _maxEpoch < _node.Epoch)
        {
            // This node raised its epoch but its marker is not in the log (a promotion cut short by a crash or an
            // outage): it fences the old primary now, and adopts whatever the old primary wrote before the marker.
            var marker = _log.Append([new CommandLogWrite(0, ReadOnlyMemory<byte>.Empty)], _node.Epoch, position, _options.StartTimeout);
            adopted += ReadAsPrimary(machine, journal, ref position, ref logLast, marker.FirstPosition, deadline, stopAtMarker: marker.FirstPosition);
            position = Math.Max(position, marker.NextPosition);
            _maxEpoch = Math.Max(_maxEpoch, _node.Epoch);
        }
        if (adopted > 0) journal.Commit();
        _verifiedFrom = position;
        if (_refusal != WriteRefusal.None) return;

        // What the log lacks (journaled here, the acknowledgement lost with a crash, or written while Kafka was away)
        // is shipped first, from the journal, which the replication slot kept; only a journal a snapshot truncated
        // before replication was configured cannot be (a standby then starts from a snapshot of this node).
        var shipped = Math.Min(logLast, machine.LastLsn);
        if (shipped < machine.LastLsn && !JournalHolds(journal, shipped)) shipped = Math.Min(Math.Max(shipped, snapshotLsn), machine.LastLsn);
        Volatile.Write(ref _lsn, shipped);
        _slots.Open(SlotName, new EventPosition(shipped, 0));
        _slots.Acknowledge(SlotName, new EventPosition(shipped, 0), long.MaxValue);
        if (_options.Mode == ReplicationMode.Replicated)
        {
            foreach (var entry in journal.ReadAfter(shipped))
            {
                CommandCodec.Encode(entry.Command, _node.Epoch, _encoder);
                _queue.Enqueue(new Shipment(entry.Command.Lsn, _encoder.WrittenSpan.ToArray(), entry.Command.TimestampMs));
            }
            Volatile.Write(ref _lagEntries, _queue.Count);
        }
        Checkpoint(force: true);
    }

    /// <summary>Whether the journal still holds the entry after <paramref name="lsn"/> (a snapshot may have truncated it).</summary>
    private static bool JournalHolds(ICommandJournal journal, long lsn)
    {
        try
        {
            foreach (var entry in journal.ReadAfter(lsn)) return entry.Command.Lsn == lsn + 1;
            return true;
        }
        catch (JournalCorruptException)
        {
            return false;
        }
    }

    /// <summary>
    /// A primary's start: reads the log from <paramref name="position"/> up to <paramref name="end"/>, adopting this
    /// node's own entries the journal lacks; a record of a newer epoch fences it and ends the read (nothing of
    /// another history is adopted); with <paramref name="stopAtMarker"/>, any other marker of this epoch or higher
    /// before it means another node promoted first. Returns how many entries were adopted.
    /// </summary>
    private int ReadAsPrimary(ReservationStateMachine machine, ICommandJournal journal, ref long position, ref long logLast, long end, DateTimeOffset deadline, long stopAtMarker)
    {
        var events = new EventBuffer();
        var accepted = machine.LastLsn;
        var adopted = 0;
        while (position < end)
        {
            var remaining = deadline - _time.GetUtcNow();
            if (remaining <= TimeSpan.Zero) throw new CommandLogUnavailableException($"Shard {_shard}: the command log was not read to its end ({position} of {end}) within {_options.StartTimeout.TotalSeconds:F0} s.");
            var batch = _log.Read(position, Min(remaining, TimeSpan.FromSeconds(1)), _stop.Token);
            foreach (var record in batch.Records)
            {
                if (record.Position >= end) break;
                var newer = record.Epoch > _node.Epoch || (stopAtMarker >= 0 && record.Kind == CommandLogRecordKind.EpochMarker && record.Epoch >= _node.Epoch && record.Position != stopAtMarker);
                if (newer)
                {
                    _maxEpoch = Math.Max(_maxEpoch, record.Epoch);
                    Fence(new CommandLogFencedException($"Shard {_shard}: a primary of epoch {record.Epoch} took over at position {record.Position} (this node has epoch {_node.Epoch}); this node diverged after log sequence number {machine.LastLsn} and must not take writes. Rebuild it as a standby from a snapshot of the new primary."));
                    return adopted;
                }
                var verdict = Classify(record, ref accepted);
                if (record.Kind == CommandLogRecordKind.Entry && verdict != Verdict.Stale) logLast = Math.Max(logLast, record.Lsn);
                if (verdict == Verdict.Gap) throw new JournalCorruptException($"Shard {_shard}: the command log jumps to log sequence number {record.Lsn} at position {record.Position} after {accepted}.");
                if (verdict != Verdict.Apply) continue;
                var command = Decode(record);
                journal.Append(command);
                events.Clear();
                machine.Apply(command, events);
                adopted++;
            }
            position = Math.Min(batch.NextPosition, Math.Max(end, position));
            if (batch.Records.Count > 0 && batch.Records[^1].Position >= end) position = end;
        }
        return adopted;
    }

    /// <summary>Starts the background work of the role: shipping (primary) or applying the log (standby).</summary>
    public void Start(ICommandJournal journal, Func<Command, ValueTask<CommandResult>> submitReplicated, long appliedLsn)
    {
        _journal = journal;
        _submit = submitReplicated;
        if (_role == NodeRole.Standby)
        {
            var (position, _) = StartingPoint(appliedLsn);
            _verifiedFrom = position;
            Volatile.Write(ref _lsn, appliedLsn);
        }
        StartLoop();
    }

    private void StartLoop()
    {
        if (_refusal == WriteRefusal.Fenced) return;
        _loopStop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var token = _loopStop.Token;
        _loop = _role == NodeRole.Standby
            ? Task.Run(() => FollowAsync(token), CancellationToken.None)
            : _options.Mode == ReplicationMode.Replicated
                ? Task.Factory.StartNew(() => ShipQueue(token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
                : Task.Factory.StartNew(() => ShipJournal(token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>
    /// Called by the ring's replicate stage for every journaled command of a replicated-mode primary: encoded on the
    /// stage's thread and kept with the rest of its batch, which <see cref="WaitReplicated"/> hands to the shipper
    /// under one lock (a lock per batch, not per command).
    /// </summary>
    public void Enqueue(in Command command)
    {
        CommandCodec.Encode(command, _node.Epoch, _encoder);
        _staged.Add(new Shipment(command.Lsn, _encoder.WrittenSpan.ToArray(), command.TimestampMs));
    }

    private void PublishStaged()
    {
        if (_staged.Count == 0) return;
        lock (_gate)
        {
            if (_queue.Count == 0) Volatile.Write(ref _oldestUnshippedMs, _staged[0].TimestampMs);
            foreach (var shipment in _staged) _queue.Enqueue(shipment);
            Volatile.Write(ref _lagEntries, _queue.Count);
            Monitor.PulseAll(_gate);
        }
        _staged.Clear();
    }

    /// <summary>
    /// Called by the replicate stage at the end of a batch: null once the log acknowledged <paramref name="lsn"/>;
    /// otherwise, after at most <see cref="ReplicationOptions.AckTimeout"/> (at once while the log is already known
    /// to be unavailable, or this node fenced), the error its callers get.
    /// </summary>
    public Exception? WaitReplicated(long lsn)
    {
        PublishStaged();
        if (Volatile.Read(ref _lsn) >= lsn) return null;
        lock (_gate)
        {
            var deadline = _time.GetTimestamp() + (long)(_options.AckTimeout.TotalSeconds * _time.TimestampFrequency);
            while (_lsn < lsn && _refusal == WriteRefusal.None)
            {
                var left = deadline - _time.GetTimestamp();
                if (left <= 0)
                {
                    Refuse(WriteRefusal.ReplicationUnavailable, new CommandLogUnavailableException(
                        $"Shard {_shard}: the command log did not acknowledge within {_options.AckTimeout.TotalSeconds:F1} s{(_lastError is null ? "" : $" ({_lastError})")}; writes are refused until it has every entry. Commands already sent may have taken effect: retry them with the same idempotency key."));
                    break;
                }
                Monitor.Wait(_gate, TimeSpan.FromSeconds((double)left / _time.TimestampFrequency));
            }
            if (_lsn >= lsn) return null;
            return RefusalError();
        }
    }

    private void Refuse(WriteRefusal reason, Exception error)
    {
        lock (_gate)
        {
            // Fenced and stopped are final: a timeout seen at the same moment does not turn them into a passing outage.
            if (_refusal is WriteRefusal.Fenced or WriteRefusal.Stopped) return;
            Volatile.Write(ref _refusalError, error);
            Volatile.Write(ref _lastError, error.Message);
            _refusal = reason;
            Monitor.PulseAll(_gate);
        }
    }

    private void Fence(CommandLogFencedException error, bool persist = true)
    {
        Refuse(WriteRefusal.Fenced, error);
        if (!persist) return;
        try
        {
            // Remembered across restarts: the loser of two promotions to one epoch cannot tell from the log alone.
            _node.MarkFenced(error.Message);
        }
        catch (IOException ex)
        {
            Volatile.Write(ref _lastError, $"{error.Message} (could not record it in replication.json: {ex.Message})");
        }
    }

    /// <summary>Replicated mode: ships what the replicate stage queued, in order, retrying until the log takes it.</summary>
    private void ShipQueue(CancellationToken stop)
    {
        var batch = new List<Shipment>(_options.MaxBatch);
        var writes = new List<CommandLogWrite>(_options.MaxBatch);
        while (!stop.IsCancellationRequested)
        {
            lock (_gate)
            {
                while (_queue.Count == 0 && !stop.IsCancellationRequested) Monitor.Wait(_gate, TimeSpan.FromMilliseconds(200));
                if (stop.IsCancellationRequested) break;
                batch.Clear();
                foreach (var s in _queue)
                {
                    if (batch.Count == _options.MaxBatch) break;
                    batch.Add(s);
                }
            }
            writes.Clear();
            foreach (var s in batch) writes.Add(new CommandLogWrite(s.Lsn, s.Entry));
            if (!TryAppend(writes, stop)) continue;
            lock (_gate)
            {
                for (var i = 0; i < batch.Count; i++) _queue.Dequeue();
                Volatile.Write(ref _lsn, batch[^1].Lsn);
                Volatile.Write(ref _lagEntries, _queue.Count);
                Volatile.Write(ref _oldestUnshippedMs, _queue.Count == 0 ? 0 : _queue.Peek().TimestampMs);
                // Everything journaled is in the log again: writes resume by themselves.
                if (_queue.Count == 0 && _refusal == WriteRefusal.ReplicationUnavailable) _refusal = WriteRefusal.None;
                Monitor.PulseAll(_gate);
            }
            Acknowledged();
        }
    }

    /// <summary>Local mode: ships committed entries from the journal, behind the acknowledgements.</summary>
    private void ShipJournal(CancellationToken stop)
    {
        var writes = new List<CommandLogWrite>(_options.MaxBatch);
        var fromAddress = 0L;
        while (!stop.IsCancellationRequested)
        {
            writes.Clear();
            var next = fromAddress;
            var lastTimestamp = 0L;
            if (_journal!.LastLsn <= Volatile.Read(ref _lsn))
            {
                // Nothing committed since: no scan of the journal (a FASTER iterator each time) while idle.
                Volatile.Write(ref _oldestUnshippedMs, 0);
                stop.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(1));
                continue;
            }
            try
            {
                foreach (var entry in _journal!.ReadAfter(Volatile.Read(ref _lsn), fromAddress))
                {
                    CommandCodec.Encode(entry.Command, _node.Epoch, _encoder);
                    writes.Add(new CommandLogWrite(entry.Command.Lsn, _encoder.WrittenSpan.ToArray()));
                    if (writes.Count == 1) Volatile.Write(ref _oldestUnshippedMs, entry.Command.TimestampMs);
                    lastTimestamp = entry.Command.TimestampMs;
                    next = entry.NextAddress;
                    if (writes.Count == _options.MaxBatch) break;
                }
            }
            catch (Exception ex) when (ex is JournalCorruptException or ObjectDisposedException or FASTER.core.FasterException)
            {
                if (stop.IsCancellationRequested) break;
                Volatile.Write(ref _lastError, ex.Message);
                stop.WaitHandle.WaitOne(_options.RetryInterval);
                continue;
            }
            if (writes.Count == 0)
            {
                Volatile.Write(ref _oldestUnshippedMs, 0);
                Volatile.Write(ref _lagEntries, 0);
                stop.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(1));
                continue;
            }
            Volatile.Write(ref _lagEntries, writes.Count);
            if (!TryAppend(writes, stop)) continue;
            fromAddress = next;
            Volatile.Write(ref _lsn, writes[^1].Lsn);
            Volatile.Write(ref _lastAppliedMs, lastTimestamp);
            Acknowledged();
        }
    }

    private bool TryAppend(List<CommandLogWrite> writes, CancellationToken stop)
    {
        try
        {
            var appended = _log.Append(writes, _node.Epoch, _verifiedFrom, _options.AckTimeout);
            _verifiedFrom = appended.NextPosition;
            return true;
        }
        catch (CommandLogFencedException ex)
        {
            Fence(new CommandLogFencedException($"Shard {_shard} is fenced: {ex.Message}; this node (epoch {_node.Epoch}) stopped taking writes. Its entries after log sequence number {Volatile.Read(ref _lsn)} are not part of the new primary's history: rebuild it as a standby from a snapshot of the new primary.", ex));
            _loopStop?.Cancel();
            return false;
        }
        catch (Exception ex) when (ex is CommandLogUnavailableException or InvalidDataException or InvalidOperationException or ObjectDisposedException)
        {
            Volatile.Write(ref _lastError, ex.Message);
            // On a real cluster a newer primary's producer fences ours and every append fails without reaching the
            // check above: look in the log for a newer epoch before trying again.
            if (NewerEpochInLog() is { } newer)
            {
                Fence(new CommandLogFencedException($"Shard {_shard} is fenced: {newer.Message}; this node (epoch {_node.Epoch}) stopped taking writes. Rebuild it as a standby from a snapshot of the new primary.", newer));
                _loopStop?.Cancel();
                return false;
            }
            stop.WaitHandle.WaitOne(_options.RetryInterval);
            return false;
        }
    }

    /// <summary>A record of a newer epoch after what this primary verified, if the log can be read now (bounded).</summary>
    private CommandLogFencedException? NewerEpochInLog()
    {
        try
        {
            var end = _log.EndPosition(TimeSpan.FromSeconds(1));
            var position = _verifiedFrom;
            for (var reads = 0; position < end && reads < 100; reads++)
            {
                var batch = _log.Read(position, TimeSpan.FromSeconds(1), _stop.Token);
                foreach (var r in batch.Records)
                {
                    if (r.Epoch > _node.Epoch) return new CommandLogFencedException(r.Epoch, r.Position);
                }
                if (batch.NextPosition <= position) break;
                position = batch.NextPosition;
            }
        }
        catch (Exception ex) when (ex is CommandLogUnavailableException or InvalidDataException or OperationCanceledException or ObjectDisposedException)
        {
            // Unknown for now: the next failure looks again.
        }
        return null;
    }

    private void Acknowledged()
    {
        _slots.Acknowledge(SlotName, new EventPosition(Volatile.Read(ref _lsn), 0), _time.GetElapsedTime(0, _time.GetTimestamp()).Ticks);
        Checkpoint(force: false);
    }

    /// <summary>A standby: reads the log and applies it through the shard's pipeline, until promoted or stopped.</summary>
    private async Task FollowAsync(CancellationToken stop)
    {
        var pending = new List<ValueTask<CommandResult>>(1024);
        while (!stop.IsCancellationRequested)
        {
            CommandLogBatch batch;
            try
            {
                batch = _log.Read(_verifiedFrom, TimeSpan.FromMilliseconds(100), stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (CommandLogUnavailableException ex)
            {
                Volatile.Write(ref _lastError, ex.Message);
                stop.WaitHandle.WaitOne(_options.RetryInterval);
                continue;
            }
            catch (Exception ex) when (ex is InvalidDataException or KeyNotFoundException or ArgumentException)
            {
                // A record that is not ours or not whole: the replica stops rather than guess.
                Refuse(WriteRefusal.Stopped, new InvalidOperationException($"Shard {_shard}: the command log cannot be read at position {_verifiedFrom}: {ex.Message}. This standby stopped applying: rebuild it from a snapshot of the primary.", ex));
                return;
            }
            if (!await ApplyAsync(batch, pending, stopAt: long.MaxValue).ConfigureAwait(false)) return;
            MeasureLag(batch);
        }
    }

    /// <summary>Applies a batch read from the log through the pipeline; false (and a stopped replica) on a gap or damage.</summary>
    private async Task<bool> ApplyAsync(CommandLogBatch batch, List<ValueTask<CommandResult>> pending, long stopAt)
    {
        var accepted = Volatile.Read(ref _lsn);
        pending.Clear();
        string? problem = null;
        foreach (var record in batch.Records)
        {
            if (record.Position >= stopAt) break;
            var verdict = Classify(record, ref accepted);
            if (verdict == Verdict.Gap)
            {
                problem = $"Shard {_shard}: the command log jumps from log sequence number {accepted} to {record.Lsn} at position {record.Position}; entries are missing (a topic that lost data, or a standby started without a snapshot). This standby stopped applying: rebuild it from a snapshot of the primary.";
                break;
            }
            if (verdict != Verdict.Apply) continue;
            Command command;
            try
            {
                command = Decode(record);
            }
            catch (JournalCorruptException ex)
            {
                problem = ex.Message;
                accepted--;
                break;
            }
#pragma warning disable CA2012 // each is awaited exactly once, below, after the whole batch was handed to the ring
            pending.Add(_submit!(command));
#pragma warning restore CA2012
            Volatile.Write(ref _lastAppliedMs, command.TimestampMs);
        }
        foreach (var p in pending)
        {
            try
            {
                await p.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is EngineFaultedException or ObjectDisposedException or InvalidOperationException)
            {
                problem ??= $"Shard {_shard}: applying the command log failed: {ex.Message}";
            }
        }
        // What was handed to the ring before a problem is applied: the status says exactly where it stopped.
        Volatile.Write(ref _lsn, accepted);
        if (problem is null)
        {
            _verifiedFrom = stopAt == long.MaxValue ? batch.NextPosition : Math.Min(batch.NextPosition, stopAt);
            Acknowledged();
            return true;
        }
        Refuse(WriteRefusal.Stopped, new InvalidOperationException(problem));
        return false;
    }

    /// <summary>
    /// Promotes a standby shard to the node's epoch (already raised and made durable): stops following, appends the
    /// epoch marker, applies everything before it, and starts shipping. Throws <see cref="CommandLogFencedException"/>
    /// when another primary of an epoch at least as high got there first.
    /// </summary>
    public async Task PromoteAsync(CancellationToken cancellation)
    {
        if (_role != NodeRole.Standby) throw new InvalidOperationException($"Shard {_shard} is not a standby.");
        await StopLoopAsync().ConfigureAwait(false);
        if (_refusal == WriteRefusal.Stopped) throw new InvalidOperationException(RefusalError()!.Message);
        var epoch = _node.Epoch;
        CommandLogAppend marker;
        try
        {
            marker = _log.Append([new CommandLogWrite(0, ReadOnlyMemory<byte>.Empty)], epoch, _verifiedFrom, _options.StartTimeout);
        }
        catch (CommandLogFencedException ex)
        {
            Fence(ex);
            throw;
        }
        // Everything before the marker is the old primary's acknowledged history: apply all of it.
        var pending = new List<ValueTask<CommandResult>>();
        var deadline = _time.GetUtcNow() + _options.StartTimeout;
        while (_verifiedFrom <= marker.FirstPosition)
        {
            cancellation.ThrowIfCancellationRequested();
            if (_time.GetUtcNow() > deadline) throw new CommandLogUnavailableException($"Shard {_shard}: the command log was not read up to the promotion marker in time.");
            var batch = _log.Read(_verifiedFrom, TimeSpan.FromSeconds(1), cancellation);
            foreach (var r in batch.Records)
            {
                if (r.Kind == CommandLogRecordKind.EpochMarker && r.Position < marker.FirstPosition && r.Epoch >= epoch)
                {
                    var lost = new CommandLogFencedException(r.Epoch, r.Position);
                    Fence(lost);
                    throw lost;
                }
            }
            if (!await ApplyAsync(batch, pending, stopAt: marker.FirstPosition).ConfigureAwait(false)) throw new InvalidOperationException(RefusalError()!.Message);
            if (batch.Records.Count > 0 && batch.Records[^1].Position >= marker.FirstPosition) _verifiedFrom = marker.NextPosition;
        }
        _verifiedFrom = Math.Max(_verifiedFrom, marker.NextPosition);
        _maxEpoch = epoch;
        // From here on this node ships: its journal is kept until the log has each entry.
        _slots.Open(SlotName, new EventPosition(Volatile.Read(ref _lsn), 0));
        _slots.Acknowledge(SlotName, new EventPosition(Volatile.Read(ref _lsn), 0), long.MaxValue);
        _role = NodeRole.Primary;
        _refusal = WriteRefusal.None;
        Volatile.Write(ref _lagEntries, 0);
        Checkpoint(force: true);
        StartLoop();
    }

    private async Task StopLoopAsync()
    {
        if (_loopStop is null) return;
        await _loopStop.CancelAsync().ConfigureAwait(false);
        lock (_gate) Monitor.PulseAll(_gate);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // The loops record their own failures; whatever escaped is kept for the operator, not rethrown at stop.
                if (ex is not OperationCanceledException) Volatile.Write(ref _lastError, ex.Message);
            }
        }
        _loopStop.Dispose();
        _loopStop = null;
        _loop = null;
    }

    private enum Verdict
    {
        Apply,
        Skip,
        Stale,
        Gap,
    }

    /// <summary>The reading rules (see the class remarks); moves <paramref name="accepted"/> over an entry to apply.</summary>
    private Verdict Classify(in CommandLogRecord record, ref long accepted)
    {
        if (record.Kind == CommandLogRecordKind.EpochMarker)
        {
            _maxEpoch = Math.Max(_maxEpoch, record.Epoch);
            return Verdict.Skip;
        }
        if (record.Epoch < _maxEpoch)
        {
            Interlocked.Increment(ref _droppedStale);
            return Verdict.Stale;
        }
        _maxEpoch = record.Epoch;
        if (record.Lsn <= accepted) return Verdict.Skip;
        if (record.Lsn != accepted + 1) return Verdict.Gap;
        accepted = record.Lsn;
        return Verdict.Apply;
    }

    private Command Decode(in CommandLogRecord record)
    {
        if (!CommandCodec.TryDecode(record.Entry, out var command, out _, out var error) || command.Lsn != record.Lsn)
        {
            throw new JournalCorruptException($"Shard {_shard}: the command log's entry at position {record.Position} (log sequence number {record.Lsn}) is damaged: {error ?? "its header names another log sequence number"}.");
        }
        return command;
    }

    /// <summary>
    /// Where to start reading and the last entry known to be in the log before it: the checkpoint, unless it is ahead
    /// of what this node holds (then the start of the log).
    /// </summary>
    private (long Position, long LogLsn) StartingPoint(long localLsn)
    {
        var checkpoint = CommandLogCheckpoint.Load(_directory);
        if (checkpoint is null || checkpoint.Lsn > localLsn)
        {
            _maxEpoch = 0;
            return (0, 0);
        }
        _maxEpoch = checkpoint.Epoch;
        return (checkpoint.Position, checkpoint.Lsn);
    }

    private void Checkpoint(bool force)
    {
        var now = _time.GetTimestamp();
        if (!force && _time.GetElapsedTime(Volatile.Read(ref _checkpointedAt), now) < CheckpointInterval) return;
        Volatile.Write(ref _checkpointedAt, now);
        try
        {
            // Never ahead of the local journal (the replicate stage ships beside the fsync): a checkpoint ahead of it
            // would be ignored at the next start, which would then read the log from its beginning.
            var lsn = Volatile.Read(ref _lsn);
            if (_journal is not null && _journal.LastLsn < lsn) return;
            new CommandLogCheckpoint(_verifiedFrom, lsn, _maxEpoch).Save(_directory);
        }
        catch (IOException ex)
        {
            Volatile.Write(ref _lastError, $"Could not write the command log checkpoint: {ex.Message}");
        }
    }

    /// <summary>A standby's lag in log records: looked up at most once a second (one metadata request).</summary>
    private void MeasureLag(CommandLogBatch batch)
    {
        if (batch.Records.Count == 0)
        {
            Volatile.Write(ref _lagEntries, 0);
            return;
        }
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(Volatile.Read(ref _lagMeasuredAt), now) < CheckpointInterval) return;
        Volatile.Write(ref _lagMeasuredAt, now);
        try
        {
            Volatile.Write(ref _lagEntries, Math.Max(0, _log.EndPosition(TimeSpan.FromSeconds(1)) - _verifiedFrom));
        }
        catch (CommandLogUnavailableException ex)
        {
            Volatile.Write(ref _lastError, ex.Message);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    public async Task StopAsync()
    {
        await StopLoopAsync().ConfigureAwait(false);
        if (_refusal != WriteRefusal.Stopped) Checkpoint(force: true);
    }

    public void Dispose()
    {
        _stop.Cancel();
        lock (_gate) Monitor.PulseAll(_gate);
        _log.Dispose();
        _stop.Dispose();
    }
}
