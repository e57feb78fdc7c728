using System.Diagnostics;
using System.Globalization;
using Wildberries.Core;
using Wildberries.Core.Tests;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests;

/// <summary>
/// The model-based test of the core (Wildberries.Core.Tests/ModelBasedTests.cs) run through the real engine with
/// 1, 2 and 4 shards, against the same <see cref="ReferenceModel"/> (linked into this project, not copied), which
/// knows nothing of shards: one order book, one clock, one set of idempotency keys. Every command must give the same
/// result in both, and after every command every stock row and every order (cross-shard ones with all their lines)
/// must agree. Random sequences from a seeded <see cref="Random"/>; a failing sequence is shrunk by dropping chunks
/// of commands, and the failure names the seed (replay: <c>WB_SHARDED_MODEL_SEED</c>) and the minimal sequence.
/// </summary>
/// <remarks>
/// Where the engine and the model differ by design, and how the test bridges it:
/// <list type="bullet">
/// <item>Order ids: the engine's carry the home shard and a per-shard sequence, the model issues its own. A checkout
/// that creates an order in the model must create exactly one (not replayed) in the engine too; model ids are mapped
/// to engine ids in creation order, commands name the engine id, and results and orders are compared through the map.</item>
/// <item>Time: the engine stamps commands with its clock (a <see cref="ManualClock"/>; the expiry timer is set to a
/// minute so only explicit ticks expire things). Each step advances that clock and the model's command timestamp by
/// the same amount. The model expires, evicts and forgets keys over its whole book at every command; an engine shard
/// only does so when it applies a command. So whenever time moves, the test journals a tick on every shard
/// (<see cref="ReservationEngine.TickAsync"/>) and settles before the command: every shard is then at the model's
/// time. A Tick step is <see cref="ReservationEngine.TickAsync"/> in the engine and a Tick command in the model.</item>
/// <item>Asynchrony: the home shard's decisions about a cross-shard order (commit, release, ship) reach the other
/// shards' holds asynchronously. The test settles (<see cref="ReservationEngine.SettleAsync"/>, implied by
/// <see cref="ReservationEngine.AuditAsync"/>) after every command, so each command sees the books the sequential
/// model sees.</item>
/// <item>Idempotency keys are remembered on the home shard of the cart that first used them, and transaction ids on
/// the home shard of the order paid: the same key with a cart at home elsewhere, or the same transaction id for an
/// order at home elsewhere, is not detected as a reuse (a documented limitation). With several shards the generated
/// keys name the home shard of the cart's first line and transaction ids the home shard of their order, so the model
/// and the engine see the same keys and must agree. With one shard the texts are unchanged.</item>
/// <item>SKUs: the generator's SKU slots 1..5 are real SKUs picked so that slot i lives on shard (i - 1) mod n
/// (with one shard: SKUs 1..5), so carts span shards. Slot 5 is never put in the catalog (unknown SKU).</item>
/// <item>A cross-shard order's lines in the engine's view are the home's lines first, then each other shard's in
/// shard order: lines are compared as a set keyed by SKU. Shortages are compared as a set.</item>
/// <item>This test found four divergences, all in late payments of cross-shard orders (a redelivery answered
/// REPAYING, a refusal carrying the session, the home's lines keeping the allocations of a failed retry, holds
/// evicted before their order); the engine was fixed and they are compared exactly. One difference is by design:
/// when a late payment of a cross-shard order is refused because one shard lacks the units, another shard may have
/// committed its lines again (to new warehouses) before releasing them, and that order, which holds no stock, shows
/// those warehouses for those lines. So the allocations of REFUND_REQUIRED cross-shard orders are not compared;
/// their lines, prices and every stock row are.</item>
/// </list>
/// </remarks>
public class ShardedModelTests(ITestOutputHelper output)
{
    internal enum OpKind { Item, Delta, Set, Checkout, Attach, Pay, Cancel, Extend, Ship, Tick }

    /// <summary>One step (SKUs as slots 1..5). Order targets are picked relative to the orders created so far.</summary>
    internal sealed record Op(OpKind Kind, int Sku, int Wh, int Qty, int Pick, int Key, bool Flag, int Advance, (int Sku, int Qty)[] Lines, int[]? Whs)
    {
        public override string ToString() =>
            $"{Kind}(sku {Sku}, wh {Wh}, qty {Qty}, pick {Pick}, key {Key}, flag {Flag}, +{Advance}ms, lines [{string.Join(" ", Lines.Select(l => $"{l.Sku}x{l.Qty}"))}], whs {(Whs is null ? "-" : string.Join(",", Whs))})";
    }

