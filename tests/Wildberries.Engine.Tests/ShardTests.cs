using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests;

/// <summary>Several shards in one engine: stock partitioned by SKU, orders at home on their stock's shard, merged reads.</summary>
public class ShardTests
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    /// <summary>The first <paramref name="count"/> SKUs (from 1) that live on <paramref name="shard"/>.</summary>
    private static long[] SkusOf(int shard, int shards, int count) =>
        [.. Enumerable.Range(1, 10_000).Select(i => (long)i).Where(s => ShardRouter.ShardOf(s, shards) == shard).Take(count)];

    private static async Task Seed(ReservationEngine engine, IEnumerable<long> skus, long onHand = 10)
    {
        foreach (var sku in skus)
        {
            Assert.Equal(ResultCode.Ok, (await engine.UpsertItemAsync(sku, $"item {sku}", price: 100 * sku)).Code);
            Assert.Equal(ResultCode.Ok, (await engine.AdjustStockAsync(sku, 1, onHand, "seed")).Code);
        }
    }

    [Fact]
    public async Task Orders_live_on_the_shard_of_their_stock_and_the_whole_lifecycle_works_on_every_shard()
    {
        const int Shards = 4;
        var journals = Enumerable.Range(0, Shards).Select(_ => new InMemoryJournal()).ToArray();
        await using var engine = ReservationEngine.Start(new EngineOptions { ShardCount = Shards }, s => journals[s]);
        for (var shard = 0; shard < Shards; shard++)
        {
            var skus = SkusOf(shard, Shards, 2);
            await Seed(engine, skus);
            var r = await engine.CheckoutAsync($"k{shard}", "c", [new CheckoutLine(skus[0], 2), new CheckoutLine(skus[1], 1)]);
            Assert.True(r.IsOk, $"{r}");
            Assert.Equal(shard, r.OrderId.Shard);
            Assert.Equal(2 * 100 * skus[0] + 100 * skus[1], r.Amount);
            Assert.Equal(8, engine.Availability.GetAvailable(skus[0]));
            Assert.Equal(OrderStatus.Paid, (await engine.ApplyPaymentAsync(r.OrderId, $"tx{shard}", true, r.Amount, "RUB")).Status);
            Assert.Equal(OrderStatus.Fulfilled, (await engine.ShipAsync(r.OrderId)).Status);
            Assert.Equal(8, (await engine.AuditAsync()).Rows.Single(x => x.Sku == skus[0]).OnHand);
        }
        // Each shard journaled its own commands only: two items, two stock rows, checkout, payment, shipment.
        Assert.All(journals, j => Assert.Equal(7, j.LastLsn));
        var audit = await engine.AuditAsync();
        Assert.Equal(Shards * 2, audit.Rows.Length);
        Assert.Equal(Shards, audit.Orders.Length);
    }

    [Fact]
    public async Task Catalog_pages_merge_the_shards_in_SKU_order()
    {
        await using var engine = ReservationEngine.Start(new EngineOptions { ShardCount = 3 }, _ => new InMemoryJournal());
        await Seed(engine, Enumerable.Range(1, 50).Select(i => (long)i));
        var seen = new List<long>();
        long after = 0;
        while (true)
        {
            var page = await engine.ListItemsAsync(after, 7);
            seen.AddRange(page.Select(i => i.Sku));
            if (page.Length < 7) break;
            after = page[^1].Sku;
        }
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), seen);
        Assert.Equal("item 37", (await engine.GetItemAsync(37))!.Name);
    }

    [Fact]
    public async Task A_durable_directory_recovers_every_shard_and_refuses_another_shard_count()
    {
        using var dir = new TempDirectory("shards");
        var journal = new JournalOptions { Directory = dir.Path, SnapshotEveryEntries = 0 };
        ulong hash;
        var skus = SkusOf(0, 2, 3).Concat(SkusOf(1, 2, 3)).ToArray();
        await using (var engine = ReservationEngine.Open(new EngineOptions { ShardCount = 2 }, journal))
        {
            await Seed(engine, skus);
            foreach (var sku in skus) Assert.True((await engine.CheckoutAsync($"k{sku}", "c", [new CheckoutLine(sku, 1)])).IsOk);
            hash = await engine.GetCombinedStateHashAsync();
            Assert.NotEqual(await engine.GetStateHashAsync(0), await engine.GetStateHashAsync(1));
        }
        Assert.True(Directory.Exists(Path.Combine(dir.Path, "shard-1")));

        await using (var again = ReservationEngine.Open(new EngineOptions { ShardCount = 2 }, journal))
        {
            Assert.Equal(hash, await again.GetCombinedStateHashAsync());
            Assert.Equal(2, again.Recovery.Count);
            Assert.All(again.Recovery, r => Assert.Equal(3 * 3, r.LastLsn));
        }

        var refused = Assert.Throws<InvalidOperationException>(() => ReservationEngine.Open(new EngineOptions { ShardCount = 3 }, journal));
        Assert.Contains("holds 2 shard(s)", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--shards 2", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_directory_from_before_layouts_opens_as_one_shard_and_refuses_more()
    {
        using var dir = new TempDirectory("legacy");
        var journal = new JournalOptions { Directory = dir.Path, SnapshotEveryEntries = 0 };
        await using (var engine = ReservationEngine.Open(new EngineOptions(), journal))
        {
            await Seed(engine, [1]);
        }
        File.Delete(Path.Combine(dir.Path, "layout.json"));
        Assert.Throws<InvalidOperationException>(() => ReservationEngine.Open(new EngineOptions { ShardCount = 2 }, journal));
        await using var reopened = ReservationEngine.Open(new EngineOptions(), journal);
        Assert.Equal(10, reopened.Availability.GetAvailable(1));
        Assert.True(File.Exists(Path.Combine(dir.Path, "layout.json")));
    }

    [Fact]
    public async Task Each_shard_expires_its_own_reservations_on_its_own_timer()
    {
        var clock = new ManualClock();
        var options = new EngineOptions { ShardCount = 2, ExpiryCheckInterval = TimeSpan.FromMilliseconds(20) };
        var recorder = new EventRecorder();
        await using var engine = ReservationEngine.Start(options, _ => new InMemoryJournal(), clock, recorder);
        var a = SkusOf(0, 2, 1)[0];
        var b = SkusOf(1, 2, 1)[0];
        await Seed(engine, [a, b]);
        Assert.True((await engine.CheckoutAsync("ka", "c", [new CheckoutLine(a, 3)])).IsOk);
        Assert.True((await engine.CheckoutAsync("kb", "c", [new CheckoutLine(b, 4)])).IsOk);
        var expired = recorder.WhenCount(EventKind.OrderExpired, 2);
        clock.Advance(TimeSpan.FromMilliseconds(options.StateMachine.ReservationTtlMs + 1));
        // No command is submitted: only the timers can journal the ticks that release both shards' stock.
        var both = await expired.WaitAsync(TimeSpan.FromSeconds(30), Cancel);
        Assert.Equal([0, 1], both.Select(e => e.Shard).Order());
        Assert.Equal((10L, 10L), (engine.Availability.GetAvailable(a), engine.Availability.GetAvailable(b)));
    }
}
