using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Reads;
using Wildberries.Ring;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// One shard: a multi-producer ring feeding the journal stage and, behind it, the apply stage, each on its own
/// thread. Producers never wait on I/O; they wait only on their own reply.
/// </summary>
internal sealed class ShardPipeline : IDisposable
{
    private readonly RingBuffer<CommandSlot> _ring;
    private readonly BatchEventProcessor<CommandSlot> _journalProcessor;
    private readonly BatchEventProcessor<CommandSlot> _applyProcessor;
    private readonly BatchEventProcessor<CommandSlot>? _replicateProcessor;
    private readonly Thread? _replicateThread;
    private readonly Replication.ShardReplicator? _replicator;
    private readonly Thread _journalThread;
    private readonly Thread _applyThread;
    private readonly ApplyStage _apply;
    private readonly JournalStage _journalStage;
    private readonly ICommandJournal _journal;
    private readonly InPlaceApply? _inPlace;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _expiryTimer;
    private int _inflight;
    private volatile bool _closed;

    /// <summary>Starts the pipeline of a shard whose state was recovered from <paramref name="journal"/>.</summary>
    public ShardPipeline(int shardId, EngineOptions options, ReservationStateMachine recovered, ICommandJournal journal, TimeProvider time, AvailabilityTable availability, IEngineEventListener? listener, Action<EngineEvent>? remoteWork = null, Replication.ShardReplicator? replicator = null, EngineMetrics? metrics = null)
    {
        _journal = journal;
        _replicator = replicator;
        Machine = recovered;
        foreach (var row in recovered.AllStock()) availability.Update(row.Sku, row.WarehouseId, row.Available);

        _ring = RingBuffer<CommandSlot>.CreateMultiProducer(options.RingSize, options.CreateWaitStrategy());
        var replicated = replicator is not null && replicator.Mode == Replication.ReplicationMode.Replicated;
        _journalStage = new JournalStage(journal, time, Machine.LastLsn, Machine.NowMs, CommitLatency, replicated ? _ring.Sequencer.WaitStrategy : null, metrics, shardId);
        // Without a replicate stage, a small batch is applied on the journal thread when the apply thread is idle
        // (InPlaceApply); options.SeparateApplyThread keeps every batch on the apply thread (the way before).
        var inPlace = options.SeparateApplyThread || replicated
            ? null
            : new InPlaceApply(_journalStage, InPlaceApply.MaxBatchDefault);
        _inPlace = inPlace;
        _journalProcessor = new BatchEventProcessor<CommandSlot>(_ring, _ring.NewBarrier(), (IEventHandler<CommandSlot>?)inPlace ?? _journalStage);
        _apply = new ApplyStage(Machine, availability, listener, _journalStage, remoteWork, metrics, shardId);
        if (replicated && replicator is not null)
        {
            // Beside the commit: the replicate stage ships what was appended while the journal fsyncs it; apply waits for both.
            _replicateProcessor = new BatchEventProcessor<CommandSlot>(_ring, _ring.NewBarrier(_journalStage.Appended), new ReplicateStage(_ring, replicator));
            _applyProcessor = new BatchEventProcessor<CommandSlot>(_ring, _ring.NewBarrier(_journalProcessor.Sequence, _replicateProcessor.Sequence), _apply);
            _replicateThread = new Thread(_replicateProcessor.Run) { IsBackground = true, Name = $"wb-replicate-{shardId}" };
        }
        else
        {
            _applyProcessor = new BatchEventProcessor<CommandSlot>(_ring, _ring.NewBarrier(_journalProcessor.Sequence), _apply);
        }
        if (inPlace is not null) inPlace.Apply = _applyProcessor;
        // Producers may not overtake the last stage: a slot is reused only after it was applied.
        _ring.AddGatingSequences(_applyProcessor.Sequence);

        _journalThread = new Thread(_journalProcessor.Run) { IsBackground = true, Name = $"wb-journal-{shardId}" };
        _applyThread = new Thread(_applyProcessor.Run) { IsBackground = true, Name = $"wb-apply-{shardId}" };
        _journalThread.Start();
        _replicateThread?.Start();
        _applyThread.Start();
        _expiryTimer = ExpireAsync(options.ExpiryCheckInterval, time, _stopping.Token);
    }

