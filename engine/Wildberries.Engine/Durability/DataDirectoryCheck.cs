using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Durability;

/// <summary>What an offline check found in one shard's directory.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Snapshots">Every snapshot file with its log sequence number, and why it is damaged (null when whole).</param>
/// <param name="Recovery">The recovery the engine would make (snapshot, entries replayed, last log sequence number, state hash); null when it refuses.</param>
/// <param name="Damage">Why the engine would refuse to start from this directory, if it would.</param>
public sealed record ShardCheck(int Shard, IReadOnlyList<(string File, long Lsn, string? Damage)> Snapshots, RecoveryReport? Recovery, string? Damage)
{
    /// <summary>Whether everything acknowledged is readable and verified.</summary>
    public bool IsWhole => Damage is null && Snapshots.All(s => s.Damage is null);
}

/// <summary>
/// Offline tools over a data directory (the server must not run on it): <see cref="Verify"/> reads every snapshot and
/// the whole journal with every check recovery makes (checksums, contiguity, the commit mark), and
/// <see cref="Entries"/> lists a shard's journal entries. Neither writes anything.
/// </summary>
public static class DataDirectoryCheck
{
    /// <summary>
    /// Checks every shard of <paramref name="directory"/>, reading the journal with <paramref name="journalOptions"/>
    /// (the server's defaults when null: page and segment sizes must be those it was written with); throws
    /// <see cref="DirectoryNotFoundException"/> when it holds no shard.
    /// </summary>
    public static IReadOnlyList<ShardCheck> Verify(string directory, StateMachineOptions? options = null, JournalOptions? journalOptions = null)
    {
        var shards = DataDirectoryLayout.ShardsOf(directory);
        if (shards == 0) throw new DirectoryNotFoundException($"{Path.GetFullPath(directory)} holds no shard directory: nothing to verify.");
        var machine = options ?? new StateMachineOptions();
        var checks = new List<ShardCheck>(shards);
        for (var shard = 0; shard < shards; shard++)
        {
            var shardDirectory = Path.Combine(directory, $"shard-{shard}");
            var store = new SnapshotStore(shardDirectory);
            var snapshots = new List<(string, long, string?)>();
            foreach (var file in store.List())
            {
                try
                {
                    var (_, read) = SnapshotStore.Read(file);
                    snapshots.Add((file, read.Lsn, null));
                }
                catch (Exception ex) when (ex is JournalCorruptException or InvalidDataException or IOException or MessagePack.MessagePackSerializationException)
                {
                    snapshots.Add((file, SnapshotStore.LsnOf(file), ex.Message));
                }
            }
            RecoveryReport? report = null;
            string? damage = null;
            try
            {
                using var journal = new FasterJournal(shardDirectory, (journalOptions ?? new JournalOptions()) with { Directory = directory, ReadOnly = true });
                (_, report) = ShardRecovery.Recover(shard, machine with { ShardId = shard, ShardCount = shards }, journal, store, TimeProvider.System);
            }
            catch (Exception ex) when (ex is JournalCorruptException or InvalidDataException or IOException or InvariantViolationException)
            {
                damage = ex.Message;
            }
            checks.Add(new ShardCheck(shard, snapshots, report, damage));
        }
        return checks;
    }

    /// <summary>
    /// The journal entries of one shard after <paramref name="afterLsn"/> (at most <paramref name="count"/>), verified as
    /// they are read; throws <see cref="JournalCorruptException"/> at damage.
    /// </summary>
    public static IEnumerable<JournalEntry> Entries(string directory, int shard, long afterLsn, int count)
    {
        var shardDirectory = Path.Combine(directory, $"shard-{shard}");
        if (!Directory.Exists(shardDirectory)) throw new DirectoryNotFoundException($"{Path.GetFullPath(shardDirectory)} does not exist.");
        using var journal = new FasterJournal(shardDirectory, new JournalOptions { Directory = directory, ReadOnly = true });
        var yielded = 0;
        // A journal truncated behind a snapshot begins later: list from its first entry.
        var first = journal.FirstLsn();
        foreach (var entry in journal.ReadAfter(first > 0 ? Math.Max(afterLsn, first - 1) : afterLsn))
        {
            if (yielded++ == count) yield break;
            yield return entry;
        }
    }
}
