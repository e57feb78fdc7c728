using System.Globalization;
using Spectre.Console;
using Wildberries.PeakSale;
using Wildberries.PeakSale.Systems;

namespace Wildberries.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench/Wildberries.Bench -- peak-sale [--quick] [--runs 3] [--concurrency 64,256,1024,4096] [--only NAME] [--visits N] [--skus N] [--warm-runs 2] [--diagnose]</c>:
/// the same flash sale against the engine, the host over HTTP and over the binary protocol, PostgreSQL (synchronous commit on and off) and Redis
/// Lua (appendfsync always and everysec), swept by the number of customers at a time. Every measurement starts a
/// fresh system, warms it with a short unmeasured sale of its own, then measures (each system's first measured run is
/// preceded by <c>--warm-runs</c> whole unmeasured sales, so the JIT has finished tiering); each point is run several times
/// (the median is reported, with the spread). Markdown tables and SVG charts (throughput and p99 against
/// concurrency) go under docs/benchmarks/. <c>--diagnose</c> prints a line per run: GC, thread pool, page faults, CPU
/// and the engine's commits through the measured window.
/// </summary>
public static class PeakSaleCommand
{
    private static readonly (string Key, Func<IReservationSystem> Create)[] Systems =
    [
        ("engine", () => new EngineSystem()),
        ("http", () => new HttpSystem()),
        ("protocol", () => new HttpSystem(binaryProtocol: true)),
        ("postgres-sync", () => new PostgresSystem(synchronousCommit: true)),
        ("postgres-async", () => new PostgresSystem(synchronousCommit: false)),
        ("redis-always", () => new RedisSystem("always")),
        ("redis-everysec", () => new RedisSystem("everysec")),
    ];

    public static async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var diagnose = args.Contains("--diagnose");
        var diagnoses = new List<string>();
        var runs = CommandLine.Option(args, "--runs", quick ? 1 : 3);
        // Unmeasured whole sales per system before its first measured run: the JIT's tiering (tier 0, instrumented,
        // then tier 1 with the profile) takes the first one or two sales of a process, and a run measured before it
        // ends is 2-3x slower (the tiered-compilation thread busy, twice the CPU per checkout).
        var warmRuns = CommandLine.Option(args, "--warm-runs", quick ? 0 : 2);
        var levels = CommandLine.Text(args, "--concurrency", quick ? "64,1024" : "64,256,1024,4096")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        var only = CommandLine.Text(args, "--only", "");
        var systems = Systems.Where(s => only.Length == 0 || only.Split(',').Contains(s.Key, StringComparer.Ordinal)).ToArray();
        var baseSale = quick ? FlashSaleOptions.Quick with { Visits = 5_000 } : new FlashSaleOptions();
        baseSale = baseSale with { Visits = CommandLine.Option(args, "--visits", baseSale.Visits), Skus = CommandLine.Option(args, "--skus", baseSale.Skus) };
        // The warm-up: a tenth of the sale (at least 500 visits) drawn with another seed, before the measured sale.
        var warmUp = FlashSale.Visits(baseSale with { Seed = baseSale.Seed + 1, Visits = Math.Max(500, baseSale.Visits / 10) });
        var visits = FlashSale.Visits(baseSale);

        var results = new List<SweepPoint>();
        var warmed = new HashSet<string>(StringComparer.Ordinal);
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                foreach (var concurrency in levels)
                {
                    var sale = baseSale with { Concurrency = concurrency };
                    foreach (var (key, create) in systems)
                    {
                        var point = new List<SaleResult>();
                        for (var run = warmed.Add(key) ? 1 - warmRuns : 1; run <= runs; run++)
                        {
                            // The previous run's engine and its tables are garbage: collect them now, not in this run's window.
                            GC.Collect();
                            GC.WaitForPendingFinalizers();
                            GC.Collect();
                            await using var system = create();
                            var name = run < 1 ? $"warm-up {run + warmRuns}" : $"run {run}";
                            var task = context.AddTask(Markup.Escape($"{system.Name}, {concurrency} customers, {name}"), maxValue: 1);
                            var probe = new PeakSaleProbe(() => (system as EngineSystem)?.Engine);
                            var label = $"{system.Name}, {concurrency} customers, {name}";
                            Action<bool>? measuring = diagnose ? start => { if (start) probe.Start(); else diagnoses.Add(label + ": " + probe.Stop(visits.Length)); } : null;
                            var result = await Runner.RunAsync(system, sale, visits, p => task.Value = p, warmUp, measuring);
                            if (run >= 1) point.Add(result);
                            task.Value = 1;
                        }
                        results.Add(new SweepPoint(concurrency, point));
                    }
                }
            });

        var table = new Table().AddColumns("customers", "system", "checkouts/s (median)", "spread", "p99 ms", "books", "engine is");
        foreach (var p in results)
        {
            var engine = results.First(e => e.Concurrency == p.Concurrency);
            table.AddRow($"{p.Concurrency:N0}", Markup.Escape(p.System), $"{p.Throughput:N0}", $"{p.Min:N0}-{p.Max:N0}", $"{p.P99Ms:F2}",
                p.Balanced ? "balance" : "[red]DO NOT BALANCE[/]", ReferenceEquals(p, engine) ? "-" : $"{engine.Throughput / p.Throughput:F1}x");
        }
        AnsiConsole.Write(table);
        foreach (var line in diagnoses) Console.WriteLine(line);

        var folder = Path.Combine(FindRepositoryRoot(), "docs", "benchmarks");
        Directory.CreateDirectory(folder);
        var name = quick ? "peak-sale-quick" : "peak-sale";
        var command = "dotnet run -c Release --project bench/Wildberries.Bench -- peak-sale" + (args.Length > 0 ? " " + string.Join(' ', args) : "");
        await File.WriteAllTextAsync(Path.Combine(folder, name + ".md"), Report.Markdown(results, baseSale, warmUp.Length, runs, command)
            + $"\n![checkouts per second against concurrency]({name}.svg)\n\n![p99 against concurrency]({name}-p99.svg)\n");
        await File.WriteAllTextAsync(Path.Combine(folder, name + ".svg"), Report.Svg(results, p => p.Throughput, "Durable checkouts per second against customers at a time (log-log)", "/s"));
        await File.WriteAllTextAsync(Path.Combine(folder, name + "-p99.svg"), Report.Svg(results, p => p.P99Ms, "p99 checkout latency (ms) against customers at a time (log-log)", " ms"));
        AnsiConsole.MarkupLine($"Written to [bold]{Markup.Escape(Path.Combine(folder, name + ".md"))}[/] and .svg");
        if (results.Any(p => !p.Balanced)) Environment.ExitCode = 1;
    }

    private static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(Environment.CurrentDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Wildberries.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? Environment.CurrentDirectory;
    }
}