    private const int MaxOps = 100;

    private static readonly StateMachineOptions Options = new()
    {
        ReservationTtlMs = 5 * 60_000,
        IdempotencyWindowMs = 10 * 60_000,
        TerminalOrderRetentionMs = 7 * 60_000,
        VerifyInvariantsEveryCommand = true,
    };

    private static readonly int[] AllWarehouses = [1, 2, 3];

    private static readonly int[] SkuSlots = [1, 2, 3, 4];


    private static readonly OrderId Nobody = OrderId.Create(0, 9_999);

    private static T Pick<T>(Random r, params (int Weight, Func<T> Value)[] choices)
    {
        var roll = r.Next(choices.Sum(c => c.Weight));
        foreach (var (weight, value) in choices)
        {
            if (roll < weight) return value();
            roll -= weight;
        }
        throw new UnreachableException();
    }

    /// <summary>The core's model-based generator, distribution for distribution: mostly refusals, few orders.</summary>
    private static Op CoreOp(Random r)
    {
        var kind = Pick(r,
            (2, () => OpKind.Item), (2, () => OpKind.Delta), (3, () => OpKind.Set), (8, () => OpKind.Checkout), (1, () => OpKind.Attach),
            (5, () => OpKind.Pay), (2, () => OpKind.Cancel), (1, () => OpKind.Extend), (2, () => OpKind.Ship), (2, () => OpKind.Tick));
        var sku = r.Next(1, 5);
        var wh = r.Next(1, 4);
        var qty = r.Next(-5, 13);
        var pick = r.Next(0, 7);
        var key = r.Next(1, 9);
        var flag = Pick(r, (5, () => true), (1, () => false));
        var advance = Pick(r, (6, () => 0), (3, () => r.Next(1, 30_001)), (1, () => r.Next(60_000, 400_001)));
        var lines = Enumerable.Range(0, r.Next(1, 4))
            .Select(_ => (r.Next(1, 6), Pick(r, (12, () => r.Next(1, 7)), (1, () => 0))))
            .ToArray();
        return new Op(kind, sku, wh, qty, pick, key, flag, advance, lines, Warehouses(r));
    }

    private static int[]? Warehouses(Random r) =>
        Pick(r, (6, () => (int[]?)null), (4, () => (int[]?)[.. AllWarehouses.OrderBy(_ => r.Next()).Take(r.Next(1, 4))]));

    /// <summary>
    /// The same kinds of steps, weighted towards orders: carts of distinct SKUs (so with several shards most span
    /// shards), correct amounts, targets among live orders, quantities that fit the stock about half of the time.
    /// </summary>
    private static Op OrderOp(Random r)
    {
        var kind = Pick(r,
            (1, () => OpKind.Item), (2, () => OpKind.Delta), (2, () => OpKind.Set), (10, () => OpKind.Checkout), (2, () => OpKind.Attach),
            (6, () => OpKind.Pay), (2, () => OpKind.Cancel), (1, () => OpKind.Extend), (3, () => OpKind.Ship), (2, () => OpKind.Tick));
        var sku = r.Next(1, 5);
        var wh = r.Next(1, 4);
        var qty = kind == OpKind.Item ? r.Next(2, 10) : r.Next(-3, 13);
        var pick = Pick(r, (1, () => 0), (12, () => r.Next(1, 7)));
        var key = r.Next(1, 9);
        var flag = Pick(r, (8, () => true), (1, () => false));
        var advance = Pick(r, (6, () => 0), (3, () => r.Next(1, 30_001)), (1, () => r.Next(60_000, 400_001)));
        int[] slots = [.. SkuSlots.OrderBy(_ => r.Next())];
        var lines = Enumerable.Range(0, Pick(r, (2, () => 1), (5, () => 2), (3, () => 3)))
            .Select(i => (Pick(r, (25, () => slots[i]), (1, () => 5), (1, () => slots[0])), Pick(r, (20, () => r.Next(1, 4)), (3, () => r.Next(4, 10)), (1, () => 0))))
            .ToArray();
        return new Op(kind, sku, wh, qty, pick, key, flag, advance, lines, Warehouses(r));
    }

