using BenchmarkDotNet.Attributes;
using Wildberries.Core;

namespace Wildberries.Bench.Core;

/// <summary>
/// The state machine alone on one core: single-line and three-line checkouts, SKUs uniform or Zipf-skewed
/// over 100,000 items in 3 warehouses, into a fresh machine sized for them. Allocations per checkout show in the Allocated column.
/// </summary>
[InvocationCount(1)]
public class StateMachineBenchmarks
{
    private const int Checkouts = 200_000;
    private const int Skus = 100_000;
    private const long NowMs = 1_700_000_000_000;

    private ReservationStateMachine _machine = null!;
    private readonly EventBuffer _events = new();
    private Command[] _commands = [];
    private long _lsn;
    private int _iteration;

    [Params(1, 3)]
    public int Lines { get; set; }

    [Params(SkuMix.Uniform, SkuMix.Zipf)]
    public SkuMix Mix { get; set; }

    [IterationSetup]
    public void Setup()
    {
        // Sized for the iteration's orders as a shard is for its working set: 3-line carts need 3 allocations an
        // order, so room for 1.5 x the orders (the hint makes 2 allocations an order); nothing grows while measured.
        _machine = Workload.Catalog(Skus, out _lsn, NowMs, Checkouts * Math.Max(2, Lines) / 2);
        var carts = Workload.Carts(Checkouts, Lines, Skus, Mix, seed: 42 + _iteration);
        var prefix = $"i{_iteration++}-";
        _commands = new Command[Checkouts];
        for (var i = 0; i < Checkouts; i++)
        {
            _commands[i] = Command.Checkout(prefix + i, "customer-" + (i % 1000), carts[i]);
            _commands[i].TimestampMs = NowMs;
        }
    }

    [Benchmark(OperationsPerInvoke = Checkouts)]
    public long Checkout()
    {
        long amount = 0;
        var commands = _commands;
        for (var i = 0; i < commands.Length; i++)
        {
            commands[i].Lsn = ++_lsn;
            _events.Clear();
            amount += _machine.Apply(commands[i], _events).Amount;
        }
        return amount;
    }

    /// <summary>
    /// The same checkouts, each applied with a hint of the next (<see cref="ReservationStateMachine.Prefetch"/>), as
    /// an apply loop that sees the ring's next slot can give: the next checkout's cache misses overlap this one's work.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Checkouts)]
    public long CheckoutWithNextHint()
    {
        long amount = 0;
        var commands = _commands;
        for (var i = 0; i < commands.Length; i++)
        {
            if (i + 1 < commands.Length) _machine.Prefetch(commands[i + 1]);
            commands[i].Lsn = ++_lsn;
            _events.Clear();
            amount += _machine.Apply(commands[i], _events).Amount;
        }
        return amount;
    }
}
