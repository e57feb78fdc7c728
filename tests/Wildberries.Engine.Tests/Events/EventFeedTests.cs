using Wildberries.Core;
using Wildberries.Engine.Events;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Events;

/// <summary>The journal as the outbox: events derived from the durable journal, resumable by name, kept until acknowledged.</summary>
public class EventFeedTests
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    private static async Task Workload(ReservationEngine engine, int orders, int seed)
    {
        await engine.UpsertItemAsync(1, "kettle", 100);
        await engine.UpsertItemAsync(2, "mug", 30);
        await engine.AdjustStockAsync(1, 1, 1_000, "seed");
        await engine.AdjustStockAsync(2, 2, 1_000, "seed");
        for (var i = 0; i < orders; i++)
        {
            var r = await engine.CheckoutAsync($"s{seed}-k{i}", $"c{i % 7}", [new CheckoutLine(1 + (i % 2), 1 + (i % 3))]);
            Assert.True(r.IsOk, $"{r}");
            if (i % 3 == 0) await engine.ApplyPaymentAsync(r.OrderId, $"s{seed}-tx{i}", true, r.Amount, "RUB");
            else if (i % 3 == 1) await engine.CancelAsync(r.OrderId);
        }
    }

    private static async Task<List<FeedEvent>> ReadAll(EventFeed feed, long untilLsn)
    {
        var read = new List<FeedEvent>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (read.Count == 0 || read[^1].Event.Lsn < untilLsn) read.AddRange(await feed.ReadAsync(500, timeout.Token));
        return read;
    }

    [Fact]
    public async Task The_feed_derives_exactly_the_events_the_writer_produced_in_log_order_with_the_order_data()
    {
        var journal = new InMemoryJournal();
        var live = new EventRecorder();
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => journal, listener: live);
        await Workload(engine, 60, seed: 1);
        using var feed = engine.OpenEventFeed(0, "test");
        var derived = await ReadAll(feed, journal.LastLsn);

        Assert.Equal(live.Events.Select(e => (e.Kind, e.Lsn, e.Index, e.OrderId, e.Sku, e.Available)), derived.Select(f => (f.Event.Kind, f.Event.Lsn, f.Event.Index, f.Event.OrderId, f.Event.Sku, f.Event.Available)));
        Assert.Equal(derived.Select(f => f.Position).Order(), derived.Select(f => f.Position));
        var paid = derived.First(f => f.Event.Kind == EventKind.OrderPaid);
        Assert.Equal((OrderStatus.Paid, "c0"), (paid.Order!.Status, paid.Order.CustomerId));
        Assert.Equal(paid.Event.Amount, paid.Order.Lines.Sum(l => l.Quantity * l.UnitPrice));
        Assert.All(derived.Where(f => f.Event.Sku != 0), f => Assert.Null(f.Order));
    }

    [Fact]
    public async Task A_named_feed_resumes_after_what_it_acknowledged_and_the_journal_is_kept_for_it()
    {
        using var dir = new TempDirectory("feed");
        // Snapshots every 50 entries: without the feed's slot the journal before them would go.
        var journalOptions = new JournalOptions { Directory = dir.Path, SnapshotEveryEntries = 50 };
        EventPosition acknowledged;
        var live = new EventRecorder();
        await using (var engine = ReservationEngine.Open(new EngineOptions(), journalOptions, listener: live))
        {
            await Workload(engine, 10, seed: 1);
            using (var feed = engine.OpenEventFeed(0, "warehouse"))
            {
                var first = await feed.ReadAsync(10, Cancel);
                acknowledged = first[^1].Position;
                feed.Acknowledge(acknowledged);
            }
            await Workload(engine, 150, seed: 2);
            await engine.SnapshotAsync(Cancel);
            await Workload(engine, 150, seed: 3);
            await engine.SnapshotAsync(Cancel);
            await Workload(engine, 5, seed: 4); // a commit after the snapshot makes any truncation durable
        }

        await using var reopened = ReservationEngine.Open(new EngineOptions(), journalOptions);
        using var again = reopened.OpenEventFeed(0, "warehouse");
        var rest = await ReadAll(again, reopened.Recovery[0].LastLsn);
        // Exactly what the writer produced after the acknowledged position: nothing lost, nothing twice.
        Assert.Equal(
            live.Events.Where(e => new EventPosition(e.Lsn, e.Index) > acknowledged).Select(e => (e.Kind, e.Lsn, e.Index, e.OrderId, e.Available)),
            rest.Select(f => (f.Event.Kind, f.Event.Lsn, f.Event.Index, f.Event.OrderId, f.Event.Available)));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(dir.Path, "shard-0"), "snapshot-*.wbs"));

        // Dropped, the slot keeps nothing: the next snapshots truncate the journal, and the name starts over after the oldest snapshot.
        Assert.Equal(["warehouse"], reopened.EventFeedNames(0));
        Assert.True(reopened.DropEventFeed("warehouse"));
        Assert.Empty(reopened.EventFeedNames(0));
        await Workload(reopened, 60, seed: 5);
        await reopened.SnapshotAsync(Cancel);
        await Workload(reopened, 60, seed: 6);
        await reopened.SnapshotAsync(Cancel);
        await Workload(reopened, 5, seed: 7);
        using var anew = reopened.OpenEventFeed(0, "warehouse");
        var oldest = Directory.GetFiles(Path.Combine(dir.Path, "shard-0"), "snapshot-*.wbs").Select(Snapshots.SnapshotStore.LsnOf).Min();
        var restarted = await anew.ReadAsync(10, Cancel);
        // The workload starts with two item upserts (no published event): its first stock event follows them.
        Assert.True(restarted[0].Event.Lsn is var begins && begins > oldest && begins <= oldest + 3, $"starts at {restarted[0].Event.Lsn}, the oldest snapshot is at {oldest}");
    }

    [Fact]
    public async Task A_feed_named_after_the_journal_was_truncated_starts_after_the_oldest_snapshot_with_the_same_events()
    {
        using var dir = new TempDirectory("late-feed");
        var journalOptions = new JournalOptions { Directory = dir.Path, SnapshotEveryEntries = 50 };
        await using var engine = ReservationEngine.Open(new EngineOptions(), journalOptions);
        await Workload(engine, 150, seed: 1);
        await engine.SnapshotAsync(Cancel);
        await Workload(engine, 150, seed: 2);
        await engine.SnapshotAsync(Cancel);
        var oldest = Directory.EnumerateFiles(dir.Shard0, "snapshot-*.wbs").Select(Snapshots.SnapshotStore.LsnOf).Min();
        Assert.True(oldest > 1, "the journal was truncated behind a snapshot");
        var last = (await engine.GetAppliedStateAsync()).Lsn;
        using var late = engine.OpenEventFeed(0, "late-comer");
        var events = await ReadAll(late, last);

        // The same events the writer produced after the oldest snapshot: derived by a feed started before any truncation
        // on a copy of the journal (the in-memory one keeps everything).
        var journal = new InMemoryJournal();
        await using (var copy = ReservationEngine.Start(new EngineOptions(), _ => journal))
        {
            await Workload(copy, 150, seed: 1);
            await Workload(copy, 150, seed: 2);
        }
        var all = ReservationEngine.Start(new EngineOptions(), _ => journal);
        await using (all)
        {
            using var full = all.OpenEventFeed(0, "all");
            var expected = (await ReadAll(full, last)).Where(e => e.Event.Lsn > oldest).Select(e => (e.Position, e.Event.Kind)).ToArray();
            Assert.NotEmpty(expected);
            Assert.Equal(expected, events.Select(e => (e.Position, e.Event.Kind)).ToArray());
        }
    }
}
