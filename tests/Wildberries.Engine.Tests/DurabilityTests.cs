using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests;

public class DurabilityTests
{
    internal static JournalOptions Small(string directory) => new()
    {
        Directory = directory,
        PageSizeBits = 16,
        MemorySizeBits = 20,
        SegmentSizeBits = 22,
        SnapshotEveryEntries = 0,
    };

    internal static async Task<(ulong Hash, List<OrderId> Orders)> Fill(ReservationEngine engine, int checkouts, int seed = 1)
    {
        await engine.UpsertItemAsync(1, "A", 100);
        await engine.UpsertItemAsync(2, "B", 250);
        await engine.AdjustStockAsync(1, 1, 1_000);
        await engine.AdjustStockAsync(2, 2, 1_000);
        var orders = new List<OrderId>();
        for (var i = 0; i < checkouts; i++)
        {
            var r = await engine.CheckoutAsync($"s{seed}-k{i}", $"c{i % 5}", [new CheckoutLine(1 + (i % 2), 1 + (i % 3))]);
            Assert.True(r.IsOk);
            orders.Add(r.OrderId);
            if (i % 3 == 0) await engine.ApplyPaymentAsync(r.OrderId, $"s{seed}-tx{i}", true, r.Amount, "RUB");
        }
        return (await engine.GetStateHashAsync(), orders);
    }

    [Fact]
    public async Task A_durable_engine_recovers_every_acknowledged_command_after_a_restart()
    {
        using var dir = new TempDirectory("restart");
        ulong hash;
        List<OrderId> orders;
        await using (var engine = ReservationEngine.Open(new EngineOptions(), Small(dir.Path)))
        {
            (hash, orders) = await Fill(engine, 200);
        }
        await using var reopened = ReservationEngine.Open(new EngineOptions(), Small(dir.Path));
        var report = Assert.Single(reopened.Recovery);
        Assert.Equal(hash, report.StateHash);
        Assert.Equal(hash, await reopened.GetStateHashAsync());
        // 4 catalog and stock commands, 200 checkouts, a payment for every third (67).
        Assert.Equal(4 + 200 + 67, report.LastLsn);
        foreach (var id in orders) Assert.NotNull(await reopened.GetOrderAsync(id));
    }

    [Fact]
    public async Task A_snapshot_plus_the_journal_after_it_recovers_the_same_state()
    {
        using var dir = new TempDirectory("snapshot");
        ulong hash;
        await using (var engine = ReservationEngine.Open(new EngineOptions(), Small(dir.Path)))
        {
            await Fill(engine, 50, seed: 1);
            var files = await engine.SnapshotAsync(TestContext.Current.CancellationToken);
            Assert.NotNull(files[0]);
            (hash, _) = await Fill(engine, 50, seed: 2);
        }
        await using var reopened = ReservationEngine.Open(new EngineOptions(), Small(dir.Path));
        var report = reopened.Recovery[0];
        Assert.True(report.SnapshotLsn > 0);
        Assert.True(report.ReplayedEntries > 0);
        Assert.Equal(hash, report.StateHash);
    }

    [Fact]
    public async Task A_missing_commit_file_is_never_an_empty_start()
    {
        using var dir = new TempDirectory("nocommit");
        ulong hash;
        await using (var engine = ReservationEngine.Open(new EngineOptions(), Small(dir.Path)))
        {
            (hash, _) = await Fill(engine, 20);
        }
        Directory.Delete(Path.Combine(dir.Shard0, "commits"), recursive: true);

        // FasterLog alone would start empty. With fast commits the commit records are in the log too, so FASTER
        // may find them all; otherwise the commit mark turns the loss into a refusal. Never a silent empty start.
        try
        {
            await using var reopened = ReservationEngine.Open(new EngineOptions(), Small(dir.Path));
            Assert.Equal(hash, reopened.Recovery[0].StateHash);
        }
        catch (JournalCorruptException error)
        {
            Assert.Contains("commit file is missing or damaged", error.Message, StringComparison.Ordinal);
            Assert.Contains(dir.Shard0, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_missing_commit_mark_with_journal_data_is_a_refusal()
    {
        using var dir = new TempDirectory("nomark");
        await using (var engine = ReservationEngine.Open(new EngineOptions(), Small(dir.Path)))
        {
            await Fill(engine, 20);
        }
        File.Delete(Path.Combine(dir.Shard0, "journal.mark"));
        var error = Assert.Throws<JournalCorruptException>(() => ReservationEngine.Open(new EngineOptions(), Small(dir.Path)));
        Assert.Contains("journal.mark", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_damaged_entry_names_the_file_and_sequence_number_and_accepting_the_loss_keeps_the_valid_prefix()
    {
        using var dir = new TempDirectory("damage");
        await using (var engine = ReservationEngine.Open(new EngineOptions(), Small(dir.Path)))
        {
            await Fill(engine, 100);
        }
        var segment = Path.Combine(dir.Shard0, "journal.log.0");
        var bytes = await File.ReadAllBytesAsync(segment, TestContext.Current.CancellationToken);
        // Damage a byte inside a known entry: the idempotency key of the 51st checkout.
        var at = bytes.AsSpan().IndexOf("s1-k50"u8);
        Assert.True(at > 0);
        bytes[at + 3] ^= 0x5A;
        await File.WriteAllBytesAsync(segment, bytes, TestContext.Current.CancellationToken);

        var error = Assert.Throws<JournalCorruptException>(() => ReservationEngine.Open(new EngineOptions(), Small(dir.Path)));
        Assert.Contains("journal.log.0", error.Message, StringComparison.Ordinal);
        Assert.Contains("log sequence number", error.Message, StringComparison.Ordinal);

        await using (var accepted = ReservationEngine.Open(new EngineOptions(), Small(dir.Path) with { AcceptDataLoss = true }))
        {
            var report = accepted.Recovery[0];
            Assert.NotNull(report.DataLoss);
            Assert.True(report.LastLsn > 0);
            Assert.True((await accepted.AdjustStockAsync(1, 1, 1)).IsOk);
        }
        // After the accepted loss the shard starts over cleanly: no flag needed any more.
        await using var again = ReservationEngine.Open(new EngineOptions(), Small(dir.Path));
        Assert.Null(again.Recovery[0].DataLoss);
    }

    [Fact]
    public async Task A_damaged_newest_snapshot_falls_back_to_the_older_one_and_a_longer_replay()
    {
        using var dir = new TempDirectory("badsnap");
        ulong hash;
        await using (var engine = ReservationEngine.Open(new EngineOptions(), Small(dir.Path)))
        {
            await Fill(engine, 30, seed: 1);
            await engine.SnapshotAsync(TestContext.Current.CancellationToken);
            await Fill(engine, 30, seed: 2);
            await engine.SnapshotAsync(TestContext.Current.CancellationToken);
            (hash, _) = await Fill(engine, 30, seed: 3);
        }
        var newest = Directory.GetFiles(dir.Shard0, "snapshot-*.wbs").Order(StringComparer.Ordinal).Last();
        var bytes = await File.ReadAllBytesAsync(newest, TestContext.Current.CancellationToken);
        bytes[^10] ^= 0xFF;
        await File.WriteAllBytesAsync(newest, bytes, TestContext.Current.CancellationToken);

        await using var reopened = ReservationEngine.Open(new EngineOptions(), Small(dir.Path));
        var report = reopened.Recovery[0];
        Assert.Single(report.RejectedSnapshots);
        Assert.Equal(hash, report.StateHash);
    }
}
