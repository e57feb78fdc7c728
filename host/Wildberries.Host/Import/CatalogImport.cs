using System.Diagnostics;
using System.Globalization;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

namespace Wildberries.Host.Import;

/// <summary>
/// The host's <c>import</c> command: loads catalog items and stock rows from a CSV file into the durable engine on
/// a data directory, offline (the server must not be running on it). Two passes: the first parses and checks every
/// row with the engine's own rules and refuses the whole file, journaling nothing, if any row is bad (unless
/// <c>--skip-bad-rows</c>); the second submits thousands of commands at a time, so the journal's group commit
/// makes one fsync serve thousands of rows. Every command is absolute (an upsert, a set on-hand count), so
/// running the same file again, after a failure or not, ends in the same state.
/// See docs/import.md for the file format.
/// </summary>
public static class CatalogImport
{
    /// <summary>The import finished: every good row is journaled and applied.</summary>
    public const int ExitOk = 0;

    /// <summary>The file has bad rows (or a bad header) and nothing was journaled.</summary>
    public const int ExitRefused = 1;

    /// <summary>The command line is wrong; nothing was read or written.</summary>
    public const int ExitUsage = 2;

    /// <summary>The data directory could not be opened (the server runs on it, another shard count, damage).</summary>
    public const int ExitCannotOpen = 3;

    /// <summary>Submitting failed part way (disk, engine fault, the file changed, cancelled): the report says how far it got.</summary>
    public const int ExitIncomplete = 4;

    /// <summary>100 bad rows printed: enough to see what is wrong with a file; a broken export of a million rows would flood the terminal.</summary>
    public const int BadRowsPrintedMax = 100;

    /// <summary>
    /// 10,000 commands in flight by default: several group commits' worth, so the journal always has a batch waiting
    /// while the previous one is fsynced, with bounded memory for pending replies.
    /// </summary>
    public const int InFlightDefault = 10_000;

    /// <summary>
    /// At most 65,536 in flight (the default ring size of a shard): more would only wait for ring slots.
    /// </summary>
    public const int InFlightMax = 65_536;

    /// <summary>The usage text, printed on any command-line error.</summary>
    public static readonly string Usage =
        "usage: Wildberries.Host import --csv FILE [--data DIR] [--shards N] [--batch N] [--skip-bad-rows]\n" +
        "  --csv FILE        the CSV to load: header sku,name,price,max_per_order,warehouse_id,on_hand (docs/import.md)\n" +
        "  --data DIR        the server's data directory (default: data); the server must not be running on it\n" +
        "  --shards N        the shard count the directory was created with (default: 1)\n" +
        $"  --batch N         commands in flight at once, 1 to {InFlightMax} (default: {InFlightDefault})\n" +
        "  --skip-bad-rows   import the good rows and report the bad ones, instead of refusing the file";

    private sealed record Arguments(string Csv, string Data, int Shards, int InFlight, bool SkipBadRows);

    /// <summary>The item a SKU's first good row defined: later rows must agree with it.</summary>
    private readonly record struct ItemDefinition(long Line, ulong NameHash, long Price, int MaxPerOrder);

    /// <summary>
    /// Runs the import with the command line after <c>import</c> (or including it); writes the summary to
    /// <paramref name="output"/> and progress and problems to <paramref name="error"/>; returns the exit code.
    /// <paramref name="progressBar"/> redraws a bar in place (for a terminal) instead of printing periodic lines.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, bool progressBar = false, EngineOptions? engineOptions = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (ParseArguments(args, out var usageError) is not { } a)
        {
            await error.WriteLineAsync(usageError);
            await error.WriteLineAsync(Usage);
            return ExitUsage;
        }
        var options = (engineOptions ?? new EngineOptions()) with { ShardCount = a.Shards };
        var limits = options.StateMachine;
        if (!File.Exists(a.Csv))
        {
            await error.WriteLineAsync($"import: the file {a.Csv} does not exist.");
            return ExitUsage;
        }
        // Said before a long first pass, not after it.
        if (DirectoryInUse(a.Data) is { } inUse)
        {
            await error.WriteLineAsync(inUse);
            return ExitCannotOpen;
        }

