using System.Collections.Concurrent;
using System.Threading.Channels;
using Wildberries.Core;
using Wildberries.Engine.Pipeline;

namespace Wildberries.Engine.Sharding;

/// <summary>
/// Runs the two-phase reservation of orders whose lines span shards, and carries the home shard's later decisions
/// (commit, release, ship, a late payment) to the shards holding the other lines. It keeps no state a crash could
/// lose: every step is a journaled command on some shard, every hold command is idempotent, and at start the engine
/// replays the work the home shards' orders still imply (<see cref="ReconcileAsync"/>).
/// </summary>
internal sealed class CrossShardCoordinator
{
    private readonly ShardPipeline[] _shards;
    private readonly Channel<EngineEvent> _work = Channel.CreateUnbounded<EngineEvent>(new UnboundedChannelOptions { SingleReader = true });
    // The final answers of late payments of cross-shard orders (rare: an expired order paid late), kept so that a
    // redelivery arriving while the shards answer gets the same final answer.
    private readonly ConcurrentDictionary<OrderId, TaskCompletionSource<CommandResult>> _repaid = new();
    private readonly ConcurrentDictionary<Task, byte> _inFlight = new();
    private Task _loop = Task.CompletedTask;

    public CrossShardCoordinator(ShardPipeline[] shards) => _shards = shards;

    /// <summary>Starts delivering, once every shard's pipeline exists (decisions posted before wait in the channel).</summary>
    public void Start() => _loop = DeliverAsync();

    /// <summary>Takes a home shard's decision on the writer thread, without waiting.</summary>
    public void Post(EngineEvent decision) => _work.Writer.TryWrite(decision);

    /// <summary>
    /// A checkout whose lines span shards: prepare at home, hold on every other shard, confirm the holds, confirm at
    /// home; or abort at home (its holds are then released) and answer why, with the fields of the caller's cart.
    /// </summary>
    public async ValueTask<CommandResult> CheckoutAsync(Command checkout, int home)
    {
        var lines = checkout.Lines!;
        var groups = Enumerable.Range(0, lines.Length)
            .Select(i => (Index: i, Shard: ShardRouter.ShardOf(lines[i].Sku, _shards.Length)))
            .Where(x => x.Shard != home)
            .GroupBy(x => x.Shard, x => x.Index)
            .Select(g => (Shard: g.Key, Indexes: g.ToArray()))
            .ToArray();

        var prepared = await _shards[home].Submit(checkout).ConfigureAwait(false);
        if (prepared.Code is ResultCode.UnknownSku or ResultCode.SkuInactive or ResultCode.OverMaxPerOrder or ResultCode.InsufficientStock)
        {
            // Refused for a home line: the caller hears about every line, as from one shard (a dry run elsewhere).
            var checks = await Task.WhenAll(groups.Select(g => _shards[g.Shard].CheckLines(Part(lines, g.Indexes), checkout.Warehouses).AsTask())).ConfigureAwait(false);
            return Refusal([.. checks.Select((c, g) => (c, groups[g].Indexes)), (prepared, Enumerable.Range(0, lines.Length).ToArray())], lines)!.Value;
        }
        if (prepared.Status != OrderStatus.Preparing) return prepared; // refused otherwise, or a replay of a confirmed order
        var id = prepared.OrderId;

        var holds = await Task.WhenAll(groups.Select(g => _shards[g.Shard]
            .Submit(Command.HoldStock(id, Part(lines, g.Indexes), checkout.Warehouses, prepared.ReservedUntilMs)).AsTask())).ConfigureAwait(false);
        var refusal = Refusal([.. holds.Select((h, g) => ((CommandResult?)(h.IsOk && h.Status == OrderStatus.PendingPayment ? null : h), groups[g].Indexes))], lines);
        if (refusal is null)
        {
            var confirmed = await Task.WhenAll(groups.Select(g => _shards[g.Shard].Submit(Command.OnHold(CommandKind.ConfirmHold, id)).AsTask())).ConfigureAwait(false);
            // A hold that expired before it was confirmed (a deadline passed while preparing): the order cannot be.
            if (confirmed.Any(r => !r.IsOk)) refusal = confirmed.First(r => !r.IsOk) with { Code = ResultCode.InvalidState, Field = null };
        }
        if (refusal is { } refused)
        {
            // Undone at home; its release reaches every hold through Post, like any other decision.
            await _shards[home].Submit(Command.AbortOrder(id)).ConfigureAwait(false);
            return refused;
        }
        var remoteAmount = holds.Sum(h => h.Value);
        var remoteLines = groups.Sum(g => g.Indexes.Length);
        var created = await _shards[home].Submit(Command.ConfirmOrder(id, remoteAmount, remoteLines)).ConfigureAwait(false);
        if (!created.IsOk)
        {
            // The home undid the order meanwhile (its deadline passed while preparing): the holds, confirmed by now,
            // no longer expire by themselves, so they are released here.
            await Task.WhenAll(groups.Select(g => _shards[g.Shard].Submit(Command.OnHold(CommandKind.ReleaseHold, id)).AsTask())).ConfigureAwait(false);
        }
        return created;
    }

