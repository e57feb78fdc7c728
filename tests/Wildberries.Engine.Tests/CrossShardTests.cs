using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests;

/// <summary>
/// Orders whose lines span shards, by two-phase reservation through the real engine: all or nothing across shards,
/// the whole lifecycle (payment, cancel, expiry, late payment, ship) on every shard, and recovery that finishes or
/// aborts what a crash left half done.
/// </summary>
public class CrossShardTests(ITestOutputHelper output)
{
    private const int Shards = 2;
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    // A SKU on shard 0 and one on shard 1: a cart [A, B] is at home on shard 0, with a hold on shard 1.
    private static readonly long A = Sku(0, 0);
    private static readonly long B = Sku(1, 0);
    private static readonly long B2 = Sku(1, 1);

    private static long Sku(int shard, int nth) =>
        Enumerable.Range(1, 10_000).Select(i => (long)i).Where(s => ShardRouter.ShardOf(s, Shards) == shard).Skip(nth).First();

    private static async Task<ReservationEngine> Started(InMemoryJournal[] journals, TimeProvider? clock = null, long stockA = 5, long stockB = 5)
    {
        var engine = ReservationEngine.Start(new EngineOptions { ShardCount = Shards }, s => journals[s], clock);
        foreach (var (sku, onHand) in new[] { (A, stockA), (B, stockB), (B2, 5L) })
        {
            Assert.Equal(ResultCode.Ok, (await engine.UpsertItemAsync(sku, $"item {sku}", price: sku * 10)).Code);
            Assert.Equal(ResultCode.Ok, (await engine.AdjustStockAsync(sku, 1, onHand, "seed")).Code);
        }
        return engine;
    }

    private static InMemoryJournal[] Journals() => [new(), new()];

    private static async Task<(long OnHand, long Reserved, long Committed)> Row(ReservationEngine engine, long sku)
    {
        var row = (await engine.AuditAsync()).Rows.Single(r => r.Sku == sku);
        return (row.OnHand, row.Reserved, row.Committed);
    }

    [Fact]
    public async Task A_cart_spanning_shards_reserves_every_line_and_is_one_order_at_home()
    {
        var journals = Journals();
        await using var engine = await Started(journals);
        var r = await engine.CheckoutAsync("k", "c", [new CheckoutLine(A, 2), new CheckoutLine(B, 3)]);
        Assert.True(r.IsOk, $"{r}");
        Assert.Equal((0, OrderStatus.PendingPayment), (r.OrderId.Shard, r.Status));
        Assert.Equal(2 * A * 10 + 3 * B * 10, r.Amount);
        Assert.Equal((5L, 2L, 0L), await Row(engine, A));
        Assert.Equal((5L, 3L, 0L), await Row(engine, B));

        var order = (await engine.GetOrderAsync(r.OrderId))!;
        Assert.Equal([(A, 2), (B, 3)], order.Lines.Select(l => (l.Sku, l.Quantity)));
        Assert.Equal(r.Amount, order.Lines.Sum(l => l.UnitPrice * l.Quantity));

        // The same key and cart answer the same order; the holds are not placed twice.
        var replay = await engine.CheckoutAsync("k", "c", [new CheckoutLine(A, 2), new CheckoutLine(B, 3)]);
        Assert.Equal((r.OrderId, true), (replay.OrderId, replay.Replayed));
        Assert.Equal((5L, 3L, 0L), await Row(engine, B));
        var audit = await engine.AuditAsync();
        Assert.Single(audit.Orders);
        Assert.Single(audit.Holds);
    }

    [Fact]
    public async Task A_shortage_on_another_shard_reserves_nothing_anywhere_and_names_the_line()
    {
        var journals = Journals();
        await using var engine = await Started(journals, stockB: 1);
        var r = await engine.CheckoutAsync("k", "c", [new CheckoutLine(A, 2), new CheckoutLine(B2, 1), new CheckoutLine(B, 3)]);
        Assert.Equal(ResultCode.InsufficientStock, r.Code);
        Assert.Equal([new Shortage(B, 3, 1)], r.Shortages!);
        Assert.Equal((5L, 0L, 0L), await Row(engine, A));
        Assert.Equal((5L, 0L, 0L), await Row(engine, B2));
        Assert.Empty((await engine.AuditAsync()).Orders);

        // Not remembered, like any refused checkout: once the stock is there, the same key goes through.
        await engine.AdjustStockAsync(B, 1, 2, "receipt");
        Assert.True((await engine.CheckoutAsync("k", "c", [new CheckoutLine(A, 2), new CheckoutLine(B2, 1), new CheckoutLine(B, 3)])).IsOk);

        var unknown = await engine.CheckoutAsync("k2", "c", [new CheckoutLine(A, 1), new CheckoutLine(Sku(1, 5), 1)]);
        Assert.Equal((ResultCode.UnknownSku, "lines[1].sku"), (unknown.Code, unknown.Field));
        Assert.Equal((5L, 2L, 0L), await Row(engine, A));
    }

