using Wildberries.Core;
using Wildberries.Engine.Events;

namespace Wildberries.Engine.Postgres.Internal;

/// <summary>
/// The rows one feed read produces, reduced to what PostgreSQL needs: each order and stock row once (its last state
/// in the batch: one statement cannot update a row twice), every order event once in the history.
/// </summary>
internal sealed class ProjectionBatch
{
    public sealed record OrderRow(OrderView View, int Shard, long UpdatedMs, EventPosition Position)
    {
        /// <summary>Lines and allocations are written again: the order was created, or paid (a late payment re-reserves).</summary>
        public bool Relined { get; set; }
    }

    public readonly record struct HistoryRow(int Shard, EventPosition Position, string OrderId, string Event, string? Status, long Amount, string? TransactionId, long AtMs);

    public readonly record struct StockRow(int Shard, EventPosition Position, long Sku, int WarehouseId, long OnHand, long Reserved, long Committed, long AtMs);

    public Dictionary<string, OrderRow> Orders { get; } = new(StringComparer.Ordinal);

    public List<HistoryRow> History { get; } = [];

    public Dictionary<(long Sku, int WarehouseId), StockRow> Stock { get; } = [];

    /// <summary>The first event of the batch.</summary>
    public EventPosition First { get; private set; }

    /// <summary>The last event of the batch: the shard's position once it commits.</summary>
    public EventPosition Last { get; private set; }

    /// <summary>How many events the batch holds.</summary>
    public int Events { get; private set; }

    private static readonly string[] EventNames = [.. Enumerable.Range(0, 256).Select(k => ((EventKind)k).ToString())];

    /// <summary>The rows of <paramref name="events"/> after <paramref name="after"/> (the ones before were applied already).</summary>
    public static ProjectionBatch Of(IReadOnlyList<FeedEvent> events, EventPosition after)
    {
        var batch = new ProjectionBatch();
        foreach (var feedEvent in events)
        {
            var position = feedEvent.Position;
            if (position <= after) continue;
            if (batch.Events++ == 0) batch.First = position;
            batch.Last = position;
            var e = feedEvent.Event;
            if (e.Sku != 0)
            {
                batch.Stock[(e.Sku, e.WarehouseId)] = new StockRow(e.Shard, position, e.Sku, e.WarehouseId, e.OnHand, e.Reserved, e.Committed, e.TimestampMs);
                continue;
            }
            var orderId = e.OrderId.ToString();
            var order = feedEvent.Order;
            batch.History.Add(new HistoryRow(e.Shard, position, orderId, EventNames[(int)e.Kind], order is null ? null : OrderTransitions.ToWire(order.Status), e.Amount, e.TransactionId, e.TimestampMs));
            if (order is null) continue;
            var relined = e.Kind is EventKind.OrderCreated or EventKind.OrderPaid || (batch.Orders.TryGetValue(orderId, out var earlier) && earlier.Relined);
            batch.Orders[orderId] = new OrderRow(order, e.Shard, e.TimestampMs, position) { Relined = relined };
        }
        return batch;
    }
}
