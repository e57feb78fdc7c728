using System.Globalization;

namespace Wildberries.Core.Tests;

/// <summary>
/// The tables sized by the capacity hints are mapped when the machine is made (<see cref="StateMachineOptions.CommitTablesUpFront"/>),
/// not page by page under the first load: the open-loop benchmark's windows stalled 100-250 ms at their start while the
/// writer took a page fault on nearly every insert into a fresh slot table (Linux only: page faults are read from /proc).
/// </summary>
public class TableCommitTests(ITestOutputHelper output)
{
    private const int Orders = 1 << 21;
    private const int Checkouts = 20_000;

    [Fact]
    public void The_first_checkouts_into_a_large_machine_take_few_page_faults()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "page faults are read from /proc/thread-self/stat");
        // Mapped up front first, then as written (the way before) while the first is still alive: neither reuses the
        // other's pages (the lazy machine made after the first was collected would find its memory mapped already).
        var (committed, first) = FaultsOfFirstCheckouts(commit: true);
        var (lazy, second) = FaultsOfFirstCheckouts(commit: false);
        GC.KeepAlive(first);
        GC.KeepAlive(second);
        output.WriteLine($"page faults over the first {Checkouts:N0} checkouts: tables mapped as written {lazy:N0}, mapped up front {committed:N0}");
        // Fresh slot tables of 2 M orders take a fault on nearly every insert; mapped tables only the load's own allocations.
        Assert.True(committed < Checkouts / 10, $"{committed:N0} page faults over {Checkouts:N0} checkouts with the tables mapped up front");
    }

    private static (long Faults, ReservationStateMachine Machine) FaultsOfFirstCheckouts(bool commit)
    {
        long faults = 0;
        ReservationStateMachine? made = null;
        // On a thread of its own: only the machine's faults count, not another test's on a shared pool thread.
        var thread = new Thread(() =>
        {
            var machine = new ReservationStateMachine(new StateMachineOptions { OrdersCapacityHint = Orders, SkusCapacityHint = 16, CommitTablesUpFront = commit });
            var events = new EventBuffer();
            long lsn = 0;
            CommandResult Apply(Command c)
            {
                c.Lsn = ++lsn;
                c.TimestampMs = 1_700_000_000_000;
                events.Clear();
                return machine.Apply(c, events);
            }
            Apply(Command.UpsertItem(1, "item", 100, 100, true));
            Apply(Command.SetStockOnHand(1, 1, 1_000_000_000));
            var lines = new[] { new CheckoutLine(1, 1) };
            var keys = Enumerable.Range(0, Checkouts).Select(i => "k" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
            var before = MinorFaults();
            foreach (var key in keys)
            {
                var r = Apply(Command.Checkout(key, "c", lines));
                if (!r.IsOk) throw new InvalidOperationException(r.Code.ToString());
            }
            faults = MinorFaults() - before;
            made = machine;
        });
        thread.Start();
        thread.Join();
        return (faults, made!);
    }

    // Field 10 of /proc/thread-self/stat: the minor page faults of the calling thread.
    private static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }
}
