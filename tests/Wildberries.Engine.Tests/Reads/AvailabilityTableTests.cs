using System.Diagnostics;
using Wildberries.Engine.Reads;

namespace Wildberries.Engine.Tests.Reads;

public class AvailabilityTableTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public void Rows_are_kept_by_warehouse_with_their_total()
    {
        var table = new AvailabilityTable();
        table.Update(5, 3, 30);
        table.Update(5, 1, 10);
        table.Update(5, 9, 90);
        table.Update(5, 2, 20);
        table.Update(5, 7, 70); // beyond the first four: the cell grows
        table.Update(5, 1, -4); // a negative availability reads as nothing left
        Span<WarehouseAvailability> rows = stackalloc WarehouseAvailability[8];
        Assert.True(table.TryRead(5, rows, out var total, out var count));
        Assert.Equal((210L, 5), (total, count));
        Assert.Equal([new(1, 0), new(2, 20), new(3, 30), new(7, 70), new(9, 90)], rows[..count].ToArray());
        Assert.Equal(210, table.GetAvailable(5));

        Span<WarehouseAvailability> small = stackalloc WarehouseAvailability[2];
        Assert.True(table.TryRead(5, small, out total, out count));
        Assert.Equal((210L, 5), (total, count));
        Assert.Equal([new(1, 0), new(2, 20)], small.ToArray());

        Assert.False(table.TryRead(6, rows, out total, out count));
        Assert.Equal((0L, 0), (total, count));
        Assert.Equal(0, table.GetAvailable(6));
    }

    [Fact]
    public async Task Readers_never_see_a_half_written_row()
    {
        // The writer rewrites the rows of one SKU, one at a time, so the total changes with every write (it is the
        // sum at that instant) and rows and total disagree while a write is in progress. A reader that ever sees a
        // total that is not the sum of the rows it read with it saw a torn write. Readers stop after a bounded count
        // of reads once they have seen the writer move often enough, or after two seconds, whichever comes first.
        const long sku = 77;
        const int warehouses = 6;
        const int readsMin = 100_000;
        const int totalsMin = 500;
        var deadline = TimeSpan.FromSeconds(2);
        var table = new AvailabilityTable();
        for (var w = 1; w <= warehouses; w++) table.Update(sku, w, 1_000);
        using var stop = new CancellationTokenSource(Patience);
        var writerStarted = new ManualResetEventSlim(false);
        var torn = 0L;
        var watch = Stopwatch.StartNew();

        var writer = Task.Factory.StartNew(() =>
        {
            var writes = 0L;
            while (!stop.IsCancellationRequested)
            {
                for (var w = 1; w <= warehouses; w++, writes++)
                {
                    table.Update(sku, w, 1_000 + (writes % 997));
                    // The apply stage does other work between stock updates; a writer that never pauses starves
                    // seqlock readers (they succeed only while it is descheduled), and then they prove nothing.
                    Thread.SpinWait(20);
                }
                if (writes > 10_000) writerStarted.Set();
            }
            return writes;
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        var readers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            Assert.True(writerStarted.Wait(Patience));
            Span<WarehouseAvailability> rows = stackalloc WarehouseAvailability[warehouses];
            var seen = new HashSet<long>();
            var reads = 0;
            while ((reads < readsMin || seen.Count < totalsMin) && watch.Elapsed < deadline)
            {
                for (var i = 0; i < 1_000; i++, reads++)
                {
                    Assert.True(table.TryRead(sku, rows, out var total, out var count));
                    var sum = 0L;
                    for (var r = 0; r < count; r++) sum += rows[r].Available;
                    if (count != warehouses || sum != total) Interlocked.Increment(ref torn);
                    seen.Add(total);
                }
            }
            return (reads, seen);
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();

        var results = await Task.WhenAll(readers).WaitAsync(Patience, TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        var writes = await writer.WaitAsync(Patience, TestContext.Current.CancellationToken);
        writerStarted.Dispose();
        var totalsSeen = results.SelectMany(r => r.seen).ToHashSet();
        output.WriteLine($"{writes} writes, {results.Sum(r => r.reads)} reads, {totalsSeen.Count} distinct totals, {torn} torn, {watch.ElapsedMilliseconds} ms");

        Assert.Equal(0, torn);
        // The readers really overlapped the writer: they saw it move, not a few quiet states.
        Assert.True(totalsSeen.Count >= 100, $"the readers saw only {totalsSeen.Count} totals: too little overlap with the writer to prove anything");
    }
}
