using System.Globalization;
using System.Text;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Host.Import;

namespace Wildberries.Host.Tests;

/// <summary>The host's import command, run in-process on a temporary data directory, then checked by opening the engine on it.</summary>
public sealed class ImportTests : IDisposable
{
    private const string Header = "sku,name,price,max_per_order,warehouse_id,on_hand";

    // CI runs the host tests a second time on two shards: the import must hold there too.
    private static readonly int Shards = Testing.InProcessServer.ShardCount;

    private readonly string _root = Directory.CreateTempSubdirectory("wb-import-").FullName;

    private string Data => Path.Combine(_root, "data");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private sealed record Run(int Code, string Output, string Error);

    private async Task<Run> ImportAsync(string csv, params string[] extra)
    {
        var file = Path.Combine(_root, $"import-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(file, csv, new UTF8Encoding(false));
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CatalogImport.RunAsync(["import", "--csv", file, "--data", Data, "--shards", Shards.ToString(CultureInfo.InvariantCulture), "--batch", "500", .. extra], output, error);
        return new Run(code, output.ToString(), error.ToString());
    }

    private ReservationEngine OpenEngine() => ReservationEngine.Open(new EngineOptions { ShardCount = Shards }, new JournalOptions { Directory = Data });

    /// <summary>Everything the import can change, as the engine holds it: items and stock rows, sorted.</summary>
    private async Task<(ItemView[] Items, (long, int, long)[] Rows, (long Lsn, ulong Hash)[] Applied)> ReadStateAsync()
    {
        await using var engine = OpenEngine();
        var items = new List<ItemView>();
        for (long after = 0; ;)
        {
            var page = await engine.ListItemsAsync(after, 1_000);
            if (page.Length == 0) break;
            items.AddRange(page);
            after = page[^1].Sku;
        }
        var rows = (await engine.AuditAsync()).Rows.Select(r => (r.Sku, r.WarehouseId, r.OnHand)).Order().ToArray();
        var applied = new (long, ulong)[engine.ShardCount];
        for (var s = 0; s < applied.Length; s++) applied[s] = await engine.GetAppliedStateAsync(s);
        return ([.. items], rows, applied);
    }

    private static string Quote(string name) => name.Contains(',') || name.Contains('"') ? $"\"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : name;

    /// <summary>A catalog of <paramref name="skus"/> SKUs in 3 warehouses; some names need RFC 4180 quoting.</summary>
    private static (string Csv, ItemView[] Items, (long, int, long)[] Rows) Catalog(int skus, long skuBase = 1)
    {
        var csv = new StringBuilder(Header).Append('\n');
        var items = new List<ItemView>();
        var rows = new List<(long, int, long)>();
        for (var i = 0; i < skus; i++)
        {
            var sku = skuBase + i;
            var name = (i % 3) switch { 0 => $"Kettle {sku}", 1 => $"Mug, large \"{sku}\"", _ => $"Чайник {sku}" };
            var price = 100 + (i * 37 % 100_000);
            var maxPerOrder = 1 + (i % 50);
            items.Add(new ItemView(sku, name, price, maxPerOrder, true));
            for (var w = 1; w <= 3; w++)
            {
                var onHand = (i * 7 + w) % 1_000;
                csv.Append(CultureInfo.InvariantCulture, $"{sku},{Quote(name)},{price},{maxPerOrder},{w},{onHand}\n");
                rows.Add((sku, w, onHand));
            }
        }
        return (csv.ToString(), [.. items], [.. rows.Order()]);
    }

    [Fact]
    public async Task A_good_file_is_imported_exactly()
    {
        var (csv, items, rows) = Catalog(3_000);

        var run = await ImportAsync(csv);

        Assert.True(run.Code == CatalogImport.ExitOk, run.Error);
        Assert.Contains("imported 9,000 stock rows of 3,000 SKUs", run.Output, StringComparison.Ordinal);
        var state = await ReadStateAsync();
        Assert.Equal(items, state.Items);
        Assert.Equal(rows, state.Rows);
    }

    [Fact]
    public async Task A_file_with_bad_rows_is_refused_with_every_line_reported_and_nothing_journaled()
    {
        var (seed, seedItems, seedRows) = Catalog(10, skuBase: 1_000);
        Assert.Equal(CatalogImport.ExitOk, (await ImportAsync(seed)).Code);
        var before = await ReadStateAsync();

        var (csv, bad) = FileWithBadRows();
        var run = await ImportAsync(csv);

        Assert.Equal(CatalogImport.ExitRefused, run.Code);
        foreach (var (line, column) in bad) Assert.Contains($"line {line}, {column}", run.Error, StringComparison.Ordinal);
        Assert.Contains($"{bad.Length} bad row(s)", run.Error, StringComparison.Ordinal);
        var after = await ReadStateAsync();
        Assert.Equal(before.Applied, after.Applied);
        Assert.Equal(seedItems, after.Items);
        Assert.Equal(seedRows, after.Rows);
    }

    [Fact]
    public async Task With_skip_bad_rows_the_good_rows_are_in_and_the_bad_ones_reported()
    {
        var (csv, bad) = FileWithBadRows();

        var run = await ImportAsync(csv, "--skip-bad-rows");

        Assert.True(run.Code == CatalogImport.ExitOk, run.Error);
        foreach (var (line, column) in bad) Assert.Contains($"line {line}, {column}", run.Error, StringComparison.Ordinal);
        Assert.Contains($"{bad.Length} bad rows skipped", run.Output, StringComparison.Ordinal);
        var state = await ReadStateAsync();
        // SKU 1 as its first row defined it (its second row's other price is refused), SKU 9 from its one good row.
        Assert.Equal([new ItemView(1, "Kettle, \"steel\"", 1_990_00, 5, true), new ItemView(9, "Mug", 500, 100, true)], state.Items);
        Assert.Equal([(1L, 1, 10L), (1L, 2, 20L), (9L, 1, 3L)], state.Rows);
    }

    /// <summary>A file with one row of each kind of fault between good rows; the bad lines and the column each one names.</summary>
    private static (string Csv, (int Line, string Column)[] Bad) FileWithBadRows()
    {
        var lines = new List<string>
        {
            Header,                                                   // 1
            "1,\"Kettle, \"\"steel\"\"\",199000,5,1,10",               // 2 good: defines SKU 1
            "abc,Kettle,100,5,1,10",                                  // 3 bad sku
            "2,Kettle,-5,5,1,10",                                     // 4 negative price
            $"3,{new string('n', 257)},100,5,1,10",                   // 5 name too long
            "4,Kettle,100,5,1",                                       // 6 five columns
            "5,\"Kettle,100,5,1,10",                                  // 7 unbalanced quote
            "1,\"Kettle, \"\"steel\"\"\",199001,5,2,10",               // 8 SKU 1 again with another price
            "6,Kettle,100,5,1,1000000001",                            // 9 on_hand beyond OnHandMax
            "",                                                       // 10 empty line
            "1,\"Kettle, \"\"steel\"\"\",199000,5,2,20",               // 11 good: SKU 1 in warehouse 2
            "9,Mug,500,,1,3",                                         // 12 good: default max_per_order
            "9,Mug,500,,1,4",                                         // 13 SKU 9 in warehouse 1 twice
        };
        (int, string)[] bad =
        [
            (3, "column sku"), (4, "column price"), (5, "column name"), (6, "row"), (7, "row"),
            (8, "column price"), (9, "column on_hand"), (10, "row"), (13, "column warehouse_id"),
        ];
        return (string.Join('\n', lines) + "\n", bad);
    }

    [Fact]
    public async Task Importing_the_same_file_again_changes_nothing()
    {
        var (csv, items, rows) = Catalog(2_000);
        Assert.Equal(CatalogImport.ExitOk, (await ImportAsync(csv)).Code);
        var first = await ReadStateAsync();

        var again = await ImportAsync(csv);

        Assert.True(again.Code == CatalogImport.ExitOk, again.Error);
        var second = await ReadStateAsync();
        Assert.Equal(items, second.Items);
        Assert.Equal(rows, second.Rows);
        Assert.Equal(first.Items, second.Items);
        Assert.Equal(first.Rows, second.Rows);
    }

    [Fact]
    public async Task A_directory_an_engine_holds_is_refused_before_anything_is_read()
    {
        var (csv, _, _) = Catalog(10);
        Assert.Equal(CatalogImport.ExitOk, (await ImportAsync(csv)).Code);
        await using var running = OpenEngine();

        var run = await ImportAsync(csv);

        Assert.Equal(CatalogImport.ExitCannotOpen, run.Code);
        Assert.Contains("is in use", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_without_csv_exits_2_with_the_usage()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await CatalogImport.RunAsync(["import", "--data", Data], output, error);

        Assert.Equal(CatalogImport.ExitUsage, code);
        Assert.Contains("--csv FILE is required", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("usage: Wildberries.Host import --csv FILE", error.ToString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data));
    }
}
