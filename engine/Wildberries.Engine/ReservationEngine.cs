using Wildberries.Core;
using Wildberries.Engine.Durability;
using Wildberries.Engine.Events;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Pipeline;
using Wildberries.Engine.Reads;
using Wildberries.Engine.Replication;
using Wildberries.Engine.Sharding;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine;

/// <summary>
/// The embeddable reservation engine: stock, reservations and orders in memory behind a single-writer ring per
/// shard, every command journaled before it is answered. Thread-safe: call it from any number of threads.
/// </summary>
/// <example>
/// <code>
/// await using var engine = ReservationEngine.Start(new EngineOptions(), shard => new InMemoryJournal());
/// await engine.UpsertItemAsync(sku: 42, "Kettle", price: 199_00);
/// await engine.AdjustStockAsync(sku: 42, warehouseId: 1, delta: 10);
/// var r = await engine.CheckoutAsync("key-1", "customer-7", [new CheckoutLine(42, 1)]);
/// if (r.IsOk) Console.WriteLine($"{r.OrderId} holds stock until {r.ReservedUntilMs}");
/// </code>
/// </example>
public sealed class ReservationEngine : IAsyncDisposable
{
    /// <summary>10 seconds: how long a late payment of a cross-shard order waits for every shard's answer.</summary>
    private static readonly TimeSpan RepayWait = TimeSpan.FromSeconds(10);

    private readonly ShardPipeline[] _shards;
    private readonly Snapshotter?[] _snapshotters;
    private readonly CrossShardCoordinator _coordinator;
    private readonly OpenedShard[] _opened;
    private readonly TimeProvider _time;
    private readonly ShardReplicator[]? _replicators;
    private readonly NodeEpoch? _epoch;
    private readonly SemaphoreSlim _promotion = new(1, 1);
    private bool _promotionBegun;
    private int _disposed;

