using System.Diagnostics;
using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Wildberries.Core;

namespace Wildberries.Core.Tests;

/// <summary>
/// Fuzzing at the core: long random sequences of every command kind, sane business flows mixed with hostile
/// values (limits and limits +- 1, the extremes of long and int, null and empty fields, control characters,
/// 100 KB strings, undefined command kinds, unknown and foreign order ids, time that jumps, goes back and
/// reaches long.MaxValue). The state machine must never throw, must keep its invariants after every command,
/// and must hash equal when the log is replayed from empty and from a snapshot. Seeded (WB_SEED) and exact.
/// </summary>
public class CoreFuzzTests(ITestOutputHelper output)
{
    private const int RunsDefault = 100;
    private const int CommandsPerRun = 1_000;
    private const int ExtremeTail = 20;
    private const string ReplayHint = "dotnet test -c Release --project tests/Wildberries.Core.Tests -- --filter-class '*CoreFuzz*'";

    private static readonly string Huge = new('x', 100 * 1024);

    /// <summary>How a command's timestamp is derived from the fuzzer's clock.</summary>
    internal enum TimeKind : byte
    {
        /// <summary>The clock moves by <c>TimeValue</c> (0, small, past the TTL, past the windows, or backwards).</summary>
        Step,

        /// <summary>This command alone carries <c>TimeValue</c> (0, -1, long.MinValue...); the clock is unchanged.</summary>
        Glitch,

        /// <summary>The clock is set to <c>TimeValue</c> (extremes near long.MaxValue; only at the end of a run).</summary>
        Absolute,
    }

    /// <summary>How the order id of a command is chosen when it is applied.</summary>
    internal enum TargetKind : byte
    {
        /// <summary>The generated id (default, random, another shard's).</summary>
        AsIs,

        /// <summary>An order created earlier in the run (recent ones more often).</summary>
        Known,

        /// <summary>As <see cref="Known"/>, and the customer id is the order's owner.</summary>
        KnownOwner,
    }

    /// <summary>A field filled in from the state when the command is applied.</summary>
    internal enum FixKind : byte
    {
        None,
        OrderAmount,
        OrderAmountPlusOne,
        OrderAmountMinusOne,
        CurrentOnHand,
        RepeatLastCheckout,
        RepeatLastCheckoutKeyOnly,
    }

    /// <summary>One generated step: a command template plus how to resolve its time, order and state-dependent fields.</summary>
    internal readonly record struct FuzzOp(Command Command, TimeKind Time, long TimeValue, TargetKind Target, int Pick, FixKind Fix);

    /// <summary>Options and the sane pools that go with them.</summary>
    internal sealed record Profile(string Name, StateMachineOptions Options, long[] Skus, long ForeignSku, int OtherShard);

    private static readonly Profile[] Profiles = BuildProfiles();

