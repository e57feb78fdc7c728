using Spectre.Console;
using Wildberries.PeakSale;
using Wildberries.PeakSale.Systems;

namespace Wildberries.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench/Wildberries.Bench -- peak-sale [--quick]</c>: the same flash sale against
/// the engine, the host over HTTP and over the binary protocol, PostgreSQL (synchronous commit on and off) and Redis Lua (appendfsync always and
/// everysec); a table with ratios, and markdown plus an SVG chart under docs/benchmarks/.
/// </summary>
public static class PeakSaleCommand
{
    public static async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var sale = quick ? FlashSaleOptions.Quick : new FlashSaleOptions();
        var visits = FlashSale.Visits(sale);
        Func<IReservationSystem>[] systems =
        [
            () => new EngineSystem(),
            () => new HttpSystem(),
            () => new HttpSystem(binaryProtocol: true),
            () => new PostgresSystem(synchronousCommit: true),
            () => new PostgresSystem(synchronousCommit: false),
            () => new RedisSystem("always"),
            () => new RedisSystem("everysec"),
        ];
        var results = new List<SaleResult>();
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                foreach (var create in systems)
                {
                    await using var system = create();
                    var task = context.AddTask(Markup.Escape(system.Name), maxValue: 1);
                    results.Add(await Runner.RunAsync(system, sale, visits, p => task.Value = p));
                    task.Value = 1;
                }
            });

        var table = new Table().AddColumns("system", "checkouts/s", "p50 ms", "p99 ms", "orders", "oversold", "books", "engine is");
        foreach (var r in results)
        {
            table.AddRow(Markup.Escape(r.System), $"{r.CheckoutsPerSecond:N0}", $"{r.P50Ms:F2}", $"{r.P99Ms:F2}", $"{r.Orders:N0}", $"{r.Oversold}",
                r.ReservedMismatches + r.CommittedMismatches + r.LostOrders == 0 ? "balance" : "[red]DO NOT BALANCE[/]",
                ReferenceEquals(r, results[0]) ? "-" : $"{results[0].CheckoutsPerSecond / r.CheckoutsPerSecond:F1}x");
        }
        AnsiConsole.Write(table);

        var folder = Path.Combine(FindRepositoryRoot(), "docs", "benchmarks");
        Directory.CreateDirectory(folder);
        var name = quick ? "peak-sale-quick" : "peak-sale";
        var command = "dotnet run -c Release --project bench/Wildberries.Bench -- peak-sale" + (quick ? " --quick" : "");
        await File.WriteAllTextAsync(Path.Combine(folder, name + ".md"), Report.Markdown(results, sale, command) + $"\n![chart]({name}.svg)\n");
        await File.WriteAllTextAsync(Path.Combine(folder, name + ".svg"), Report.Svg(results));
        AnsiConsole.MarkupLine($"Written to [bold]{Markup.Escape(Path.Combine(folder, name + ".md"))}[/] and .svg");
        if (results.Any(r => r.Oversold > 0 || r.LostOrders > 0)) Environment.ExitCode = 1;
    }

    private static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(Environment.CurrentDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Wildberries.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? Environment.CurrentDirectory;
    }
}