    private ReservationEngine(EngineOptions options, TimeProvider time, IEngineEventListener? listener, OpenedShard[] opened, ReplicationOptions? replication = null, string? dataDirectory = null)
    {
        Options = options;
        _opened = opened;
        _time = time;
        if (replication is not null)
        {
            (_replicators, _epoch) = StartReplication(replication, opened, dataDirectory, time);
        }
        _shards = new ShardPipeline[opened.Length];
        Metrics = new EngineMetrics(this, opened.Length);
        _snapshotters = [.. opened.Select(o => o.Snapshotter)];
        Recovery = [.. opened.Select(o => o.Report)];
        _coordinator = new CrossShardCoordinator(_shards);
        // Read before the pipelines own the machines: the cross-shard work a crash may have left half done.
        var unfinished = opened.Length == 1 ? [] : opened
            .SelectMany((o, home) => o.Machine.PendingRemoteWork().Select(w => (home, w.Order, w.Action, w.Shards)))
            .ToList();
        // A standby applies its primary's decisions; the cross-shard steps that follow them arrive through the log too.
        Action<EngineEvent>? remoteWork = opened.Length == 1 ? null : e =>
        {
            if (IsPrimary) _coordinator.Post(e);
        };
        var applied = opened.Select(o => o.Machine.LastLsn).ToArray();
        for (var i = 0; i < _shards.Length; i++)
        {
            _shards[i] = new ShardPipeline(i, options, opened[i].Machine, opened[i].Journal, time, Availability, listener, remoteWork, _replicators?[i], Metrics);
        }
        _coordinator.Start();
        if (_replicators is not null)
        {
            for (var i = 0; i < _replicators.Length; i++)
            {
                var pipeline = _shards[i];
                _replicators[i].Start(opened[i].Journal, c => pipeline.SubmitReplicated(c), applied[i]);
            }
        }
        if (unfinished.Count == 0 || !IsPrimary) return;
        try
        {
            _coordinator.ReconcileAsync(unfinished).GetAwaiter().GetResult();
        }
        catch
        {
            // A start that cannot finish what a crash left half done does not leave threads and files behind.
            DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    /// <summary>Whether this node takes writes as a primary (always without replication); asked per cross-shard event, so a plain loop (no LINQ, no allocation).</summary>
    private bool IsPrimary
    {
        get
        {
            if (_replicators is null) return true;
            foreach (var r in _replicators)
            {
                if (r.Role != NodeRole.Primary || r.Refusal is WriteRefusal.Fenced or WriteRefusal.Stopped) return false;
            }
            return true;
        }
    }

    /// <summary>
    /// Before any pipeline runs: a primary reads each shard's command log to its end (adopting entries it lost,
    /// learning whether it was fenced); closes what was opened when that fails.
    /// </summary>
    private static (ShardReplicator[], NodeEpoch) StartReplication(ReplicationOptions replication, OpenedShard[] opened, string? dataDirectory, TimeProvider time)
    {
        var epoch = NodeEpoch.Load(dataDirectory);
        var replicators = new ShardReplicator?[opened.Length];
        // A directory that ever wrote under an epoch belongs to a primary (the first one, or a promoted standby):
        // restarted with the standby's old command line it stays the primary (fenced if a newer one took over).
        // A directory becomes a standby again only by being rebuilt from a snapshot.
        if (epoch.Epoch > 0 && replication.Role == NodeRole.Standby) replication = replication with { Role = NodeRole.Primary };
        try
        {
            // The first primary of a data directory writes with epoch 1; a standby has none until promoted.
            if (replication.Role == NodeRole.Primary && epoch.Epoch == 0) epoch.Raise(1);
            for (var i = 0; i < opened.Length; i++)
            {
                replicators[i] = new ShardReplicator(i, replication, epoch, dataDirectory is null ? null : Path.Combine(dataDirectory, $"shard-{i}"), opened[i].Slots, time);
            }
            if (replication.Role == NodeRole.Primary)
            {
                Parallel.For(0, opened.Length, i => replicators[i]!.SyncAsPrimary(opened[i].Machine, opened[i].Journal, opened[i].Report.SnapshotLsn));
            }
            return ([.. replicators.Select(r => r!)], epoch);
        }
        catch (Exception ex)
        {
            foreach (var r in replicators) r?.Dispose();
            foreach (var o in opened) o.CloseAsync().AsTask().GetAwaiter().GetResult();
            if (ex is AggregateException { InnerExceptions.Count: 1 } single) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(single.InnerExceptions[0]);
            throw;
        }
    }

    /// <summary>
    /// Recovers each shard from its journal and starts its pipeline. <paramref name="journalFactory"/> gives the
    /// journal of a shard number; <paramref name="timeProvider"/> is the clock the journal stage stamps commands with.
    /// No snapshots are taken: <see cref="Open"/> is the durable engine.
    /// </summary>
    public static ReservationEngine Start(
        EngineOptions options,
        Func<int, ICommandJournal> journalFactory,
        TimeProvider? timeProvider = null,
        IEngineEventListener? listener = null,
        ReplicationOptions? replication = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(journalFactory);
        options.Validate();
        replication?.Validate();
        var time = timeProvider ?? TimeProvider.System;
        return new ReservationEngine(options, time, listener, ShardOpener.Start(options, journalFactory, time), replication);
    }

    /// <summary>
    /// Opens the durable engine on <see cref="JournalOptions.Directory"/>: for each shard, in parallel, the newest valid
    /// snapshot plus the FASTER journal after it, verified; then snapshots in the background. Refuses to start (with
    /// <see cref="JournalCorruptException"/> naming the file and log sequence number) when acknowledged data is
    /// damaged, unless <see cref="JournalOptions.AcceptDataLoss"/> is set, and when the directory was created with
    /// another <see cref="EngineOptions.ShardCount"/>.
    /// </summary>
    public static ReservationEngine Open(
        EngineOptions options,
        JournalOptions journal,
        TimeProvider? timeProvider = null,
        IEngineEventListener? listener = null,
        ReplicationOptions? replication = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(journal);
        options.Validate();
        journal.Validate();
        replication?.Validate();
        var time = timeProvider ?? TimeProvider.System;
        if (journal.Durability == JournalDurability.InMemory) return Start(options, _ => new NullJournal(), time, listener, replication);
        return new ReservationEngine(options, time, listener, ShardOpener.Open(options, journal, time), replication, journal.Directory);
    }

    /// <summary>Each shard's replication (role, epoch, lag, why writes are refused); empty without replication.</summary>
    public IReadOnlyList<ReplicationStatus> Replication => _replicators is null ? [] : [.. _replicators.Select(r => r.Status())];

    /// <summary>
    /// Promotes this standby to primary: stops following, raises the epoch (durably), writes each shard's epoch
    /// marker (fencing the old primary), applies everything before it, finishes the cross-shard work the old primary
    /// left, and starts taking writes. Throws <see cref="InvalidOperationException"/> when this node is not a
    /// standby (or its replica stopped), <see cref="CommandLogFencedException"/> when another node promoted first,
    /// <see cref="CommandLogUnavailableException"/> when the log cannot be reached.
    /// </summary>
    public async Task<IReadOnlyList<ReplicationStatus>> PromoteAsync(CancellationToken cancellation = default)
    {
        if (_replicators is null) throw new InvalidOperationException("Replication is not configured: there is nothing to promote.");
        await _promotion.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            if (_replicators.All(r => r.Role == NodeRole.Primary)) throw new InvalidOperationException("This node is already the primary.");
            if (!_promotionBegun)
            {
                try
                {
                    await Task.WhenAll(_replicators.Select(r => r.StopFollowingAsync())).ConfigureAwait(false);
                    // To the end of every log first: the new epoch must be above every epoch ever written.
                    await Task.WhenAll(_replicators.Select(r => Task.Run(() => r.CatchUpAsync(cancellation), cancellation))).ConfigureAwait(false);
                }
                catch
                {
                    // Nothing changed: the standby goes on following.
                    foreach (var r in _replicators) r.ResumeFollowing();
                    throw;
                }
                _epoch!.Raise(Math.Max(_epoch.Epoch, _replicators.Max(r => r.MaxEpochSeen)) + 1);
                _promotionBegun = true;
            }
            // Past the durable epoch the node is committed to becoming the primary: a failure here is retried by the
            // next call (or by the next start, which writes the marker a crash left unwritten); no cancellation.
            await Task.WhenAll(_replicators.Where(r => r.Role == NodeRole.Standby).Select(r => Task.Run(() => r.PromoteAsync(CancellationToken.None), CancellationToken.None))).ConfigureAwait(false);
            if (_shards.Length > 1)
            {
                var work = new List<(int Home, OrderId Order, RemoteAction Action, int[] Shards)>();
                for (var home = 0; home < _shards.Length; home++)
                {
                    foreach (var w in await _shards[home].ReadRemoteWork().ConfigureAwait(false)) work.Add((home, w.Order, w.Action, w.Shards));
                }
                if (work.Count > 0) await _coordinator.ReconcileAsync(work).ConfigureAwait(false);
            }
            return Replication;
        }
        finally
        {
            _promotion.Release();
        }
    }

    /// <summary>The first shard's reason to refuse writes, as the exception callers get; null when all take writes.</summary>
    private ShardUnavailableException? WriteRefused()
    {
        foreach (var r in _replicators!)
        {
            if (r.Refusal != WriteRefusal.None) return r.RefusalError();
        }
        return null;
    }

    /// <summary>What recovery found for each shard at start: snapshot, entries replayed, state hash, time taken.</summary>
    public IReadOnlyList<RecoveryReport> Recovery { get; }

    /// <summary>
    /// Takes a snapshot of every shard now, off the writer threads (durable engines only); returns the files (a shard
    /// with nothing new since its latest snapshot: that one). Null for a shard without snapshots (an in-memory journal).
    /// </summary>
    public async Task<IReadOnlyList<SnapshotFile?>> SnapshotAsync(CancellationToken cancellation = default)
    {
        var files = new List<SnapshotFile?>();
        foreach (var s in _snapshotters) files.Add(s is null ? null : await s.SnapshotNowAsync(cancellation).ConfigureAwait(false) ?? s.Latest);
        return files;
    }

    /// <summary>The options the engine runs with.</summary>
    public EngineOptions Options { get; }

    /// <summary>Availability per SKU and warehouse, readable from any thread without waiting on the writer.</summary>
    public AvailabilityTable Availability { get; } = new();

    /// <summary>The number of shards.</summary>
    public int ShardCount => _shards.Length;

    /// <summary>Orders holding a reservation (pending payment), over all shards, as of each shard's last batch.</summary>
    public long PendingReservations => _shards.Sum(s => s.PendingOrders);

    /// <summary>Why a shard stopped accepting commands (a dead journal or a broken invariant); null while all run.</summary>
    public Exception? Fault => _shards.Select(s => s.Fault).FirstOrDefault(f => f is not null);

    /// <summary>How many times the event listener threw (the engine carried on), over all shards.</summary>
    public long ListenerFailures => _shards.Sum(s => s.ListenerFailures.Count);

    /// <summary>Reservations expired since start, over all shards.</summary>
    public long ExpiredReservations => _shards.Sum(s => s.Expired);

    /// <summary>Journal commit (group commit, fsync included) latency of each shard.</summary>
    public IReadOnlyList<LatencyHistogram> CommitLatency => [.. _shards.Select(s => s.CommitLatency)];

    /// <summary>Batches the shards' journal threads applied themselves (their apply threads idle), since start: for tests and the benchmark.</summary>
    internal long InPlaceBatches => _shards.Sum(s => s.InPlaceBatches);

    /// <summary>The engine's measurements on the <see cref="EngineMetrics.MeterName"/> meter (System.Diagnostics.Metrics).</summary>
    public EngineMetrics Metrics { get; }

    /// <summary>Commands claimed but not yet applied, per shard.</summary>
    public IReadOnlyList<long> ShardBacklogs => [.. _shards.Select(s => s.Backlog)];

    /// <summary>Orders holding a reservation, per shard, as of each shard's last batch.</summary>
    public IReadOnlyList<long> ShardPendingOrders => [.. _shards.Select(s => s.PendingOrders)];

    /// <summary>Commands claimed but not yet applied, over all shards (the ring occupancy).</summary>
    public long Backlog => _shards.Sum(s => s.Backlog);

    /// <summary>
    /// Submits any command to the shard that owns it. A command that breaks a field rule (<see cref="CommandRules"/>)
    /// is answered at once and never journaled: invalid input costs no disk write.
    /// </summary>
    public ValueTask<CommandResult> SubmitAsync(in Command command)
    {
        if (CommandRules.IsRefused(command, Options.StateMachine, out var refusal)) return ValueTask.FromResult(refusal);
        if (_replicators is not null && WriteRefused() is { } refused) return ValueTask.FromException<CommandResult>(refused);
        if (SpansShards(command, out var home)) return _coordinator.CheckoutAsync(command, home);
        return command.Kind == CommandKind.PaymentResult && _shards.Length > 1
            ? ApplyPaymentAcrossShardsAsync(command)
            : _shards[ShardOf(command)].Submit(command);
    }

    /// <summary>
    /// Submits a command and reads the order it concerns right after it, on the writer thread, in one trip through
    /// the ring: a checkout, cancel or payment answered with its order as of that command.
    /// </summary>
    public ValueTask<OrderOutcome> SubmitWithOrderAsync(in Command command)
    {
        if (CommandRules.IsRefused(command, Options.StateMachine, out var refusal)) return ValueTask.FromResult(new OrderOutcome(refusal, null));
        if (_replicators is not null && WriteRefused() is { } refused) return ValueTask.FromException<OrderOutcome>(refused);
        if (_shards.Length == 1) return _shards[0].SubmitWithOrder(command);
        return WithOrderAcrossShardsAsync(command);
    }

    /// <summary>With several shards an order may have lines elsewhere: answer with its whole view, merged.</summary>
    private async ValueTask<OrderOutcome> WithOrderAcrossShardsAsync(Command command)
    {
        if (command.Kind == CommandKind.Checkout && !SpansShards(command, out _)) return await _shards[ShardOf(command)].SubmitWithOrder(command).ConfigureAwait(false);
        var result = await SubmitAsync(command).ConfigureAwait(false);
        if (command.Kind == CommandKind.Checkout)
        {
            if (!result.IsOk) return new OrderOutcome(result, null);
            // By key: a replay may name an order evicted from memory whose key is still remembered.
            var made = await _shards[ShardOf(command)].ReadOrderByKey(command.IdempotencyKey!).ConfigureAwait(false);
            return new OrderOutcome(result, made is null ? null : await MergeHoldsAsync(made).ConfigureAwait(false));
        }
        var id = result.OrderId.IsValid ? result.OrderId : command.OrderId;
        return new OrderOutcome(result, id.IsValid ? await GetOrderAsync(id).ConfigureAwait(false) : null);
    }

    /// <summary>Whether a checkout's lines live on several shards, and its home shard (that of its first line).</summary>
    private bool SpansShards(in Command command, out int home)
    {
        home = 0;
        if (_shards.Length == 1 || command.Kind != CommandKind.Checkout) return false;
        var lines = command.Lines!;
        home = ShardRouter.ShardOf(lines[0].Sku, _shards.Length);
        for (var i = 1; i < lines.Length; i++)
        {
            if (ShardRouter.ShardOf(lines[i].Sku, _shards.Length) != home) return true;
        }
        return false;
    }

    /// <summary>A late payment of a cross-shard order is answered once every shard has committed its lines again, or not.</summary>
    private async ValueTask<CommandResult> ApplyPaymentAcrossShardsAsync(Command payment)
    {
        var result = await _shards[ShardOf(payment)].Submit(payment).ConfigureAwait(false);
        if (result.Status != OrderStatus.Repaying) return result;
        // The answer is the home's once every shard answered (the same it records for a redelivery of this event).
        return await _coordinator.WhenRepaidAsync(result.OrderId, RepayWait).ConfigureAwait(false) is { } final ? final with { Replayed = result.Replayed } : result;
    }

    /// <summary>Creates or replaces a catalog item.</summary>
    public ValueTask<CommandResult> UpsertItemAsync(long sku, string name, long price, int maxPerOrder = 0, bool active = true) =>
        SubmitAsync(Command.UpsertItem(sku, name, price, maxPerOrder > 0 ? maxPerOrder : Options.StateMachine.MaxPerOrderDefault, active));

    /// <summary>Adds (or with a negative delta removes) units of a SKU in a warehouse.</summary>
    public ValueTask<CommandResult> AdjustStockAsync(long sku, int warehouseId, long delta, string? reason = null) =>
        SubmitAsync(Command.AdjustStockDelta(sku, warehouseId, delta, reason));

    /// <summary>Sets the on-hand count of a stock row, if it still equals <paramref name="expectedOnHand"/> when given.</summary>
    public ValueTask<CommandResult> SetStockOnHandAsync(long sku, int warehouseId, long onHand, long? expectedOnHand = null, string? reason = null) =>
        SubmitAsync(Command.SetStockOnHand(sku, warehouseId, onHand, expectedOnHand, reason));

    /// <summary>Reserves every line of a cart or none; the same key and cart answer with the same order.</summary>
    public ValueTask<CommandResult> CheckoutAsync(string idempotencyKey, string customerId, CheckoutLine[] lines, int[]? warehouses = null, string? paymentMethod = null) =>
        SubmitAsync(Command.Checkout(idempotencyKey, customerId, lines, warehouses, paymentMethod));

    /// <summary>Records the payment provider's session for an order (the first one stays).</summary>
    public ValueTask<CommandResult> AttachPaymentAsync(OrderId orderId, string paymentSessionId) =>
        SubmitAsync(Command.AttachPayment(orderId, paymentSessionId));

    /// <summary>
    /// Applies the provider's verdict on a payment (<paramref name="eventId"/>: the provider's id of the event, kept
    /// in the journal for audits); a signed success for an order this engine does not hold raises a refund.
    /// </summary>
    public ValueTask<CommandResult> ApplyPaymentAsync(OrderId orderId, string transactionId, bool succeeded, long amount, string currency, string? eventId = null) =>
        SubmitAsync(Command.PaymentResult(orderId, transactionId, succeeded, amount, currency, eventId));

    /// <summary>Cancels a pending order; with <paramref name="customerId"/>, only if that customer owns it.</summary>
    public ValueTask<CommandResult> CancelAsync(OrderId orderId, string? customerId = null) =>
        SubmitAsync(Command.Cancel(orderId, customerId));

    /// <summary>Holds a pending order's stock until now + <paramref name="ttl"/>.</summary>
    public ValueTask<CommandResult> ExtendAsync(OrderId orderId, TimeSpan ttl, string? customerId = null) =>
        SubmitAsync(Command.Extend(orderId, (long)ttl.TotalMilliseconds, customerId));

    /// <summary>Marks a paid order shipped.</summary>
    public ValueTask<CommandResult> ShipAsync(OrderId orderId) => SubmitAsync(Command.Ship(orderId));

    /// <summary>Lets time pass on every shard: due reservations expire now rather than at the next check.</summary>
    public async ValueTask TickAsync()
    {
        foreach (var shard in _shards) await shard.Submit(Command.Tick()).ConfigureAwait(false);
    }

    /// <summary>A consistent copy of an order, read on the writer thread in line with the commands before it.</summary>
    public ValueTask<OrderView?> GetOrderAsync(OrderId orderId)
    {
        if (!orderId.IsValid || orderId.Shard >= _shards.Length) return ValueTask.FromResult<OrderView?>(null);
        return _shards.Length == 1 ? _shards[0].ReadOrder(orderId) : GetMergedOrderAsync(orderId);
    }

    private async ValueTask<OrderView?> GetMergedOrderAsync(OrderId orderId)
    {
        var order = await _shards[orderId.Shard].ReadOrder(orderId).ConfigureAwait(false);
        return order is null ? null : await MergeHoldsAsync(order).ConfigureAwait(false);
    }

    /// <summary>A cross-shard order with its other lines, read from its holds, each on its own shard's writer.</summary>
    private async ValueTask<OrderView> MergeHoldsAsync(OrderView order)
    {
        if (order.RemoteShards is not { } remote) return order;
        var holds = await Task.WhenAll(remote.Select(s => _shards[s].ReadHold(order.OrderId).AsTask())).ConfigureAwait(false);
        return Merge(order, holds);
    }

    private static OrderView Merge(OrderView order, IEnumerable<OrderView?> holds) =>
        order with { Lines = [.. order.Lines, .. holds.Where(h => h is not null).SelectMany(h => h!.Lines)] };

    /// <summary>
    /// Catalog items with SKU above <paramref name="afterSku"/>, in SKU order, at most <paramref name="limit"/>
    /// (keyset paging), read on the writer thread in line with the commands before it.
    /// </summary>
    public async ValueTask<ItemView[]> ListItemsAsync(long afterSku, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        if (_shards.Length == 1) return await _shards[0].ReadItems(afterSku, limit).ConfigureAwait(false);
        var all = new List<ItemView>();
        foreach (var shard in _shards) all.AddRange(await shard.ReadItems(afterSku, limit).ConfigureAwait(false));
        return [.. all.OrderBy(i => i.Sku).Take(limit)];
    }

    /// <summary>The catalog item of <paramref name="sku"/>, or null when it is not in the catalog.</summary>
    public async ValueTask<ItemView?> GetItemAsync(long sku)
    {
        if (sku <= 0) return null;
        var shard = _shards[ShardRouter.ShardOf(sku, _shards.Length)];
        var page = await shard.ReadItems(sku - 1, 1).ConfigureAwait(false);
        return page.Length == 1 && page[0].Sku == sku ? page[0] : null;
    }

    /// <summary>
    /// Every stock row and order of every shard, after checking all invariants: for audits and benchmarks that verify
    /// outcomes, O(state) on the writer thread, so not for hot paths.
    /// </summary>
    public async ValueTask<EngineAudit> AuditAsync()
    {
        await SettleAsync().ConfigureAwait(false);
        var rows = new List<StockLevel>();
        var orders = new List<OrderView>();
        var holds = new List<OrderView>();
        foreach (var shard in _shards)
        {
            var audit = await shard.ReadAudit().ConfigureAwait(false);
            rows.AddRange(audit.Rows);
            orders.AddRange(audit.Orders);
            holds.AddRange(audit.Holds);
        }
        var byOrder = holds.ToLookup(h => h.OrderId);
        return new EngineAudit([.. rows], [.. orders.Select(o => o.RemoteShards is null ? o : Merge(o, byOrder[o.OrderId]))], [.. holds]);
    }

    /// <summary>
    /// Opens the named event feed of a shard (the journal as the outbox): it continues after the position last
    /// acknowledged under <paramref name="name"/> (from the first event for a new name), and the engine keeps the
    /// journal for it, across restarts, until it acknowledges more. One reader per name at a time.
    /// </summary>
    public EventFeed OpenEventFeed(int shard, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, _shards.Length);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var opened = _opened[shard];
        var after = opened.Slots.Open(name, FirstRebuildablePosition(opened));
        return new EventFeed(shard, Options.ShardOptions(shard), opened.Journal, opened.Store, after,
            // The timestamp in TimeSpan ticks, through a double as GetElapsedTime converts: timestamp * TicksPerSecond in
            // long arithmetic overflows once the timestamp passes 2^63 / 10^7 (after about 15 minutes of uptime with a
            // 1 GHz Stopwatch), and a negative "now" never reaches the next flush, so the slot was never written.
            position => opened.Slots.Acknowledge(name, position, _time.GetElapsedTime(0, _time.GetTimestamp()).Ticks));
    }

