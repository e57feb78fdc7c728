using System.Diagnostics;
using System.Globalization;
using HdrHistogram;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

namespace Wildberries.Bench.Durable;

/// <summary>
/// 1 against 2 shards with the durable FASTER journal (a temp directory, fsync per batch and shard), side by side in
/// one run: N concurrent callers (closed loop) run 2-line checkouts (10,000 SKUs, Zipf) of which 0, 10 and 50 %
/// have their lines on the two shards of a 2-shard engine (two-phase reservation: 2 journal writes on the home shard
/// and 2 on the other, against 1 for a single-shard order). One shard runs the same carts: nothing spans there.
/// The rows run in rounds, alternately forward and backward, and each reports its median round.
/// Prints checkouts/s, latency percentiles (of all orders, and of the spanning ones apart) and the ratios.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- shards [--seconds 5] [--callers 256] [--rounds 3] [--quick]</c>.
/// </summary>
public static class ShardScalingLoad
{
    private const int Skus = 10_000;
    private const int CartCount = 1 << 16;
    private static readonly int[] Percents = [0, 10, 50];

    public static async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var seconds = CommandLine.Option(args, "--seconds", quick ? 1 : 5);
        var callers = CommandLine.Option(args, "--callers", 256);
        var roundCount = CommandLine.Option(args, "--rounds", quick ? 1 : 3);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Shard scaling, durable: {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}, FASTER journal in a temp directory, {callers} callers, {seconds} s a row, {roundCount} round(s), 2-line Zipf carts over {Skus:N0} SKUs"));

        // Warm-up (JIT, thread pool growth): both engines, the cross-shard path included; not reported.
        foreach (var shards in new[] { 1, 2 }) await MeasureAsync(shards, 50, callers, TimeSpan.FromSeconds(quick ? 0.5 : 1));

        // Rounds in alternating order (forward, then backward, ...): a drift of the shared machine over the run
        // (other jobs, disk writeback) then falls on every row alike; each row reports its median round.
        var rows = Percents.SelectMany(p => new[] { (Shards: 1, Percent: p), (Shards: 2, Percent: p) }).ToArray();
        var rounds = new Dictionary<(int Shards, int Percent), List<Result>>();
        foreach (var row in rows) rounds[row] = [];
        for (var round = 0; round < roundCount; round++)
        {
            foreach (var (shards, percent) in round % 2 == 0 ? rows : rows.Reverse())
            {
                Settle();
                var r = await MeasureAsync(shards, percent, callers, TimeSpan.FromSeconds(seconds));
                rounds[(shards, percent)].Add(r);
                Console.WriteLine($"round {round + 1}: " + Describe(shards, percent, r));
            }
        }
        var results = rounds.ToDictionary(kv => kv.Key, kv => kv.Value.OrderBy(r => r.PerSecond).ElementAt(kv.Value.Count / 2));

