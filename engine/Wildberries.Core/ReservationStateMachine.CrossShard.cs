namespace Wildberries.Core;

/// <summary>
/// Orders whose lines span shards, by two-phase reservation. The home shard (the shard of the cart's first line)
/// records the order as preparing with its own lines reserved; each other shard places a hold on its lines, all or
/// nothing, that expires by itself at the order's deadline; when every hold is in place they are confirmed and the
/// home confirms the order (the commit point), otherwise the home aborts it and the holds are released. After that
/// the home decides and the holds follow: commit with the payment, release on cancel or expiry, ship. Every step is
/// a journaled command on its shard; the home's decisions come out as <see cref="EventKind.RemoteAction"/> events,
/// which the engine delivers and a restart re-derives, and every hold command is idempotent.
/// </summary>
public sealed partial class ReservationStateMachine
{
    private CommandResult ConfirmOrder(in Command c)
    {
        if (!TryFindOrder(c.OrderId, null, out var slot, out var miss, includeAborted: true)) return miss;
        ref var order = ref _store[slot];
        if (order.RemoteShards is null) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        if (order.Status == OrderStatus.PendingPayment) return Describe(order) with { Replayed = true };
        if (order.Status != OrderStatus.Preparing) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        order.More.RemoteAmount = c.Value;
        order.Amount = checked(order.Amount + c.Value);
        MoveTo(slot, OrderStatus.PendingPayment);
        Emit(EventKind.OrderCreated, order);
        return Describe(order);
    }

    private CommandResult AbortOrder(in Command c)
    {
        if (!TryFindOrder(c.OrderId, null, out var slot, out var miss, includeAborted: true)) return miss.Code == ResultCode.OrderNotFound ? CommandResult.Of(ResultCode.Ok) with { OrderId = c.OrderId, Replayed = true } : miss;
        ref var order = ref _store[slot];
        if (order.Status == OrderStatus.Aborted) return new CommandResult { Code = ResultCode.Ok, OrderId = order.Id, Replayed = true };
        if (order.Status != OrderStatus.Preparing) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        Undo(slot);
        return new CommandResult { Code = ResultCode.Ok, OrderId = order.Id };
    }

    /// <summary>
    /// A preparing order that will not be: its home reservation goes back and its key is forgotten, as for a checkout
    /// refused for want of stock (a replay of the key tries again); its holds are released. The order stays, hidden,
    /// as a tombstone until its retention ends: a restart before its holds were released finds it and releases them.
    /// </summary>
    private void Undo(int slot)
    {
        ref var order = ref _store[slot];
        ReleaseAll(order);
        if (order.Keyed) ForgetKey(slot);
        MoveTo(slot, OrderStatus.Aborted);
        EmitRemote(order, RemoteAction.Release);
    }

    private CommandResult RepayOutcome(in Command c)
    {
        if (!TryFindOrder(c.OrderId, null, out var slot, out var miss)) return miss;
        ref var order = ref _store[slot];
        if (order.Status != OrderStatus.Repaying) return Describe(order) with { Replayed = true };
        CommandResult result;
        if (c.Flag && TryCommitAgain(slot))
        {
            MoveTo(slot, OrderStatus.Paid);
            Emit(EventKind.OrderPaid, order, order.PaidTransactionId);
            result = Describe(order);
        }
        else
        {
            // Some shard's units were gone (the home's too, maybe, since it checked): those that did commit give
            // them back, the order keeps its allocations as they were, and the money goes back to the customer.
            MoveTo(slot, OrderStatus.RefundRequired);
            Emit(EventKind.RefundRequired, order, order.PaidTransactionId);
            EmitRemote(order, RemoteAction.Release);
            result = new CommandResult { Code = ResultCode.RefundRequired, OrderId = order.Id, Status = order.Status, Value = order.Amount };
        }
        // A redelivered payment event gets this, the late payment's final answer, not "repaying".
        if (order.PaidTransactionId is { } tx && _transactions.TryGetValue(tx, out var seen)) _transactions[tx] = seen with { Succeeded = result };
        return result;
    }

