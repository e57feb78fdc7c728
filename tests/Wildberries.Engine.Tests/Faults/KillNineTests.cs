using System.Diagnostics;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>
/// The engine in a child process under concurrent checkouts and payments, killed with SIGKILL at random moments,
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
        output.WriteLine($"kill -9 test: seed {seed} (replay the kill timing: WB_KILL_SEED={seed}), {Kills} kills");
#pragma warning disable CA5394 // Test timing, not security.
        var random = new Random(seed);
        using var dir = new TempDirectory("kill");
        var checkouts = new Dictionary<string, OrderId>();
        var payments = new HashSet<OrderId>();
        long totalAcks = 0;

        for (var run = 0; run < Kills; run++)
        {
            // Let it work for a random while, then pull the plug.
            var workFor = TimeSpan.FromMilliseconds(random.Next(50, 400));
            var acks = await Testing.CrashChildProcess.RunAndKillAsync(
                [dir.Path, run.ToString(System.Globalization.CultureInfo.InvariantCulture), "16"],
                c => Task.Delay(workFor, c), $"run {run}", TestContext.Current.CancellationToken);

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
            output.WriteLine($"run {run}: {acks.Count} acknowledgements, recovered through {report.LastLsn} (snapshot at {report.SnapshotLsn}, {report.ReplayedEntries} replayed) in {report.Duration.TotalMilliseconds:F0} ms");
        }
#pragma warning restore CA5394
        output.WriteLine($"{Kills} kills, {totalAcks} acknowledgements checked: {checkouts.Count} checkouts, {payments.Count} payments, none lost");
        Assert.True(checkouts.Count > 0);
    }
}