    private static Profile[] BuildProfiles()
    {
        var shortWindows = new StateMachineOptions
        {
            ReservationTtlMs = 5 * 60_000,
            IdempotencyWindowMs = 10 * 60_000,
            TerminalOrderRetentionMs = 7 * 60_000,
        };
        var smallLimits = new StateMachineOptions
        {
            ReservationTtlMs = StateMachineOptions.ReservationTtlMsMin,
            IdempotencyWindowMs = 60_000,
            TerminalOrderRetentionMs = 0,
            LinesPerCheckoutMax = 5,
            QuantityPerLineMax = 50,
            WarehousesPerCheckoutMax = 3,
            IdempotencyKeyLengthMax = 16,
            IdentifierLengthMax = 16,
            NameLengthMax = 16,
            OnHandMax = 1_000,
            PriceMax = 1_000_000,
            MaxPerOrderDefault = 10,
        };
        var sharded = new StateMachineOptions
        {
            ShardCount = 4,
            ShardId = 2,
            ReservationTtlMs = StateMachineOptions.ReservationTtlMsMax,
            IdempotencyWindowMs = 86_400_000,
            TerminalOrderRetentionMs = 86_400_000,
        };
        return
        [
            MakeProfile("short-windows", shortWindows),
            MakeProfile("small-limits", smallLimits),
            MakeProfile("sharded-24h", sharded),
        ];

        static Profile MakeProfile(string name, StateMachineOptions o)
        {
            var owned = new List<long>();
            long foreign = 0;
            for (long sku = 1; owned.Count < 5 || foreign == 0; sku++)
            {
                if (ShardRouter.ShardOf(sku, o.ShardCount) == o.ShardId)
                {
                    if (owned.Count < 5) owned.Add(sku);
                }
                else if (foreign == 0)
                {
                    foreign = sku;
                }
                if (o.ShardCount == 1 && owned.Count == 5) break;
            }
            return new Profile(name, o, [.. owned], foreign == 0 ? -1 : foreign, (o.ShardId + 1) % Math.Max(2, o.ShardCount));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Generators
    // ------------------------------------------------------------------------------------------------------------

    private static readonly Gen<int> Bits31 = Gen.Choose(0, int.MaxValue);
    private static readonly Gen<int> Bits2 = Gen.Choose(0, 3);

    private static readonly Gen<long> RandomLong =
        from a in Bits31
        from b in Bits31
        from c in Bits2
        select unchecked(((long)c << 62) | ((long)a << 31) | (long)b);

    private static long[] LongEdges(params long[] limits) =>
    [
        0, -1, 1, long.MinValue, long.MaxValue, long.MinValue + 1, long.MaxValue - 1, int.MinValue, int.MaxValue,
        .. limits.SelectMany(l => new[] { unchecked(l - 1), l, unchecked(l + 1), unchecked(-l), unchecked(-l - 1) }),
    ];

    private static int[] IntEdges(params int[] limits) =>
        [0, -1, 1, int.MinValue, int.MaxValue, int.MinValue + 1, int.MaxValue - 1, .. limits.SelectMany(l => new[] { unchecked(l - 1), l, unchecked(l + 1) })];

    private static Gen<long> HostileLong(params long[] limits) => Gen.Frequency((4, Gen.Elements(LongEdges(limits))), (1, RandomLong));

    private static Gen<int> HostileInt(params int[] limits) =>
        Gen.Frequency((4, Gen.Elements(IntEdges(limits))), (1, RandomLong.Select(v => unchecked((int)v))));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, Gen<string?>> HostileStrings = new();

    private static Gen<string?> HostileString(int lengthMax) => HostileStrings.GetOrAdd(lengthMax, static lengthMax => Gen.Elements<string?>(
        null, "", " ", "a b", "a\0b", "\n", "\t", "\u007f", "x\u0085", "\u001b[31m", "\ud800", "é", "ключ-1", "RUB\0",
        new string('k', Math.Max(0, lengthMax - 1)), new string('k', lengthMax), new string('k', lengthMax + 1), Huge));

    private static Gen<T> Often<T>(Gen<T> sane, Gen<T> hostile, int saneWeight = 9) => Gen.Frequency((saneWeight, sane), (1, hostile));

    private static Gen<OrderId> HostileOrderId(Profile p) => Gen.OneOf(
        Gen.Elements(
            default(OrderId), new OrderId(ulong.MaxValue), new OrderId(1), new OrderId(1UL << 48),
            OrderId.Create(p.Options.ShardId, 999_999), OrderId.Create(p.OtherShard, 1), OrderId.Create(OrderId.ShardMax, 1)),
        RandomLong.Select(v => new OrderId((ulong)v)));

    private sealed class Gens(Profile p)
    {
        private readonly StateMachineOptions _o = p.Options;

        private Gen<long>? _skuCache;

        private Gen<long> Sku => _skuCache ??= Often(
            Gen.Elements(p.Skus),
            Gen.OneOf(Gen.Elements(0L, -1L, long.MinValue, long.MaxValue, int.MaxValue, int.MinValue, p.ForeignSku, 1_000_000L), RandomLong));

        private static Gen<int>? _warehouseCache;

        private static Gen<int> Warehouse => _warehouseCache ??= Often(Gen.Choose(1, 4), Gen.Elements(0, -1, int.MinValue, int.MaxValue, 5, 1_000));

        private Gen<OrderId>? _anyOrderIdCache;

        private Gen<OrderId> AnyOrderId => _anyOrderIdCache ??= HostileOrderId(p);

        private Gen<string?>? _customerCache;

        private Gen<string?> Customer => _customerCache ??= Often(Gen.Elements<string?>("c1", "c2", "c3"), HostileString(_o.IdentifierLengthMax));

        private Gen<string?> Key(string prefix, int poolMax) => Often(
            Gen.Choose(1, poolMax).Select(n => (string?)string.Create(CultureInfo.InvariantCulture, $"{prefix}{n}")),
            HostileString(_o.IdempotencyKeyLengthMax));

        private Gen<CheckoutLine[]?>? _saneLinesCache;

        private Gen<CheckoutLine[]?> SaneLines => _saneLinesCache ??= MakeSaneLines();

        private Gen<CheckoutLine[]?> MakeSaneLines()
        {
            var skus = Gen.Elements(p.Skus);
            var quantities = Gen.Frequency((10, Gen.Choose(1, 4)), (2, Gen.Choose(5, 12)));
            var line = from sku in skus from qty in quantities select new CheckoutLine(sku, qty);
            var byCount = new[] { Gen.ArrayOf(line, 1), Gen.ArrayOf(line, 2), Gen.ArrayOf(line, 3) };
            return Gen.Frequency((6, byCount[0]), (3, byCount[1]), (1, byCount[2])).Select(l => (CheckoutLine[]?)l);
        }

        private Gen<CheckoutLine[]?>? _hostileLinesCache;

        private Gen<CheckoutLine[]?> HostileLines => _hostileLinesCache ??= Gen.OneOf(
            Gen.Elements<CheckoutLine[]?>(
                null, [], [default], [new CheckoutLine(p.Skus[0], 0)],
                [new CheckoutLine(p.Skus[0], int.MaxValue)], [new CheckoutLine(p.Skus[0], int.MinValue)],
                [new CheckoutLine(p.Skus[0], -1)], [new CheckoutLine(p.Skus[0], _o.QuantityPerLineMax)],
                [new CheckoutLine(p.Skus[0], _o.QuantityPerLineMax + 1)], [new CheckoutLine(long.MaxValue, 1)],
                [new CheckoutLine(long.MinValue, 1)], [new CheckoutLine(-1, 1)], [new CheckoutLine(p.ForeignSku, 1)],
                [new CheckoutLine(p.Skus[0], 1), new CheckoutLine(p.Skus[0], 1)],
                ManyLines(_o.LinesPerCheckoutMax, p), ManyLines(_o.LinesPerCheckoutMax + 1, p), ManyLines(_o.LinesPerCheckoutMax - 1, p)),
            Gen.Zip(Sku, HostileInt(_o.QuantityPerLineMax, _o.MaxPerOrderDefault)).Select(l => (CheckoutLine[]?)[new CheckoutLine(l.Item1, l.Item2)]));

        private Gen<int[]?>? _warehousesCache;

        private Gen<int[]?> Warehouses => _warehousesCache ??= Gen.Frequency(
            (12, Gen.Constant<int[]?>(null)),
            (6, Gen.Zip(Gen.Shuffle([1, 2, 3, 4]), Gen.Choose(1, 4)).Select(w => (int[]?)w.Item1.Take(w.Item2).ToArray())),
            (1, Gen.Elements<int[]?>(
                [], [0], [-1], [int.MinValue], [int.MaxValue], [1, 1], [2, 0],
                [.. Enumerable.Range(1, _o.WarehousesPerCheckoutMax)], [.. Enumerable.Range(1, _o.WarehousesPerCheckoutMax + 1)])));

        private static FuzzOp Op(Command c, TargetKind target = TargetKind.AsIs, int pick = 0, FixKind fix = FixKind.None) =>
            new(c, TimeKind.Step, 0, target, pick, fix);

        // Every sub-generator is built once, outside the query: FsCheck re-evaluates the expression of each
        // "from" after the first for every sample, so building it there costs a generator per command.
        private Gen<FuzzOp>? _itemCache;

        private Gen<FuzzOp> Item => _itemCache ??= MakeItem();

        private Gen<FuzzOp> MakeItem()
        {
            var sku = Sku;
            var names = Often(Gen.Elements<string?>("item", "Item 2", "ТОВАР"), HostileString(_o.NameLengthMax));
            var prices = Often(Gen.Choose(0, 5_000).Select(v => (long)v), HostileLong(_o.PriceMax));
            var maxes = Often(Gen.Choose(1, 8).Select(v => (long)v), HostileLong(_o.QuantityPerLineMax, _o.MaxPerOrderDefault), 12);
            var actives = Gen.Frequency((6, Gen.Constant(true)), (1, Gen.Constant(false)));
            return from s in sku
                   from name in names
                   from price in prices
                   from max in maxes
                   from active in actives
                   select Op(Command.UpsertItem(s, name!, price, 0, active) with { Expected = max });
        }

        private Gen<FuzzOp>? _deltaCache;

        private Gen<FuzzOp> Delta => _deltaCache ??= MakeDelta();

        private Gen<FuzzOp> MakeDelta()
        {
            var sku = Sku;
            var deltas = Often(Gen.Choose(-6, 25).Select(v => (long)v), HostileLong(_o.OnHandMax));
            var reasons = Gen.Frequency((6, Gen.Constant<string?>(null)), (3, Gen.Constant<string?>("sync")), (1, HostileString(_o.NameLengthMax)));
            return from s in sku
                   from wh in Warehouse
                   from delta in deltas
                   from reason in reasons
                   select Op(Command.AdjustStockDelta(s, wh, delta, reason));
        }

        private Gen<FuzzOp>? _setCache;

        private Gen<FuzzOp> Set => _setCache ??= MakeSet();

        private Gen<FuzzOp> MakeSet()
        {
            var sku = Sku;
            var onHands = Often(Gen.Frequency((2, Gen.Constant(0L)), (8, Gen.Choose(0, 40).Select(v => (long)v))), HostileLong(_o.OnHandMax));
            var expecteds = Gen.Frequency(
                (6, Gen.Constant<(long?, FixKind)>((null, FixKind.None))),
                (3, Gen.Constant<(long?, FixKind)>((0, FixKind.CurrentOnHand))),
                (1, Gen.Choose(0, 40).Select(v => ((long?)v, FixKind.None))),
                (1, HostileLong(_o.OnHandMax).Select(v => ((long?)v, FixKind.None))));
            var reasons = Gen.Frequency((9, Gen.Constant<string?>(null)), (1, HostileString(_o.NameLengthMax)));
            return from s in sku
                   from wh in Warehouse
                   from onHand in onHands
                   from expected in expecteds
                   from reason in reasons
                   select Op(Command.SetStockOnHand(s, wh, onHand, expected.Item1, reason), fix: expected.Item2);
        }

        private Gen<FuzzOp>? _checkoutCache;

        private Gen<FuzzOp> Checkout => _checkoutCache ??= MakeCheckout();

        private Gen<FuzzOp> MakeCheckout()
        {
            var keys = Key("k", 1_000_000);
            var customers = Customer;
            var lineSets = Often(SaneLines, HostileLines, 10);
            var warehouses = Warehouses;
            var methods = Gen.Frequency((6, Gen.Constant<string?>(null)), (3, Gen.Constant<string?>("card")), (1, HostileString(_o.IdentifierLengthMax)));
            var repeats = Gen.Frequency((20, Gen.Constant(FixKind.None)), (2, Gen.Constant(FixKind.RepeatLastCheckout)), (1, Gen.Constant(FixKind.RepeatLastCheckoutKeyOnly)));
            return from key in keys
                   from customer in customers
                   from lines in lineSets
                   from whs in warehouses
                   from method in methods
                   from repeat in repeats
                   select Op(Command.Checkout(key!, customer!, lines!, whs, method), fix: repeat);
        }

        private Gen<(TargetKind, int, OrderId)>? _targetCache;

        private Gen<(TargetKind, int, OrderId)> Target => _targetCache ??= Gen.Frequency(
            (9, Gen.Choose(0, 2_000).Select(pick => (TargetKind.Known, pick, default(OrderId)))),
            (1, AnyOrderId.Select(id => (TargetKind.AsIs, 0, id))));

        private Gen<FuzzOp>? _attachCache;

        private Gen<FuzzOp> Attach => _attachCache ??= MakeAttach();

        private Gen<FuzzOp> MakeAttach()
        {
            var targets = Target;
            var sessions = Key("s", 6);
            return from t in targets
                   from session in sessions
                   select Op(Command.AttachPayment(t.Item3, session!), t.Item1, t.Item2);
        }

        private Gen<FuzzOp>? _payCache;

        private Gen<FuzzOp> Pay => _payCache ??= MakePay();

        private Gen<FuzzOp> MakePay()
        {
            var targets = Target;
            var txs = Gen.Frequency(
                (12, Gen.Choose(1, 1_000_000).Select(n => (string?)string.Create(CultureInfo.InvariantCulture, $"t{n}"))),
                (2, Gen.Choose(1, 5).Select(n => (string?)string.Create(CultureInfo.InvariantCulture, $"t{n}"))),
                (1, HostileString(_o.IdempotencyKeyLengthMax)));
            var outcomes = Gen.Frequency((3, Gen.Constant(true)), (1, Gen.Constant(false)));
            var amounts = Gen.Frequency(
                (16, Gen.Constant((0L, FixKind.OrderAmount))),
                (1, Gen.Constant((0L, FixKind.OrderAmountPlusOne))),
                (1, Gen.Constant((0L, FixKind.OrderAmountMinusOne))),
                (1, HostileLong(_o.PriceMax).Select(v => (v, FixKind.None))));
            var currencies = Often(Gen.Constant<string?>(_o.Currency), Gen.Elements<string?>(null, "", "USD", "rub", "RU", "RUBX", "R\0B", Huge), 12);
            return from t in targets
                   from tx in txs
                   from succeeded in outcomes
                   from amount in amounts
                   from currency in currencies
                   select Op(Command.PaymentResult(t.Item3, tx!, succeeded, amount.Item1, currency!), t.Item1, t.Item2, amount.Item2);
        }

        private static readonly Gen<bool> MostlyOwner = Gen.Frequency((4, Gen.Constant(true)), (1, Gen.Constant(false)));

        private Gen<FuzzOp>? _cancelCache;

        private Gen<FuzzOp> Cancel => _cancelCache ??= MakeCancel();

        private Gen<FuzzOp> MakeCancel()
        {
            var targets = Target;
            var customers = Gen.Frequency((3, Gen.Constant<string?>(null)), (1, Customer));
            return from t in targets
                   from owner in MostlyOwner
                   from customer in customers
                   select Op(Command.Cancel(t.Item3, customer), owner && t.Item1 == TargetKind.Known ? TargetKind.KnownOwner : t.Item1, t.Item2);
        }

        private Gen<FuzzOp>? _extendCache;

        private Gen<FuzzOp> Extend => _extendCache ??= MakeExtend();

        private Gen<FuzzOp> MakeExtend()
        {
            var targets = Target;
            var ttls = Often(
                Gen.Choose(1, 30).Select(m => m * 60_000L),
                HostileLong(StateMachineOptions.ReservationTtlMsMin, StateMachineOptions.ReservationTtlMsMax));
            return from t in targets
                   from ttl in ttls
                   from owner in MostlyOwner
                   select Op(Command.Extend(t.Item3, ttl), owner && t.Item1 == TargetKind.Known ? TargetKind.KnownOwner : t.Item1, t.Item2);
        }

        private Gen<FuzzOp>? _shipCache;

        private Gen<FuzzOp> Ship => _shipCache ??= Target.Select(t => Op(Command.Ship(t.Item3), t.Item1, t.Item2));

        private static readonly Gen<FuzzOp> Tick = Gen.Constant(Op(Command.Tick()));

        private Gen<FuzzOp>? _rawCache;

        /// <summary>A raw struct: any kind (undefined ones too) with any field hostile.</summary>
        private Gen<FuzzOp> Raw => _rawCache ??= MakeRaw();

        private Gen<FuzzOp> MakeRaw()
        {
            var kinds = Gen.Frequency(
                (3, Gen.Elements(CommandKind.None, (CommandKind)200, (CommandKind)10, (CommandKind)255)),
                (4, Gen.Elements(Enum.GetValues<CommandKind>().Where(k => k != CommandKind.None).ToArray())));
            var skus = Gen.OneOf(Sku, HostileLong());
            var ids = AnyOrderId;
            var knowns = Gen.Frequency((1, Gen.Constant(true)), (2, Gen.Constant(false)));
            var picks = Gen.Choose(0, 2_000);
            var values = HostileLong(_o.OnHandMax, _o.PriceMax, StateMachineOptions.ReservationTtlMsMin);
            var expecteds = HostileLong(_o.QuantityPerLineMax);
            var texts = HostileString(_o.IdempotencyKeyLengthMax);
            var customers = HostileString(_o.IdentifierLengthMax);
            var extras = Gen.OneOf(HostileString(3), Gen.Constant<string?>(_o.Currency));
            var lineSets = Gen.OneOf(HostileLines, SaneLines);
            var warehouseSets = Gen.OneOf(Warehouses, Gen.Elements<int[]?>(null, []));
            var warehouses = Gen.OneOf(Warehouse, HostileInt(_o.WarehousesPerCheckoutMax));
            var flagSets = Gen.Choose(0, 3);
            return from kind in kinds
                   from sku in skus
                   from id in ids
                   from known in knowns
                   from pick in picks
                   from value in values
                   from expected in expecteds
                   from text in texts
                   from customer in customers
                   from extra in extras
                   from lines in lineSets
                   from whs in warehouseSets
                   from wh in warehouses
                   from flags in flagSets
                   let c = new Command
                   {
                       Kind = kind, Sku = sku, OrderId = id, Value = value, Expected = expected, Text = text, Customer = customer, Extra = extra,
                       Lines = lines, Warehouses = whs, WarehouseId = wh, Flag = (flags & 1) != 0, HasExpected = (flags & 2) != 0,
                   }
                   select Op(c, known ? TargetKind.Known : TargetKind.AsIs, pick);
        }

        public Gen<FuzzOp> Next(bool tail) =>
            from op in Gen.Frequency(
                (6, Item), (5, Delta), (7, Set), (22, Checkout), (4, Attach), (14, Pay), (5, Cancel), (3, Extend),
                (7, Ship), (3, Tick), (3, Raw))
            from time in tail ? TailTime : BodyTime
            select op with { Time = time.Item1, TimeValue = time.Item2 };

        private Gen<(TimeKind, long)>? _bodyTime;
        private Gen<(TimeKind, long)>? _tailTime;

        private Gen<(TimeKind, long)> BodyTime => _bodyTime ??= Time(tail: false);

        private Gen<(TimeKind, long)> TailTime => _tailTime ??= Time(tail: true);

        private Gen<(TimeKind, long)> Time(bool tail)
        {
            var o = _o;
            var window = Math.Max(o.IdempotencyWindowMs, o.TerminalOrderRetentionMs);
            var normal = Gen.Frequency(
                (50, Gen.Constant((TimeKind.Step, 0L))),
                (35, Gen.Choose(1, 30_000).Select(v => (TimeKind.Step, (long)v))),
                (4, Gen.Choose(0, 60_000).Select(v => (TimeKind.Step, o.ReservationTtlMs + v))),
                (1, Gen.Elements(0L, 1L, -1L).Select(v => (TimeKind.Step, o.ReservationTtlMs + v))),
                (1, Gen.Choose(0, 60_000).Select(v => (TimeKind.Step, window + v))),
                (3, Gen.Choose(1, 600_000).Select(v => (TimeKind.Step, -(long)v))),
                (1, Gen.Elements(0L, -1L, 1L, long.MinValue, int.MaxValue, int.MinValue, Shard.T0 - 1).Select(v => (TimeKind.Glitch, v))));
            if (!tail) return normal;
            const long Max = long.MaxValue;
            var extreme = Gen.Elements(
                Max, Max - 1, Max - o.ReservationTtlMs, Max - o.ReservationTtlMs + 1, Max - o.ReservationTtlMs - 1,
                Max - o.IdempotencyWindowMs, Max - o.IdempotencyWindowMs + 1, Max - o.IdempotencyWindowMs - 1,
                Max - o.TerminalOrderRetentionMs + 1, Max - o.TerminalOrderRetentionMs - 1, Max - StateMachineOptions.ReservationTtlMsMax + 1,
                Max - (2 * window), Max / 2);
            return Gen.Frequency((6, normal), (2, extreme.Select(v => (TimeKind.Absolute, v))));
        }
    }

    private static CheckoutLine[] ManyLines(int count, Profile p) =>
        [.. Enumerable.Range(0, Math.Max(0, count)).Select(i => new CheckoutLine(i < p.Skus.Length ? p.Skus[i] : 1_000_000 + i, 1))];

    private static readonly Gens[] AllGens = [.. Profiles.Select(p => new Gens(p))];

    internal static Profile ProfileOf(int run) => Profiles[run % Profiles.Length];

    internal static ulong RunSeed(ulong seed, int run) => StateHash.Mix(seed + (ulong)run);

    /// <summary>The operations of one run: reproducible from the seed and the run number alone.</summary>
    internal static FuzzOp[] Generate(ulong seed, int run)
    {
        var gens = AllGens[run % AllGens.Length];
        var gen =
            from body in Gen.ArrayOf(gens.Next(tail: false), CommandsPerRun - ExtremeTail)
            from tail in Gen.ArrayOf(gens.Next(tail: true), ExtremeTail)
            select (FuzzOp[])[.. body, .. tail];
        return Gen.Sample(gen, 50, new Rnd(RunSeed(seed, run)), 1)[0];
    }

    // ------------------------------------------------------------------------------------------------------------
    // Execution
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>Something that must not happen: an exception, a broken check, a replay that hashes differently.</summary>
    internal sealed record Failure(string Signature, int Index, string Detail);

    internal sealed class RunResult
    {
        public List<Command> Log { get; } = [];
        public List<Failure> Failures { get; } = [];
        public Dictionary<string, int> Events { get; } = [];
        public Dictionary<string, int> Codes { get; } = [];
        public int NegativeOnHand { get; set; }
    }

    private static long SaturatingAdd(long a, long b) =>
        b > 0 && a > long.MaxValue - b ? long.MaxValue : b < 0 && a < long.MinValue - b ? long.MinValue : a + b;

    /// <summary>
    /// Applies <paramref name="ops"/> to a fresh machine (invariants checked after every command), then checks the
    /// replay from empty and from snapshots.
    /// </summary>
    internal static RunResult Execute(Profile p, FuzzOp[] ops, int snapshotAt, bool replay = true)
    {
        var o = p.Options;
        var result = new RunResult();
        var machine = new ReservationStateMachine(o);
        var events = new EventBuffer();
        var created = new List<(OrderId Id, long Amount, string Customer)>();
        var createdIds = new HashSet<OrderId>();
        Command? lastCheckout = null;
        var now = Shard.T0;
        var tailSnapshotAt = Math.Max(snapshotAt + 1, ops.Length - (ExtremeTail / 2));
        var snapshots = new List<(int After, StateSnapshot Snapshot, ulong Hash)>();
        var failedAt = new HashSet<int>();

        for (var i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            var c = op.Command;
            long timestamp;
            switch (op.Time)
            {
                case TimeKind.Glitch:
                    timestamp = op.TimeValue;
                    break;
                case TimeKind.Absolute:
                    now = op.TimeValue;
                    timestamp = now;
                    break;
                default:
                    now = SaturatingAdd(now, op.TimeValue);
                    timestamp = now;
                    break;
            }

            // Resolve what depends on the run so far.
            (OrderId Id, long Amount, string Customer)? target = null;
            if (op.Target != TargetKind.AsIs && created.Count > 0)
            {
                // Mostly one of the last few orders (so each gets paid, shipped, cancelled...), sometimes any.
                var index = op.Pick < 1_500 ? created.Count - 1 - (op.Pick % Math.Min(created.Count, 6)) : op.Pick % created.Count;
                target = created[index];
                c.OrderId = target.Value.Id;
                if (op.Target == TargetKind.KnownOwner) c.Customer = target.Value.Customer;
            }
            switch (op.Fix)
            {
                case FixKind.OrderAmount when target is not null:
                    c.Value = target.Value.Amount;
                    break;
                case FixKind.OrderAmountPlusOne when target is not null:
                    c.Value = target.Value.Amount + 1;
                    break;
                case FixKind.OrderAmountMinusOne when target is not null:
                    c.Value = target.Value.Amount - 1;
                    break;
                case FixKind.CurrentOnHand:
                    c.Expected = c.Sku > 0 && c.WarehouseId > 0 && ShardRouter.ShardOf(c.Sku, o.ShardCount) == o.ShardId
                        ? machine.GetStock(c.Sku, c.WarehouseId).OnHand
                        : 0;
                    break;
                case FixKind.RepeatLastCheckout when lastCheckout is not null:
                    c = lastCheckout.Value;
                    break;
                case FixKind.RepeatLastCheckoutKeyOnly when lastCheckout is not null:
                    c.Text = lastCheckout.Value.Text;
                    break;
                default:
                    break;
            }
            c.Lsn = i + 1;
            c.TimestampMs = timestamp;
            result.Log.Add(c);
            if (c.Kind == CommandKind.Checkout) lastCheckout = c;

            events.Clear();
            CommandResult r;
            try
            {
                r = machine.Apply(c, events);
            }
            catch (Exception ex)
            {
                result.Failures.Add(new Failure(Signature(ex), i, $"{ex.GetType().FullName}: {ex.Message}\n{CoreFrames(ex)}"));
                failedAt.Add(i);
                continue;
            }

            // Every invariant after every command (called here rather than through VerifyInvariantsEveryCommand, so the
            // replicas below, which only need to hash equal, do not pay for it three times over).
            try
            {
                machine.VerifyInvariants();
            }
            catch (Exception ex)
            {
                result.Failures.Add(new Failure("invariant: " + Signature(ex), i, $"{ex.GetType().FullName}: {ex.Message}\n{CoreFrames(ex)}"));
            }

            Count(result.Codes, ResultCodes.ToWire(r.Code));
            if (!Enum.IsDefined(r.Code)) result.Failures.Add(new Failure($"check: undefined result code {(byte)r.Code}", i, $"{r}"));
            foreach (var e in events.Events)
            {
                Count(result.Events, e.Kind.ToString());
                if (e.Lsn != c.Lsn || e.Shard != o.ShardId)
                {
                    result.Failures.Add(new Failure("check: event carries another lsn or shard", i, $"{e}"));
                }
                if (e.Kind is EventKind.StockChanged or EventKind.StockShortfall && e.OnHand < 0) result.NegativeOnHand++;
            }
            if (c.Kind == CommandKind.Checkout && r.IsOk && !r.Replayed && r.Status == OrderStatus.PendingPayment && r.ReservedUntilMs < machine.NowMs)
            {
                result.Failures.Add(new Failure("check: a new reservation's deadline is before now (now + ttl overflowed)", i,
                    $"now {machine.NowMs}, reservedUntil {r.ReservedUntilMs}"));
            }
            if (c.Kind == CommandKind.Extend && r.IsOk && r.ReservedUntilMs < machine.NowMs)
            {
                result.Failures.Add(new Failure("check: an extended reservation's deadline is before now (now + ttl overflowed)", i,
                    $"now {machine.NowMs}, reservedUntil {r.ReservedUntilMs}"));
            }
            if (c.Kind == CommandKind.Checkout && r.IsOk && createdIds.Add(r.OrderId))
            {
                created.Add((r.OrderId, r.Amount, c.Customer!));
            }

            if (replay && (i == snapshotAt || i == tailSnapshotAt))
            {
                try
                {
                    snapshots.Add((i, machine.CaptureSnapshot(), machine.ComputeStateHash()));
                }
                catch (Exception ex)
                {
                    result.Failures.Add(new Failure("snapshot: " + Signature(ex), i, $"{ex.GetType().FullName}: {ex.Message}\n{CoreFrames(ex)}"));
                }
            }
        }

        if (!replay) return result;
        var final = machine.ComputeStateHash();


        // Invariant 5: the same log on a fresh machine hashes the same (exceptions, if any, at the same commands).
        var replica = new ReservationStateMachine(o);
        var replicaFailedAt = ApplyAll(replica, result.Log, 0, events);
        if (!replicaFailedAt.SetEquals(failedAt))
        {
            result.Failures.Add(new Failure("replay: throws at other commands than the first run", -1,
                $"first run threw at [{string.Join(", ", failedAt.Order())}], the replay at [{string.Join(", ", replicaFailedAt.Order())}]"));
        }
        else if (replica.ComputeStateHash() != final)
        {
            result.Failures.Add(new Failure("replay: the state hash differs after replaying the log from empty", -1,
                $"first run {final:x16}, replay {replica.ComputeStateHash():x16}"));
        }

        // ...and so does a snapshot restored into a fresh machine with the rest of the log applied on top.
        foreach (var (after, snapshot, hash) in snapshots)
        {
            ReservationStateMachine restored;
            try
            {
                restored = ReservationStateMachine.Restore(snapshot, o);
            }
            catch (Exception ex)
            {
                result.Failures.Add(new Failure("restore: " + Signature(ex), after, $"{ex.GetType().FullName}: {ex.Message}\n{CoreFrames(ex)}"));
                continue;
            }
            if (restored.ComputeStateHash() != hash)
            {
                result.Failures.Add(new Failure("restore: the restored state hashes differently from the captured one", after,
                    $"captured {hash:x16}, restored {restored.ComputeStateHash():x16}"));
                continue;
            }
            var restoredFailedAt = ApplyAll(restored, result.Log, after + 1, events);
            if (!restoredFailedAt.SetEquals(failedAt.Where(x => x > after)))
            {
                result.Failures.Add(new Failure("restore: the rest of the log throws at other commands than the first run", after,
                    $"first run threw at [{string.Join(", ", failedAt.Where(x => x > after).Order())}], after restore at [{string.Join(", ", restoredFailedAt.Order())}]"));
            }
            else if (restored.ComputeStateHash() != final)
            {
                result.Failures.Add(new Failure("restore: the state hash differs after a snapshot and the rest of the log", after,
                    $"snapshot after command {after}: first run {final:x16}, restored + rest {restored.ComputeStateHash():x16}"));
            }
        }
        return result;
    }

    private static HashSet<int> ApplyAll(ReservationStateMachine machine, List<Command> log, int from, EventBuffer events)
    {
        var failed = new HashSet<int>();
        for (var i = from; i < log.Count; i++)
        {
            events.Clear();
            try
            {
                machine.Apply(log[i], events);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                failed.Add(i);
            }
        }
        return failed;
    }

    private static void Count(Dictionary<string, int> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;

    /// <summary>The exception's type and message (numbers masked, so one bug is one signature).</summary>
    private static string Signature(Exception ex) =>
        $"{ex.GetType().Name}: {System.Text.RegularExpressions.Regex.Replace(ex.Message, "[0-9]+", "N")}";

    private static string CoreFrames(Exception ex) => string.Join("\n", new StackTrace(ex, true).GetFrames()
        .Where(f => f.GetMethod()?.DeclaringType?.Assembly is { } a && a != typeof(CoreFuzzTests).Assembly)
        .Take(6)
        .Select(f => $"   at {f.GetMethod()!.DeclaringType!.Name}.{f.GetMethod()!.Name} in {Path.GetFileName(f.GetFileName())}:{f.GetFileLineNumber()}"));

    /// <summary>Removes chunks of operations while the failure with <paramref name="signature"/> still happens.</summary>
    internal static FuzzOp[] Minimize(Profile p, FuzzOp[] ops, string signature, int snapshotPermille, TimeSpan budget)
    {
        var clock = Stopwatch.StartNew();
        var current = ops;
        bool Fails(FuzzOp[] candidate) =>
            Execute(p, candidate, SnapshotIndex(candidate.Length, snapshotPermille)).Failures.Any(f => f.Signature == signature);
        var chunk = Math.Max(1, current.Length / 2);
        while (chunk >= 1 && clock.Elapsed < budget)
        {
            var removed = false;
            for (var start = 0; start + chunk <= current.Length && clock.Elapsed < budget;)
            {
                FuzzOp[] candidate = [.. current[..start], .. current[(start + chunk)..]];
                if (candidate.Length > 0 && Fails(candidate))
                {
                    current = candidate;
                    removed = true;
                }
                else
                {
                    start += chunk;
                }
            }
            if (!removed) chunk /= 2;
        }
        return current;
    }

    private static int SnapshotIndex(int length, int permille) => Math.Max(0, (int)((long)length * permille / 1000) - 1);

    private static int SnapshotPermille(int run) => 250 * ((run % 3) + 1);

    // ------------------------------------------------------------------------------------------------------------
    // The fuzz test
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void The_core_never_throws_keeps_its_invariants_and_replays_exactly_under_hostile_input()
    {
        var seedText = Environment.GetEnvironmentVariable("WB_SEED");
        var seed = ulong.TryParse(seedText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : (ulong)DateTime.UtcNow.Ticks;
        var runs = int.TryParse(Environment.GetEnvironmentVariable("WB_FUZZ_RUNS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : RunsDefault;
        var replay = $"WB_SEED={seed} {ReplayHint}";
        output.WriteLine($"Core fuzz: {runs} runs x {CommandsPerRun} commands, seed {seed}. Replay: {replay}");

        var clock = Stopwatch.StartNew();
        var firstBySignature = new Dictionary<string, (int Run, Failure Failure, int Count)>();
        var events = new Dictionary<string, int>();
        var codes = new Dictionary<string, int>();
        var commands = 0;
        var negativeOnHand = 0;
        var generating = TimeSpan.Zero;
        for (var run = 0; run < runs; run++)
        {
            var started = clock.Elapsed;
            var ops = Generate(seed, run);
            generating += clock.Elapsed - started;
            var r = Execute(ProfileOf(run), ops, SnapshotIndex(ops.Length, SnapshotPermille(run)));
            commands += r.Log.Count;
            negativeOnHand += r.NegativeOnHand;
            foreach (var (k, v) in r.Events) events[k] = events.GetValueOrDefault(k) + v;
            foreach (var (k, v) in r.Codes) codes[k] = codes.GetValueOrDefault(k) + v;
            foreach (var f in r.Failures)
            {
                firstBySignature[f.Signature] = firstBySignature.TryGetValue(f.Signature, out var first) ? first with { Count = first.Count + 1 } : (run, f, 1);
            }
        }
        var elapsed = clock.Elapsed;
        output.WriteLine($"Applied {commands} commands (and replayed them from empty and from snapshots) in {elapsed.TotalSeconds:F1} s ({generating.TotalSeconds:F1} s generating).");
        output.WriteLine("Events: " + string.Join(", ", events.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} {e.Value}")));
        output.WriteLine("Results: " + string.Join(", ", codes.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} {e.Value}")));
        if (negativeOnHand > 0) output.WriteLine($"Note: {negativeOnHand} stock events showed a negative onHand (shipping after an absolute count fell below committed).");

        if (firstBySignature.Count > 0)
        {
            var report = new StringBuilder();
            report.AppendLine(CultureInfo.InvariantCulture, $"Core fuzz found {firstBySignature.Count} distinct failure(s) with seed {seed}. Replay: {replay}");
            var minimizeBudget = TimeSpan.FromSeconds(Math.Max(1, 30.0 / firstBySignature.Count));
            foreach (var (signature, (run, failure, count)) in firstBySignature.OrderBy(f => f.Value.Run).ThenBy(f => f.Value.Failure.Index))
            {
                var profile = ProfileOf(run);
                var ops = Generate(seed, run);
                report.AppendLine();
                report.AppendLine(CultureInfo.InvariantCulture, $"== {signature}");
                report.AppendLine(CultureInfo.InvariantCulture, $"   {count} time(s); first in run {run} (profile {profile.Name}) at command index {failure.Index}");
                report.AppendLine(CultureInfo.InvariantCulture, $"   {failure.Detail.Replace("\n", "\n   ", StringComparison.Ordinal)}");
                if (failure.Index >= 0)
                {
                    var log = Execute(profile, ops, SnapshotIndex(ops.Length, SnapshotPermille(run)), replay: false).Log;
                    report.AppendLine(CultureInfo.InvariantCulture, $"   command: {Describe(log[failure.Index])}");
                }
                var small = Minimize(profile, failure.Index >= 0 && !signature.StartsWith("replay", StringComparison.Ordinal) && !signature.StartsWith("restore", StringComparison.Ordinal)
                    ? ops[..(failure.Index + 1)]
                    : ops, signature, SnapshotPermille(run), minimizeBudget);
                var smallLog = Execute(profile, small, SnapshotIndex(small.Length, SnapshotPermille(run)), replay: false).Log;
                report.AppendLine(CultureInfo.InvariantCulture, $"   minimal sequence ({smallLog.Count} command(s), options {profile.Name}):");
                foreach (var c in smallLog) report.AppendLine(CultureInfo.InvariantCulture, $"     {Describe(c)}");
            }
            output.WriteLine(report.ToString());
            Assert.Fail(report.ToString());
        }

        // The generator must reach every order state, or the fuzz is not testing business flows.
        foreach (var kind in new[] { EventKind.OrderCreated, EventKind.OrderPaid, EventKind.OrderFulfilled, EventKind.OrderCancelled, EventKind.OrderExpired, EventKind.RefundRequired, EventKind.StockShortfall })
        {
            Assert.True(events.GetValueOrDefault(kind.ToString()) > 0, $"no {kind} event in the whole fuzz run (seed {seed}): the generator lost a business flow");
        }
    }

    /// <summary>A command as a C# initializer, ready to paste into a regression test.</summary>
    internal static string Describe(in Command c)
    {
        var parts = new List<string>
        {
            Enum.IsDefined(c.Kind) ? $"Kind = CommandKind.{c.Kind}" : $"Kind = (CommandKind){(byte)c.Kind}",
            $"Lsn = {c.Lsn}",
            $"TimestampMs = {L(c.TimestampMs)}",
        };
        if (c.Sku != 0) parts.Add($"Sku = {L(c.Sku)}");
        if (c.OrderId != default) parts.Add($"OrderId = new OrderId({c.OrderId.Value}UL) /* shard {c.OrderId.Shard}, seq {c.OrderId.Sequence} */");
        if (c.Value != 0) parts.Add($"Value = {L(c.Value)}");
        if (c.Expected != 0) parts.Add($"Expected = {L(c.Expected)}");
        if (c.HasExpected) parts.Add("HasExpected = true");
        if (c.Flag) parts.Add("Flag = true");
        if (c.WarehouseId != 0) parts.Add($"WarehouseId = {I(c.WarehouseId)}");
        if (c.Text is not null) parts.Add($"Text = {S(c.Text)}");
        if (c.Customer is not null) parts.Add($"Customer = {S(c.Customer)}");
        if (c.Extra is not null) parts.Add($"Extra = {S(c.Extra)}");
        if (c.Lines is not null)
        {
            parts.Add(c.Lines.Length > 6
                ? $"Lines = /* {c.Lines.Length} lines */ [{string.Join(", ", c.Lines.Take(3).Select(l => $"new({L(l.Sku)}, {I(l.Quantity)})"))}, ...]"
                : $"Lines = [{string.Join(", ", c.Lines.Select(l => $"new({L(l.Sku)}, {I(l.Quantity)})"))}]");
        }
        if (c.Warehouses is not null)
        {
            parts.Add(c.Warehouses.Length > 8
                ? $"Warehouses = /* {c.Warehouses.Length} warehouses */ [{string.Join(", ", c.Warehouses.Take(3).Select(I))}, ...]"
                : $"Warehouses = [{string.Join(", ", c.Warehouses.Select(I))}]");
        }
        return "new Command { " + string.Join(", ", parts) + " }";

        static string L(long v) => v switch
        {
            long.MaxValue => "long.MaxValue",
            long.MinValue => "long.MinValue",
            _ when v > long.MaxValue - 1_000_000_000_000 => $"long.MaxValue - {long.MaxValue - v}",
            _ => v.ToString(CultureInfo.InvariantCulture),
        };

        static string I(int v) => v switch
        {
            int.MaxValue => "int.MaxValue",
            int.MinValue => "int.MinValue",
            _ => v.ToString(CultureInfo.InvariantCulture),
        };

        static string S(string s)
        {
            if (s.Length > 300 && s.All(ch => ch == s[0])) return $"new string('{s[0]}', {s.Length})";
            var b = new StringBuilder("\"");
            foreach (var ch in s.Length > 300 ? s[..300] : s)
            {
                if (ch is < ' ' or > '~' or '"' or '\\') b.Append(CultureInfo.InvariantCulture, $"\\u{(int)ch:x4}");
                else b.Append(ch);
            }
            return b.Append(s.Length > 300 ? $"\" /* {s.Length} chars */" : "\"").ToString();
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Regressions: inputs that made the core throw (or misbehave) when the fuzzer was written
    // ------------------------------------------------------------------------------------------------------------

    private static CommandResult NoThrow(Shard shard, Command command)
    {
        CommandResult result = default;
        var exception = Record.Exception(() => result = shard.Apply(command));
        Assert.True(exception is null, $"the core threw on {Describe(shard.Log[^1])}: {exception}");
        shard.Machine.VerifyInvariants();
        return result;
    }

    private static Shard Stocked(StateMachineOptions? options = null)
    {
        var shard = new Shard(options);
        shard.Item(1, price: 100);
        shard.Stock(1, 1, 10);
        return shard;
    }

    [Fact]
    public void AdjustStock_delta_long_MinValue_is_refused_not_thrown()
    {
        var shard = Stocked();
        var r = NoThrow(shard, Command.AdjustStockDelta(1, 1, long.MinValue));
        Assert.Equal((ResultCode.OutOfRange, "delta"), (r.Code, r.Field));
        Assert.Equal(10, shard.Row(1, 1).OnHand);
    }

    [Fact]
    public void AdjustStock_delta_long_MaxValue_is_refused_not_thrown()
    {
        var shard = Stocked();
        var r = NoThrow(shard, Command.AdjustStockDelta(1, 1, long.MaxValue));
        Assert.Equal((ResultCode.OutOfRange, "delta"), (r.Code, r.Field));
        Assert.Equal(10, shard.Row(1, 1).OnHand);
    }

    [Fact]
    public void AdjustStock_absolute_long_MaxValue_then_a_delta_is_refused_then_applied()
    {
        var shard = Stocked();
        var r = NoThrow(shard, Command.SetStockOnHand(1, 1, long.MaxValue));
        Assert.Equal((ResultCode.OutOfRange, "onHand"), (r.Code, r.Field));
        Assert.Equal(10, shard.Row(1, 1).OnHand);
        Assert.Equal(ResultCode.OutOfRange, NoThrow(shard, Command.AdjustStockDelta(1, 1, long.MaxValue)).Code);
        var delta = NoThrow(shard, Command.AdjustStockDelta(1, 1, 1));
        Assert.Equal(ResultCode.Ok, delta.Code);
        Assert.Equal(11, shard.Row(1, 1).OnHand);

        // At the limit, any positive delta is out of range; the row stays where it was.
        Assert.Equal(ResultCode.Ok, NoThrow(shard, Command.SetStockOnHand(1, 2, shard.Machine.Options.OnHandMax)).Code);
        Assert.Equal(ResultCode.OutOfRange, NoThrow(shard, Command.AdjustStockDelta(1, 2, long.MaxValue)).Code);
        Assert.Equal(ResultCode.OnHandOutOfRange, NoThrow(shard, Command.AdjustStockDelta(1, 2, 1)).Code);
        Assert.False(NoThrow(shard, Command.AdjustStockDelta(1, 2, 1)).IsOk);
        Assert.Equal(shard.Machine.Options.OnHandMax, shard.Row(1, 2).OnHand);
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    public void UpsertItem_with_an_extreme_price_is_refused_not_thrown(long price)
    {
        var shard = new Shard();
        var r = NoThrow(shard, Command.UpsertItem(7, "item", price, 10, true));
        Assert.True(r.Code is ResultCode.OutOfRange or ResultCode.InvalidArgument && r.Field == "price", $"{r}");
        Assert.False(shard.Machine.TryGetItem(7, out _));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void UpsertItem_with_a_max_per_order_out_of_range_is_invalid(int maxPerOrder)
    {
        var shard = new Shard();
        var r = NoThrow(shard, Command.UpsertItem(7, "item", 100, maxPerOrder, true));
        Assert.True(r.Code is ResultCode.OutOfRange or ResultCode.InvalidArgument && r.Field == "maxPerOrder", $"{r}");
        if (maxPerOrder <= 0) Assert.Equal(ResultCode.InvalidArgument, r.Code);
        Assert.False(shard.Machine.TryGetItem(7, out _));
    }

    [Theory]
    [InlineData((byte)0)]
    [InlineData((byte)10)]
    [InlineData((byte)200)]
    [InlineData((byte)255)]
    public void A_command_of_an_undefined_kind_is_an_invalid_argument_not_an_exception(byte kind)
    {
        var shard = Stocked();
        var r = NoThrow(shard, new Command { Kind = (CommandKind)kind, Sku = 1, WarehouseId = 1, Value = 5 });
        Assert.Equal(ResultCode.InvalidArgument, r.Code);
        Assert.Equal(10, shard.Row(1, 1).OnHand);

        // The shard goes on: the next command is applied with the next LSN.
        Assert.True(shard.Buy(1, 1).IsOk);
    }

    [Fact]
    public void A_raw_command_with_null_and_empty_fields_is_refused_for_every_kind()
    {
        foreach (var kind in Enum.GetValues<CommandKind>().Where(k => k != CommandKind.Tick).OrderBy(k => k == CommandKind.None))
        {
            var shard = Stocked();
            Assert.False(NoThrow(shard, new Command { Kind = kind }).IsOk, $"{kind} with every field default");
            Assert.False(NoThrow(shard, new Command { Kind = kind, Text = "", Customer = "", Extra = "", Lines = [], Warehouses = [] }).IsOk, $"{kind} with empty fields");
        }
    }

    [Fact]
    public void Checkout_with_a_100_KB_customer_id_is_invalid()
    {
        var shard = Stocked();
        var r = NoThrow(shard, Command.Checkout("key-1", Huge, [new CheckoutLine(1, 1)]));
        Assert.Equal(ResultCode.InvalidArgument, r.Code);
        Assert.Equal("customerId", r.Field);
        Assert.Equal(0, shard.Row(1, 1).Reserved);
    }

    [Fact]
    public void Checkout_with_one_line_more_than_the_limit_is_invalid()
    {
        var shard = Stocked();
        var max = shard.Machine.Options.LinesPerCheckoutMax;
        var lines = Enumerable.Range(1, max + 1).Select(i => new CheckoutLine(i, 1)).ToArray();
        var r = NoThrow(shard, Command.Checkout("key-1", "c1", lines));
        Assert.Equal(ResultCode.InvalidArgument, r.Code);
        Assert.Equal("lines", r.Field);
        Assert.Equal(0, shard.Row(1, 1).Reserved);
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MaxValue - 1)]
    [InlineData(long.MaxValue - (15 * 60_000) + 1)]
    public void A_checkout_at_the_end_of_time_does_not_reserve_into_the_past(long nowMs)
    {
        var shard = Stocked();
        shard.NowMs = nowMs;
        var r = NoThrow(shard, Command.Checkout("key-1", "c1", [new CheckoutLine(1, 2)]));
        Assert.True(r.IsOk, $"{r}"); // a clock beyond year 9999 is ignored, so the deadline is real
        if (r.IsOk) Assert.True(r.ReservedUntilMs >= shard.Machine.NowMs, $"reserved until {r.ReservedUntilMs}, now {shard.Machine.NowMs}: the deadline overflowed into the past");

        // Time cannot pass any further; the order stays pending (or expires at exactly its deadline), stock stays consistent.
        NoThrow(shard, Command.Tick());
        if (r.IsOk)
        {
            var order = shard.Order(r.OrderId);
            Assert.True(order.Status is OrderStatus.PendingPayment or OrderStatus.Expired, $"{order.Status}");
        }
    }

    [Theory]
    [InlineData(long.MaxValue - (15 * 60_000) - 60_000)]
    [InlineData(long.MaxValue - StateMachineOptions.ReservationTtlMsMax + 1)]
    public void Extending_a_reservation_near_the_end_of_time_does_not_move_its_deadline_into_the_past(long nowMs)
    {
        var shard = Stocked();
        shard.NowMs = nowMs;
        var r = NoThrow(shard, Command.Checkout("key-1", "c1", [new CheckoutLine(1, 2)]));
        Assert.True(r.IsOk, $"{r}");
        var extended = NoThrow(shard, Command.Extend(r.OrderId, StateMachineOptions.ReservationTtlMsMax));
        Assert.True(extended.IsOk, $"{extended}");
        if (extended.IsOk) Assert.True(extended.ReservedUntilMs >= shard.Machine.NowMs, $"reserved until {extended.ReservedUntilMs}, now {shard.Machine.NowMs}");
        NoThrow(shard, Command.Tick());
        Assert.Equal(OrderStatus.PendingPayment, shard.Order(r.OrderId).Status);
    }

    [Fact]
    public void A_snapshot_restores_the_eviction_order_of_keys_whose_window_runs_past_the_end_of_time()
    {
        // Keys are evicted first-in first-out; Restore re-queues them sorted by expiry. When now + window overflows, the
        // newer key's expiry is negative: the original keeps it behind the older key, the restored machine evicts it at
        // once, and the two hash differently.
        var options = new StateMachineOptions { ReservationTtlMs = 5 * 60_000, IdempotencyWindowMs = 10 * 60_000, TerminalOrderRetentionMs = 7 * 60_000 };
        var shard = new Shard(options);
        shard.Item(1, price: 100);
        shard.Stock(1, 1, 10);
        shard.NowMs = long.MaxValue - options.IdempotencyWindowMs - 1_000;
        Assert.True(NoThrow(shard, Command.Checkout("key-1", "c1", [new CheckoutLine(1, 1)])).IsOk);
        shard.NowMs = long.MaxValue - options.IdempotencyWindowMs + 1_000;
        NoThrow(shard, Command.Checkout("key-2", "c1", [new CheckoutLine(1, 1)]));

        var restored = ReservationStateMachine.Restore(shard.Machine.CaptureSnapshot(), options);
        Assert.Equal(shard.Machine.ComputeStateHash(), restored.ComputeStateHash());
        var tick = Command.Tick() with { Lsn = shard.Machine.LastLsn + 1, TimestampMs = shard.NowMs };
        restored.Apply(tick, new EventBuffer());
        NoThrow(shard, Command.Tick());
        Assert.Equal(shard.Machine.ComputeStateHash(), restored.ComputeStateHash());
    }
}
