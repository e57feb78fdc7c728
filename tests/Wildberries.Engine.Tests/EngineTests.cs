using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Reads;

namespace Wildberries.Engine.Tests;

public class EngineTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_whole_order_flow_through_the_facade()
    {
        var journal = new InMemoryJournal();
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => journal);
        Assert.True((await engine.UpsertItemAsync(42, "Kettle", 199_00, maxPerOrder: 5)).IsOk);
        Assert.True((await engine.AdjustStockAsync(42, 1, 10, "receipt")).IsOk);
        Assert.True((await engine.AdjustStockAsync(42, 2, 3)).IsOk);
        Assert.Equal(13, engine.Availability.GetAvailable(42));

        var r = await engine.CheckoutAsync("key-1", "customer-7", [new CheckoutLine(42, 4)]);
        Assert.Equal(ResultCode.Ok, r.Code);
        Assert.Equal(4 * 199_00, r.Amount);
        Assert.Equal(9, engine.Availability.GetAvailable(42));

        Span<WarehouseAvailability> rows = stackalloc WarehouseAvailability[4];
        Assert.True(engine.Availability.TryRead(42, rows, out var total, out var count));
        Assert.Equal((9L, 2), (total, count));
        Assert.Equal(new WarehouseAvailability(1, 6), rows[0]);
        Assert.Equal(new WarehouseAvailability(2, 3), rows[1]);

        Assert.True((await engine.AttachPaymentAsync(r.OrderId, "sess-1")).IsOk);
        Assert.Equal(OrderStatus.Paid, (await engine.ApplyPaymentAsync(r.OrderId, "tx-1", true, r.Amount, "RUB")).Status);
        Assert.Equal(OrderStatus.Fulfilled, (await engine.ShipAsync(r.OrderId)).Status);
        var order = await engine.GetOrderAsync(r.OrderId);
        Assert.NotNull(order);
        Assert.Equal(("customer-7", "sess-1", "tx-1"), (order.CustomerId, order.PaymentSessionId, order.PaidTransactionId));
        Assert.Null(await engine.GetOrderAsync(OrderId.Create(0, 999)));
        Assert.Equal(9, engine.Availability.GetAvailable(42));
        Assert.Equal(7, journal.LastLsn); // reads are answered in line but never journaled
    }

    [Fact]
    public async Task Many_threads_buying_the_last_units_never_oversell()
    {
        const int units = 1_000;
        const int buyers = 8;
        const int attemptsEach = 400;
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => new InMemoryJournal());
        await engine.UpsertItemAsync(7, "Hot item", 100, maxPerOrder: 3);
        await engine.AdjustStockAsync(7, 1, units / 2);
        await engine.AdjustStockAsync(7, 2, units / 2);

        var sold = 0L;
        var refused = 0;
        var threads = Enumerable.Range(0, buyers).Select(b => Task.Run(async () =>
        {
            for (var i = 0; i < attemptsEach; i++)
            {
                var qty = 1 + ((b + i) % 3);
                var r = await engine.CheckoutAsync($"b{b}-{i}", $"customer-{b}", [new CheckoutLine(7, qty)]);
                if (r.IsOk) Interlocked.Add(ref sold, qty);
                else if (r.Code == ResultCode.InsufficientStock) Interlocked.Increment(ref refused);
                else Assert.Fail($"unexpected {r.Code}");
            }
        })).ToArray();
        await Task.WhenAll(threads);

        // 8 x 400 attempts of ~2 units ask for ~6,400 units: the stock runs out and exactly all of it is sold.
        Assert.Equal(units, sold);
        Assert.True(refused > 0);
        Assert.Equal(0, engine.Availability.GetAvailable(7));
    }

    [Fact]
    public async Task A_restart_recovers_the_same_state_from_the_journal()
    {
        var journal = new InMemoryJournal();
        ulong hash;
        OrderId paid;
        await using (var engine = ReservationEngine.Start(new EngineOptions(), _ => journal))
        {
            await engine.UpsertItemAsync(1, "A", 500);
            await engine.AdjustStockAsync(1, 1, 20);
            var pending = await engine.CheckoutAsync("k1", "c1", [new CheckoutLine(1, 2)]);
            var other = await engine.CheckoutAsync("k2", "c2", [new CheckoutLine(1, 3)]);
            await engine.ApplyPaymentAsync(other.OrderId, "tx", true, other.Amount, "RUB");
            paid = other.OrderId;
            Assert.True(pending.IsOk);
            hash = await engine.GetStateHashAsync();
        }

        await using var restarted = ReservationEngine.Start(new EngineOptions(), _ => journal);
        Assert.Equal(hash, await restarted.GetStateHashAsync());
        Assert.Equal(15, restarted.Availability.GetAvailable(1));
        Assert.Equal(OrderStatus.Paid, (await restarted.GetOrderAsync(paid))!.Status);
        var replay = await restarted.CheckoutAsync("k1", "c1", [new CheckoutLine(1, 2)]);
        Assert.True(replay.Replayed);
        var next = await restarted.CheckoutAsync("k3", "c3", [new CheckoutLine(1, 1)]);
        Assert.Equal(3, next.OrderId.Sequence);
    }

    [Fact]
    public async Task The_journal_replayed_into_a_fresh_state_machine_gives_the_engine_hash()
    {
        var journal = new InMemoryJournal();
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => journal);
        await engine.UpsertItemAsync(1, "A", 10);
        await engine.AdjustStockAsync(1, 1, 50);
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => engine.CheckoutAsync($"k{i}", $"c{i % 7}", [new CheckoutLine(1, 1 + (i % 2))]).AsTask()));
        var hash = await engine.GetStateHashAsync();

        var machine = new ReservationStateMachine();
        var events = new EventBuffer();
        foreach (var entry in journal.ReadAfter(0)) machine.Apply(entry.Command, events);
        Assert.Equal(hash, machine.ComputeStateHash());
    }

    [Fact]
    public async Task Commands_that_wait_behind_a_commit_share_the_next_one()
    {
        // Group commit: while one fsync is in progress, everything submitted meanwhile is made durable by a single
        // following commit, not one commit per command.
        const int burst = 200;
        var journal = new GatedJournal();
        await using var engine = ReservationEngine.Start(new EngineOptions { ExpiryCheckInterval = TimeSpan.FromMinutes(1) }, _ => journal);
        await engine.UpsertItemAsync(1, "A", 10);
        var commitsBefore = journal.CommitCount;

        journal.Hold();
        var first = engine.AdjustStockAsync(1, 1, 1).AsTask();
        await journal.Held.WaitAsync(Patience, TestContext.Current.CancellationToken);
        var rest = Enumerable.Range(0, burst).Select(_ => engine.AdjustStockAsync(1, 1, 1).AsTask()).ToArray();
        journal.Release();
        Assert.True((await first.WaitAsync(Patience, TestContext.Current.CancellationToken)).IsOk);
        Assert.All(await Task.WhenAll(rest).WaitAsync(Patience, TestContext.Current.CancellationToken), r => Assert.True(r.IsOk));

        Assert.Equal(1 + 1 + burst, journal.LastLsn);
        Assert.Equal(2, journal.CommitCount - commitsBefore); // the held one, then one for all 200
        Assert.Equal(1 + burst, engine.Availability.GetAvailable(1));
    }

    /// <summary>An in-memory journal whose next commit can be held open, as a slow fsync would.</summary>
    private sealed class GatedJournal : ICommandJournal
    {
        private readonly InMemoryJournal _inner = new();
        private readonly ManualResetEventSlim _gate = new(true);
        private TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Held => _held.Task;

        public long LastLsn => _inner.LastLsn;

        public long CommitCount => _inner.CommitCount;

        public void Hold()
        {
            _held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _gate.Reset();
        }

        public void Release() => _gate.Set();

        public void Append(in Command command) => _inner.Append(command);

        public void Commit()
        {
            _held.TrySetResult();
            if (!_gate.Wait(Patience)) throw new TimeoutException("the test never released the commit");
            _inner.Commit();
        }

        public IEnumerable<JournalEntry> ReadAfter(long afterLsn, long fromAddress = 0) => _inner.ReadAfter(afterLsn, fromAddress);

        public void TruncateBefore(long address) => _inner.TruncateBefore(address);

        public void Dispose() => _gate.Dispose();
    }

    [Fact]
    public async Task Reservations_expire_on_the_engine_clock_without_other_traffic()
    {
        var clock = new ManualClock();
        var events = new EventRecorder();
        var options = new EngineOptions { ExpiryCheckInterval = TimeSpan.FromMilliseconds(10), StateMachine = new StateMachineOptions { ReservationTtlMs = 60_000 } };
        await using var engine = ReservationEngine.Start(options, _ => new InMemoryJournal(), clock, events);
        await engine.UpsertItemAsync(1, "A", 10);
        await engine.AdjustStockAsync(1, 1, 5);
        var r = await engine.CheckoutAsync("k", "c", [new CheckoutLine(1, 5)]);
        Assert.Equal(0, engine.Availability.GetAvailable(1));

        var expired = events.Next(EventKind.OrderExpired);
        clock.Advance(TimeSpan.FromMinutes(1));
        var e = await expired.WaitAsync(Patience, TestContext.Current.CancellationToken);

        Assert.Equal(r.OrderId, e.OrderId);
        Assert.Equal(5, engine.Availability.GetAvailable(1));
        Assert.Equal(OrderStatus.Expired, (await engine.GetOrderAsync(r.OrderId))!.Status);
    }

    [Fact]
    public async Task Events_are_published_after_the_command_with_its_lsn()
    {
        var events = new EventRecorder();
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => new InMemoryJournal(), listener: events);
        await engine.UpsertItemAsync(1, "A", 10);
        await engine.AdjustStockAsync(1, 1, 5);
        var r = await engine.CheckoutAsync("k", "c", [new CheckoutLine(1, 2)]);
        var created = events.Events.Single(e => e.Kind == EventKind.OrderCreated);
        Assert.Equal((r.OrderId, 3L, 0, 20L), (created.OrderId, created.Lsn, created.Shard, created.Amount));
        Assert.Equal([EventKind.StockChanged, EventKind.StockChanged, EventKind.OrderCreated], events.Events.Select(e => e.Kind));
    }

    [Fact]
    public async Task Disposing_finishes_every_submitted_command_and_then_refuses_new_ones()
    {
        var engine = ReservationEngine.Start(new EngineOptions(), _ => new InMemoryJournal());
        await engine.UpsertItemAsync(1, "A", 10);
        var pending = Enumerable.Range(0, 5_000).Select(i => engine.AdjustStockAsync(1, 1, 1).AsTask()).ToArray();
        await engine.DisposeAsync();
        Assert.All(await Task.WhenAll(pending), r => Assert.True(r.IsOk));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await engine.AdjustStockAsync(1, 1, 1));
    }

    [Fact]
    public async Task A_failing_journal_fails_that_command_and_every_later_one_and_applies_none()
    {
        var journal = new FailingJournal(failAtLsn: 3);
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => journal);
        Assert.True((await engine.UpsertItemAsync(1, "A", 10)).IsOk);
        Assert.True((await engine.AdjustStockAsync(1, 1, 5)).IsOk);
        var error = await Assert.ThrowsAsync<EngineFaultedException>(async () => await engine.AdjustStockAsync(1, 1, 5));
        Assert.Contains("journal failed", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<EngineFaultedException>(async () => await engine.AdjustStockAsync(1, 1, 5));
        Assert.Equal(5, engine.Availability.GetAvailable(1));
    }

    [Fact]
    public async Task A_failed_commit_fails_every_command_of_its_batch_and_applies_none()
    {
        var journal = new FailingCommitJournal(failFromLsn: 400);
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => journal);
        await engine.UpsertItemAsync(1, "A", 10);

        // A burst that the journal stage takes in several batches; the batch holding LSN 400 fails to commit.
        var results = await Task.WhenAll(Enumerable.Range(0, 2_000).Select(async _ =>
        {
            try
            {
                return (await engine.AdjustStockAsync(1, 1, 1)).IsOk;
            }
            catch (EngineFaultedException)
            {
                return false;
            }
        }));
        var acknowledged = results.Count(ok => ok);
        Assert.True(journal.CommittedLsn < 400);
        Assert.IsType<EngineFaultedException>(engine.Fault);
        // Every acknowledged command is committed, nothing committed was reported as failed, nothing else applied.
        Assert.Equal(journal.CommittedLsn - 1, acknowledged);
        Assert.Equal(acknowledged, engine.Availability.GetAvailable(1));
    }

    private sealed class FailingCommitJournal(long failFromLsn) : ICommandJournal
    {
        private long _appended;

        public long LastLsn => CommittedLsn;

        public long CommittedLsn { get; private set; }

        public void Append(in Command command) => _appended = command.Lsn;

        public void Commit()
        {
            if (_appended >= failFromLsn) throw new IOException("fsync failed");
            CommittedLsn = _appended;
        }

        public IEnumerable<JournalEntry> ReadAfter(long afterLsn, long fromAddress = 0) => [];

        public void TruncateBefore(long address)
        {
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task A_throwing_event_listener_does_not_stop_the_writer()
    {
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => new InMemoryJournal(), listener: new ThrowingListener());
        Assert.True((await engine.UpsertItemAsync(1, "A", 10)).IsOk);
        Assert.True((await engine.AdjustStockAsync(1, 1, 5)).IsOk);
        Assert.True((await engine.CheckoutAsync("k", "c", [new CheckoutLine(1, 1)])).IsOk);
        Assert.Equal(4, engine.Availability.GetAvailable(1));
        Assert.Equal(2, engine.ListenerFailures);
    }

    private sealed class ThrowingListener : IEngineEventListener
    {
        public void OnEvents(ReadOnlySpan<EngineEvent> events) => throw new InvalidOperationException("listener bug");
    }

    [Fact]
    public void Options_are_validated_at_start()
    {
        Assert.Throws<ArgumentException>(() => ReservationEngine.Start(new EngineOptions { RingSize = 1000 }, _ => new NullJournal()));
        Assert.Throws<ArgumentException>(() => ReservationEngine.Start(new EngineOptions { ShardCount = EngineOptions.ShardCountMax + 1 }, _ => new NullJournal()));
        Assert.Throws<ArgumentException>(() => ReservationEngine.Start(new EngineOptions { ShardCount = 0 }, _ => new NullJournal()));
        Assert.Throws<ArgumentException>(() => ReservationEngine.Start(new EngineOptions { StateMachine = new StateMachineOptions { Currency = "" } }, _ => new NullJournal()));
    }

    private sealed class FailingJournal(long failAtLsn) : ICommandJournal
    {
        public long LastLsn { get; private set; }

        public void Append(in Command command)
        {
            if (command.Lsn >= failAtLsn) throw new IOException("disk on fire");
            LastLsn = command.Lsn;
        }

        public void Commit()
        {
        }

        public IEnumerable<JournalEntry> ReadAfter(long afterLsn, long fromAddress = 0) => [];

        public void TruncateBefore(long address)
        {
        }

        public void Dispose()
        {
        }
    }
}
