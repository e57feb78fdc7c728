using System.Globalization;
using System.Text.Json;
using Wildberries.Engine.Durability;
using Wildberries.Engine.Journal;

namespace Wildberries.Host.Operator;

/// <summary>
/// The operator's offline commands on a data directory (stop the server first): <c>verify</c> checks everything recovery
/// checks and prints each shard's last log sequence number and state hash; <c>inspect</c> prints journal entries as
/// JSON lines. Neither writes to the directory.
/// </summary>
public static class OperatorCommands
{
    /// <summary>1,000 entries: a screenful piped through jq; <c>--count</c> asks for more.</summary>
    public const int InspectCountDefault = 1_000;

    /// <summary>Exit code of <c>backup</c> when a server runs on the directory: nothing was copied.</summary>
    public const int ExitInUse = 3;

    /// <summary>Usage, printed for a bad command line.</summary>
    public const string Usage = """
        usage:
          verify --data DIR                                     check every snapshot and journal entry; exit 0 when whole, 1 on damage
          inspect --data DIR [--shard N] [--from LSN] [--count N]  journal entries after LSN as JSON lines (default shard 0, from the first kept, 1000)
          backup --data DIR --to DIR                            copy a stopped server's data directory, then verify the copy (exit 1 not whole, 3 a server runs on it)
        """;

