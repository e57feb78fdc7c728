using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Ring;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// The first stage: gives each command its log sequence number and timestamp, appends it, and commits once per
/// batch (group commit). The apply stage only sees a slot after that commit, so nothing is answered before it
/// is durable. When an append or a commit fails, every command from the first one not yet committed onwards
/// fails (<see cref="FailedFromLsn"/>): commands appended earlier in the same batch were never made durable.
/// </summary>
internal sealed class JournalStage(ICommandJournal journal, TimeProvider time, long lastLsn, long lastTimestampMs, Reads.LatencyHistogram commitLatency, IWaitStrategy? appendedWaiters, EngineMetrics? metrics = null, int shard = 0) : IEventHandler<CommandSlot>
{
    private long _lsn = lastLsn;
    private long _timestampMs = lastTimestampMs;
    private long _committedLsn = lastLsn;
    private long _failedFromLsn = long.MaxValue;
    private bool _batchOpen;
    private long _batchStartedTicks;
    private Exception? _fault;

    /// <summary>
    /// The first log sequence number that is not durable because the journal failed (long.MaxValue while it has
    /// not). Written before the stage publishes its sequence, so the apply stage sees it for every slot it reads.
    /// </summary>
    public long FailedFromLsn => Volatile.Read(ref _failedFromLsn);

    /// <summary>The error that stopped the journal, if it did.</summary>
    public Exception? Fault => Volatile.Read(ref _fault);

    /// <summary>
    /// The last ring sequence whose command has its log sequence number and timestamp and was appended (not yet
    /// necessarily committed): the replicate stage ships from here, beside the commit, not after it.
    /// </summary>
    public Sequence Appended { get; } = new();

    public void OnEvent(ref CommandSlot slot, long sequence, bool endOfBatch)
    {
        if (slot.Kind == SlotKind.Replicated)
        {
            // An entry of the primary's log, on a standby: it keeps the primary's number and time, and must follow on.
            if (_fault is null && slot.Command.Lsn != _lsn + 1)
            {
                slot.JournalError = new InvalidOperationException($"A replicated entry must follow log sequence number {_lsn}; got {slot.Command.Lsn}.");
            }
            else if (_fault is null)
            {
                _lsn = slot.Command.Lsn;
                _timestampMs = Math.Max(_timestampMs, slot.Command.TimestampMs);
                try
                {
                    journal.Append(slot.Command);
                }
                catch (Exception ex)
                {
                    Fail(ex);
                }
            }
            if (_fault is not null) slot.JournalError = _fault;
        }
        else if (slot.Kind == SlotKind.Command)
        {
            if (slot.TraceEnqueued != 0) slot.TraceJournaled = System.Diagnostics.Stopwatch.GetTimestamp();
            if (_fault is null)
            {
                // Time is assigned here, before the write, so a replay sees exactly what the live run saw. One clock
                // read per batch (the batch is journaled as one instant); it never goes backwards, even when the
                // wall clock does.
                if (!_batchOpen)
                {
                    _timestampMs = Math.Max(_timestampMs, time.GetUtcNow().ToUnixTimeMilliseconds());
                    _batchOpen = true;
                    _batchStartedTicks = System.Diagnostics.Stopwatch.GetTimestamp();
                }
                slot.Command.Lsn = ++_lsn;
                slot.Command.TimestampMs = _timestampMs;
                try
                {
                    journal.Append(slot.Command);
                }
                catch (Exception ex)
                {
                    Fail(ex);
                }
            }
            // A dead journal is one path: this command and every later one fail, none is applied.
            if (_fault is not null) slot.JournalError = _fault;
        }

        if (endOfBatch)
        {
            _batchOpen = false;
            Appended.Value = sequence;
            // Only a replicate stage waits for this (null without one): a signal nobody needs would wake the parked apply
            // thread for nothing, with a system call on this thread just before the commit.
            appendedWaiters?.SignalAllWhenBlocking();
        }
        if (endOfBatch && _lsn > _committedLsn && _fault is null)
        {
            try
            {
                // The batch's appends timed as one (a FASTER page turn shows here), not a clock read per command.
                JournalStalls.Observe("appends of the batch (FASTER enqueue)", _batchStartedTicks);
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                journal.Commit();
                var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                commitLatency.Record((long)elapsed.TotalMicroseconds);
                JournalStalls.Observe("commit (whole)", started);
                metrics?.Committed(shard, _lsn - _committedLsn, elapsed.TotalSeconds);
                _committedLsn = _lsn;
            }
            catch (Exception ex)
            {
                Fail(ex);
                slot.JournalError = _fault;
            }
        }
    }

    private void Fail(Exception ex)
    {
        Volatile.Write(ref _failedFromLsn, _committedLsn + 1);
        Volatile.Write(ref _fault, new EngineFaultedException($"The journal failed after log sequence number {_committedLsn}; commands from {_committedLsn + 1} on were not made durable and the shard stopped. Restart to recover from the journal.", ex));
    }
}
