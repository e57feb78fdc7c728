using System.Diagnostics;
using System.Globalization;
using System.Text;
using Wildberries.Host.Import;

namespace Wildberries.Bench.Import;

/// <summary>
/// The bulk catalog import's rate: generates a CSV of <c>--skus</c> SKUs (default 1,000,000) in 3 warehouses to a
/// temporary file, then times the host's own import command (both passes, the final snapshot included) into a fresh
/// data directory, and reports SKUs/s, rows/s and the directory's size after.
/// </summary>
internal static class ImportLoad
{
    private const int Warehouses = 3;

    public static async Task RunAsync(string[] args)
    {
        var skus = CommandLine.Option(args, "--skus", 1_000_000);
        var shards = CommandLine.Option(args, "--shards", 1);
        var inFlight = CommandLine.Option(args, "--batch", CatalogImport.InFlightDefault);
        var root = Directory.CreateTempSubdirectory("wb-import-bench-").FullName;
        try
        {
            var csv = Path.Combine(root, "catalog.csv");
            var data = Path.Combine(root, "data");
            var generate = Stopwatch.StartNew();
            await GenerateAsync(csv, skus);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"generated {skus:N0} SKUs x {Warehouses} warehouses = {(long)skus * Warehouses:N0} rows, {new FileInfo(csv).Length / 1048576.0:F0} MiB, in {generate.Elapsed.TotalSeconds:F1} s"));

            var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
            var run = Stopwatch.StartNew();
            var code = await CatalogImport.RunAsync(
                ["import", "--csv", csv, "--data", data, "--shards", shards.ToString(CultureInfo.InvariantCulture), "--batch", inFlight.ToString(CultureInfo.InvariantCulture)],
                Console.Out, Console.Error);
            var seconds = run.Elapsed.TotalSeconds;
            if (code != CatalogImport.ExitOk) throw new InvalidOperationException($"The import exited with {code}.");
            var bytes = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
            var rows = (long)skus * Warehouses;
            using var process = Process.GetCurrentProcess();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"import: {skus:N0} SKUs, {rows:N0} rows, {skus + rows:N0} journaled commands, {shards} shard(s), {inFlight:N0} in flight: " +
                $"{seconds:F1} s, {skus / seconds:N0} SKUs/s, {rows / seconds:N0} rows/s; data directory {bytes / 1048576.0:F0} MiB; " +
                $"peak working set {process.PeakWorkingSet64 / 1048576.0:F0} MiB (heap before {heapBefore / 1048576.0:F0} MiB)"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>A deterministic catalog: every third name needs RFC 4180 quoting, as real titles with commas do.</summary>
    private static async Task GenerateAsync(string path, int skus)
    {
        await using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false), 1 << 20);
        await writer.WriteAsync("sku,name,price,max_per_order,warehouse_id,on_hand\n");
        var line = new StringBuilder(128);
        for (var i = 1; i <= skus; i++)
        {
            var name = (i % 3) switch { 0 => $"Kettle {i}", 1 => $"\"Mug, large \"\"{i}\"\"\"", _ => $"Чайник {i}" };
            for (var w = 1; w <= Warehouses; w++)
            {
                line.Clear().Append(CultureInfo.InvariantCulture, $"{i},{name},{100 + (i * 37 % 100_000)},{1 + (i % 50)},{w},{(i * 7 + w) % 1_000}\n");
                await writer.WriteAsync(line);
            }
        }
    }
}