    /// <summary>
    /// A sequence: most start by putting SKUs 1..4 in the catalog and stock in a few warehouses (steps like any other,
    /// so shrinking may drop them), then order-heavy steps; one in four is the core's distribution from scratch.
    /// </summary>
    private static Op[] Sequence(int seed)
    {
        var r = new Random(seed);
        var length = r.Next(1, MaxOps + 1);
        if (r.Next(4) == 0) return [.. Enumerable.Range(0, length).Select(_ => CoreOp(r))];
        var prelude = new List<Op>();
        for (var sku = 1; sku <= 4; sku++)
        {
            prelude.Add(new Op(OpKind.Item, sku, 1, r.Next(2, 9), 0, 3, true, 0, [], null));
            foreach (var wh in AllWarehouses.Where(_ => r.Next(3) > 0)) prelude.Add(new Op(OpKind.Set, sku, wh, r.Next(2, 10), 0, 3, true, 0, [], null));
        }
        return [.. prelude, .. Enumerable.Range(0, length).Select(_ => OrderOp(r))];
    }

    /// <summary>SKU slot i (1..5) lives on shard (i - 1) mod n: the smallest such SKU not taken by an earlier slot.</summary>
    private static long[] SkusFor(int shards)
    {
        if (shards == 1) return [0, 1, 2, 3, 4, 5];
        var skus = new List<long> { 0 };
        for (var slot = 1; slot <= 5; slot++)
        {
            var shard = (slot - 1) % shards;
            skus.Add(Enumerable.Range(1, 10_000).Select(i => (long)i).First(s => ShardRouter.ShardOf(s, shards) == shard && !skus.Contains(s)));
        }
        return [.. skus];
    }

    /// <summary>A run of one sequence: the engine and the model side by side.</summary>
    private sealed class Run(int shards, Stats? stats = null)
    {
        private readonly long[] _skus = SkusFor(shards);
        private readonly ReferenceModel _model = new(Options);

        // Engine id of each order the model created, in creation order (model.Created[i] is engine order _ids[i]).
        private readonly List<OrderId> _ids = [];

        private OrderId ToEngine(OrderId modelId)
        {
            var i = _model.Created.FindIndex(o => o.Id == modelId);
            return i < 0 ? modelId : _ids[i];
        }

        private int HomeOf(long sku) => ShardRouter.ShardOf(sku, shards);

        private bool SpansShards(OrderId modelId) =>
            _model.Created.FirstOrDefault(o => o.Id == modelId) is { } o && o.Lines.Select(l => HomeOf(l.Sku)).Distinct().Count() > 1;

        /// <summary>The command for the model (model ids) and the one for the engine (engine ids).</summary>
        private (Command Model, Command Engine) ToCommands(Op op)
        {
            var created = _model.Created;
            // Pick k: the k-th most recent order created (wrapping), so long sequences still target live orders.
            var target = op.Pick == 0 || created.Count == 0 ? Nobody : created[created.Count - 1 - ((op.Pick - 1) % created.Count)].Id;
            var targetOrder = created.FirstOrDefault(o => o.Id == target);
            var owner = targetOrder?.Customer ?? "c1";
            var engineTarget = ToEngine(target);
            var sku = _skus[op.Sku];
            // Keys and transaction ids are remembered per home shard: name it in them when there are several.
            var lines = op.Lines.Select(l => new CheckoutLine(_skus[l.Sku], l.Qty)).ToArray();
            var key = shards == 1 ? $"k{op.Key}" : $"k{op.Key}h{(lines.Length == 0 ? 0 : HomeOf(lines[0].Sku))}";
            var tx = shards == 1 ? $"t{op.Key + (op.Qty * 8)}" : $"t{op.Key + (op.Qty * 8)}h{engineTarget.Shard}";
            Command Make(OrderId id) => op.Kind switch
            {
                OpKind.Item => Command.UpsertItem(sku, $"item {sku}", Math.Max(0, op.Qty) * 100, Math.Clamp(op.Qty, 1, 8), op.Flag || op.Key > 2),
                OpKind.Delta => Command.AdjustStockDelta(sku, op.Wh, op.Qty),
                OpKind.Set => Command.SetStockOnHand(sku, op.Wh, Math.Max(0, op.Qty), op.Flag ? null : op.Key),
                OpKind.Checkout => Command.Checkout(key, $"c{(op.Key % 3) + 1}", [.. lines], op.Whs is null ? null : [.. op.Whs]),
                OpKind.Attach => Command.AttachPayment(id, $"s{op.Key % 3}"),
                OpKind.Pay => Command.PaymentResult(id, tx, op.Flag || op.Key % 2 == 0,
                    (targetOrder?.Amount ?? 0) + (op.Key == 8 ? 1 : 0), op.Key == 7 ? "USD" : "RUB"),
                OpKind.Cancel => Command.Cancel(id, op.Key switch { 1 => "someone-else", 2 => null, _ => owner }),
                OpKind.Extend => Command.Extend(id, op.Key == 1 ? 1_000 : op.Key * 60_000, op.Flag ? owner : null),
                OpKind.Ship => Command.Ship(id),
                _ => Command.Tick(),
            };
            return (Make(target), Make(engineTarget));
        }