    /// <summary>
    /// Where a new event feed starts: the first event when the journal still holds every entry from the first,
    /// else just after the oldest snapshot (a journal truncated by snapshots, or a standby that started from the
    /// primary's snapshot): the earliest state a feed can rebuild. Events before it were published by whoever held them.
    /// </summary>
    private static EventPosition FirstRebuildablePosition(OpenedShard opened)
    {
        try
        {
            foreach (var entry in opened.Journal.ReadAfter(0)) return entry.Command.Lsn == 1 ? EventPosition.Start : Oldest();
            return opened.Journal.LastLsn == 0 ? EventPosition.Start : Oldest();
        }
        catch (JournalCorruptException)
        {
            return Oldest();
        }

        EventPosition Oldest()
        {
            var oldest = opened.Store?.List().Select(SnapshotStore.LsnOf).Where(l => l > 0).DefaultIfEmpty(0).Min() ?? 0;
            // Every event of the entry after the snapshot: the feed loads that snapshot and reads on from it.
            return oldest == 0 ? EventPosition.Start : new EventPosition(oldest + 1, -1);
        }
    }

    /// <summary>
    /// Forgets the event feed <paramref name="name"/> on every shard: the journal is no longer kept for it (a reader
    /// that is gone for good must be dropped, or the journal grows without end). True when a shard had it.
    /// </summary>
    public bool DropEventFeed(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var dropped = false;
        foreach (var shard in _opened) dropped |= shard.Slots.Drop(name);
        return dropped;
    }