    [Fact]
    public async Task A_refusal_names_lines_of_every_shard_in_cart_order_as_one_shard_would()
    {
        var journals = Journals();
        await using var engine = await Started(journals, stockA: 1, stockB: 1);
        // Short at home and on the other shard: both shortages, in cart order.
        var both = await engine.CheckoutAsync("k1", "c", [new CheckoutLine(B, 2), new CheckoutLine(A, 3)]);
        Assert.Equal(ResultCode.InsufficientStock, both.Code);
        Assert.Equal([new Shortage(B, 2, 1), new Shortage(A, 3, 1)], both.Shortages!);
        // Short at home, an unknown SKU elsewhere: the unknown SKU wins, as it would on one shard.
        var unknown = await engine.CheckoutAsync("k2", "c", [new CheckoutLine(A, 3), new CheckoutLine(Sku(1, 7), 1)]);
        Assert.Equal((ResultCode.UnknownSku, "lines[1].sku"), (unknown.Code, unknown.Field));
        Assert.All((await engine.AuditAsync()).Rows, r => Assert.Equal(0, r.Reserved));
    }

    [Fact]
    public async Task Holds_placed_on_some_shards_are_released_when_another_shard_is_short()
    {
        var skus = Enumerable.Range(0, 3).Select(shard => Enumerable.Range(1, 1000).Select(i => (long)i).First(s => ShardRouter.ShardOf(s, 3) == shard)).ToArray();
        await using var engine = ReservationEngine.Start(new EngineOptions { ShardCount = 3 }, _ => new InMemoryJournal());
        foreach (var sku in skus)
        {
            await engine.UpsertItemAsync(sku, "item", 100);
            await engine.AdjustStockAsync(sku, 1, sku == skus[2] ? 1 : 5, "seed");
        }
        var r = await engine.CheckoutAsync("k", "c", [new CheckoutLine(skus[0], 1), new CheckoutLine(skus[1], 2), new CheckoutLine(skus[2], 2)]);
        Assert.Equal(ResultCode.InsufficientStock, r.Code);
        var audit = await engine.AuditAsync();
        Assert.All(audit.Rows, row => Assert.Equal(0, row.Reserved));
        Assert.Equal(OrderStatus.Cancelled, Assert.Single(audit.Holds).Status); // shard 1 held, then released
    }

    [Fact]
    public async Task Payment_shipment_and_cancel_reach_every_shard()
    {
        var journals = Journals();
        await using var engine = await Started(journals);
        var paid = await engine.CheckoutAsync("k1", "c", [new CheckoutLine(A, 1), new CheckoutLine(B, 2)]);
        Assert.Equal(OrderStatus.Paid, (await engine.ApplyPaymentAsync(paid.OrderId, "tx1", true, paid.Amount, "RUB")).Status);
        Assert.Equal((5L, 0L, 2L), await Row(engine, B)); // the hold committed with the payment
        var cancelled = await engine.CheckoutAsync("k2", "c", [new CheckoutLine(A, 1), new CheckoutLine(B, 1)]);
        Assert.Equal(OrderStatus.Cancelled, (await engine.CancelAsync(cancelled.OrderId, "c")).Status);
        Assert.Equal(OrderStatus.Fulfilled, (await engine.ShipAsync(paid.OrderId)).Status);
        Assert.Equal((4L, 0L, 0L), await Row(engine, A));
        Assert.Equal((3L, 0L, 0L), await Row(engine, B));
        var audit = await engine.AuditAsync();
        Assert.Equal([OrderStatus.Fulfilled, OrderStatus.Cancelled], audit.Holds.OrderBy(h => h.OrderId.Value).Select(h => h.Status));
    }

    [Fact]
    public async Task Expiry_releases_every_shard_and_a_late_payment_is_paid_or_refunded_on_all_of_them()
    {
        var clock = new ManualClock();
        var journals = Journals();
        await using var engine = await Started(journals, clock);
        var first = await engine.CheckoutAsync("k1", "c", [new CheckoutLine(A, 1), new CheckoutLine(B, 2)]);
        var second = await engine.CheckoutAsync("k2", "c", [new CheckoutLine(A, 1), new CheckoutLine(B, 3)]);
        clock.Advance(TimeSpan.FromMilliseconds(engine.Options.StateMachine.ReservationTtlMs + 1));
        await engine.TickAsync();
        Assert.Equal((5L, 0L, 0L), await Row(engine, A));
        Assert.Equal((5L, 0L, 0L), await Row(engine, B));

        // Late: the first finds its units on both shards and is paid; then B has 3 left and the second needs 3 ...
        var late = await engine.ApplyPaymentAsync(first.OrderId, "tx1", true, first.Amount, "RUB");
        Assert.Equal((ResultCode.Ok, OrderStatus.Paid), (late.Code, late.Status));
        Assert.Equal((5L, 0L, 2L), await Row(engine, B));
        // ... so someone else takes one of them, and the second late payment must be refunded on every shard.
        Assert.True((await engine.CheckoutAsync("k3", "d", [new CheckoutLine(B, 1)])).IsOk);
        var refused = await engine.ApplyPaymentAsync(second.OrderId, "tx2", true, second.Amount, "RUB");
        Assert.Equal((ResultCode.RefundRequired, OrderStatus.RefundRequired), (refused.Code, refused.Status));
        Assert.Equal((5L, 0L, 1L), await Row(engine, A));
        Assert.Equal((5L, 1L, 2L), await Row(engine, B));
    }

