using System.Diagnostics;
using System.Globalization;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>
/// The engine on two shards in a child process under carts spanning both shards (two-phase reservations, payments
/// committing holds, cancels releasing them), killed with SIGKILL after a seeded number of acknowledged checkouts, again and again on the same data
/// directory, so kills land between the phases. After each kill the engine is opened here: every acknowledged order
/// must be there with every line of its cart and none preparing, every acknowledged payment paid with its holds
/// committed, each stock row's reserved and committed units exactly those of the orders across shards, nothing
/// oversold. At the end, past the reservations' deadline, every unpaid reservation must be gone on every shard.
/// </summary>
public class CrossShardKillTests(ITestOutputHelper output)
{
    private const int Kills = 20;
    private const int Shards = 2;
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    private sealed record Acked(string Key, OrderId Id, long Amount, Dictionary<long, int> Cart);

    [Fact]
    public async Task Every_acknowledged_cross_shard_order_is_whole_and_no_stock_leaks_across_repeated_SIGKILL()
    {
        var started = Stopwatch.StartNew();
        var seed = (int)(FaultWorkload.SeedFromEnvironment("WB_CROSS_KILL_SEED") % int.MaxValue);
        output.WriteLine($"cross-shard kill -9 test: seed {seed} (replay the kill points: WB_CROSS_KILL_SEED={seed}), {Kills} kills");
#pragma warning disable CA5394 // Test timing, not security.
        var random = new Random(seed);
        using var dir = new TempDirectory("cross-kill");
        var checkouts = new Dictionary<OrderId, Acked>();
        var payments = new HashSet<OrderId>();
        var cancels = new HashSet<OrderId>();
        var refused = new HashSet<string>();
        long totalAcks = 0;

        for (var run = 0; run < Kills; run++)
        {
            // Let it work until a seeded number of checkouts is acknowledged (the same seed, the same point of the work
            // however loaded the machine is), then pull the plug: anywhere in a two-phase reservation.
            var killAfter = random.Next(10, 600);
            var acks = await Testing.CrashChildProcess.RunAndKillAsync(
                [dir.Path, run.ToString(CultureInfo.InvariantCulture), "16", $"shards={Shards}"],
                (lines, c) => lines.WhenCountAsync("C ", killAfter, TimeSpan.FromSeconds(60), c), $"run {run}", Cancel);

            // The kill came after the seeded point (the waiting did wait), not at some other moment.
            var checkoutsThisRun = acks.Count(l => l.StartsWith("C ", StringComparison.Ordinal));
            Assert.True(checkoutsThisRun >= killAfter, $"run {run}: killed after {checkoutsThisRun} checkouts, before the seeded {killAfter}; seed {seed}");
            foreach (var line in acks) Parse(line, checkouts, payments, cancels, refused);
            totalAcks += acks.Count;

            await using var engine = Reopen(dir.Path);
            var audit = await CheckAsync(engine, run, seed, checkouts, payments, cancels, expired: false);
            var crossShard = audit.Orders.Count(o => o.RemoteShards is not null);
            output.WriteLine($"run {run}: killed after checkout {killAfter}, {acks.Count} acknowledgements; recovered shards through lsn {string.Join('/', engine.Recovery.Select(r => r.LastLsn))}; "
                + $"{audit.Orders.Length} orders ({crossShard} cross-shard), {audit.Holds.Length} holds");
        }
#pragma warning restore CA5394

        // Past every reservation's deadline: each unpaid order expires at home, its holds are released on the other
        // shard, and no unit stays reserved anywhere; the committed units are exactly those of the paid orders.
        await using (var late = Reopen(dir.Path, new ShiftedClock(TimeSpan.FromMinutes(16))))
        {
            await late.TickAsync();
            var audit = await CheckAsync(late, Kills, seed, checkouts, payments, cancels, expired: true);
            Assert.All(audit.Rows, r => Assert.True(r.Reserved == 0, $"after expiry sku {r.Sku} in warehouse {r.WarehouseId} still has {r.Reserved} reserved (stock leaked); seed {seed}"));
            output.WriteLine($"after expiry: {audit.Orders.Count(o => o.Status == OrderStatus.Expired)} orders expired, none reserved on any shard");
        }

        var multi = checkouts.Values.Count(c => c.Cart.Keys.Select(s => ShardRouter.ShardOf(s, Shards)).Distinct().Count() > 1);
        output.WriteLine($"{Kills} kills, {totalAcks} acknowledgements checked: {checkouts.Count} checkouts ({multi} spanning shards), "
            + $"{payments.Count} payments, {cancels.Count} cancels, none lost; {refused.Count} checkouts refused; {started.Elapsed.TotalSeconds:F1} s");
        Assert.True(multi > 0);
        Assert.True(payments.Count > 0);
    }