    /// <summary>
    /// The shard's own expiry timer: journals a tick once the earliest reservation deadline has passed, so a quiet
    /// shard releases stock on time whatever the other shards do.
    /// </summary>
    private async Task ExpireAsync(TimeSpan interval, TimeProvider time, CancellationToken cancellation)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellation).ConfigureAwait(false))
            {
                // A standby (or a fenced primary) expires nothing itself: its primary's ticks arrive through the log.
                if (Fault is not null || NextExpiryMs > time.GetUtcNow().ToUnixTimeMilliseconds() || (_replicator is not null && _replicator.Refusal != Replication.WriteRefusal.None)) continue;
                try
                {
                    await Submit(Command.Tick()).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is EngineFaultedException or ObjectDisposedException or ShardUnavailableException)
                {
                    // The shard stopped meanwhile; its callers hear why. Nothing expires on a stopped shard.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The shard's state machine; only the apply stage (on its thread, or in place on the journal thread) may touch it while the pipeline runs.</summary>
    public ReservationStateMachine Machine { get; }

    public long NextExpiryMs => _apply.NextExpiryMs;

    public LatencyHistogram CommitLatency { get; } = new();

    public long PendingOrders => _apply.PendingOrders;

    public long Expired => _apply.Expired;

    public (long Count, Exception? Last) ListenerFailures => _apply.ListenerFailures;

    /// <summary>Why the shard stopped accepting commands (a dead journal or a broken invariant), if it did.</summary>
    public Exception? Fault => _journalStage.Fault ?? _apply.Fault;

    /// <summary>How many batches the journal thread applied itself (the apply thread was idle), since start.</summary>
    public long InPlaceBatches => _inPlace?.InPlaceBatches ?? 0;

    /// <summary>How many slots are claimed and not yet applied.</summary>
    public long Backlog => _ring.Cursor - _applyProcessor.Sequence.Value;

    public ValueTask<CommandResult> Submit(in Command command) => Enqueue<CommandResult>(SlotKind.Command, command);

    public ValueTask<OrderOutcome> SubmitWithOrder(in Command command) => Enqueue<OrderOutcome>(SlotKind.Command, command, withOrder: true);

    /// <summary>A standby applies an entry of the primary's log: journaled with the primary's number and time.</summary>
    public ValueTask<CommandResult> SubmitReplicated(in Command command) => Enqueue<CommandResult>(SlotKind.Replicated, command);

    /// <summary>The cross-shard work this shard's orders still wait for, read on the writer.</summary>
    public ValueTask<IReadOnlyList<(OrderId Order, RemoteAction Action, int[] Shards)>> ReadRemoteWork() =>
        Enqueue<IReadOnlyList<(OrderId Order, RemoteAction Action, int[] Shards)>>(SlotKind.ReadRemoteWork, default);

    public ValueTask<OrderView?> ReadOrder(OrderId id) => Enqueue<OrderView?>(SlotKind.ReadOrder, new Command { OrderId = id });

    public ValueTask<OrderView?> ReadOrderByKey(string key) => Enqueue<OrderView?>(SlotKind.ReadOrderByKey, new Command { Text = key });

    public ValueTask<OrderView?> ReadHold(OrderId id) => Enqueue<OrderView?>(SlotKind.ReadHold, new Command { OrderId = id });

    public ValueTask<CommandResult?> CheckLines(CheckoutLine[] lines, int[]? warehouses) =>
        Enqueue<CommandResult?>(SlotKind.CheckLines, new Command { Lines = lines, Warehouses = warehouses });

    public ValueTask<ItemView[]> ReadItems(long afterSku, int limit) =>
        Enqueue<ItemView[]>(SlotKind.ReadItems, new Command { Sku = afterSku, Value = limit });

    public ValueTask<EngineAudit> ReadAudit() => Enqueue<EngineAudit>(SlotKind.Audit, default);

    public ValueTask<ulong> ReadHash() => Enqueue<ulong>(SlotKind.ReadHash, default);

    public ValueTask<(long Lsn, ulong Hash)> ReadLsnAndHash() => Enqueue<(long Lsn, ulong Hash)>(SlotKind.ReadHash, new Command { Flag = true });

    private ValueTask<T> Enqueue<T>(SlotKind kind, in Command command, bool withOrder = false)
    {
        // A standby journals only its primary's entries: a command of its own (a tick, a caller's write, a
        // cross-shard step) would take a log sequence number that belongs to the primary.
        if (kind == SlotKind.Command && _replicator is { Role: Replication.NodeRole.Standby } standby) return ValueTask.FromException<T>(standby.RefusalError()!);
        Enter();
        try
        {
            var reply = Reply<T>.Rent();
            var task = reply.Task;
            // Waiting for a free slot is part of the ring wait: the trace's clock starts before the claim.
            var traced = kind == SlotKind.Command && EngineTracing.Traced(command) ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            var sequence = _ring.Next();
            ref var slot = ref _ring[sequence];
            slot.Kind = kind;
            slot.Command = command;
            slot.Reply = reply;
            slot.WithOrder = withOrder;
            if (traced != 0)
            {
                slot.TraceEnqueued = traced;
                slot.TraceParent = System.Diagnostics.Activity.Current;
            }
            _ring.Publish(sequence);
            return task;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Lets every command already submitted finish, then stops both stages and closes the journal.</summary>
    public async Task StopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _expiryTimer.ConfigureAwait(false);
        _closed = true;
        var spin = default(SpinWait);
        while (Volatile.Read(ref _inflight) != 0) spin.SpinOnce();

        var sequence = _ring.Next();
        _ring[sequence].Kind = SlotKind.Stop;
        _ring.Publish(sequence);
        await _apply.Stopped.Task.ConfigureAwait(false);

        _journalProcessor.Halt();
        _replicateProcessor?.Halt();
        _applyProcessor.Halt();
        _journalThread.Join();
        _replicateThread?.Join();
        _applyThread.Join();
        _journal.Dispose();
        Dispose();
    }

    /// <summary>Releases the expiry timer's token; <see cref="StopAsync"/> calls it last.</summary>
    public void Dispose() => _stopping.Dispose();

    private void Enter()
    {
        Interlocked.Increment(ref _inflight);
        if (_closed)
        {
            Interlocked.Decrement(ref _inflight);
            throw new ObjectDisposedException(nameof(ReservationEngine), "The engine is stopping or stopped.");
        }
    }

    private void Exit() => Interlocked.Decrement(ref _inflight);
}