        /// <summary>Runs every step; throws (an assertion) at the first disagreement.</summary>
        public async Task Execute(Op[] ops)
        {
            var clock = new ManualClock();
            var engine = ReservationEngine.Start(
                new EngineOptions { ShardCount = shards, StateMachine = Options, RingSize = 1024, ExpiryCheckInterval = TimeSpan.FromMinutes(1) },
                _ => new InMemoryJournal(),
                clock);
            await using var _ = engine;
            for (var i = 0; i < ops.Length; i++)
            {
                var op = ops[i];
                var where = $"step {i}: {op}";
                if (op.Advance > 0)
                {
                    clock.Advance(TimeSpan.FromMilliseconds(op.Advance));
                    await engine.TickAsync();
                    await engine.SettleAsync();
                }
                var (modelCommand, engineCommand) = ToCommands(op);
                modelCommand.TimestampMs = clock.NowMs;
                CommandResult actual;
                if (op.Kind == OpKind.Tick)
                {
                    await engine.TickAsync();
                    actual = CommandResult.Of(ResultCode.Ok);
                }
                else
                {
                    actual = await engine.SubmitAsync(engineCommand);
                }
                var before = _model.Created.Count;
                var expected = _model.Apply(modelCommand);
                if (_model.Created.Count > before)
                {
                    Assert.True(actual.IsOk && !actual.Replayed && actual.OrderId.IsValid, $"{where}: the model created an order, the engine answered {actual}");
                    Assert.DoesNotContain(actual.OrderId, _ids);
                    _ids.Add(actual.OrderId);
                    if (engineCommand.Lines!.Select(l => HomeOf(l.Sku)).Distinct().Count() > 1 && stats is not null) stats.CrossShardOrders++;
                }
                if (stats is not null)
                {
                    stats.Commands++;
                    var what = $"{op.Kind} {actual.Code}{(actual.Replayed ? " replayed" : "")}{(op.Kind == OpKind.Pay && actual.IsOk ? $" -> {actual.Status}" : "")}";
                    stats.Outcomes[what] = stats.Outcomes.GetValueOrDefault(what) + 1;
                }
                expected = expected with { OrderId = ToEngine(expected.OrderId) };
                Assert.True(expected with { Shortages = null } == actual with { Shortages = null }, $"{where}\n expected {expected}\n actual   {actual}");
                Assert.True(
                    (expected.Shortages ?? []).ToHashSet().SetEquals(actual.Shortages ?? []) && (expected.Shortages?.Length ?? 0) == (actual.Shortages?.Length ?? 0),
                    $"{where}: shortages differ\n expected {string.Join("; ", expected.Shortages ?? [])}\n actual   {string.Join("; ", actual.Shortages ?? [])}");

                var audit = await engine.AuditAsync(); // settles, checks every shard's invariants
                var expectedStock = _model.Stock().ToList();
                var actualStock = audit.Rows.OrderBy(r => r.Sku).ThenBy(r => r.WarehouseId).ToList();
                Assert.True(expectedStock.SequenceEqual(actualStock), $"{where}: stock differs\n expected {string.Join("; ", expectedStock)}\n actual   {string.Join("; ", actualStock)}");
                AssertSameOrders(audit, where);
            }
            Assert.Null(engine.Fault);
        }

        private void AssertSameOrders(EngineAudit audit, string where)
        {
            var expected = _model.Orders.Select(e => Text(e)).Order(StringComparer.Ordinal).ToList();
            var actual = audit.Orders.Select(a => Text(a)).Order(StringComparer.Ordinal).ToList();
            Assert.True(expected.SequenceEqual(actual), $"{where}: orders differ\n expected {string.Join("\n          ", expected)}\n actual   {string.Join("\n          ", actual)}");
        }

        private string Text(ReferenceModel.MOrder e) =>
            $"{ToEngine(e.Id)} {e.Status} {e.Amount} {e.ReservedUntil} {e.Session} {e.PaidTx} " +
            string.Join(" ", e.Lines.OrderBy(l => l.Sku).Select(l => $"{l.Sku}x{l.Qty}@{l.Price}" +
                (RefundedAcrossShards(e.Status, e.Lines.Select(x => x.Sku)) ? "" : $"[{string.Join(",", l.Allocs.Select(x => $"{x.Wh}:{x.Qty}"))}]")));

