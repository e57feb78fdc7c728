using System.Diagnostics;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>
/// The engine in a child process under concurrent checkouts and payments, killed with SIGKILL after a seeded number of acknowledged checkouts,
/// again and again on the same data directory. After each kill every acknowledged checkout and payment must be
/// there, the invariants must hold and no stock row may be oversold.
/// </summary>
public class KillNineTests(ITestOutputHelper output)
{
    private const int Kills = 20;

    [Fact]
    public async Task Every_acknowledged_command_survives_repeated_SIGKILL()
    {
        var seed = (int)(FaultWorkload.SeedFromEnvironment("WB_KILL_SEED") % int.MaxValue);
        output.WriteLine($"kill -9 test: seed {seed} (replay the kill points: WB_KILL_SEED={seed}), {Kills} kills");
#pragma warning disable CA5394 // Test timing, not security.
        var random = new Random(seed);
        using var dir = new TempDirectory("kill");
        var checkouts = new Dictionary<string, OrderId>();
        var payments = new HashSet<OrderId>();
        long totalAcks = 0;

        for (var run = 0; run < Kills; run++)
        {
            // Let it work until a seeded number of checkouts is acknowledged (not for so many milliseconds: the same
            // seed kills at the same point of the work however loaded the machine is), then pull the plug.
            var killAfter = random.Next(25, 1_500);
            var acks = await Testing.CrashChildProcess.RunAndKillAsync(
                [dir.Path, run.ToString(System.Globalization.CultureInfo.InvariantCulture), "16"],
                (lines, c) => lines.WhenCountAsync("C ", killAfter, TimeSpan.FromSeconds(60), c), $"run {run}", TestContext.Current.CancellationToken);

            // The kill came after the seeded point (the waiting did wait), not at some other moment.
            var checkoutsThisRun = acks.Count(l => l.StartsWith("C ", StringComparison.Ordinal));
            Assert.True(checkoutsThisRun >= killAfter, $"run {run}: killed after {checkoutsThisRun} checkouts, before the seeded {killAfter}; seed {seed}");
            foreach (var line in acks)
            {
                var parts = line.Split(' ');
                if (parts[0] == "C" && parts.Length == 4 && OrderId.TryParse(parts[2], out var id)) checkouts[parts[1]] = id;
                else if (parts[0] == "P" && parts.Length == 2 && OrderId.TryParse(parts[1], out var paid)) payments.Add(paid);
            }
            totalAcks += acks.Count;

            var (machine, report) = FaultWorkload.Recover(Path.Combine(dir.Path, "shard-0"), new JournalOptions());
            foreach (var (key, id) in checkouts)
            {
                Assert.True(machine.TryGetOrder(id, out var order), $"run {run}: acknowledged checkout {key} ({id}) is missing after the kill; seed {seed}");
                if (payments.Contains(id)) Assert.True(order.Status is OrderStatus.Paid, $"run {run}: acknowledged payment of {id} is lost ({order.Status}); seed {seed}");
            }
            foreach (var row in machine.AllStock())
            {
                Assert.True(row.Available >= 0, $"run {run}: sku {row.Sku} in warehouse {row.WarehouseId} is oversold: {row}");
            }
            machine.VerifyInvariants();
            output.WriteLine($"run {run}: killed after checkout {killAfter}, {acks.Count} acknowledgements, recovered through {report.LastLsn} (snapshot at {report.SnapshotLsn}, {report.ReplayedEntries} replayed) in {report.Duration.TotalMilliseconds:F0} ms");
        }
#pragma warning restore CA5394
        output.WriteLine($"{Kills} kills, {totalAcks} acknowledgements checked: {checkouts.Count} checkouts, {payments.Count} payments, none lost");
        Assert.True(checkouts.Count > 0);
    }
}
