namespace Wildberries.Core;

public sealed partial class ReservationStateMachine
{
    private readonly List<(int Item, int Quantity, long UnitPrice)> _lineScratch = [];

    /// <summary>Records the provider's session; idempotent on the order: the first session stays.</summary>
    private CommandResult AttachPayment(in Command c)
    {
        if (!TryFindOrder(c.OrderId, null, out var slot, out var miss)) return miss;
        ref var order = ref _store[slot];
        if (order.PaymentSessionId is not null) return Describe(order) with { Replayed = true };
        if (order.Status != OrderStatus.PendingPayment) return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
        order.More.PaymentSessionId = c.PaymentSessionId;
        order.More.PaymentUrl = c.PaymentUrl;
        return Describe(order);
    }

    /// <summary>
    /// The provider's verdict, as providers send it. A redelivery (same transaction, same verdict) gets its first
    /// answer and changes nothing; a transaction's success after its failure is applied (a retried card); a failure
    /// after a success changes nothing; a mismatched amount or currency never pays the order and does not use up
    /// the transaction id, so the corrected event is applied; money for an order this shard does not hold (unknown,
    /// or evicted after its retention window) raises a refund rather than vanish.
    /// </summary>
    private CommandResult PaymentResult(in Command c)
    {
        var transactionId = c.TransactionId!;
        var known = _transactions.TryGetValue(transactionId, out var seen);
        if (known)
        {
            if (seen.OrderId != c.OrderId) return CommandResult.Invalid("txId");
            var first = c.Flag ? seen.Succeeded : seen.Failed;
            if (first.HasValue) return first.Value with { Replayed = true };
        }

        CommandResult result;
        if (!TryFindOrder(c.OrderId, null, out var slot, out var miss))
        {
            if (!c.Flag || miss.Code != ResultCode.OrderNotFound) return miss;
            EmitOrphanRefund(c.OrderId, c.Amount, transactionId);
            result = new CommandResult { Code = ResultCode.RefundRequired, OrderId = c.OrderId, Value = c.Amount };
        }
        else if (!c.Flag)
        {
            // A failure after the same transaction succeeded changes nothing (PaymentFailed leaves a paid order be).
            result = PaymentFailed(slot);
        }
        else
        {
            result = PaymentSucceeded(slot, c);
            if (result.Code is ResultCode.AmountMismatch or ResultCode.CurrencyMismatch or ResultCode.InvalidState) return result;
        }

        if (!known)
        {
            seen = new TransactionEntry(c.OrderId, _nowMs + _options.IdempotencyWindowMs);
            _transactionIds.Enqueue((seen.ExpiresAtMs, transactionId));
        }
        _transactions[transactionId] = c.Flag ? seen with { Succeeded = result } : seen with { Failed = result };
        return result;
    }

    private CommandResult PaymentFailed(int slot)
    {
        ref var order = ref _store[slot];
        if (order.Status == OrderStatus.PendingPayment)
        {
            ReleaseAll(order);
            MoveTo(slot, OrderStatus.Cancelled);
            Emit(EventKind.OrderCancelled, order);
            EmitRemote(order, RemoteAction.Release);
        }
        // A failed attempt on an order that is no longer waiting changes nothing.
        return Describe(order);
    }