        /// <summary>A refunded cross-shard order: its allocations may show a refused retry's warehouses (see the remarks).</summary>
        private bool RefundedAcrossShards(OrderStatus status, IEnumerable<long> skus) =>
            status == OrderStatus.RefundRequired && skus.Select(HomeOf).Distinct().Count() > 1;

        private string Text(OrderView a) =>
            $"{a.OrderId} {a.Status} {a.Amount} {a.ReservedUntilMs} {a.PaymentSessionId} {a.PaidTransactionId} " +
            string.Join(" ", a.Lines.OrderBy(l => l.Sku)
                .Select(l => $"{l.Sku}x{l.Quantity}@{l.UnitPrice}" +
                    (RefundedAcrossShards(a.Status, a.Lines.Select(x => x.Sku)) ? "" : $"[{string.Join(",", l.Allocations.Select(x => $"{x.WarehouseId}:{x.Quantity}"))}]")));
    }

    /// <summary>What a run exercised: enough cross-shard orders and outcomes of every kind to mean something.</summary>
    private sealed class Stats
    {
        public int Commands;
        public int CrossShardOrders;
        public SortedDictionary<string, int> Outcomes { get; } = new(StringComparer.Ordinal);
    }

    private static async Task<Exception?> Fails(int shards, Op[] ops, Stats? stats = null)
    {
        try
        {
            await new Run(shards, stats).Execute(ops);
            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return ex;
        }
    }

    /// <summary>Drops chunks of commands while the sequence still fails (targets are relative, so any sub-sequence means something).</summary>
    private static async Task<(Op[] Ops, Exception Failure)> Shrink(int shards, Op[] ops, Exception failure, TimeSpan budget)
    {
        var clock = Stopwatch.StartNew();
        var progress = true;
        while (progress && clock.Elapsed < budget)
        {
            progress = false;
            for (var chunk = Math.Max(1, ops.Length / 2); chunk >= 1 && !progress; chunk /= 2)
            {
                for (var i = 0; i + chunk <= ops.Length && clock.Elapsed < budget; i += chunk)
                {
                    Op[] candidate = [.. ops[..i], .. ops[(i + chunk)..]];
                    if (await Fails(shards, candidate) is not { } f) continue;
                    (ops, failure, progress) = (candidate, f, true);
                    break;
                }
            }
        }
        return (ops, failure);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public async Task The_engine_agrees_with_the_reference_model_on_any_shard_count(int shards)
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("WB_SHARDED_MODEL_SEQUENCES"), CultureInfo.InvariantCulture, out var n) ? n : 150;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("WB_SHARDED_MODEL_SEED"), CultureInfo.InvariantCulture, out var s)
            ? s
            : Environment.TickCount & int.MaxValue;
        output.WriteLine($"Sharded model-based test, {shards} shard(s): {count} sequences of up to {MaxOps} commands, seed {seed} (replay: WB_SHARDED_MODEL_SEED={seed})");
        output.WriteLine($"SKU slots 1..5: {string.Join(", ", SkusFor(shards).Skip(1).Select(k => $"{k} (shard {ShardRouter.ShardOf(k, shards)})"))}");

        var watch = Stopwatch.StartNew();
        var stats = new Stats();
        for (var i = 0; i < count; i++)
        {
            // Sequence i of a run is generated from seed + i: the base seed replays the whole run.
            var ops = Sequence(unchecked(seed + i));
            if (await Fails(shards, ops, stats) is { } failure)
            {
                var (minimal, why) = await Shrink(shards, ops, failure, TimeSpan.FromSeconds(60));
                throw new Xunit.Sdk.XunitException(
                    $"Sharded model-based test failed on {shards} shard(s), seed {seed}, sequence {i} ({ops.Length} commands); " +
                    $"replay with WB_SHARDED_MODEL_SEED={seed}.\nShrunk to {minimal.Length} commands:\n  {string.Join("\n  ", minimal.Select(o => o.ToString()))}\n{(why is Xunit.Sdk.XunitException ? why.Message : why.ToString())}");
            }
        }
        output.WriteLine($"{count} sequences, {stats.Commands} commands, {stats.CrossShardOrders} cross-shard orders " +
            $"in {watch.Elapsed.TotalSeconds:F1} s");
        output.WriteLine(string.Join("\n", stats.Outcomes.Select(o => $"  {o.Key}: {o.Value}")));
    }
}