        Console.WriteLine();
        Console.WriteLine($"median of {roundCount} round(s):");
        Console.WriteLine("| shards | cross-shard | checkouts/s | per order | p50 | p99 | p50 / p99 of spanning orders | journal commits/s | CPU an order | vs 1 shard |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var percent in Percents)
        {
            foreach (var shards in new[] { 1, 2 })
            {
                var r = results[(shards, percent)];
                var one = results[(1, percent)];
                var spanning = r.Spanning.TotalCount > 0 ? $"{Ms(r.Spanning, 50)} / {Ms(r.Spanning, 99)} ms" : "-";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {shards} | {percent} % | {r.PerSecond:N0} | {1e6 / r.PerSecond:F2} us | {Ms(r.All, 50)} ms | {Ms(r.All, 99)} ms | {spanning} | {r.Commits / r.Seconds:N0} | {r.CpuMicrosPerOrder:F1} us | {r.PerSecond / one.PerSecond:F2}x |"));
            }
        }

        Console.WriteLine();
        var baseline = results[(1, 0)].PerSecond;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"scaling, 2 shards / 1 shard at 0 % cross-shard: {results[(2, 0)].PerSecond / baseline:F2}x"));
        foreach (var percent in Percents.Where(p => p > 0))
        {
            // Per-order time at p % spanning = (1 - p) t_single + p t_cross, so t_cross / t_single = 1 + (ratio - 1) / p.
            var two = results[(2, 0)].PerSecond / results[(2, percent)].PerSecond;
            var control = results[(1, 0)].PerSecond / results[(1, percent)].PerSecond;
            var cross = 1 + ((two - 1) / (percent / 100.0));
            // The same, with the 1-shard run of the same carts as the yardstick (it takes out what the carts and the
            // machine's drift did to both): the 2-shard / 1-shard time ratio at p % against that at 0 %.
            var normalized = 1 + ((two / control - 1) / (percent / 100.0));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"2 shards, per-order time at {percent} % / at 0 %: {two:F2}x, so a cross-shard order costs {cross:F2}x a single-shard one; control, 1 shard, same carts: {control:F2}x; relative to the control: {normalized:F2}x"));
        }
    }

    private static void Settle()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    private sealed record Result(long Count, double Seconds, LongHistogram All, LongHistogram Spanning, long Commits, TimeSpan Cpu)
    {
        /// <summary>Process CPU time (both cores, load generator included) per checkout.</summary>
        public double CpuMicrosPerOrder => Cpu.TotalMicroseconds / Count;

        public double PerSecond => Count / Seconds;
    }

    private static string Describe(int shards, int percent, Result r) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{shards} shard(s), {percent,2} % cross-shard: {r.PerSecond,10:N0} checkouts/s, p50 {Ms(r.All, 50)} ms, p99 {Ms(r.All, 99)} ms, p99.9 {Ms(r.All, 99.9)} ms, max {r.All.GetMaxValue() / 1000.0:F2} ms; spanning orders {r.Spanning.TotalCount:N0} (p50 {Ms(r.Spanning, 50)} ms, p99 {Ms(r.Spanning, 99)} ms); {r.Commits:N0} journal commits, CPU {r.CpuMicrosPerOrder:F1} us an order");

    private static string Ms(LongHistogram h, double percentile) =>
        h.TotalCount == 0 ? "-" : (h.GetValueAtPercentile(percentile) / 1000.0).ToString("F2", CultureInfo.InvariantCulture);

    private static async Task<Result> MeasureAsync(int shards, int percent, int callers, TimeSpan duration)
    {
        var dir = Directory.CreateTempSubdirectory("wb-shards-").FullName;
        try
        {
            var options = new EngineOptions
            {
                ShardCount = shards,
                StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 20, SkusCapacityHint = Skus },
            };
            await using var engine = ReservationEngine.Open(options, new JournalOptions { Directory = dir, SnapshotEveryEntries = 0 });
            await Task.WhenAll(Workload.CatalogCommands(Skus).Select(c => engine.SubmitAsync(c).AsTask()));
            var carts = Workload.ShardCarts(CartCount, Skus, percent, out var spans);
            var commitsBefore = CountCommits(engine);
            var all = Enumerable.Range(0, callers).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
            var spanning = Enumerable.Range(0, callers).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
            var counts = new long[callers];
            var cpuBefore = Environment.CpuUsage.TotalTime;
            var start = Stopwatch.GetTimestamp();
            var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);

            await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
            {
                for (var i = 0; ; i++)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    if (t0 >= end) break;
                    var cart = (c * 7919 + i) & (CartCount - 1);
                    var r = await engine.CheckoutAsync($"{c}-{i}", "customer", carts[cart]);
                    if (!r.IsOk) throw new InvalidOperationException($"checkout refused: {r.Code} ({shards} shards, {percent} %)");
                    var micros = Math.Max(0, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency);
                    all[c].RecordValue(micros);
                    if (spans[cart] && shards > 1) spanning[c].RecordValue(micros);
                    counts[c]++;
                }
            })));
            var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var cpu = Environment.CpuUsage.TotalTime - cpuBefore;
            var merged = new LongHistogram(60_000_000, 3);
            foreach (var h in all) merged.Add(h);
            var mergedSpanning = new LongHistogram(60_000_000, 3);
            foreach (var h in spanning) mergedSpanning.Add(h);
            if (engine.Fault is { } fault) throw new InvalidOperationException("the engine faulted", fault);
            return new Result(counts.Sum(), elapsed, merged, mergedSpanning, CountCommits(engine) - commitsBefore, cpu);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // Every commit (one group commit, fsync included, on one shard) is one observation in that shard's histogram.
    private static long CountCommits(ReservationEngine engine) => engine.CommitLatency.Sum(h => h.Read().Counts.Sum());
}