    private CommandResult PaymentSucceeded(int slot, in Command c)
    {
        ref var order = ref _store[slot];
        if (!string.Equals(c.Currency, _options.Currency, StringComparison.Ordinal))
        {
            return new CommandResult { Code = ResultCode.CurrencyMismatch, OrderId = order.Id, Status = order.Status, Value = order.Amount };
        }
        if (c.Amount != order.Amount)
        {
            return new CommandResult { Code = ResultCode.AmountMismatch, OrderId = order.Id, Status = order.Status, Value = order.Amount };
        }

        switch (order.Status)
        {
            case OrderStatus.PendingPayment:
                foreach (ref var a in _store.Allocations(order)) CommitReserved(a);
                EmitRemote(order, RemoteAction.Commit);
                return MarkPaid(slot, c.TransactionId!);
            case OrderStatus.Preparing:
                // Not an order yet (its other shards are still being asked): the provider retries, and finds it pending.
                return new CommandResult { Code = ResultCode.InvalidState, OrderId = order.Id, Status = order.Status };
            case OrderStatus.Expired or OrderStatus.Cancelled:
                // Across shards: the home's lines are only checked here; they are committed when every other shard has
                // committed its own (RepayOutcome), so a refusal anywhere leaves the order exactly as it was.
                if (order.RemoteShards is not null && TryCommitAgain(slot, dryRun: true)) return Repay(slot, c.TransactionId!);
                if (order.RemoteShards is null && TryCommitAgain(slot)) return MarkPaid(slot, c.TransactionId!);
                MoveTo(slot, OrderStatus.RefundRequired);
                order.More.PaidTransactionId = c.TransactionId;
                Emit(EventKind.RefundRequired, order, c.TransactionId);
                EmitRemote(order, RemoteAction.Release); // released already: they are kept as long as the order now
                return new CommandResult { Code = ResultCode.RefundRequired, OrderId = order.Id, Status = order.Status, Value = order.Amount };
            default:
                // Paid twice (a second session, a double click): the order keeps its first payment, this one goes back.
                Emit(EventKind.RefundRequired, order, c.TransactionId, c.Amount);
                return new CommandResult { Code = ResultCode.AlreadyPaid, OrderId = order.Id, Status = order.Status, Value = order.Amount };
        }
    }

    private CommandResult MarkPaid(int slot, string transactionId)
    {
        MoveTo(slot, OrderStatus.Paid);
        ref var order = ref _store[slot];
        order.More.PaidTransactionId = transactionId;
        Emit(EventKind.OrderPaid, order, transactionId);
        return Describe(order);
    }

    /// <summary>
    /// A late payment: commit every line again from what is available now (most available warehouse first), or
    /// nothing. The order keeps the prices it was created with.
    /// </summary>
    private bool TryCommitAgain(int slot, bool dryRun = false)
    {
        ref var order = ref _store[slot];
        _lineScratch.Clear();
        foreach (ref var a in _store.Allocations(order))
        {
            if (_lineScratch.Count > 0 && _lineScratch[^1].Item == a.Item)
            {
                var last = _lineScratch[^1];
                _lineScratch[^1] = (last.Item, last.Quantity + a.Quantity, last.UnitPrice);
            }
            else
            {
                _lineScratch.Add((a.Item, a.Quantity, a.UnitPrice));
            }
        }
        foreach (var (item, quantity, _) in _lineScratch)
        {
            if (_skus.TotalAvailable(item) < quantity) return false;
        }
        if (dryRun) return true;
        _allocationScratchCount = 0;
        foreach (var (item, quantity, unitPrice) in _lineScratch)
        {
            Allocate(item, quantity, unitPrice, preference: null, commit: true);
        }
        _store.SetAllocations(ref order, _allocationScratch.AsSpan(0, _allocationScratchCount));
        return true;
    }

    private void ReleaseAll(in OrderRecord order)
    {
        foreach (ref var a in _store.Allocations(order)) Release(a);
    }

    /// <summary>Finds an order of this shard; a customer id, when given, must own it (else: not found).</summary>
    private bool TryFindOrder(OrderId id, string? customerId, out int slot, out CommandResult miss, bool includeAborted = false)
    {
        miss = default;
        if (id.IsValid && id.Shard != _options.ShardId)
        {
            slot = -1;
            miss = CommandResult.Of(ResultCode.WrongShard);
            return false;
        }
        // An aborted order is a tombstone for its holds' sake: to everyone else there is no such order.
        if (!TryFindSlot(id, out slot) || (_store[slot].Status == OrderStatus.Aborted && !includeAborted)
            || (customerId is not null && !string.Equals(customerId, _store[slot].CustomerId, StringComparison.Ordinal)))
        {
            miss = new CommandResult { Code = ResultCode.OrderNotFound, OrderId = id };
            return false;
        }
        return true;
    }
}
