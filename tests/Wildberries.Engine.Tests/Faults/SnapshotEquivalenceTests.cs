using Wildberries.Core;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>At random log positions: snapshot to a real file, load it back, replay the rest: the same hash as a full replay.</summary>
public class SnapshotEquivalenceTests(ITestOutputHelper output)
{
    private const int Points = 100;

    [Fact]
    public void Snapshot_plus_replay_hashes_equal_to_full_replay_at_random_points()
    {
        var seed = (int)(FaultWorkload.SeedFromEnvironment("WB_SNAPSHOT_SEED") % int.MaxValue);
        output.WriteLine($"Snapshot equivalence: seed {seed} (replay: WB_SNAPSHOT_SEED={seed}), {Points} points");
        var commands = FaultWorkload.Commands(seed, 1_000);
        var full = FaultWorkload.Hashes(commands)[^1];
#pragma warning disable CA5394
        var random = new Random(seed);
        using var dir = new TempDirectory("snapeq");
        var events = new EventBuffer();
        for (var p = 0; p < Points; p++)
        {
            var at = random.Next(0, commands.Length + 1);
            var machine = new ReservationStateMachine();
            foreach (var c in commands.AsSpan(0, at)) machine.Apply(c, events);
            var store = new SnapshotStore(Path.Combine(dir.Path, $"p{p}"));
            store.Save(machine.CaptureSnapshot(), at, machine.ComputeStateHash());

            var loaded = store.LoadLatest(new StateMachineOptions(), []);
            Assert.NotNull(loaded);
            var restored = loaded.Value.Machine;
            Assert.Equal(at, restored.LastLsn);
            foreach (var c in commands.AsSpan(at)) restored.Apply(c, events);
            Assert.True(full == restored.ComputeStateHash(), $"point {p} (after {at} commands) differs; replay with WB_SNAPSHOT_SEED={seed}");
        }
#pragma warning restore CA5394
    }
}
