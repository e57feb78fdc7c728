using BenchmarkDotNet.Attributes;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

namespace Wildberries.Bench.Engine;

/// <summary>
/// Checkouts end to end through <see cref="ReservationEngine"/>: ring, journal stage (no durability: the FASTER
/// journal has its own benchmark), apply stage and reply, from other threads. "Pipelined" submits everything from
/// one thread and then awaits; "Callers" runs that many concurrent async callers, each awaiting its answer.
/// </summary>
[InvocationCount(1)]
public class FacadeBenchmarks
{
    private const int Checkouts = 200_000;
    private const int Skus = 10_000;

    private ReservationEngine _engine = null!;
    private Command[] _commands = [];
    private ValueTask<CommandResult>[] _pending = [];
    private int _iteration;

    [Params(1, 3)]
    public int Lines { get; set; }

    [IterationSetup]
    public void Setup()
    {
        var options = new EngineOptions { StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 18, SkusCapacityHint = Skus } };
        _engine = ReservationEngine.Start(options, _ => new NullJournal());
        var catalog = Workload.CatalogCommands(Skus).Select(c => _engine.SubmitAsync(c).AsTask()).ToArray();
        Task.WaitAll(catalog);
        var carts = Workload.Carts(Checkouts, Lines, Skus, SkuMix.Zipf, seed: 7 + _iteration);
        var prefix = $"i{_iteration++}-";
        _commands = new Command[Checkouts];
        for (var i = 0; i < Checkouts; i++) _commands[i] = Command.Checkout(prefix + i, "customer-" + (i % 1000), carts[i]);
        _pending = new ValueTask<CommandResult>[Checkouts];
    }

    [IterationCleanup]
    public void Cleanup() => _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = Checkouts, Description = "Pipelined: one thread submits, then awaits all")]
    public async Task<long> Pipelined()
    {
        // Each ValueTask is stored once and awaited once below, which is the contract CA2012 protects.
#pragma warning disable CA2012
        for (var i = 0; i < _commands.Length; i++) _pending[i] = _engine.SubmitAsync(_commands[i]);
#pragma warning restore CA2012
        long ok = 0;
        for (var i = 0; i < _pending.Length; i++)
        {
            if ((await _pending[i]).IsOk) ok++;
        }
        return ok;
    }

    [Benchmark(OperationsPerInvoke = Checkouts, Description = "256 concurrent callers, each awaiting its answer")]
    public async Task<long> Callers()
    {
        const int callers = 256;
        long ok = 0;
        var tasks = new Task[callers];
        for (var c = 0; c < callers; c++)
        {
            var start = c;
            tasks[c] = Task.Run(async () =>
            {
                for (var i = start; i < _commands.Length; i += callers)
                {
                    if ((await _engine.SubmitAsync(_commands[i])).IsOk) Interlocked.Increment(ref ok);
                }
            });
        }
        await Task.WhenAll(tasks);
        return ok;
    }
}
