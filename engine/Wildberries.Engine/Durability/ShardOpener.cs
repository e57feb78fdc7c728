using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Durability;

/// <summary>
/// Opens shards: the durability subsystem. It owns the data directory's layout, each shard's FASTER journal and
/// snapshots, recovery (snapshot, then the journal after it, verified) and, when data loss was accepted, the
/// quarantine of the damaged files. Shards are opened in parallel: recovery time is that of the slowest shard.
/// </summary>
internal static class ShardOpener
{
    /// <summary>Recovers every shard from the journal <paramref name="journalFactory"/> gives it; no snapshots.</summary>
    public static OpenedShard[] Start(EngineOptions options, Func<int, ICommandJournal> journalFactory, TimeProvider time) =>
        OpenAll(options.ShardCount, shard =>
        {
            var journal = journalFactory(shard);
            try
            {
                var (machine, report) = ShardRecovery.Recover(shard, options.ShardOptions(shard), journal, null, time);
                return new OpenedShard(machine, journal, report, null, null, Events.FeedSlots.Load(null));
            }
            catch
            {
                journal.Dispose();
                throw;
            }
        });

    /// <summary>
    /// Opens the durable shards under <see cref="JournalOptions.Directory"/>, after checking that the directory was
    /// written with the same number of shards (stock is partitioned by that number: another would move SKUs).
    /// </summary>
    public static OpenedShard[] Open(EngineOptions options, JournalOptions journal, TimeProvider time)
    {
        DataDirectoryLayout.Claim(journal.Directory, options.ShardCount);
        // Decode ahead on a second thread when each shard's recovery has a core to spare for it: 1.3x-1.5x the replay
        // rate in turn on 2 cores with one shard (docs/benchmarks/durable.md); with more shards than half the cores
        // the shards' own recoveries already fill them.
        var decodeAhead = Environment.ProcessorCount >= 2 * options.ShardCount;
        return OpenAll(options.ShardCount, shard => OpenDurable(shard, options.ShardOptions(shard), journal, time, decodeAhead));
    }

    private static OpenedShard OpenDurable(int shard, StateMachineOptions machineOptions, JournalOptions journal, TimeProvider time, bool decodeAhead)
    {
        var directory = journal.ShardDirectory(shard);
        var store = new SnapshotStore(directory);
        var faster = new FasterJournal(directory, journal);
        try
        {
            var (machine, report) = ShardRecovery.Recover(shard, machineOptions, faster, store, time, decodeAhead);
            if (report.DataLoss is not null)
            {
                (faster, var quarantine) = ShardRecovery.StartOver(directory, faster, machine, journal);
                report = report with { DataLoss = $"{report.DataLoss} The damaged files were moved to {quarantine}." };
            }
            // Loaded before the snapshotter starts: the journal is kept for every event feed's slot from the first snapshot.
            var slots = Events.FeedSlots.Load(directory);
            var snapshotter = new Snapshotter(machineOptions, faster, store, journal, time, report.SnapshotLsn, slots.OldestNeededLsn);
            return new OpenedShard(machine, faster, report, snapshotter, store, slots);
        }
        catch
        {
            faster.Dispose();
            throw;
        }
    }

    /// <summary>Opens every shard in parallel; if any fails, closes the others and throws the first failure.</summary>
    private static OpenedShard[] OpenAll(int count, Func<int, OpenedShard> open)
    {
        var opened = new OpenedShard?[count];
        var failures = new Exception?[count];
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Math.Min(count, Environment.ProcessorCount)) }, shard =>
        {
            try
            {
                opened[shard] = open(shard);
            }
            catch (Exception ex)
            {
                failures[shard] = ex;
            }
        });
        var failure = failures.FirstOrDefault(f => f is not null);
        if (failure is null) return [.. opened.Select(o => o!)];
        foreach (var shard in opened) shard?.CloseAsync().AsTask().GetAwaiter().GetResult();
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        throw failure; // not reached
    }
}
