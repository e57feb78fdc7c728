using Wildberries.Core;
using Wildberries.Engine.Reads;
using Wildberries.Ring;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// The single writer: applies each durable command to the shard's state machine, answers its caller, publishes
/// events and availability. The state machine is touched by one thread at a time: the apply thread, or the journal
/// thread running a small batch in place (<see cref="InPlaceApply"/>) while the apply thread is caught up and waiting;
/// the ring's sequences order the two (release/acquire). So nothing here may keep per-thread state, and
/// <see cref="Stopped"/> must keep completing asynchronously: the stop slot may be applied on the journal thread, and
/// a waiter run inline there would deadlock the shutdown's join of that thread.
/// </summary>
internal sealed class ApplyStage(ReservationStateMachine machine, AvailabilityTable availability, IEngineEventListener? listener, JournalStage journal, Action<EngineEvent>? remoteWork, EngineMetrics? metrics = null, int shard = 0) : IEventHandler<CommandSlot>
{
    private readonly EventBuffer _events = new();
    private Exception? _fault;
    private long _nextExpiryMs = long.MaxValue;
    private long _pendingOrders;
    private long _expired;
    private long _listenerFailures;
    private Exception? _lastListenerError;

    public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The earliest reservation deadline, published for the expiry timer.</summary>
    public long NextExpiryMs => Volatile.Read(ref _nextExpiryMs);

    public Exception? Fault => Volatile.Read(ref _fault);

    /// <summary>Orders holding a reservation, as of the last batch.</summary>
    public long PendingOrders => Volatile.Read(ref _pendingOrders);

    /// <summary>How many times the event listener threw, and the last exception.</summary>
    public (long Count, Exception? Last) ListenerFailures => (Volatile.Read(ref _listenerFailures), Volatile.Read(ref _lastListenerError));

    /// <summary>Reservations expired since start.</summary>
    public long Expired => Volatile.Read(ref _expired);

    public void OnEvent(ref CommandSlot slot, long sequence, bool endOfBatch)
    {
        switch (slot.Kind)
        {
            case SlotKind.Command or SlotKind.Replicated when slot.TraceEnqueued != 0:
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var error = ApplyCommand(ref slot, out var applied);
                EngineTracing.Checkout(slot, started, System.Diagnostics.Stopwatch.GetTimestamp(), shard, applied, error);
                break;
            case SlotKind.Command or SlotKind.Replicated:
                ApplyCommand(ref slot, out _);
                break;
            case SlotKind.ReadRemoteWork:
                Read(slot.Reply, static m => m.PendingRemoteWork());
                break;
            case SlotKind.ReadOrder:
                var id = slot.Command.OrderId;
                Read<OrderView?>(slot.Reply, m => m.TryGetOrder(id, out var view) ? view : null);
                break;
            case SlotKind.ReadHold:
                var holdId = slot.Command.OrderId;
                Read<OrderView?>(slot.Reply, m => m.TryGetHold(holdId, out var view) ? view : null);
                break;
            case SlotKind.ReadOrderByKey:
                var key = slot.Command.Text;
                Read<OrderView?>(slot.Reply, m => m.TryGetOrderByKey(key, out var made) ? made : null);
                break;
            case SlotKind.CheckLines:
                var (lines, warehouses) = (slot.Command.Lines!, slot.Command.Warehouses);
                Read(slot.Reply, m => m.CheckLines(lines, warehouses));
                break;
            case SlotKind.ReadHash when slot.Command.Flag:
                Read(slot.Reply, static m => (m.LastLsn, m.ComputeStateHash()));
                break;
            case SlotKind.ReadHash:
                Read(slot.Reply, static m => m.ComputeStateHash());
                break;
            case SlotKind.ReadItems:
                var (after, limit) = (slot.Command.Sku, (int)slot.Command.Value);
                Read(slot.Reply, m => m.ListItems(after, limit));
                break;
            case SlotKind.Audit:
                Read(slot.Reply, static m =>
                {
                    m.VerifyInvariants();
                    return new EngineAudit([.. m.AllStock()], [.. m.AllOrders()], [.. m.AllHolds()]);
                });
                break;
            case SlotKind.Stop:
                Stopped.TrySetResult();
                break;
        }
        // Drop references so the ring does not keep carts and strings alive for a whole lap.
        slot = default;
        if (endOfBatch && _fault is null)
        {
            Volatile.Write(ref _nextExpiryMs, machine.NextExpiryMs);
            Volatile.Write(ref _pendingOrders, machine.PendingOrderCount);
        }
    }