    /// <summary>The event feed names a shard keeps its journal for (each shard's <c>feeds.json</c>).</summary>
    public IReadOnlyList<string> EventFeedNames(int shard) => _opened[shard].Slots.Names();

    /// <summary>
    /// Completes when every decision on a cross-shard order made so far (a payment's commit, a cancel's release, a
    /// shipment) has been applied by the shards holding its lines: books read after it balance across shards.
    /// </summary>
    public Task SettleAsync() => _shards.Length == 1 ? Task.CompletedTask : _coordinator.DrainAsync();

    /// <summary>
    /// A shard's last applied log sequence number and its state hash, read together on the writer: two replicas
    /// with the same number must have the same hash.
    /// </summary>
    public async ValueTask<(long Lsn, ulong Hash)> GetAppliedStateAsync(int shard = 0) => await _shards[shard].ReadLsnAndHash().ConfigureAwait(false);

    /// <summary>The state hash of a shard after every command submitted before this call.</summary>
    public ValueTask<ulong> GetStateHashAsync(int shard = 0) => _shards[shard].ReadHash();

    /// <summary>
    /// One hash over every shard (each shard's hash, mixed in shard order): equal on two engines exactly when every
    /// shard is, so replicas and recoveries compare with one number.
    /// </summary>
    public async ValueTask<ulong> GetCombinedStateHashAsync()
    {
        var combined = new StateHash((ulong)_shards.Length);
        foreach (var shard in _shards) combined.Add((long)await shard.ReadHash().ConfigureAwait(false));
        return combined.Value;
    }

