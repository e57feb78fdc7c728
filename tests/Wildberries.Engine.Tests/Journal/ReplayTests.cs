using Wildberries.Core;
using Wildberries.Engine.Durability;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Tests.Faults;

namespace Wildberries.Engine.Tests.Journal;

/// <summary>Recovery's replay: decoded ahead on a second thread, or read and applied in turn, the same state.</summary>
public class ReplayTests(ITestOutputHelper output)
{
    [Fact]
    public void Replay_decoded_ahead_and_in_turn_apply_every_entry_across_batches()
    {
        var seed = (int)(FaultWorkload.SeedFromEnvironment("WB_REPLAY_SEED") % int.MaxValue);
        output.WriteLine($"Replay: seed {seed} (replay: WB_REPLAY_SEED={seed})");
        // Not a multiple of the 1,024-command batch: the last batch is a partial one.
        var commands = FaultWorkload.Commands(seed, 2_600);
        var expected = FaultWorkload.Hashes(commands)[^1];
        using var root = new TempDirectory("replay");
        using (var journal = new FasterJournal(root.Shard0, FaultWorkload.Tiny))
        {
            foreach (var _ in journal.ReadAfter(0))
            {
            }
            for (var i = 0; i < commands.Length; i++)
            {
                journal.Append(commands[i]);
                if (i % 100 == 99) journal.Commit();
            }
            journal.Commit();
        }
        using var reopened = new FasterJournal(root.Shard0, FaultWorkload.Tiny);
        foreach (var ahead in new[] { true, false, true })
        {
            var machine = new ReservationStateMachine();
            Assert.Equal(commands.Length, ShardRecovery.Replay(reopened, machine, 0, ahead));
            Assert.Equal(commands.Length, machine.LastLsn);
            Assert.True(expected == machine.ComputeStateHash(), $"ahead {ahead}: the state differs from applying the commands; replay with WB_REPLAY_SEED={seed}");
        }
    }
}