        var clock = Stopwatch.StartNew();
        var progress = new ImportProgress(error, progressBar);
        var parser = new CatalogRowParser(limits);
        var items = new Dictionary<long, ItemDefinition>();
        var stock = new HashSet<(long Sku, int Warehouse)>();
        var badLines = new List<long>();
        long goodRows = 0;
        var fileStamp = Stamp(a.Csv);

        // Pass 1: every row parsed and checked; nothing is written.
        using (var reader = new CsvLineReader(a.Csv, parser.LineLengthMax))
        {
            if (!reader.ReadLine() || reader.TooLong || !CatalogRowParser.IsHeader(reader.Line))
            {
                await error.WriteLineAsync($"import: refused: line 1 must be the header {CatalogRowParser.Header}. Nothing was imported.");
                return ExitRefused;
            }
            progress.Start("validating");
            while (reader.ReadLine())
            {
                var bad = Check(parser, reader, items, stock);
                if (bad is { } b)
                {
                    if (badLines.Count < BadRowsPrintedMax) await error.WriteLineAsync(b.ToString());
                    badLines.Add(b.Line);
                }
                else
                {
                    goodRows++;
                }
                progress.Report(reader.Position, reader.Length, goodRows + badLines.Count);
            }
        }
        progress.Finish();
        var validated = clock.Elapsed;
        if (badLines.Count > BadRowsPrintedMax) await error.WriteLineAsync($"... and {badLines.Count - BadRowsPrintedMax:N0} more bad rows ({badLines.Count:N0} in all).");
        if (badLines.Count > 0 && !a.SkipBadRows)
        {
            await error.WriteLineAsync($"import: refused: {badLines.Count:N0} bad row(s) of {goodRows + badLines.Count:N0} in {a.Csv}. Nothing was imported; fix them, or rerun with --skip-bad-rows to import the {goodRows:N0} good rows.");
            return ExitRefused;
        }
        stock.Clear();
        stock.TrimExcess();

        // Pass 2: the engine, opened only now that the file is known to be good.
        ReservationEngine engine;
        try
        {
            var perShard = Math.Min(items.Count / a.Shards + items.Count / (10 * a.Shards) + 1_024, 100_000_000);
            options = options with { StateMachine = limits with { SkusCapacityHint = Math.Max(limits.SkusCapacityHint, perShard) } };
            // No snapshots while loading (they would compete for the two cores); one is taken at the end.
            engine = ReservationEngine.Open(options, new JournalOptions { Directory = a.Data, SnapshotEveryEntries = 0, SnapshotInterval = TimeSpan.FromDays(1) });
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or InvalidDataException or UnauthorizedAccessException or JournalCorruptException or ArgumentException)
        {
            await error.WriteLineAsync($"import: cannot open the data directory {Path.GetFullPath(a.Data)}: {ex.Message} Nothing was imported.");
            return ExitCannotOpen;
        }

