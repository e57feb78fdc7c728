using Wildberries.Core;
using Wildberries.Engine.Reads;
using Wildberries.Ring;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// The single writer: applies each durable command to the shard's state machine, answers its caller, publishes
/// events and availability. The state machine is touched by this thread only.
/// </summary>
internal sealed class ApplyStage(ReservationStateMachine machine, AvailabilityTable availability, IEngineEventListener? listener) : IEventHandler<CommandSlot>
{
    private readonly EventBuffer _events = new();
    private Exception? _fault;
    private long _nextExpiryMs = long.MaxValue;

    public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The earliest reservation deadline, published for the expiry timer.</summary>
    public long NextExpiryMs => Volatile.Read(ref _nextExpiryMs);

    public Exception? Fault => Volatile.Read(ref _fault);

    public void OnEvent(ref CommandSlot slot, long sequence, bool endOfBatch)
    {
        switch (slot.Kind)
        {
            case SlotKind.Command:
                ApplyCommand(ref slot);
                break;
            case SlotKind.ReadOrder:
                if (_fault is not null) slot.OrderReply!.Fail(_fault);
                else slot.OrderReply!.Complete(machine.TryGetOrder(slot.Command.OrderId, out var view) ? view : null);
                break;
            case SlotKind.ReadHash:
                if (_fault is not null) slot.HashReply!.Fail(_fault);
                else slot.HashReply!.Complete(machine.ComputeStateHash());
                break;
            case SlotKind.Stop:
                Stopped.TrySetResult();
                break;
        }
        // Drop references so the ring does not keep carts and strings alive for a whole lap.
        slot = default;
        if (endOfBatch && _fault is null) Volatile.Write(ref _nextExpiryMs, machine.NextExpiryMs);
    }

    private void ApplyCommand(ref CommandSlot slot)
    {
        var error = slot.JournalError ?? _fault;
        if (error is not null)
        {
            slot.Reply?.Fail(error);
            return;
        }
        CommandResult result;
        try
        {
            _events.Clear();
            result = machine.Apply(slot.Command, _events);
        }
        catch (Exception ex)
        {
            // A bug (a broken invariant): the state can no longer be trusted, so the shard stops applying.
            Volatile.Write(ref _fault, new EngineFaultedException($"The state machine failed on log sequence number {slot.Command.Lsn}; the shard stopped. Restart to recover from the journal.", ex));
            slot.Reply?.Fail(_fault!);
            return;
        }
        foreach (ref readonly var e in _events.Events)
        {
            if (e.Kind == EventKind.StockChanged) availability.Update(e.Sku, e.WarehouseId, e.Available);
        }
        if (_events.Count > 0) listener?.OnEvents(_events.Events);
        slot.Reply?.Complete(result);
    }
}