    /// <summary>Finishes every command already submitted, stops the pipelines and closes the journals.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Each step runs whatever the one before it threw: the shards always stop and the journals always close.
        try
        {
            if (_replicators is not null)
            {
                // No promotion runs while the engine stops; a standby's follower (it submits to the pipelines) and a
                // local-mode shipper (it reads the journals) stop before the pipelines close them.
                await _promotion.WaitAsync().ConfigureAwait(false);
                await Task.WhenAll(_replicators.Select(r => r.Role == NodeRole.Standby || r.Mode == ReplicationMode.Local ? r.StopAsync() : Task.CompletedTask)).ConfigureAwait(false);
            }
            await _coordinator.StopAsync().ConfigureAwait(false);
        }
        finally
        {
            try
            {
                foreach (var snapshotter in _snapshotters)
                {
                    if (snapshotter is not null) await snapshotter.DisposeAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                try
                {
                    foreach (var shard in _opened) shard.Slots.Flush();
                }
                finally
                {
                    try
                    {
                        // Shippers run until the pipelines drained: the last batches are still acknowledged.
                        await Task.WhenAll(_shards.Select(s => s.StopAsync())).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (_replicators is not null)
                        {
                            try
                            {
                                await Task.WhenAll(_replicators.Select(r => r.StopAsync())).ConfigureAwait(false);
                            }
                            finally
                            {
                                foreach (var r in _replicators) r.Dispose();
                                foreach (var shard in _opened) shard.Slots.Flush();
                            }
                        }
                        Metrics.Dispose();
                    }
                }
            }
        }
    }

    private int ShardOf(in Command command)
    {
        if (_shards.Length == 1) return 0;
        var sku = command.Kind switch
        {
            CommandKind.Checkout => command.Lines is { Length: > 0 } lines ? lines[0].Sku : 0,
            CommandKind.UpsertItem or CommandKind.AdjustStock => command.Sku,
            _ => -1,
        };
        if (sku >= 0) return ShardRouter.ShardOf(sku, _shards.Length);
        var shard = command.OrderId.Shard;
        return shard < _shards.Length ? shard : 0;
    }
}
