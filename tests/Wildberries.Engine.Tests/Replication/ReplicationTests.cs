using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Replication;

namespace Wildberries.Engine.Tests.Replication;

/// <summary>
/// The replication protocol over a command log, in process: a primary and standbys sharing one in-memory log (the
/// Kafka adapter has its own tests, and the failover tests run the real thing in separate processes).
/// </summary>
public class ReplicationTests
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    private static ReplicationOptions Replication(InMemoryCommandLogs logs, NodeRole role, ReplicationMode mode = ReplicationMode.Replicated) => new()
    {
        CommandLog = logs.Open,
        Role = role,
        Mode = mode,
        AckTimeout = TimeSpan.FromMilliseconds(300),
        RetryInterval = TimeSpan.FromMilliseconds(20),
        StartTimeout = TimeSpan.FromSeconds(10),
    };

    private static ReservationEngine Node(InMemoryCommandLogs logs, NodeRole role, int shards = 1, ReplicationMode mode = ReplicationMode.Replicated, InMemoryJournal[]? journals = null)
    {
        journals ??= [.. Enumerable.Range(0, shards).Select(_ => new InMemoryJournal())];
        return ReservationEngine.Start(new EngineOptions { ShardCount = shards }, s => journals[s], replication: Replication(logs, role, mode));
    }

    /// <summary>A node on a real data directory (FASTER journal, replication.json): what restarts keep.</summary>
    private static ReservationEngine DurableNode(string directory, InMemoryCommandLogs logs, NodeRole role, ReplicationMode mode = ReplicationMode.Replicated) =>
        ReservationEngine.Open(new EngineOptions(), new JournalOptions { Directory = directory }, replication: Replication(logs, role, mode));

    private static async Task Seed(ReservationEngine engine, int skus = 20, long onHand = 50)
    {
        for (long sku = 1; sku <= skus; sku++)
        {
            Assert.True((await engine.UpsertItemAsync(sku, $"item {sku}", 100 * sku, maxPerOrder: 100)).IsOk);
            Assert.True((await engine.AdjustStockAsync(sku, 1, onHand)).IsOk);
        }
    }

    /// <summary>
    /// Waits (bounded) until every shard of the standby has applied exactly what the primary has (the primary is
    /// quiet by then), then compares their state hashes at that log sequence number.
    /// </summary>
    private static async Task CaughtUp(ReservationEngine primary, ReservationEngine standby)
    {
        for (var i = 0; i < 1_000; i++)
        {
            var same = true;
            for (var shard = 0; shard < primary.ShardCount; shard++)
            {
                same &= (await primary.GetAppliedStateAsync(shard)).Lsn == (await standby.GetAppliedStateAsync(shard)).Lsn;
            }
            if (same)
            {
                for (var shard = 0; shard < primary.ShardCount; shard++) Assert.Equal(await primary.GetAppliedStateAsync(shard), await standby.GetAppliedStateAsync(shard));
                return;
            }
            await Task.Delay(10, Cancel);
        }
        Assert.Fail($"The standby did not catch up: primary {string.Join(",", primary.Replication.Select(r => $"{r.Lsn} {r.Refusal} {r.LastError}"))}, standby {string.Join(",", standby.Replication.Select(r => $"{r.Lsn} {r.Refusal} {r.LastError}"))}");
    }

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        for (var i = 0; i < 1_000; i++)
        {
            if (await condition()) return;
            await Task.Delay(10, Cancel);
        }
        Assert.Fail($"Timed out waiting until {what}.");
    }

    private static async Task<List<OrderId>> Checkouts(ReservationEngine engine, string prefix, int count, int skus = 20)
    {
        var made = new List<OrderId>();
        for (var i = 0; i < count; i++)
        {
            var first = 1 + (i % skus);
            var r = await engine.CheckoutAsync($"{prefix}-{i}", $"c{i % 7}", [new CheckoutLine(first, 1), new CheckoutLine((first % skus) + 1, 1)]);
            if (r.IsOk) made.Add(r.OrderId);
        }
        return made;
    }

    [Fact]
    public async Task A_standby_applies_the_primary_log_and_ends_with_the_same_state_hash()
    {
        var logs = new InMemoryCommandLogs();
        await using var primary = Node(logs, NodeRole.Primary, shards: 2);
        await using var standby = Node(logs, NodeRole.Standby, shards: 2);
        await Seed(primary);
        var orders = await Checkouts(primary, "k", 60);
        Assert.NotEmpty(orders);
        foreach (var id in orders.Take(20))
        {
            var order = await primary.GetOrderAsync(id);
            Assert.True((await primary.ApplyPaymentAsync(id, $"tx-{id}", true, order!.Amount, "RUB")).IsOk);
        }
        await primary.SettleAsync();

        await CaughtUp(primary, standby);
        Assert.Equal(await primary.GetCombinedStateHashAsync(), await standby.GetCombinedStateHashAsync());
        Assert.All(standby.Replication, r => Assert.Equal(WriteRefusal.Standby, r.Refusal));
        Assert.Equal((await primary.GetItemAsync(3))!.Name, (await standby.GetItemAsync(3))!.Name);
        Assert.Equal(primary.Availability.GetAvailable(5), standby.Availability.GetAvailable(5));
        var refused = await Assert.ThrowsAsync<ShardUnavailableException>(async () => await standby.CheckoutAsync("w", "c", [new CheckoutLine(1, 1)]));
        Assert.Equal("standby", refused.Code);
        // Nor does a standby expire anything by itself: its primary's ticks come through the log.
        await Assert.ThrowsAsync<ShardUnavailableException>(async () => await standby.TickAsync());
    }

    [Fact]
    public async Task Promotion_fences_the_old_primary_and_keeps_every_acknowledged_command()
    {
        var logs = new InMemoryCommandLogs();
        await using var primary = Node(logs, NodeRole.Primary, shards: 2);
        await using var standby = Node(logs, NodeRole.Standby, shards: 2);
        await Seed(primary);
        var acknowledged = await Checkouts(primary, "before", 40);

        var promoted = await standby.PromoteAsync(Cancel);
        Assert.All(promoted, r => Assert.Equal((NodeRole.Primary, WriteRefusal.None, 2), (r.Role, r.Refusal, r.Epoch)));
        foreach (var id in acknowledged) Assert.NotNull(await standby.GetOrderAsync(id));

        // The old primary still believes it is one: its next write reaches the log after the marker, does not count,
        // and it stops taking writes; nothing it answers after that is an acknowledgement.
        var fenced = await Assert.ThrowsAsync<ShardUnavailableException>(async () => await primary.CheckoutAsync("after", "c", [new CheckoutLine(1, 1)]));
        Assert.Equal("fenced", fenced.Code);
        var again = await Assert.ThrowsAsync<ShardUnavailableException>(async () => await primary.CheckoutAsync("after-2", "c", [new CheckoutLine(2, 1)]));
        Assert.Equal("fenced", again.Code);
        Assert.Contains(primary.Replication, r => r.Refusal == WriteRefusal.Fenced);

        // The new primary takes writes, and a third node following the log sees the new history, not the fenced write.
        var r2 = await standby.CheckoutAsync("new", "c", [new CheckoutLine(1, 1)]);
        Assert.True(r2.IsOk, $"{r2}");
        await using var third = Node(logs, NodeRole.Standby, shards: 2);
        await CaughtUp(standby, third);
        Assert.Equal(await standby.GetCombinedStateHashAsync(), await third.GetCombinedStateHashAsync());
        Assert.True(third.Replication.Sum(r => r.DroppedStale) >= 1, "the fenced primary's late entry is dropped by readers");
    }

    [Fact]
    public async Task Replicated_mode_answers_unavailable_when_the_log_is_down_and_resumes_by_itself()
    {
        var logs = new InMemoryCommandLogs();
        await using var primary = Node(logs, NodeRole.Primary);
        await using var standby = Node(logs, NodeRole.Standby);
        await Seed(primary);

        logs.Unavailable = true;
        var first = await Assert.ThrowsAsync<ShardUnavailableException>(async () => await primary.CheckoutAsync("down-1", "c", [new CheckoutLine(1, 1)]));
        Assert.Equal("replication_unavailable", first.Code);
        // Once known, the next write is refused at the door, before the journal.
        var lsn = primary.Replication[0].Lsn;
        var second = await Assert.ThrowsAsync<ShardUnavailableException>(async () => await primary.CheckoutAsync("down-2", "c", [new CheckoutLine(2, 1)]));
        Assert.Equal("replication_unavailable", second.Code);

        logs.Unavailable = false;
        CommandResult retried = default;
        await Until(async () =>
        {
            try
            {
                retried = await primary.CheckoutAsync("down-1", "c", [new CheckoutLine(1, 1)]);
                return true;
            }
            catch (ShardUnavailableException)
            {
                return false;
            }
        }, "the primary takes writes again");
        // The retry with the same key answers with the order the first attempt made (journaled and applied, not
        // acknowledged); the one refused at the door made nothing.
        Assert.True(retried.IsOk && retried.Replayed, $"{retried}");
        Assert.Single((await primary.AuditAsync()).Orders);
        Assert.True(primary.Replication[0].Lsn > lsn);
        await CaughtUp(primary, standby);
        Assert.Equal(await primary.GetStateHashAsync(), await standby.GetStateHashAsync());
    }

    [Fact]
    public async Task Local_mode_acknowledges_while_the_log_is_down_and_ships_it_later()
    {
        var logs = new InMemoryCommandLogs();
        await using var primary = Node(logs, NodeRole.Primary, mode: ReplicationMode.Local);
        await using var standby = Node(logs, NodeRole.Standby, mode: ReplicationMode.Local);
        await Seed(primary);
        logs.Unavailable = true;
        var made = await Checkouts(primary, "local", 10);
        Assert.Equal(10, made.Count);
        await Until(() => Task.FromResult(primary.Replication[0].LagMs > 0 || primary.Replication[0].LagEntries > 0), "the lag shows");
        logs.Unavailable = false;
        await Until(() => Task.FromResult(primary.Replication[0].LagEntries == 0 && primary.Replication[0].Lsn > 40), "the log caught up");
        await CaughtUp(primary, standby);
        Assert.Equal(await primary.GetStateHashAsync(), await standby.GetStateHashAsync());
    }

    [Fact]
    public async Task A_gap_in_the_log_stops_the_standby_with_a_clear_reason()
    {
        var logs = new InMemoryCommandLogs();
        await using var primary = Node(logs, NodeRole.Primary);
        await Seed(primary, skus: 5);
        logs.RemoveEntry(0, 3);
        await using var standby = Node(logs, NodeRole.Standby);
        await Until(() => Task.FromResult(standby.Replication[0].Refusal == WriteRefusal.Stopped), "the standby stops");
        var status = standby.Replication[0];
        Assert.Equal(2, status.Lsn);
        Assert.Contains("jumps from log sequence number 2 to 4", status.LastError, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => standby.PromoteAsync(Cancel));
    }

    [Fact]
    public async Task A_restarted_primary_adopts_the_entries_its_journal_lost_before_it_takes_writes()
    {
        var logs = new InMemoryCommandLogs();
        var full = new InMemoryJournal();
        await using (var primary = Node(logs, NodeRole.Primary, journals: [full]))
        {
            await Seed(primary, skus: 5);
            await Checkouts(primary, "k", 5, skus: 5);
        }
        // The replicate stage ships beside the fsync: a crash can leave the log ahead of the local journal.
        var behind = new InMemoryJournal();
        foreach (var e in full.ReadAfter(0).Take(6)) behind.Append(e.Command);
        behind.Commit();
        await using var restarted = Node(logs, NodeRole.Primary, journals: [behind]);
        Assert.Equal(full.LastLsn, behind.LastLsn);
        var r = await restarted.CheckoutAsync("next", "c", [new CheckoutLine(1, 1)]);
        Assert.True(r.IsOk, $"{r}");
        await using var standby = Node(logs, NodeRole.Standby);
        await CaughtUp(restarted, standby);
        Assert.Equal(await restarted.GetStateHashAsync(), await standby.GetStateHashAsync());
    }

    [Fact]
    public async Task A_fenced_primary_restarted_on_its_data_directory_still_refuses_writes()
    {
        using var dir = new TempDirectory("fenced");
        var logs = new InMemoryCommandLogs();
        await using (var primary = DurableNode(dir.Path, logs, NodeRole.Primary))
        {
            await Seed(primary, skus: 3);
        }
        await using (var standby = Node(logs, NodeRole.Standby))
        {
            await standby.PromoteAsync(Cancel);
        }
        await using var restarted = DurableNode(dir.Path, logs, NodeRole.Primary);
        Assert.Equal(WriteRefusal.Fenced, restarted.Replication[0].Refusal);
        Assert.Contains("epoch 2", restarted.Replication[0].LastError, StringComparison.Ordinal);
        var refused = await Assert.ThrowsAsync<ShardUnavailableException>(async () => await restarted.UpsertItemAsync(9, "x", 1));
        Assert.Equal("fenced", refused.Code);
        // Reads still work: the operator can look before rebuilding it.
        Assert.NotNull(await restarted.GetItemAsync(1));
    }

    [Fact]
    public async Task A_promoted_standby_restarted_with_its_old_command_line_stays_the_primary()
    {
        using var dir = new TempDirectory("promoted");
        var logs = new InMemoryCommandLogs();
        await using var primary = Node(logs, NodeRole.Primary);
        await Seed(primary, skus: 3);
        await using (var standby = DurableNode(dir.Path, logs, NodeRole.Standby))
        {
            await CaughtUp(primary, standby);
            await standby.PromoteAsync(Cancel);
        }
        // The operator restarts it with the same flags (--role standby): it must not come back as a second standby.
        await using var restarted = DurableNode(dir.Path, logs, NodeRole.Standby);
        Assert.Equal((NodeRole.Primary, WriteRefusal.None, 2), (restarted.Replication[0].Role, restarted.Replication[0].Refusal, restarted.Replication[0].Epoch));
        Assert.True((await restarted.UpsertItemAsync(9, "after restart", 1)).IsOk);
    }

    [Fact]
    public async Task A_promotion_cut_short_after_its_epoch_was_raised_is_finished_by_the_next_start_and_fences_the_old_primary()
    {
        using var dir = new TempDirectory("cut-short");
        var logs = new InMemoryCommandLogs();
        await using var primary = Node(logs, NodeRole.Primary);
        await Seed(primary, skus: 3);
        await using (var standby = DurableNode(dir.Path, logs, NodeRole.Standby))
        {
            await CaughtUp(primary, standby);
            logs.AppendsFail = true; // the epoch is raised, the marker cannot be written
            await Assert.ThrowsAsync<CommandLogUnavailableException>(() => standby.PromoteAsync(Cancel));
        }
        logs.AppendsFail = false;
        // Restarted (with its standby command line): it is the primary of the raised epoch; its start writes the
        // missing marker, so the old primary is fenced rather than a second primary of an older epoch.
        await using var restarted = DurableNode(dir.Path, logs, NodeRole.Standby);
        Assert.Equal((NodeRole.Primary, WriteRefusal.None), (restarted.Replication[0].Role, restarted.Replication[0].Refusal));
        Assert.Contains(logs.Records(0), r => r.Kind == CommandLogRecordKind.EpochMarker && r.Epoch == restarted.Replication[0].Epoch);
        var fenced = await Assert.ThrowsAsync<ShardUnavailableException>(async () => await primary.UpsertItemAsync(50, "late", 1));
        Assert.Equal("fenced", fenced.Code);
        Assert.True((await restarted.UpsertItemAsync(51, "new primary", 1)).IsOk);
        await using var third = Node(logs, NodeRole.Standby);
        await CaughtUp(restarted, third);
        Assert.Equal(await restarted.GetStateHashAsync(), await third.GetStateHashAsync());
    }

    [Fact]
    public async Task A_promotion_that_could_not_read_the_log_changes_nothing_and_the_standby_follows_on()
    {
        var logs = new InMemoryCommandLogs();
        await using var primary = Node(logs, NodeRole.Primary, mode: ReplicationMode.Local);
        await using var standby = Node(logs, NodeRole.Standby, mode: ReplicationMode.Local);
        await Seed(primary, skus: 3);
        logs.Unavailable = true;
        await Assert.ThrowsAsync<CommandLogUnavailableException>(() => standby.PromoteAsync(Cancel));
        Assert.Equal((NodeRole.Standby, 0), (standby.Replication[0].Role, standby.Replication[0].Epoch));
        logs.Unavailable = false;
        await Checkouts(primary, "after", 5, skus: 3);
        await CaughtUp(primary, standby);
        Assert.Equal(await primary.GetStateHashAsync(), await standby.GetStateHashAsync());
    }

    [Fact]
    public async Task Entries_journaled_while_the_log_was_away_are_shipped_after_a_restart_even_past_a_snapshot()
    {
        using var dir = new TempDirectory("away");
        var logs = new InMemoryCommandLogs();
        await using (var primary = DurableNode(dir.Path, logs, NodeRole.Primary, ReplicationMode.Local))
        {
            await Seed(primary, skus: 3);
            logs.Unavailable = true;
            Assert.Equal(5, (await Checkouts(primary, "away", 5, skus: 3)).Count);
            await primary.SnapshotAsync(Cancel); // covers entries the log never got
        }
        logs.Unavailable = false;
        await using var restarted = DurableNode(dir.Path, logs, NodeRole.Primary, ReplicationMode.Local);
        await using var standby = Node(logs, NodeRole.Standby, mode: ReplicationMode.Local);
        await Until(() => Task.FromResult(restarted.Replication[0].Lsn == restarted.Recovery[0].LastLsn), "the restarted primary shipped its journal");
        await CaughtUp(restarted, standby);
        Assert.Equal(WriteRefusal.Standby, standby.Replication[0].Refusal);
        Assert.Equal(await restarted.GetStateHashAsync(), await standby.GetStateHashAsync());
    }
}
