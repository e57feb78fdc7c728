using BenchmarkDotNet.Attributes;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

namespace Wildberries.Bench.Engine;

/// <summary>
/// 1 against 2 shards, in memory (<see cref="NullJournal"/>: the state machines, rings and coordinator are the
/// bound, not the disk): 256 concurrent callers, each awaiting its answer, run 2-line checkouts (10,000 SKUs, Zipf)
/// of which <see cref="CrossShardPercent"/> % have their lines on the two shards of a 2-shard engine and so go
/// through two-phase reservation (prepare at home, hold and confirm on the other shard, confirm at home). One shard
/// runs the same carts: nothing spans there, it is the control. A fresh engine and catalog every iteration.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- --filter '*ShardScaling*'</c>.
/// </summary>
[InvocationCount(1)]
public class ShardScalingBenchmarks
{
    private const int Checkouts = 100_000;
    private const int Skus = 10_000;
    private const int Callers = 256;

    private ReservationEngine _engine = null!;
    private Command[] _commands = [];
    private int _iteration;

    [Params(1, 2)]
    public int ShardCount { get; set; }

    [Params(0, 10, 50)]
    public int CrossShardPercent { get; set; }

    [IterationSetup]
    public void Setup()
    {
        var options = new EngineOptions
        {
            ShardCount = ShardCount,
            StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 18, SkusCapacityHint = Skus },
        };
        _engine = ReservationEngine.Start(options, _ => new NullJournal());
        Task.WaitAll([.. Workload.CatalogCommands(Skus).Select(c => _engine.SubmitAsync(c).AsTask())]);
        var carts = Workload.ShardCarts(Checkouts, Skus, CrossShardPercent, out _, seed: 7 + _iteration);
        var prefix = $"i{_iteration++}-";
        _commands = new Command[Checkouts];
        for (var i = 0; i < Checkouts; i++) _commands[i] = Command.Checkout(prefix + i, "customer-" + (i % 1000), carts[i]);
    }

    [IterationCleanup]
    public void Cleanup() => _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = Checkouts, Description = "256 callers, 2-line checkouts")]
    public async Task<long> Checkout()
    {
        long ok = 0;
        var tasks = new Task[Callers];
        for (var c = 0; c < Callers; c++)
        {
            var start = c;
            tasks[c] = Task.Run(async () =>
            {
                for (var i = start; i < _commands.Length; i += Callers)
                {
                    var r = await _engine.SubmitAsync(_commands[i]);
                    if (!r.IsOk) throw new InvalidOperationException($"checkout {i} refused: {r.Code}");
                    Interlocked.Increment(ref ok);
                }
            });
        }
        await Task.WhenAll(tasks);
        return ok;
    }
}
