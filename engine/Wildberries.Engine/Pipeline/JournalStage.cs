using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Ring;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// The first stage: gives each command its log sequence number and timestamp, appends it, and commits once per
/// batch (group commit). The apply stage only sees a slot after that commit, so nothing is answered before it
/// is durable.
/// </summary>
internal sealed class JournalStage(ICommandJournal journal, TimeProvider time, long lastLsn, long lastTimestampMs, Reads.LatencyHistogram commitLatency) : IEventHandler<CommandSlot>
{
    private long _lsn = lastLsn;
    private long _timestampMs = lastTimestampMs;
    private bool _pending;
    private Exception? _fault;

    public void OnEvent(ref CommandSlot slot, long sequence, bool endOfBatch)
    {
        if (slot.Kind == SlotKind.Command)
        {
            if (_fault is null)
            {
                // Time is assigned here, before the write, so a replay sees exactly what the live run saw.
                // It never goes backwards, even when the wall clock does.
                _timestampMs = Math.Max(_timestampMs, time.GetUtcNow().ToUnixTimeMilliseconds());
                slot.Command.Lsn = ++_lsn;
                slot.Command.TimestampMs = _timestampMs;
                try
                {
                    journal.Append(slot.Command);
                    _pending = true;
                }
                catch (Exception ex)
                {
                    Fail(ex);
                }
            }
            // A dead journal is one path: this command and every later one fail, none is applied.
            if (_fault is not null) slot.JournalError = _fault;
        }

        if (endOfBatch && _pending && _fault is null)
        {
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                journal.Commit();
                commitLatency.Record((long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            }
            catch (Exception ex)
            {
                Fail(ex);
                slot.JournalError = _fault;
            }
            _pending = false;
        }
    }

    private void Fail(Exception ex) =>
        _fault = new EngineFaultedException($"The journal failed at log sequence number {_lsn}; the shard stopped accepting commands. Restart to recover from the journal.", ex);
}