    private static CheckoutLine[] Part(CheckoutLine[] lines, int[] indexes) => [.. indexes.Select(i => lines[i])];

    /// <summary>
    /// The answer one shard would give for the whole cart, from each shard's answer for its part (line indexes of
    /// the part mapped back to the cart): the first unknown, inactive or capped line in cart order, else every short
    /// line in cart order; null when no part was refused.
    /// </summary>
    private static CommandResult? Refusal((CommandResult? Result, int[] Indexes)[] parts, CheckoutLine[] lines)
    {
        (int Index, CommandResult Result)? first = null;
        var shortages = new List<(int Index, Shortage Shortage)>();
        foreach (var (result, indexes) in parts)
        {
            if (result is not { } r) continue;
            // A hold that answers "done" but is no longer held (its deadline passed while preparing) is a refusal.
            if (r.IsOk) r = r with { Code = ResultCode.InvalidState, Field = null };
            if (r.Code == ResultCode.InsufficientStock)
            {
                foreach (var s in r.Shortages ?? []) shortages.Add((Array.FindIndex(lines, l => l.Sku == s.Sku), s));
                continue;
            }
            var (index, field) = Remap(r.Field, indexes);
            if (first is null || index < first.Value.Index) first = (index, r with { Field = field });
        }
        if (first is { } f) return f.Result;
        return shortages.Count == 0 ? null : new CommandResult { Code = ResultCode.InsufficientStock, Shortages = [.. shortages.OrderBy(s => s.Index).Select(s => s.Shortage)] };
    }

    /// <summary><c>lines[k].x</c> of a part of the cart, as the line index and <c>lines[i].x</c> of the whole cart.</summary>
    private static (int Index, string? Field) Remap(string? field, int[] indexes)
    {
        if (field is null || !field.StartsWith("lines[", StringComparison.Ordinal)) return (int.MaxValue, field);
        var close = field.IndexOf(']', StringComparison.Ordinal);
        if (close < 0 || !int.TryParse(field.AsSpan(6, close - 6), System.Globalization.CultureInfo.InvariantCulture, out var k) || k < 0 || k >= indexes.Length) return (int.MaxValue, field);
        return (indexes[k], $"lines[{indexes[k]}]{field[(close + 1)..]}");
    }