    private static ReservationEngine Reopen(string directory, TimeProvider? clock = null) =>
        ReservationEngine.Open(new EngineOptions { ShardCount = Shards }, new JournalOptions { Directory = directory, SnapshotEveryEntries = 2_000 }, clock);

    private static void Parse(string line, Dictionary<OrderId, Acked> checkouts, HashSet<OrderId> payments, HashSet<OrderId> cancels, HashSet<string> refused)
    {
        var parts = line.Split(' ');
        switch (parts[0])
        {
            case "C" when parts.Length == 5 && OrderId.TryParse(parts[2], out var id):
                var cart = new Dictionary<long, int>();
                foreach (var l in parts[4].Split(','))
                {
                    var x = l.Split('x');
                    var sku = long.Parse(x[0], CultureInfo.InvariantCulture);
                    cart[sku] = cart.GetValueOrDefault(sku) + int.Parse(x[1], CultureInfo.InvariantCulture);
                }
                checkouts[id] = new Acked(parts[1], id, long.Parse(parts[3], CultureInfo.InvariantCulture), cart);
                break;
            case "P" when parts.Length == 2 && OrderId.TryParse(parts[1], out var paid):
                payments.Add(paid);
                break;
            case "R" when parts.Length == 3:
                refused.Add(parts[1]);
                break;
            case "X" when parts.Length == 2 && OrderId.TryParse(parts[1], out var cancelled):
                cancels.Add(cancelled);
                break;
            default:
                throw new InvalidOperationException($"unexpected line from the child: {line}");
        }
    }