    private static List<EngineEvent> Published(ReadOnlySpan<EngineEvent> events)
    {
        var published = new List<EngineEvent>(events.Length);
        foreach (var e in events)
        {
            if (!e.IsInternal) published.Add(e);
        }
        return published;
    }

    /// <summary>Answers a read on the writer thread, in line with the commands before it; a stopped shard fails it.</summary>
    private void Read<T>(object? reply, Func<ReservationStateMachine, T> read)
    {
        var r = (Reply<T>)reply!;
        if (_fault is not null) r.Fail(_fault);
        else r.Complete(read(machine));
    }

    /// <summary>Applies and answers a command: the result code when the state machine ran it, and what failed it, if anything.</summary>
    private Exception? ApplyCommand(ref CommandSlot slot, out ResultCode? applied)
    {
        applied = null;
        // A command the journal did not make durable is never applied, even one appended before the failure.
        var error = slot.JournalError ?? (slot.Command.Lsn >= journal.FailedFromLsn ? journal.Fault : null) ?? _fault;
        if (error is not null)
        {
            if (slot.WithOrder) ((Reply<OrderOutcome>)slot.Reply!).Fail(error);
            else ((Reply<CommandResult>?)slot.Reply)?.Fail(error);
            return error;
        }
        if (!TryApply(ref slot, out var result)) return _fault;
        applied = result.Code;
        if (slot.Command.Kind == CommandKind.Checkout) metrics?.CheckoutApplied(shard, result.Code);
        if (slot.ReplicationError is { } unreplicated)
        {
            // Journaled and applied here, but not acknowledged by the command log in time: the caller must not take
            // it as done (a failover could lose it); a retry with the same key answers with the same outcome.
            if (slot.WithOrder) ((Reply<OrderOutcome>)slot.Reply!).Fail(unreplicated);
            else ((Reply<CommandResult>?)slot.Reply)?.Fail(unreplicated);
            return unreplicated;
        }
        if (slot.WithOrder)
        {
            OrderView? order = null;
            if (slot.Command.Kind == CommandKind.Checkout && result.IsOk && machine.TryGetOrderByKey(slot.Command.IdempotencyKey, out var made)) order = made;
            else if (result.OrderId.IsValid && machine.TryGetOrder(result.OrderId, out var view)) order = view;
            ((Reply<OrderOutcome>)slot.Reply!).Complete(new OrderOutcome(result, order));
        }
        else
        {
            ((Reply<CommandResult>?)slot.Reply)?.Complete(result);
        }
        return null;
    }

    private bool TryApply(ref CommandSlot slot, out CommandResult result)
    {
        try
        {
            _events.Clear();
            result = machine.Apply(slot.Command, _events);
        }
        catch (Exception ex)
        {
            // A bug (a broken invariant): the state can no longer be trusted, so the shard stops applying.
            Volatile.Write(ref _fault, new EngineFaultedException($"The state machine failed on log sequence number {slot.Command.Lsn}; the shard stopped. Restart to recover from the journal.", ex));
            if (slot.WithOrder) ((Reply<OrderOutcome>)slot.Reply!).Fail(_fault!);
            else ((Reply<CommandResult>?)slot.Reply)?.Fail(_fault!);
            result = default;
            return false;
        }
        var internals = 0;
        foreach (ref readonly var e in _events.Events)
        {
            if (e.Kind == EventKind.StockChanged) availability.Update(e.Sku, e.WarehouseId, e.Available);
            else if (e.Kind == EventKind.OrderExpired)
            {
                Volatile.Write(ref _expired, _expired + 1);
                metrics?.Expired(shard);
            }
            else if (e.IsInternal)
            {
                // The holds of a cross-shard order follow its home's decision; handed over without waiting.
                remoteWork?.Invoke(e);
                internals++;
            }
        }
        if (_events.Count > internals && listener is not null)
        {
            try
            {
                listener.OnEvents(internals == 0 ? _events.Events : [.. Published(_events.Events)]);
            }
            catch (Exception ex)
            {
                // A listener's bug must not stop the writer: the command is durable and applied; the journal still
                // holds its events for a consumer that re-reads them. Counted so monitoring sees it.
                Volatile.Write(ref _listenerFailures, _listenerFailures + 1);
                Volatile.Write(ref _lastListenerError, ex);
            }
        }
        return true;
    }
}
