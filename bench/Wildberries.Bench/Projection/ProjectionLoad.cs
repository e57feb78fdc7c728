using System.Diagnostics;
using System.Globalization;
using Npgsql;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Postgres;
using Wildberries.PeakSale;
using Wildberries.Testing;

namespace Wildberries.Bench.Projection;

/// <summary>
/// The peak sale with the PostgreSQL projection off against on, in one run: a durable engine (FASTER journal in a temp
/// directory), N concurrent customers doing the flash-sale workload for a fixed time per phase, phases alternating
/// (off, upsert, copy, copy, upsert, off per round), each phase with a fresh engine and a fresh database on a real
/// PostgreSQL 15 this process starts (same machine, same cores). Reports checkouts/s each way, the events the
/// projector committed per second, its lag at the end of the timed window, and the time it took to drain; the two
/// write methods (unnest upserts, binary COPY through staging tables) side by side.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- projection [--quick] [--seconds 5] [--rounds 2] [--callers 256] [--skus 10000]</c>.
/// </summary>
public static class ProjectionLoad
{
    private static readonly TimeSpan DrainLimit = TimeSpan.FromMinutes(3);

    private enum Mode
    {
        Off,
        Upsert,
        Copy,
    }

    public static async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var seconds = CommandLine.Option(args, "--seconds", quick ? 3 : 5);
        var rounds = CommandLine.Option(args, "--rounds", quick ? 1 : 2);
        var callers = CommandLine.Option(args, "--callers", 256);
        var skus = CommandLine.Option(args, "--skus", 10_000);
        var sale = new FlashSaleOptions { Skus = skus, HotSkus = 300, Visits = 1 << 16, Concurrency = callers };
        var visits = FlashSale.Visits(sale);
        Console.WriteLine(Invariant($"Projection benchmark: {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}, .NET {Environment.Version}"));
        Console.WriteLine(Invariant($"Durable engine (FASTER journal in a temp directory, 1 shard), {callers} concurrent customers, {seconds} s per phase, {rounds} round(s) of off/upsert/copy/copy/upsert/off after a warm-up."));
        Console.WriteLine(Invariant($"Workload: the peak-sale generator's visits (carts of 1-5 lines, Zipf hot set of {sale.HotSkus} SKUs, {skus:N0} SKUs x 3 warehouses; 80 % pay, 5 % fail, 15 % never pay)."));
        Console.WriteLine("PostgreSQL 15 started by this process on the SAME cores (fsync on, synchronous_commit on), one fresh database per phase, batches of up to 5,000 events.");

