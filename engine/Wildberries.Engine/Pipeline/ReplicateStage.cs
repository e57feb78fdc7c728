using Wildberries.Engine.Replication;
using Wildberries.Ring;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// The stage beside the journal's commit: encodes each appended command for the shard's command log and, at the end of
/// a batch, hands the batch to the shipper and waits (bounded) until the log acknowledged it, so that the apply stage behind it
/// answers only what is both fsynced here and replicated. A batch the log did not take in time is still applied
/// (it is in the journal) but its callers hear "replication unavailable" instead of an acknowledgement.
/// </summary>
internal sealed class ReplicateStage(RingBuffer<CommandSlot> ring, ShardReplicator replicator) : IEventHandler<CommandSlot>
{
    private long _batchFirst = -1;
    private long _lastLsn;

    public void OnEvent(ref CommandSlot slot, long sequence, bool endOfBatch)
    {
        if (slot.Kind == SlotKind.Command && slot.JournalError is null && replicator.ShipsFromRing)
        {
            if (_batchFirst < 0) _batchFirst = sequence;
            replicator.Enqueue(slot.Command);
            _lastLsn = slot.Command.Lsn;
        }
        if (!endOfBatch || _batchFirst < 0) return;
        var error = replicator.WaitReplicated(_lastLsn);
        if (error is not null)
        {
            for (var s = _batchFirst; s <= sequence; s++)
            {
                ref var pending = ref ring[s];
                if (pending.Kind == SlotKind.Command) pending.ReplicationError = error;
            }
        }
        _batchFirst = -1;
    }
}
