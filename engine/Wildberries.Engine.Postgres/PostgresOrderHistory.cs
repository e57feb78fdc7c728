using Npgsql;
using Wildberries.Core;

namespace Wildberries.Engine.Postgres;

/// <summary>One page of a customer's orders, newest first.</summary>
/// <param name="Orders">The orders (lines on their home shard, with allocations).</param>
/// <param name="Next">The cursor of the next page (the last order id of this one), or null on the last page.</param>
#pragma warning disable CA1819 // A page of results.
public sealed record OrderHistoryPage(OrderView[] Orders, string? Next);
#pragma warning restore CA1819

/// <summary>
/// Reads the order history from the projected tables: a customer's orders, newest first, with keyset paging on
/// (created_at, order_id), including orders long evicted from the engine's memory.
/// </summary>
public sealed class PostgresOrderHistory : IAsyncDisposable
{
    /// <summary>100 orders per page at most: a screen of history many times over, and bounded work per request.</summary>
    public const int LimitMax = 100;

    private const string Page =
        "WITH page AS (SELECT order_id, status, amount, currency, created_at, reserved_until, payment_tx, customer_id FROM wb_orders " +
        "WHERE customer_id = $1 AND ($2::text IS NULL OR (created_at, order_id) < (SELECT created_at, order_id FROM wb_orders WHERE order_id = $2 AND customer_id = $1)) " +
        "ORDER BY created_at DESC, order_id DESC LIMIT $3) " +
        "SELECT page.order_id, page.status, page.amount, page.currency, page.created_at, page.reserved_until, page.payment_tx, l.sku, l.quantity, l.unit_price, a.warehouse_id, a.quantity " +
        "FROM page LEFT JOIN wb_order_lines l ON l.order_id = page.order_id LEFT JOIN wb_order_allocations a ON a.order_id = l.order_id AND a.sku = l.sku " +
        "ORDER BY page.created_at DESC, page.order_id DESC, l.sku, a.warehouse_id";

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Reads through a data source of its own on <paramref name="connectionString"/>.</summary>
    public PostgresOrderHistory(string connectionString) => _dataSource = NpgsqlDataSource.Create(connectionString);

    /// <summary>Whether <paramref name="orderId"/> is an order of <paramref name="customerId"/> in the read model (an unknown cursor).</summary>
    public async Task<bool> ExistsAsync(string customerId, string orderId, CancellationToken cancellation = default)
    {
        await using var command = _dataSource.CreateCommand("SELECT 1 FROM wb_orders WHERE order_id = $1 AND customer_id = $2");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = orderId });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = customerId });
        return await command.ExecuteScalarAsync(cancellation).ConfigureAwait(false) is not null;
    }

    /// <summary>
    /// The customer's orders created before the order <paramref name="before"/> (from the newest when null), at most
    /// <paramref name="limit"/>. Throws <see cref="NpgsqlException"/> when PostgreSQL cannot answer.
    /// </summary>
    public async Task<OrderHistoryPage> ListAsync(string customerId, string? before, int limit, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(customerId);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, LimitMax);
        await using var command = _dataSource.CreateCommand(Page);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = customerId });
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = before, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit + 1 });
        var orders = new List<OrderView>();
        var lines = new List<OrderLineView>();
        var allocations = new List<AllocationView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation).ConfigureAwait(false);
        (string Id, string Status, long Amount, string Currency, DateTime Created, DateTime? ReservedUntil, string? Tx)? current = null;
        (long Sku, int Quantity, long Price)? line = null;
        while (await reader.ReadAsync(cancellation).ConfigureAwait(false))
        {
            var id = reader.GetString(0);
            if (current?.Id != id)
            {
                Flush();
                current = (id, reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetDateTime(4), reader.IsDBNull(5) ? null : reader.GetDateTime(5), reader.IsDBNull(6) ? null : reader.GetString(6));
            }
            if (reader.IsDBNull(7)) continue;
            var sku = reader.GetInt64(7);
            if (line?.Sku != sku)
            {
                FlushLine();
                line = (sku, reader.GetInt32(8), reader.GetInt64(9));
            }
            if (!reader.IsDBNull(10)) allocations.Add(new AllocationView(reader.GetInt32(10), reader.GetInt32(11)));
        }
        Flush();
        var more = orders.Count > limit;
        if (more) orders.RemoveAt(orders.Count - 1);
        return new OrderHistoryPage([.. orders], more ? orders[^1].OrderId.ToString() : null);

        void FlushLine()
        {
            if (line is { } l) lines.Add(new OrderLineView(l.Sku, l.Quantity, l.Price, [.. allocations]));
            allocations.Clear();
            line = null;
        }

        void Flush()
        {
            FlushLine();
            if (current is { } o)
            {
                if (!OrderId.TryParse(o.Id, out var orderId)) throw new InvalidDataException($"wb_orders holds an order id the engine never issues: '{o.Id}'.");
                orders.Add(new OrderView(orderId, Parse(o.Status), customerId, o.Amount, o.Currency, new DateTimeOffset(o.Created).ToUnixTimeMilliseconds(),
                    o.ReservedUntil is { } until ? new DateTimeOffset(until).ToUnixTimeMilliseconds() : 0, null, o.Tx, [.. lines]));
            }
            lines.Clear();
            current = null;
        }
    }

    private static OrderStatus Parse(string wire)
    {
        foreach (var status in Enum.GetValues<OrderStatus>())
        {
            if (OrderTransitions.ToWire(status) == wire) return status;
        }
        return OrderStatus.None;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