        await using var server = await PostgresServer.StartAsync();
        var databases = 0;
        await RunPhaseAsync(server, ++databases, sale, visits, callers, TimeSpan.FromSeconds(1), Mode.Upsert, "warm-up");
        var results = new List<Result>();
        for (var round = 0; round < rounds; round++)
        {
            foreach (var mode in new[] { Mode.Off, Mode.Upsert, Mode.Copy, Mode.Copy, Mode.Upsert, Mode.Off })
            {
                var r = await RunPhaseAsync(server, ++databases, sale, visits, callers, TimeSpan.FromSeconds(seconds), mode, $"r{round}");
                results.Add(r);
                Console.WriteLine(r.Describe());
            }
        }
        Console.WriteLine();
        var offRate = Rate(results, Mode.Off);
        foreach (var mode in new[] { Mode.Upsert, Mode.Copy })
        {
            var on = results.Where(r => r.Mode == mode).ToList();
            var rate = Rate(results, mode);
            var events = on.Sum(r => r.Committed);
            Console.WriteLine(Invariant($"SUMMARY {mode}: {rate:N0} checkouts/s vs {offRate:N0} off (on/off = {rate / offRate:F3}); the engine made {events / on.Sum(r => r.Seconds):N0} events/s during the load; projected {on.Sum(r => r.Events) / on.Sum(r => r.Seconds):N0} events/s during the load and {events / on.Sum(r => r.Seconds + r.DrainMs / 1000):N0} events/s from the window's start to drained; lag at the window's end max {on.Max(r => r.LagEntriesAtEnd):N0} entries / {on.Max(r => r.LagSecondsAtEnd):F2} s; drain max {on.Max(r => r.DrainMs):N0} ms"));
        }
    }

    private static double Rate(List<Result> results, Mode mode) =>
        results.Where(r => r.Mode == mode).Sum(r => r.Checkouts) / results.Where(r => r.Mode == mode).Sum(r => r.Seconds);

    private sealed record Result(string Name, Mode Mode, long Checkouts, double Seconds, long Committed, long Events, long LagEntriesAtEnd, double LagSecondsAtEnd, double DrainMs)
    {
        public string Describe() => Invariant($"{Name} {Mode,-6}: {Checkouts / Seconds,8:N0} checkouts/s")
            + (Mode == Mode.Off ? "" : Invariant($"; events made {Committed / Seconds:N0}/s, projected during the load {Events / Seconds:N0}/s, from start to drained {Committed / (Seconds + DrainMs / 1000):N0}/s; lag at the end {LagEntriesAtEnd:N0} entries / {LagSecondsAtEnd:F2} s; drained in {DrainMs:N0} ms"));
    }

    private static async Task<Result> RunPhaseAsync(PostgresServer server, int database, FlashSaleOptions sale, Visit[] visits, int callers, TimeSpan duration, Mode mode, string name)
    {
        var dir = Directory.CreateTempSubdirectory("wb-projection-").FullName;
        try
        {
            var connectionString = await CreateDatabaseAsync(server, database);
            var options = new EngineOptions { StateMachine = new StateMachineOptions { OrdersCapacityHint = 1 << 21, SkusCapacityHint = sale.Skus } };
            await using var engine = ReservationEngine.Open(options, new JournalOptions { Directory = dir, SnapshotEveryEntries = 0 });
            await Task.WhenAll(Events.EventPublishingLoad.CatalogCommands(sale).Select(c => engine.SubmitAsync(c).AsTask()));
            await using var projector = mode == Mode.Off ? null : PostgresProjector.Start(engine, new PostgresProjectorOptions
            {
                ConnectionString = connectionString, WriteMethod = mode == Mode.Copy ? ProjectionWriteMethod.Copy : ProjectionWriteMethod.Upsert,
            });
            if (projector is not null) await DrainAsync(projector);
            var projected0 = projector?.ProjectedEvents ?? 0;
            var counts = new long[callers];
            var start = Stopwatch.GetTimestamp();
            var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
            {
                for (var i = 0; Stopwatch.GetTimestamp() < end; i++)
                {
                    var visit = visits[(c * 7919 + i) & (visits.Length - 1)];
                    var r = await engine.CheckoutAsync(string.Create(CultureInfo.InvariantCulture, $"{name}-{c}-{i}"), $"c{visit.Customer}", Array.ConvertAll(visit.Lines, l => new CheckoutLine(l.Sku, l.Qty)));
                    if (!r.IsOk) throw new InvalidOperationException($"checkout failed: {r.Code}");
                    counts[c]++;
                    if (visit.Payment != Payment.Never) await engine.ApplyPaymentAsync(r.OrderId, "tx-" + r.OrderId, visit.Payment == Payment.Pays, r.Amount, "RUB");
                }
            })));
            var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var projectedInWindow = (projector?.ProjectedEvents ?? 0) - projected0;
            var lag = projector?.Lag[0];
            var drainMs = projector is null ? 0 : await DrainAsync(projector);
            var committed = projector is null ? 0 : projector.ProjectedEvents - projected0;
            return new Result(name, mode, counts.Sum(), elapsed, committed, projectedInWindow, lag?.LagEntries ?? 0, lag?.LagSeconds ?? 0, drainMs);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<string> CreateDatabaseAsync(PostgresServer server, int number)
    {
        await using var connection = new NpgsqlConnection(server.ConnectionString(2));
        await connection.OpenAsync();
#pragma warning disable CA2100 // A name made here.
        await using var create = new NpgsqlCommand(Invariant($"CREATE DATABASE wb_bench_{number}"), connection);
#pragma warning restore CA2100
        await create.ExecuteNonQueryAsync();
        return server.ConnectionString(4, Invariant($"wb_bench_{number}"));
    }

    /// <summary>Waits until every event is committed to PostgreSQL (twice in a row, 20 ms apart); the time it took.</summary>
    private static async Task<double> DrainAsync(PostgresProjector projector)
    {
        var started = Stopwatch.GetTimestamp();
        var clean = 0;
        while (Stopwatch.GetElapsedTime(started) < DrainLimit)
        {
            clean = projector.Lag.All(l => l.LagEntries == 0 && l.LagSeconds == 0) ? clean + 1 : 0;
            if (clean == 2) return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            await Task.Delay(20);
        }
        throw new InvalidOperationException($"The projection did not catch up within {DrainLimit.TotalMinutes} minutes: {string.Join("; ", projector.Lag)}");
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