    /// <summary>The home's final answer to a late payment of <paramref name="order"/> once every shard answered; null at <paramref name="timeout"/>.</summary>
    public async Task<CommandResult?> WhenRepaidAsync(OrderId order, TimeSpan timeout)
    {
        var done = _repaid.GetOrAdd(order, _ => new TaskCompletionSource<CommandResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        return await Task.WhenAny(done.Task, Task.Delay(timeout)).ConfigureAwait(false) == done.Task ? done.Task.Result : null;
    }

    /// <summary>
    /// After a restart: carries every decision the home shards' orders imply to their holds again (idempotent), and
    /// aborts the orders that were still preparing (nobody coordinates them any more). Waits until all is done.
    /// </summary>
    public async Task ReconcileAsync(IReadOnlyList<(int Home, OrderId Order, RemoteAction Action, int[] Shards)> work)
    {
        // Read first, in batches: a hold already in the state its home decided costs no journal write at each start.
        foreach (var batch in work.Chunk(ReconcileBatch))
        {
            var behind = await Task.WhenAll(batch.Select(w => ShardsBehindAsync(w.Order, w.Action, w.Shards))).ConfigureAwait(false);
            for (var i = 0; i < batch.Length; i++)
            {
                var (home, order, action, _) = batch[i];
                if (action == RemoteAction.None) await _shards[home].Submit(Command.AbortOrder(order)).ConfigureAwait(false);
                else if (behind[i].Length > 0) Post(new EngineEvent { Kind = EventKind.RemoteAction, Shard = home, OrderId = order, Action = action, Shards = behind[i] });
            }
        }
        await DrainAsync().ConfigureAwait(false);
    }

    /// <summary>4,096 orders' holds read at a time when reconciling: bounded memory however many orders span shards.</summary>
    private const int ReconcileBatch = 4_096;

    /// <summary>The shards whose hold of <paramref name="order"/> is not yet where its home's decision puts it.</summary>
    private async Task<int[]> ShardsBehindAsync(OrderId order, RemoteAction action, int[] shards)
    {
        // A late payment needs every shard's answer again; an abort concerns the home only.
        if (action is RemoteAction.Repay or RemoteAction.None) return shards;
        var holds = await Task.WhenAll(shards.Select(s => _shards[s].ReadHold(order).AsTask())).ConfigureAwait(false);
        return [.. shards.Where((_, i) => !Done(action, holds[i]?.Status))];

        static bool Done(RemoteAction action, OrderStatus? hold) => action switch
        {
            RemoteAction.Release => hold is null or OrderStatus.Cancelled or OrderStatus.Expired,
            RemoteAction.Commit => hold is OrderStatus.Paid or OrderStatus.Fulfilled,
            _ => hold is OrderStatus.Fulfilled,
        };
    }

    /// <summary>Completes when every decision posted so far has been delivered and answered.</summary>
    public async Task DrainAsync()
    {
        var marker = new EngineEvent { Kind = EventKind.RemoteAction, Action = RemoteAction.None, Amount = -1 };
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _drains.Enqueue(drained);
        if (!_work.Writer.TryWrite(marker))
        {
            drained.TrySetException(new ObjectDisposedException(nameof(ReservationEngine), "The engine is stopping: cross-shard decisions are delivered again at the next start."));
        }
        await drained.Task.ConfigureAwait(false);
    }

    private readonly ConcurrentQueue<TaskCompletionSource> _drains = new();

    /// <summary>Stops taking decisions and waits for those in flight; what was not delivered is redone at the next start.</summary>
    public async Task StopAsync()
    {
        _work.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        await Task.WhenAll(_inFlight.Keys).ConfigureAwait(false);
    }

    private async Task DeliverAsync()
    {
        await foreach (var decision in _work.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (decision.Action == RemoteAction.None)
            {
                await Task.WhenAll(_inFlight.Keys).ConfigureAwait(false);
                if (_drains.TryDequeue(out var drained)) drained.TrySetResult();
                continue;
            }
            // Submitted in the order decided: each shard's ring applies one order's commit before its shipment.
            var kind = decision.Action switch
            {
                RemoteAction.Release => CommandKind.ReleaseHold,
                RemoteAction.Ship => CommandKind.ShipHold,
                _ => CommandKind.CommitHold,
            };
            var answers = new List<Task<CommandResult>>(decision.Shards!.Length);
            foreach (var shard in decision.Shards)
            {
                try
                {
                    answers.Add(_shards[shard].Submit(Command.OnHold(kind, decision.OrderId)).AsTask());
                }
                catch (Exception ex) when (ex is ObjectDisposedException or EngineFaultedException or ShardUnavailableException)
                {
                    // The engine is stopping, or that shard stopped: the next start delivers this decision again.
                }
            }
            Track(decision.Action == RemoteAction.Repay ? FinishRepayAsync(decision, answers) : Task.WhenAll(answers));
        }
    }

    /// <summary>All holds committed again: the order is paid; one could not: the home refunds and releases the rest.</summary>
    private async Task FinishRepayAsync(EngineEvent decision, List<Task<CommandResult>> answers)
    {
        var results = await Task.WhenAll(answers).ConfigureAwait(false);
        if (results.Length != decision.Shards!.Length) return; // stopping: the next start asks again
        var everywhere = results.All(r => r.IsOk && r.Status == OrderStatus.Paid);
        var outcome = await _shards[decision.Shard].Submit(Command.RepayOutcome(decision.OrderId, everywhere)).ConfigureAwait(false);
        _repaid.GetOrAdd(decision.OrderId, _ => new TaskCompletionSource<CommandResult>(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(outcome);
    }

    private void Track(Task work)
    {
        var guarded = GuardAsync(work);
        _inFlight.TryAdd(guarded, 0);
        _ = guarded.ContinueWith(t => _inFlight.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static async Task GuardAsync(Task work)
    {
        try
        {
            await work.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or EngineFaultedException or ShardUnavailableException)
        {
            // A stopped shard, or one whose command log did not acknowledge (fenced, Kafka away): the decision is
            // journaled on its home, and the next start (or promotion) delivers it again.
        }
    }
}
