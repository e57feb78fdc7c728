using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Durability;

/// <summary>Rebuilds a shard's state: the newest valid snapshot, then the journal after it, verified all the way.</summary>
internal static class ShardRecovery
{
    public static (ReservationStateMachine Machine, RecoveryReport Report) Recover(
        int shard, StateMachineOptions options, ICommandJournal journal, SnapshotStore? store, TimeProvider time)
    {
        var started = time.GetTimestamp();
        var rejected = new List<string>();
        var loaded = store?.LoadLatest(options, rejected);
        var machine = loaded?.Machine ?? new ReservationStateMachine(options);
        var events = new EventBuffer();
        long replayed = 0;
        var replayStarted = time.GetTimestamp();
        var after = machine.LastLsn;
        var from = loaded?.File.JournalAddress ?? 0;
        // Each command is applied before the next is read: the journal may reuse its arrays.
        foreach (var entry in journal is FasterJournal faster ? faster.ReadForReplay(after, from) : journal.ReadAfter(after, from))
        {
            events.Clear();
            machine.Apply(entry.Command, events);
            replayed++;
        }
        var replayDuration = time.GetElapsedTime(replayStarted);
        if (journal.LastLsn != machine.LastLsn)
        {
            throw new JournalCorruptException($"Recovery of shard {shard} replayed up to log sequence number {machine.LastLsn} but the journal says {journal.LastLsn} is durable.");
        }
        // O(state), once per start: a recovered state that breaks an invariant must not serve a single request.
        machine.VerifyInvariants();
        // A snapshot with nothing replayed after it was hashed as it loaded and matched the recorded hash: not again.
        var hash = loaded is { File: var file } && replayed == 0 ? file.StateHash : machine.ComputeStateHash();
        var dataLoss = journal.DataLoss;
        var report = new RecoveryReport(shard, loaded?.File.Path, loaded?.File.Lsn ?? 0, replayed, machine.LastLsn, hash,
            time.GetElapsedTime(started), replayDuration, dataLoss, rejected);
        return (machine, report);
    }

    /// <summary>
    /// After an accepted loss: moves the damaged journal and the old snapshots aside, snapshots the recovered state
    /// and opens a fresh journal that continues from it. Returns the new journal and where the damaged files went.
    /// </summary>
    public static (FasterJournal Journal, string Quarantine) StartOver(string directory, FasterJournal damaged, ReservationStateMachine machine, JournalOptions options)
    {
        damaged.Dispose();
        var quarantine = Path.Combine(directory, $"damaged-at-lsn-{machine.LastLsn}-{Environment.TickCount64}");
        Directory.CreateDirectory(quarantine);
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            File.Move(file, Path.Combine(quarantine, Path.GetFileName(file)));
        }
        var commits = Path.Combine(directory, "commits");
        if (Directory.Exists(commits)) Directory.Move(commits, Path.Combine(quarantine, "commits"));
        new SnapshotStore(directory).Save(machine.CaptureSnapshot(), 0, machine.ComputeStateHash());
        var journal = new FasterJournal(directory, options with { AcceptDataLoss = false });
        foreach (var _ in journal.ReadAfter(machine.LastLsn))
        {
            throw new InvalidOperationException("A fresh journal cannot hold entries.");
        }
        return (journal, quarantine);
    }
}
