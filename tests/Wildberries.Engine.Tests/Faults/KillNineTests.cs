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
        var child = Path.Combine(AppContext.BaseDirectory, "Wildberries.CrashChild.dll");
        var checkouts = new Dictionary<string, OrderId>();
        var payments = new HashSet<OrderId>();
        long totalAcks = 0;

        for (var run = 0; run < Kills; run++)
        {
            var acks = new List<string>();
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var process = new Process
            {
                StartInfo = new ProcessStartInfo("dotnet")
                {
                    ArgumentList = { child, dir.Path, run.ToString(System.Globalization.CultureInfo.InvariantCulture), "16" },
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                },
            };
            var errors = new System.Text.StringBuilder();
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                if (e.Data == "READY") ready.TrySetResult();
                else lock (acks) acks.Add(e.Data);
            };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null) lock (errors) errors.AppendLine(e.Data);
            };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var exited = process.WaitForExitAsync(TestContext.Current.CancellationToken);
            var first = await Task.WhenAny(ready.Task, exited).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            Assert.True(first == ready.Task, $"run {run}: the child exited before it was ready: {errors}");

            // Let it work for a random while, then pull the plug: SIGKILL, no chance to flush or clean up.
            await Task.Delay(random.Next(50, 400), TestContext.Current.CancellationToken);
            process.Kill();
            await exited.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            // Lines still in the pipe were acknowledged before the kill: read them all.
            process.WaitForExit();

            lock (acks)
            {
                foreach (var line in acks)
                {
                    var parts = line.Split(' ');
                    if (parts[0] == "C" && parts.Length == 4 && OrderId.TryParse(parts[2], out var id)) checkouts[parts[1]] = id;
                    else if (parts[0] == "P" && parts.Length == 2 && OrderId.TryParse(parts[1], out var paid)) payments.Add(paid);
                }
                totalAcks += acks.Count;
            }

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
