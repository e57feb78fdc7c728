using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Durability;

/// <summary>A shard's recovered state and the journal (and snapshotter) that keep it: what a pipeline starts from.</summary>
internal sealed record OpenedShard(ReservationStateMachine Machine, ICommandJournal Journal, RecoveryReport Report, Snapshotter? Snapshotter, SnapshotStore? Store, Events.FeedSlots Slots)
{
    /// <summary>Releases what was opened when the engine does not start after all.</summary>
    public async ValueTask CloseAsync()
    {
        if (Snapshotter is not null) await Snapshotter.DisposeAsync().ConfigureAwait(false);
        Journal.Dispose();
    }
}