    /// <summary>Runs <paramref name="args"/> (the command first); returns the exit code: 0 done, 1 damage found, 2 usage.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i < args.Length; i += 2)
        {
            var known = args[0] switch
            {
                "verify" => args[i] is "--data",
                "backup" => args[i] is "--data" or "--to",
                _ => args[i] is "--data" or "--shard" or "--from" or "--count",
            };
            if (!known || i + 1 >= args.Length)
            {
                error.WriteLine($"{args[0]}: unknown option or missing value: {args[i]}");
                error.WriteLine(Usage);
                return 2;
            }
            options[args[i]] = args[i + 1];
        }
        if (!options.TryGetValue("--data", out var data))
        {
            error.WriteLine($"{args[0]}: --data DIR is required.");
            error.WriteLine(Usage);
            return 2;
        }
        try
        {
            return args[0] switch
            {
                "verify" => Verify(data, output),
                "backup" => Backup(data, options, output, error),
                _ => Inspect(data, options, output, error),
            };
        }
        catch (Exception ex) when (ex is DirectoryNotFoundException or IOException or InvalidDataException or JournalCorruptException)
        {
            error.WriteLine($"{args[0]}: {ex.Message}");
            return 1;
        }
    }

    private static int Verify(string data, TextWriter output)
    {
        var whole = true;
        foreach (var check in DataDirectoryCheck.Verify(data))
        {
            foreach (var (file, lsn, damage) in check.Snapshots)
            {
                output.WriteLine(damage is null
                    ? $"shard {check.Shard}: snapshot {Path.GetFileName(file)} (log sequence number {lsn}) ok"
                    : $"shard {check.Shard}: snapshot {Path.GetFileName(file)} DAMAGED: {damage}");
            }
            if (check.Recovery is { } r)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"shard {check.Shard}: journal ok through log sequence number {r.LastLsn} (snapshot at {r.SnapshotLsn}, {r.ReplayedEntries} entries replayed and verified); state hash {r.StateHash:x16}"));
            }
            if (check.Damage is not null) output.WriteLine($"shard {check.Shard}: DAMAGED: {check.Damage}");
            whole &= check.IsWhole;
        }
        output.WriteLine(whole ? "verify: whole" : "verify: DAMAGED (the server would refuse to start, or a snapshot is unusable; see above)");
        return whole ? 0 : 1;
    }

    /// <summary>
    /// Copies every file of a stopped server's data directory (journal segments, FASTER's commit files, the commit mark,
    /// snapshots, feed slots, layout, keys, replication state) into a new directory, then verifies the copy as a start
    /// would. Offline only: a running server changes the files while they are copied, so a directory whose journal a
    /// process holds is refused (<see cref="ExitInUse"/>), and the journal stays locked through the copy so that no
    /// server starts on it meanwhile (take it from a standby you stop, or stop the server for the seconds it takes).
    /// </summary>
    private static int Backup(string data, Dictionary<string, string> options, TextWriter output, TextWriter error)
    {
        if (!options.TryGetValue("--to", out var to))
        {
            error.WriteLine("backup: --to DIR is required.");
            return 2;
        }
        if (Directory.Exists(to) && Directory.EnumerateFileSystemEntries(to).Any())
        {
            error.WriteLine($"backup: {Path.GetFullPath(to)} is not empty; give a new directory.");
            return 2;
        }
        // Refused at once while a server runs on it (the verify below would read a moving journal).
        using (var probe = JournalLock.TryTake(data, out var running))
        {
            if (probe is null) return InUse(data, running, error);
        }
        if (Wildberries.Engine.Durability.DataDirectoryCheck.Verify(data).Any(c => !c.IsWhole))
        {
            error.WriteLine($"backup: {Path.GetFullPath(data)} is damaged (run verify): a copy would be too.");
            return 1;
        }
        long bytes = 0;
        var files = 0;
        // The journal stays locked through the copy: no server can start on the directory and change it meanwhile.
        using (var held = JournalLock.TryTake(data, out var busy))
        {
            if (held is null) return InUse(data, busy, error);
            foreach (var file in Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(to, Path.GetRelativePath(data, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                using (var copy = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
                {
                    // A locked segment is read through its lock (a second open would be refused); the rest as they are.
                    if (held.Segment(file) is { } segment)
                    {
                        segment.Position = 0;
                        segment.CopyTo(copy);
                    }
                    else
                    {
                        using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                        source.CopyTo(copy);
                    }
                    copy.Flush(flushToDisk: true);
                }
                bytes += new FileInfo(target).Length;
                files++;
            }
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"backup: copied {files} files ({bytes / 1048576.0:F1} MiB) to {Path.GetFullPath(to)}; verifying the copy"));
        return Verify(to, output);
    }

    private static int InUse(string data, string? busy, TextWriter error)
    {
        error.WriteLine($"backup: a server runs on {Path.GetFullPath(data)} ({busy}). backup is offline: stop the server (or a standby, while the primary serves) " +
            "for the seconds it takes, or ask the running server for a snapshot with the snapshot command.");
        return ExitInUse;
    }

    private static int Inspect(string data, Dictionary<string, string> options, TextWriter output, TextWriter error)
    {
        var shard = 0;
        var from = 0L;
        var count = InspectCountDefault;
        if ((options.TryGetValue("--shard", out var s) && (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out shard) || shard > 255))
            || (options.TryGetValue("--from", out var f) && !long.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out from))
            || (options.TryGetValue("--count", out var c) && (!int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1)))
        {
            error.WriteLine("inspect: --shard, --from and --count take non-negative whole numbers (--count at least 1).");
            return 2;
        }
        foreach (var entry in DataDirectoryCheck.Entries(data, shard, from, count))
        {
            var command = entry.Command;
            output.WriteLine(JsonSerializer.Serialize(new
            {
                lsn = command.Lsn,
                timestampMs = command.TimestampMs,
                address = entry.Address,
                kind = command.Kind.ToString(),
                sku = command.Sku == 0 ? (long?)null : command.Sku,
                orderId = command.OrderId.IsValid ? command.OrderId.ToString() : null,
                value = command.Value == 0 ? (long?)null : command.Value,
                text = command.Text,
                customer = command.Customer,
                extra = command.Extra,
                lines = command.Lines?.Select(l => new { sku = l.Sku, qty = l.Quantity }),
                warehouses = command.Warehouses,
                warehouseId = command.WarehouseId == 0 ? (int?)null : command.WarehouseId,
            }, Http.Json.Options));
        }
        return 0;
    }
}
