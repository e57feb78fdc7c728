using System.Globalization;
using System.Text.Json;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Host.Operator;

namespace Wildberries.Host.Tests;

/// <summary>The operator's offline commands: verify says whole or damaged (with the last number and hash), inspect lists entries.</summary>
public class OperatorCommandTests
{
    private static async Task<(string Data, long Lsn, ulong Hash)> DirectoryWithOrdersAsync()
    {
        var data = Directory.CreateTempSubdirectory("wb-operator-").FullName;
        await using var engine = ReservationEngine.Open(new EngineOptions(), new JournalOptions { Directory = data });
        for (long sku = 1; sku <= 5; sku++)
        {
            await engine.UpsertItemAsync(sku, $"item {sku}", 100 * sku);
            await engine.AdjustStockAsync(sku, 1, 50);
        }
        for (var i = 0; i < 20; i++) Assert.True((await engine.CheckoutAsync($"k{i}", "c", [new CheckoutLine(1 + (i % 5), 1)])).IsOk);
        var (lsn, hash) = await engine.GetAppliedStateAsync();
        return (data, lsn, hash);
    }

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = OperatorCommands.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Verify_prints_the_last_log_sequence_number_and_state_hash_of_a_whole_directory()
    {
        var (data, lsn, hash) = await DirectoryWithOrdersAsync();
        try
        {
            var (code, output, _) = Run("verify", "--data", data);
            Assert.Equal(0, code);
            Assert.Contains($"journal ok through log sequence number {lsn} ", output, StringComparison.Ordinal);
            Assert.Contains($"state hash {hash.ToString("x16", CultureInfo.InvariantCulture)}", output, StringComparison.Ordinal);
            Assert.EndsWith("verify: whole" + Environment.NewLine, output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Verify_finds_a_flipped_byte_in_the_journal_and_exits_1()
    {
        var (data, _, _) = await DirectoryWithOrdersAsync();
        try
        {
            var log = Path.Combine(data, "shard-0", FasterJournal.LogFileName + ".0");
            var bytes = await File.ReadAllBytesAsync(log, TestContext.Current.CancellationToken);
            // Inside the written part: the middle of the data the 30 entries take.
            var written = Array.FindLastIndex(bytes, b => b != 0);
            bytes[written / 2] ^= 0x5A;
            await File.WriteAllBytesAsync(log, bytes, TestContext.Current.CancellationToken);
            var (code, output, _) = Run("verify", "--data", data);
            Assert.Equal(1, code);
            Assert.Contains("DAMAGED", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Inspect_lists_entries_as_json_lines_from_a_log_sequence_number()
    {
        var (data, lsn, _) = await DirectoryWithOrdersAsync();
        try
        {
            var (code, output, _) = Run("inspect", "--data", data, "--from", "10", "--count", "5");
            Assert.Equal(0, code);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
            Assert.Equal([11L, 12, 13, 14, 15], lines.Select(l => l.GetProperty("lsn").GetInt64()));
            Assert.Equal("Checkout", lines[0].GetProperty("kind").GetString());
            var all = Run("inspect", "--data", data).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(lsn, all.Length);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Inspect_from_beyond_the_last_entry_lists_nothing_even_from_the_largest_number()
    {
        var (data, lsn, _) = await DirectoryWithOrdersAsync();
        try
        {
            foreach (var from in new[] { lsn, lsn + 1, long.MaxValue - 1, long.MaxValue })
            {
                var (code, output, error) = Run("inspect", "--data", data, "--from", from.ToString(CultureInfo.InvariantCulture));
                Assert.True(code == 0 && output.Length == 0, $"--from {from}: exit {code}, {output}{error}");
            }
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public void A_bad_command_line_exits_2_with_the_usage()
    {
        Assert.Equal(2, Run("verify").Code);
        Assert.Equal(2, Run("inspect", "--data", "x", "--count").Code);
        var (code, _, error) = Run("verify", "--data", "x", "--typo", "1");
        Assert.Equal(2, code);
        Assert.Contains("usage:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backup_copies_a_stopped_directory_that_starts_with_the_same_state()
    {
        var (data, lsn, hash) = await DirectoryWithOrdersAsync();
        var to = Path.Combine(Path.GetTempPath(), $"wb-backup-{Guid.NewGuid():N}");
        try
        {
            var (code, output, _) = Run("backup", "--data", data, "--to", to);
            Assert.Equal(0, code);
            Assert.Contains("verify: whole", output, StringComparison.Ordinal);
            await using var restored = ReservationEngine.Open(new EngineOptions(), new JournalOptions { Directory = to });
            Assert.Equal((lsn, hash), await restored.GetAppliedStateAsync());
            Assert.Equal(2, Run("backup", "--data", data, "--to", to).Code); // never over an existing copy
        }
        finally
        {
            Directory.Delete(data, recursive: true);
            if (Directory.Exists(to)) Directory.Delete(to, recursive: true);
        }
    }
}
