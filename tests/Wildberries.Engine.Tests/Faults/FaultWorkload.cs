using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>A deterministic mixed workload (catalog, stock, checkouts, payments, cancels, time) and its reference hashes.</summary>
internal static class FaultWorkload
{
    public const long T0 = 1_700_000_000_000;

    public static readonly JournalOptions Tiny = new()
    {
        PageSizeBits = 12,
        MemorySizeBits = 15,
        SegmentSizeBits = 15,
        SnapshotEveryEntries = 0,
    };

    public static ulong SeedFromEnvironment(string name) =>
        ulong.TryParse(Environment.GetEnvironmentVariable(name), out var s) ? s : (ulong)DateTime.UtcNow.Ticks;

    public static Command[] Commands(int seed, int count)
    {
#pragma warning disable CA5394 // Test data, not security.
        var random = new Random(seed);
        var commands = new Command[count];
        // Applied as generated, so payments and cancels name orders that exist, with their real amounts.
        var machine = new ReservationStateMachine();
        var events = new EventBuffer();
        var orders = new List<(OrderId Id, long Amount)>();
        var now = T0;
        for (var i = 0; i < count; i++)
        {
            now += random.Next(0, 3) == 0 ? random.Next(1, 120_000) : 0;
            var pick = orders.Count == 0 ? default : orders[random.Next(orders.Count)];
            var c = (i < 30, random.Next(10)) switch
            {
                (true, _) => i % 3 == 0 ? Command.UpsertItem(1 + (i / 3), $"item {i / 3}", 100 + i, 5, true) : Command.AdjustStockDelta(1 + (i / 3), 1 + (i % 3), 50),
                (_, < 5) => Command.Checkout($"k{i}", $"c{random.Next(7)}", [new CheckoutLine(random.Next(1, 11), random.Next(1, 4))]),
                (_, < 7) when orders.Count > 0 => Command.PaymentResult(pick.Id, $"tx{i}", random.Next(5) > 0, pick.Amount, "RUB"),
                (_, 7) when orders.Count > 0 => Command.Cancel(pick.Id),
                (_, 8) => Command.AdjustStockDelta(random.Next(1, 11), random.Next(1, 4), random.Next(1, 20), "receipt"),
                _ => Command.Tick(),
            };
            c.Lsn = i + 1;
            c.TimestampMs = now;
            commands[i] = c;
            events.Clear();
            var r = machine.Apply(c, events);
            if (c.Kind == CommandKind.Checkout && r.IsOk && !r.Replayed) orders.Add((r.OrderId, r.Amount));
        }
#pragma warning restore CA5394
        return commands;
    }

    /// <summary>hashes[n] is the state hash after the first n commands.</summary>
    public static ulong[] Hashes(Command[] commands)
    {
        var machine = new ReservationStateMachine();
        var events = new EventBuffer();
        var hashes = new ulong[commands.Length + 1];
        hashes[0] = machine.ComputeStateHash();
        for (var i = 0; i < commands.Length; i++)
        {
            machine.Apply(commands[i], events);
            hashes[i + 1] = machine.ComputeStateHash();
        }
        return hashes;
    }

    /// <summary>Reads a shard directory back: snapshot (if any) plus journal, as the engine does at start.</summary>
    public static (ReservationStateMachine Machine, RecoveryReport Report) Recover(string directory, JournalOptions options)
    {
        using var journal = new FasterJournal(directory, options with { Directory = Path.GetDirectoryName(directory)! });
        return Durability.ShardRecovery.Recover(0, new StateMachineOptions(), journal, new Snapshots.SnapshotStore(directory), TimeProvider.System);
    }
}