    private static async Task<EngineAudit> CheckAsync(
        ReservationEngine engine, int run, int seed, Dictionary<OrderId, Acked> checkouts, HashSet<OrderId> payments, HashSet<OrderId> cancels, bool expired)
    {
        var at = $"run {run}, seed {seed}";
        foreach (var (id, acked) in checkouts)
        {
            var order = await engine.GetOrderAsync(id);
            Assert.True(order is not null, $"{at}: acknowledged checkout {acked.Key} ({id}) is missing");
            var lines = order.Lines.GroupBy(l => l.Sku).ToDictionary(g => g.Key, g => g.Sum(l => l.Quantity));
            Assert.True(lines.Count == acked.Cart.Count && acked.Cart.All(c => lines.GetValueOrDefault(c.Key) == c.Value),
                $"{at}: acknowledged checkout {acked.Key} ({id}, {order.Status}) has lines {Show(lines)}, its cart was {Show(acked.Cart)}");
            Assert.True(order.Amount == acked.Amount, $"{at}: {id} amounts to {order.Amount}, acknowledged {acked.Amount}");
            Assert.True(order.Lines.All(l => l.Allocations.Sum(a => a.Quantity) == l.Quantity), $"{at}: {id} has a line not fully allocated");
            var status = order.Status;
            if (payments.Contains(id)) Assert.True(status is OrderStatus.Paid or OrderStatus.Fulfilled, $"{at}: acknowledged payment of {id} is lost ({status})");
            else if (cancels.Contains(id)) Assert.True(status == OrderStatus.Cancelled, $"{at}: acknowledged cancel of {id} is lost ({status})");
            else if (expired) Assert.True(status is OrderStatus.Expired or OrderStatus.Paid or OrderStatus.Cancelled, $"{at}: {id} past its deadline is {status}");
            else Assert.True(status is OrderStatus.PendingPayment or OrderStatus.Paid or OrderStatus.Cancelled, $"{at}: acknowledged checkout {id} is {status}");
        }

        // The audit checks each shard's own invariants; across shards, each row's units must be exactly those of the
        // orders (with their holds' lines merged in): no hold left reserved or committed for an order that is not.
        var audit = await engine.AuditAsync();
        Assert.True(engine.Fault is null, $"{at}: the engine faulted: {engine.Fault}");
        var preparing = audit.Orders.Where(o => o.Status == OrderStatus.Preparing).Select(o => o.OrderId).ToArray();
        Assert.True(preparing.Length == 0, $"{at}: orders left preparing after recovery: {string.Join(", ", preparing)}");
        var homes = audit.Orders.ToDictionary(o => o.OrderId);
        foreach (var hold in audit.Holds)
        {
            var expected = homes.TryGetValue(hold.OrderId, out var home) ? HoldStatusOf(home.Status) : [OrderStatus.Cancelled, OrderStatus.Expired];
            Assert.True(expected.Contains(hold.Status),
                $"{at}: the hold of {hold.OrderId} on lines {Show(hold.Lines)} is {hold.Status}, its home order is {(home is null ? "gone" : home.Status)}");
        }
        foreach (var o in audit.Orders.Where(o => o.RemoteShards is not null))
        {
            var held = audit.Holds.Count(h => h.OrderId == o.OrderId);
            Assert.True(held == o.RemoteShards!.Length, $"{at}: {o.OrderId} ({o.Status}) spans shards {string.Join(',', o.RemoteShards)} but has {held} holds");
        }

        var reserved = new Dictionary<(long, int), long>();
        var committed = new Dictionary<(long, int), long>();
        foreach (var o in audit.Orders)
        {
            var into = o.Status switch
            {
                OrderStatus.PendingPayment => reserved,
                OrderStatus.Paid => committed,
                _ => null,
            };
            if (into is null) continue;
            foreach (var l in o.Lines)
            {
                foreach (var a in l.Allocations) into[(l.Sku, a.WarehouseId)] = into.GetValueOrDefault((l.Sku, a.WarehouseId)) + a.Quantity;
            }
        }
        foreach (var row in audit.Rows)
        {
            var where = $"sku {row.Sku} (shard {ShardRouter.ShardOf(row.Sku, Shards)}) in warehouse {row.WarehouseId}";
            Assert.True(row.Reserved == reserved.GetValueOrDefault((row.Sku, row.WarehouseId)),
                $"{at}: {where} has {row.Reserved} reserved, the pending orders hold {reserved.GetValueOrDefault((row.Sku, row.WarehouseId))}");
            Assert.True(row.Committed == committed.GetValueOrDefault((row.Sku, row.WarehouseId)),
                $"{at}: {where} has {row.Committed} committed, the paid orders hold {committed.GetValueOrDefault((row.Sku, row.WarehouseId))}");
            // Stock is only ever added here, so no row ever had a shortfall.
            Assert.True(row.Available >= 0, $"{at}: {where} is oversold: {row}");
        }
        return audit;
    }

    /// <summary>What a hold must be once its home's decision has reached it.</summary>
    private static OrderStatus[] HoldStatusOf(OrderStatus home) => home switch
    {
        OrderStatus.PendingPayment => [OrderStatus.PendingPayment],
        OrderStatus.Paid => [OrderStatus.Paid],
        OrderStatus.Fulfilled => [OrderStatus.Fulfilled],
        _ => [OrderStatus.Cancelled, OrderStatus.Expired],
    };

    private static string Show(Dictionary<long, int> lines) => string.Join(',', lines.OrderBy(l => l.Key).Select(l => $"{l.Key}x{l.Value}"));

    private static string Show(OrderLineView[] lines) => string.Join(',', lines.Select(l => $"{l.Sku}x{l.Quantity}"));

    /// <summary>The wall clock moved ahead: reservations made before are past their deadline.</summary>
    private sealed class ShiftedClock(TimeSpan ahead) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + ahead;
    }
}