    /// <summary>A late payment of a cross-shard order: ask every hold to commit its units again; the home follows.</summary>
    private CommandResult Repay(int slot, string transactionId)
    {
        MoveTo(slot, OrderStatus.Repaying);
        ref var order = ref _store[slot];
        order.More.PaidTransactionId = transactionId;
        EmitRemote(order, RemoteAction.Repay);
        return Describe(order);
    }

    private CommandResult HoldStock(in Command c)
    {
        if (!c.OrderId.IsValid || c.OrderId.Shard == _options.ShardId) return CommandResult.Invalid("orderId");
        if (TryFindSlot(c.OrderId, out var held)) return DescribeHold(_store[held]) with { Replayed = true };
        var lines = c.Lines!;
        var refused = ResolveLines(lines, c.Warehouses, allowForeign: false, out _);
        if (refused.HasValue) return refused.Value;

        var slot = _store.Add();
        ref var hold = ref _store[slot];
        hold.Id = c.OrderId;
        hold.IsHold = true;
        hold.CreatedAtMs = _nowMs;
        hold.ReservedUntilMs = c.DeadlineMs;
        hold.LineCount = lines.Length;
        hold.Amount = AllocateLines(ref hold, lines, c.Warehouses);
        MoveTo(slot, OrderStatus.PendingPayment);
        hold.Held = true;
        IndexOrder(slot);
        _expiries.Enqueue(_store.Handle(slot), (hold.ReservedUntilMs, hold.Id.Value));
        return DescribeHold(hold);
    }

    private CommandResult ConfirmHold(in Command c)
    {
        if (!TryFindHold(c.OrderId, out var slot, out var miss)) return miss;
        ref var hold = ref _store[slot];
        if (hold.Status != OrderStatus.PendingPayment) return DescribeHold(hold) with { Code = hold.HoldConfirmed ? ResultCode.Ok : ResultCode.InvalidState, Replayed = true };
        if (hold.HoldConfirmed) return DescribeHold(hold) with { Replayed = true };
        hold.HoldConfirmed = true;
        return DescribeHold(hold);
    }

    private CommandResult ReleaseHold(in Command c)
    {
        // Releasing a hold that never arrived is done already: an unconfirmed hold that arrives late expires by itself.
        if (!TryFindHold(c.OrderId, out var slot, out var miss)) return miss.Code == ResultCode.OrderNotFound ? miss with { Code = ResultCode.Ok, Replayed = true } : miss;
        ref var hold = ref _store[slot];
        switch (hold.Status)
        {
            case OrderStatus.PendingPayment:
                ReleaseAll(hold);
                break;
            case OrderStatus.Paid:
                foreach (ref var a in _store.Allocations(hold)) ReleaseCommitted(a);
                break;
            case OrderStatus.Cancelled or OrderStatus.Expired:
                // Released again by a home that just finished with the order (a refused late payment): the hold is
                // kept as long as its home order, so the order's view keeps every line.
                hold.TerminalAtMs = _nowMs;
                _terminalOrders.Enqueue((_nowMs + _options.TerminalOrderRetentionMs, _store.Handle(slot)));
                return DescribeHold(hold) with { Replayed = true };
            default:
                return DescribeHold(hold) with { Replayed = true };
        }
        hold.HoldConfirmed = true; // released by its home: nothing left to expire
        MoveTo(slot, OrderStatus.Cancelled);
        return DescribeHold(hold);
    }

    private CommandResult CommitHold(in Command c)
    {
        if (!TryFindHold(c.OrderId, out var slot, out var miss)) return miss;
        ref var hold = ref _store[slot];
        switch (hold.Status)
        {
            case OrderStatus.PendingPayment:
                foreach (ref var a in _store.Allocations(hold)) CommitReserved(a);
                break;
            case OrderStatus.Cancelled or OrderStatus.Expired:
                // A late payment: the units again from what is available now, or nothing.
                if (!TryCommitAgain(slot)) return DescribeHold(hold) with { Code = ResultCode.InsufficientStock };
                break;
            default:
                return DescribeHold(hold) with { Replayed = true };
        }
        hold.HoldConfirmed = true;
        MoveTo(slot, OrderStatus.Paid);
        return DescribeHold(hold);
    }