        Submitted outcome;
        TimeSpan journaled, snapshot;
        await using (engine)
        {
            if (Stamp(a.Csv) != fileStamp)
            {
                await error.WriteLineAsync($"import: {a.Csv} changed while it was being validated. Nothing was imported; run the import again.");
                return ExitIncomplete;
            }
            progress.Start("importing");
            outcome = await SubmitAsync(engine, a, parser, items, badLines, goodRows, progress, cancellation);
            progress.Finish();
            journaled = clock.Elapsed - validated;
            if (outcome.Failure is not null)
            {
                await error.WriteLineAsync(
                    $"import: stopped: {outcome.Failure}. Rows through line {outcome.AppliedThroughLine} ({outcome.AppliedRows:N0} rows, last SKU {outcome.LastSku}) are journaled; " +
                    $"rows after it up to line {outcome.SubmittedThroughLine} may be in part. Run the same import again to finish: every command is absolute, so rows already in are set to the same values.");
                return ExitIncomplete;
            }
            // One snapshot of the loaded state: the server's next start reads it instead of replaying millions of commands.
            var snapshotStart = clock.Elapsed;
            await engine.SnapshotAsync(cancellation);
            snapshot = clock.Elapsed - snapshotStart;
        }
        var seconds = clock.Elapsed.TotalSeconds;
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"imported {outcome.AppliedRows:N0} stock rows of {items.Count:N0} SKUs from {a.Csv} in {seconds:F1} s " +
            $"(validating {validated.TotalSeconds:F1} s, journaling {journaled.TotalSeconds:F1} s, snapshot {snapshot.TotalSeconds:F1} s, close {seconds - validated.TotalSeconds - journaled.TotalSeconds - snapshot.TotalSeconds:F1} s): " +
            $"{items.Count / seconds:N0} SKUs/s, {outcome.AppliedRows / seconds:N0} rows/s; {badLines.Count:N0} bad rows skipped"));
        return ExitOk;
    }

    /// <summary>Checks one line of pass 1, including agreement with the SKU's first good row and no repeated stock row.</summary>
    private static BadRow? Check(CatalogRowParser parser, CsvLineReader reader, Dictionary<long, ItemDefinition> items, HashSet<(long, int)> stock)
    {
        if (!parser.TryParse(reader.Line, reader.LineNumber, reader.TooLong, out var row, out var bad)) return bad;
        var line = reader.LineNumber;
        if (items.TryGetValue(row.Sku, out var first))
        {
            if (first.Price != row.Price) return new BadRow(line, "price", $"{row.Price} differs from {first.Price} on line {first.Line}, the first row of SKU {row.Sku}");
            if (first.MaxPerOrder != row.MaxPerOrder) return new BadRow(line, "max_per_order", $"{row.MaxPerOrder} differs from {first.MaxPerOrder} on line {first.Line}, the first row of SKU {row.Sku}");
            if (first.NameHash != row.NameHash) return new BadRow(line, "name", $"differs from the name on line {first.Line}, the first row of SKU {row.Sku}");
        }
        if (!stock.Add((row.Sku, row.WarehouseId))) return new BadRow(line, "warehouse_id", $"SKU {row.Sku} in warehouse {row.WarehouseId} already has a row: one row per SKU and warehouse");
        if (first.Line == 0) items.Add(row.Sku, new ItemDefinition(line, row.NameHash, row.Price, row.MaxPerOrder));
        return null;
    }

    private sealed record Submitted(long AppliedRows, long AppliedThroughLine, long LastSku, long SubmittedThroughLine, string? Failure);

    private readonly record struct Pending(ValueTask<CommandResult> Reply, long Line, long Sku, bool IsStock);

    /// <summary>
    /// Pass 2: submits the good rows with up to <see cref="Arguments.InFlight"/> commands outstanding, answered in
    /// submission order, so "applied through line L" is exact. Stops at the first failure and waits for what is in flight.
    /// </summary>
    private static async Task<Submitted> SubmitAsync(ReservationEngine engine, Arguments a, CatalogRowParser parser, Dictionary<long, ItemDefinition> items, List<long> badLines, long goodRows, ImportProgress progress, CancellationToken cancellation)
    {
        var window = new Queue<Pending>(a.InFlight + 1);
        long appliedRows = 0, appliedThrough = 1, lastSku = 0, submittedThrough = 1;
        string? failure = null;
        var nextBad = 0;

        using (var reader = new CsvLineReader(a.Csv, parser.LineLengthMax))
        {
            reader.ReadLine(); // the header, checked in pass 1
            while (failure is null && reader.ReadLine())
            {
                var line = reader.LineNumber;
                if (nextBad < badLines.Count && badLines[nextBad] == line)
                {
                    nextBad++;
                    continue;
                }
                if (cancellation.IsCancellationRequested)
                {
                    failure = "cancelled";
                    break;
                }
                if (!parser.TryParse(reader.Line, line, reader.TooLong, out var row, out _) || !items.TryGetValue(row.Sku, out var item))
                {
                    failure = $"line {line} no longer reads as it did in the first pass (the file changed)";
                    break;
                }
                try
                {
                    if (item.Line == line) window.Enqueue(new Pending(engine.SubmitAsync(row.Item), line, row.Sku, IsStock: false));
                    window.Enqueue(new Pending(engine.SubmitAsync(row.Stock), line, row.Sku, IsStock: true));
                }
                catch (Exception ex) when (ex is EngineFaultedException or ShardUnavailableException or ObjectDisposedException)
                {
                    failure = $"line {line}: {ex.Message}";
                    break;
                }
                submittedThrough = line;
                while (window.Count >= a.InFlight && failure is null) failure = await CompleteOldestAsync();
                progress.Report(appliedRows, goodRows, appliedRows);
            }
        }
        // What is in flight is awaited even after a failure: every reply is taken, and the report is exact.
        while (window.Count > 0)
        {
            var error = await CompleteOldestAsync();
            failure ??= error;
        }
        return new Submitted(appliedRows, appliedThrough, lastSku, submittedThrough, failure);

        async ValueTask<string?> CompleteOldestAsync()
        {
            var p = window.Dequeue();
            CommandResult result;
            try
            {
                result = await p.Reply;
            }
            catch (Exception ex) when (ex is EngineFaultedException or ShardUnavailableException or ObjectDisposedException or IOException)
            {
                return $"line {p.Line} (SKU {p.Sku}): {ex.Message}";
            }
            if (!result.IsOk) return $"line {p.Line} (SKU {p.Sku}): the engine answered {ResultCodes.ToWire(result.Code)}{(result.Field is null ? "" : $" ({result.Field})")}";
            if (failure is null && p.IsStock)
            {
                appliedRows++;
                appliedThrough = p.Line;
                lastSku = p.Sku;
            }
            return null;
        }
    }

    /// <summary>Whether a process (the server) holds the data directory's journal (<see cref="Operator.JournalLock"/>). Null when free.</summary>
    internal static string? DirectoryInUse(string data)
    {
        using var held = Operator.JournalLock.TryTake(data, out var busy);
        return held is not null ? null
            : $"import: the data directory {Path.GetFullPath(data)} is in use ({busy}): stop the server on it first; the import runs offline. Nothing was imported.";
    }

    private static (long Length, DateTime Written) Stamp(string path)
    {
        var info = new FileInfo(path);
        return (info.Length, info.LastWriteTimeUtc);
    }

    private static Arguments? ParseArguments(string[] args, out string error)
    {
        error = "";
        string? csv = null;
        var data = "data";
        int shards = 1, inFlight = InFlightDefault;
        var skip = false;
        var start = args.Length > 0 && args[0] == "import" ? 1 : 0;
        for (var i = start; i < args.Length; i++)
        {
            var name = args[i];
            if (name == "--skip-bad-rows")
            {
                skip = true;
                continue;
            }
            if (name is not ("--csv" or "--data" or "--shards" or "--batch"))
            {
                error = $"import: unknown argument '{name}'.";
                return null;
            }
            if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                error = $"import: {name} needs a value.";
                return null;
            }
            var value = args[++i];
            switch (name)
            {
                case "--csv": csv = value; break;
                case "--data": data = value; break;
                case "--shards" when !int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out shards) || shards is < 1 or > EngineOptions.ShardCountMax:
                    error = $"import: --shards must be 1 to {EngineOptions.ShardCountMax}.";
                    return null;
                case "--batch" when !int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out inFlight) || inFlight is < 1 or > InFlightMax:
                    error = $"import: --batch must be 1 to {InFlightMax}.";
                    return null;
                default: break;
            }
        }
        if (csv is null)
        {
            error = "import: --csv FILE is required.";
            return null;
        }
        return new Arguments(csv, data, shards, inFlight, skip);
    }
}
