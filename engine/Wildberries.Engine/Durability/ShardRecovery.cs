using System.Collections.Concurrent;
using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Durability;

/// <summary>Rebuilds a shard's state: the newest valid snapshot, then the journal after it, verified all the way.</summary>
internal static class ShardRecovery
{
    /// <summary>
    /// Recovers one shard. <paramref name="decodeAhead"/>: the journal is decoded on a second thread while this one
    /// applies it: 1.3x-1.5x the rate in turn on a quiet 2-core machine (0.9x-1.3x on a loaded one). The opener turns it
    /// on when each shard has a second core for it (shards recover in parallel).
    /// </summary>
    public static (ReservationStateMachine Machine, RecoveryReport Report) Recover(
        int shard, StateMachineOptions options, ICommandJournal journal, SnapshotStore? store, TimeProvider time, bool decodeAhead = false)
    {
        var started = time.GetTimestamp();
        var rejected = new List<string>();
        var loaded = store?.LoadLatest(options, rejected);
        var machine = loaded?.Machine ?? new ReservationStateMachine(options);
        var replayStarted = time.GetTimestamp();
        var replayed = Replay(journal, machine, loaded?.File.JournalAddress ?? 0, decodeAhead);
        var replayDuration = time.GetElapsedTime(replayStarted);
        if (journal.LastLsn != machine.LastLsn)
        {
            throw new JournalCorruptException($"Recovery of shard {shard} replayed up to log sequence number {machine.LastLsn} but the journal says {journal.LastLsn} is durable.");
        }
        // O(state), once per start: a recovered state that breaks an invariant must not serve a single request.
        // ReservationStateMachine.Restore checked the snapshot's state as it ended: not again when nothing came after it.
        if (loaded is null || replayed > 0) machine.VerifyInvariants();
        // A snapshot with nothing replayed after it was hashed as it loaded and matched the recorded hash: not again.
        var hash = loaded is { File: var file } && replayed == 0 ? file.StateHash : machine.ComputeStateHash();
        var dataLoss = journal.DataLoss;
        var report = new RecoveryReport(shard, loaded?.File.Path, loaded?.File.Lsn ?? 0, replayed, machine.LastLsn, hash,
            time.GetElapsedTime(started), replayDuration, dataLoss, rejected);
        return (machine, report);
    }

    /// <summary>
    /// Applies the journal after the machine's state to it; returns how many entries. A FASTER journal is read and
    /// decoded on a thread of its own, batches of commands ahead of the applying one, when <paramref name="ahead"/>;
    /// else (and for other journals) read and applied in turn with the decode's arrays reused.
    /// </summary>
    internal static long Replay(ICommandJournal journal, ReservationStateMachine machine, long fromAddress, bool ahead)
    {
        var after = machine.LastLsn;
        var events = new EventBuffer();
        long replayed = 0;
        if (journal is FasterJournal faster && ahead) return ReplayAhead(faster, machine, fromAddress);
        // Each command is applied before the next is read: the journal may reuse its arrays.
        foreach (var entry in journal is FasterJournal f ? f.ReadForReplay(after, fromAddress) : journal.ReadAfter(after, fromAddress))
        {
            events.Clear();
            machine.Apply(entry.Command, events);
            replayed++;
        }
        return replayed;
    }

    private static long ReplayAhead(FasterJournal journal, ReservationStateMachine machine, long fromAddress)
    {
        const int BatchSize = 1024;
        var after = machine.LastLsn;
        using var stop = new CancellationTokenSource();
        using var full = new BlockingCollection<(Command[] Batch, int Count)>(boundedCapacity: 4);
        var spare = new ConcurrentQueue<Command[]>();
        // Its own thread, not the pool's: shards open in parallel on pool threads, each waiting for its reader.
        var reader = Task.Factory.StartNew(() =>
        {
            try
            {
                var batch = new Command[BatchSize];
                var n = 0;
                foreach (var entry in journal.Read(after, fromAddress, JournalReadMode.ReplayAhead))
                {
                    batch[n++] = entry.Command;
                    if (n < BatchSize) continue;
                    full.Add((batch, n), stop.Token);
                    batch = spare.TryDequeue(out var reused) ? reused : new Command[BatchSize];
                    n = 0;
                }
                if (n > 0) full.Add((batch, n), stop.Token);
            }
            finally
            {
                full.CompleteAdding();
            }
        }, stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var events = new EventBuffer();
        long replayed = 0;
        try
        {
            foreach (var (batch, count) in full.GetConsumingEnumerable())
            {
                for (var i = 0; i < count; i++)
                {
                    events.Clear();
                    machine.Apply(batch[i], events);
                }
                replayed += count;
                Array.Clear(batch, 0, count);
                spare.Enqueue(batch);
            }
        }
        catch
        {
            // The reader must be done with the journal before the caller closes it.
            stop.Cancel();
            try
            {
                reader.Wait(CancellationToken.None);
            }
            catch (AggregateException)
            {
                // Its cancellation, or its own failure: the apply's is the one thrown.
            }
            throw;
        }
        // The reader's damage (a refusal) after everything before it was applied, as a read in turn would throw it.
        reader.GetAwaiter().GetResult();
        return replayed;
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