    private CommandResult ShipHold(in Command c)
    {
        if (!TryFindHold(c.OrderId, out var slot, out var miss)) return miss;
        ref var hold = ref _store[slot];
        if (hold.Status == OrderStatus.Fulfilled) return DescribeHold(hold) with { Replayed = true };
        if (hold.Status == OrderStatus.PendingPayment)
        {
            // The commit never arrived (a restart between the two): the home shipped a paid order, so commit first.
            foreach (ref var a in _store.Allocations(hold)) CommitReserved(a);
            MoveTo(slot, OrderStatus.Paid);
        }
        if (hold.Status != OrderStatus.Paid) return DescribeHold(hold) with { Code = ResultCode.InvalidState };
        foreach (ref var a in _store.Allocations(hold)) ShipCommitted(a);
        MoveTo(slot, OrderStatus.Fulfilled);
        return DescribeHold(hold);
    }

    private bool TryFindHold(OrderId id, out int slot, out CommandResult miss)
    {
        if (TryFindSlot(id, out slot) && _store[slot].IsHold)
        {
            miss = default;
            return true;
        }
        miss = new CommandResult { Code = ResultCode.OrderNotFound, OrderId = id };
        return false;
    }

    private static CommandResult DescribeHold(in OrderRecord hold) => new()
    {
        Code = ResultCode.Ok,
        OrderId = hold.Id,
        Status = hold.Status,
        Value = hold.Amount,
        ReservedUntilMs = hold.ReservedUntilMs,
    };

    /// <summary>Tells the engine what the holds of a cross-shard order must do now; nothing for a single-shard order.</summary>
    private void EmitRemote(in OrderRecord order, RemoteAction action)
    {
        if (order.RemoteShards is not { } shards) return;
        _events.Add(new EngineEvent
        {
            Kind = EventKind.RemoteAction, Shard = _options.ShardId, Lsn = _lsn, Index = _eventIndex++, TimestampMs = _nowMs,
            OrderId = order.Id, Action = action, Shards = shards, Amount = order.Amount,
        });
    }

    /// <summary>The distinct other shards of a cart's lines, in shard order.</summary>
    private int[] RemoteShardsOf(CheckoutLine[] lines)
    {
        var shards = new SortedSet<int>();
        foreach (var line in lines)
        {
            var shard = ShardRouter.ShardOf(line.Sku, _options.ShardCount);
            if (shard != _options.ShardId) shards.Add(shard);
        }
        return [.. shards];
    }

    /// <summary>
    /// What the holds of every cross-shard order at home here must have done given the order's state: a restart
    /// delivers these again (each idempotent), so a decision journaled just before a crash still reaches its holds.
    /// Preparing orders are listed with <see cref="RemoteAction.None"/>: nobody is coordinating them any more, so the
    /// engine aborts them.
    /// </summary>
    public IReadOnlyList<(OrderId Order, RemoteAction Action, int[] Shards)> PendingRemoteWork()
    {
        var work = new List<(OrderId, RemoteAction, int[])>();
        foreach (var slot in _orders.Slots())
        {
            ref var o = ref _store[slot];
            if (o.IsHold || o.RemoteShards is not { } shards) continue;
            var action = o.Status switch
            {
                OrderStatus.Preparing => RemoteAction.None,
                OrderStatus.Paid => RemoteAction.Commit,
                OrderStatus.Fulfilled => RemoteAction.Ship,
                OrderStatus.Repaying => RemoteAction.Repay,
                OrderStatus.Cancelled or OrderStatus.Expired or OrderStatus.RefundRequired or OrderStatus.Aborted => RemoteAction.Release,
                _ => (RemoteAction?)null,
            };
            if (action is { } a) work.Add((o.Id, a, shards));
        }
        work.Sort((x, y) => x.Item1.Value.CompareTo(y.Item1.Value));
        return work;
    }
}