    [Fact]
    public async Task A_restart_aborts_what_was_preparing_and_delivers_decisions_the_holds_missed()
    {
        var journals = Journals();
        OrderId paidId;
        await using (var engine = await Started(journals))
        {
            var r = await engine.CheckoutAsync("k1", "c", [new CheckoutLine(A, 1), new CheckoutLine(B, 2)]);
            paidId = r.OrderId;
        }
        // What a crash can leave: the home journaled a payment whose commit never reached the hold, and a new
        // cross-shard checkout whose holds were never asked for.
        Append(journals[0], Command.PaymentResult(paidId, "tx1", true, 1 * A * 10 + 2 * B * 10, "RUB"));
        Append(journals[0], Command.Checkout("k2", "c", [new CheckoutLine(A, 3), new CheckoutLine(B, 1)]));

        await using (var restarted = ReservationEngine.Start(new EngineOptions { ShardCount = Shards }, s => journals[s]))
        {
            Assert.Equal(OrderStatus.Paid, (await restarted.GetOrderAsync(paidId))!.Status);
            Assert.Equal((5L, 0L, 1L), await Row(restarted, A)); // the preparing order's 3 units went back
            Assert.Equal((5L, 0L, 2L), await Row(restarted, B)); // the hold was committed after all
            Assert.Single((await restarted.AuditAsync()).Orders);
        }

        // Once every hold is where its home put it, a start reads them and journals nothing.
        var written = journals.Select(j => j.LastLsn).ToArray();
        await using var again = ReservationEngine.Start(new EngineOptions { ShardCount = Shards }, s => journals[s]);
        await again.SettleAsync();
        Assert.Equal(written, journals.Select(j => j.LastLsn).ToArray());
        // The aborted checkout's key is free again.
        Assert.True((await again.CheckoutAsync("k2", "c", [new CheckoutLine(A, 3), new CheckoutLine(B, 1)])).IsOk);
    }

    private static void Append(InMemoryJournal journal, Command command)
    {
        command.Lsn = journal.LastLsn + 1;
        command.TimestampMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        journal.Append(command);
        journal.Commit();
    }

    [Fact]
    public async Task Many_buyers_of_the_last_units_on_two_shards_never_oversell_and_every_order_is_whole()
    {
        var journals = Journals();
        await using var engine = await Started(journals, stockA: 20, stockB: 20);
        var seed = (int)(Faults.FaultWorkload.SeedFromEnvironment("WB_CROSS_SEED") % int.MaxValue);
        output.WriteLine($"seed {seed} (replay: WB_CROSS_SEED={seed})");
        var random = new Random(seed);
        var carts = Enumerable.Range(0, 200).Select(i => (Key: $"k{i}", A: random.Next(1, 4), B: random.Next(1, 4))).ToArray();
        var results = await Task.WhenAll(carts.Select(c => Task.Run(async () =>
            (c, await engine.CheckoutAsync(c.Key, "c", [new CheckoutLine(A, c.A), new CheckoutLine(B, c.B)])), Cancel)));
        var sold = results.Where(r => r.Item2.IsOk).ToArray();
        Assert.NotEmpty(sold);
        Assert.Contains(results, r => r.Item2.Code == ResultCode.InsufficientStock);
        Assert.All(results, r => Assert.True(r.Item2.IsOk || r.Item2.Code == ResultCode.InsufficientStock, $"seed {seed}: {r.Item2}"));
        var (_, reservedA, _) = await Row(engine, A);
        var (_, reservedB, _) = await Row(engine, B);
        Assert.Equal(sold.Sum(s => s.c.A), reservedA);
        Assert.Equal(sold.Sum(s => s.c.B), reservedB);
        Assert.True(reservedA <= 20 && reservedB <= 20, $"seed {seed}");
        var audit = await engine.AuditAsync();
        Assert.Equal(sold.Length, audit.Orders.Length);
        Assert.All(audit.Orders, o => Assert.Equal(2, o.Lines.Length));
        Assert.All(audit.Holds, h => Assert.Equal(OrderStatus.PendingPayment, h.Status));
    }
}
