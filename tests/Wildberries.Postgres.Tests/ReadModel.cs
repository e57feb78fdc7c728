using System.Globalization;
using Npgsql;
using Wildberries.Core;
using Wildberries.Engine;

namespace Wildberries.Postgres.Tests;

/// <summary>
/// The projected tables and the engine's audit in one comparable shape: a line per order (status, amount, customer,
/// transaction, lines with allocations) and per stock row, so a difference prints as the rows that differ.
/// </summary>
internal sealed record ReadModel(SortedSet<string> Orders, SortedSet<string> Stock, SortedDictionary<string, long> StatusCounts)
{
    public static ReadModel Of(EngineAudit audit)
    {
        var orders = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var o in audit.Orders)
        {
            // Orders still preparing across shards (or aborted there) never reached the event stream.
            if (o.Status is OrderStatus.Preparing or OrderStatus.Aborted) continue;
            orders.Add(OrderLine(o.OrderId.ToString(), OrderTransitions.ToWire(o.Status), o.Amount, o.CustomerId, o.PaidTransactionId,
                o.Lines.OrderBy(l => l.Sku).Select(l => Line(l.Sku, l.Quantity, l.UnitPrice, l.Allocations.OrderBy(a => a.WarehouseId).Select(a => (a.WarehouseId, a.Quantity))))));
        }
        var stock = new SortedSet<string>(audit.Rows.Select(r => StockLine(r.Sku, r.WarehouseId, r.OnHand, r.Reserved, r.Committed)), StringComparer.Ordinal);
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var g in audit.Orders.Where(o => o.Status is not (OrderStatus.Preparing or OrderStatus.Aborted)).GroupBy(o => OrderTransitions.ToWire(o.Status))) counts[g.Key] = g.Count();
        return new ReadModel(orders, stock, counts);
    }

    public static async Task<ReadModel> ReadAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var allocations = new Dictionary<(string, long), List<(int, int)>>();
        await foreach (var r in Rows(connection, "SELECT order_id, sku, warehouse_id, quantity FROM wb_order_allocations ORDER BY order_id, sku, warehouse_id"))
        {
            var key = (r.GetString(0), r.GetInt64(1));
            if (!allocations.TryGetValue(key, out var list)) allocations[key] = list = [];
            list.Add((r.GetInt32(2), r.GetInt32(3)));
        }
        var lines = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        await foreach (var r in Rows(connection, "SELECT order_id, sku, quantity, unit_price FROM wb_order_lines ORDER BY order_id, sku"))
        {
            var order = r.GetString(0);
            if (!lines.TryGetValue(order, out var list)) lines[order] = list = [];
            list.Add(Line(r.GetInt64(1), r.GetInt32(2), r.GetInt64(3), allocations.GetValueOrDefault((order, r.GetInt64(1))) ?? []));
        }
        var orders = new SortedSet<string>(StringComparer.Ordinal);
        await foreach (var r in Rows(connection, "SELECT order_id, status, amount, customer_id, payment_tx FROM wb_orders"))
        {
            orders.Add(OrderLine(r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), lines.GetValueOrDefault(r.GetString(0)) ?? []));
        }
        var stock = new SortedSet<string>(StringComparer.Ordinal);
        await foreach (var r in Rows(connection, "SELECT sku, warehouse_id, on_hand, reserved, committed FROM wb_stock"))
        {
            stock.Add(StockLine(r.GetInt64(0), r.GetInt32(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4)));
        }
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        await foreach (var r in Rows(connection, "SELECT status, count(*) FROM wb_orders GROUP BY status")) counts[r.GetString(0)] = r.GetInt64(1);
        return new ReadModel(orders, stock, counts);
    }

    /// <summary>Whether the two hold the same orders, stock and counts.</summary>
    public bool SameAs(ReadModel other) => Orders.SetEquals(other.Orders) && Stock.SetEquals(other.Stock) && StatusCounts.SequenceEqual(other.StatusCounts);

    /// <summary>What differs, for a failure message.</summary>
    public string Difference(ReadModel projected) =>
        $"orders only in the audit: {string.Join(" | ", Orders.Except(projected.Orders).Take(5))}; only in PostgreSQL: {string.Join(" | ", projected.Orders.Except(Orders).Take(5))}; " +
        $"stock only in the audit: {string.Join(" | ", Stock.Except(projected.Stock).Take(5))}; only in PostgreSQL: {string.Join(" | ", projected.Stock.Except(Stock).Take(5))}; " +
        $"counts audit {string.Join(",", StatusCounts)} vs PostgreSQL {string.Join(",", projected.StatusCounts)}";

    /// <summary>Polls (bounded) until PostgreSQL holds what the audit says, then asserts it.</summary>
    public static async Task AssertProjectedAsync(EngineAudit audit, string connectionString, TimeSpan within)
    {
        var expected = Of(audit);
        var until = DateTime.UtcNow + within;
        ReadModel projected;
        while (true)
        {
            try
            {
                projected = await ReadAsync(connectionString);
                if (expected.SameAs(projected) || DateTime.UtcNow > until) break;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable && DateTime.UtcNow < until)
            {
                // The projector has not created the schema yet.
            }
            await Task.Delay(100);
        }
        Assert.True(expected.SameAs(projected), expected.Difference(projected));
        Assert.NotEmpty(expected.Orders);
        await AssertHistoryOnceAsync(connectionString);
    }

    /// <summary>Every order has exactly one OrderCreated in the history, and its last history row is its status.</summary>
    public static async Task AssertHistoryOnceAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var problems = new List<string>();
        await foreach (var r in Rows(connection,
            "SELECT o.order_id, o.status, (SELECT count(*) FROM wb_order_history h WHERE h.order_id = o.order_id AND h.event = 'OrderCreated'), " +
            "(SELECT h.status FROM wb_order_history h WHERE h.order_id = o.order_id ORDER BY h.lsn DESC, h.event_index DESC LIMIT 1) FROM wb_orders o"))
        {
            if (r.GetInt64(2) != 1 || r.GetString(1) != (r.IsDBNull(3) ? null : r.GetString(3))) problems.Add($"{r.GetString(0)}: {r.GetInt64(2)} OrderCreated, status {r.GetString(1)}, last history {(r.IsDBNull(3) ? "none" : r.GetString(3))}");
        }
        Assert.True(problems.Count == 0, string.Join("; ", problems.Take(10)));
    }

    /// <summary>The ids of the orders in PostgreSQL.</summary>
    public static async Task<HashSet<string>> OrderIdsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var r in Rows(connection, "SELECT order_id FROM wb_orders")) ids.Add(r.GetString(0));
        return ids;
    }

    private static string OrderLine(string id, string status, long amount, string customer, string? tx, IEnumerable<string> lines) =>
        string.Create(CultureInfo.InvariantCulture, $"{id} {status} {amount} {customer} {tx ?? "-"} [{string.Join(";", lines)}]");

    private static string Line(long sku, int qty, long price, IEnumerable<(int Warehouse, int Qty)> allocations) =>
        string.Create(CultureInfo.InvariantCulture, $"{sku}x{qty}@{price}({string.Join(",", allocations.Select(a => $"{a.Warehouse}:{a.Qty}"))})");

    private static string StockLine(long sku, int warehouse, long onHand, long reserved, long committed) =>
        string.Create(CultureInfo.InvariantCulture, $"{sku}/{warehouse} {onHand} {reserved} {committed}");

    private static async IAsyncEnumerable<NpgsqlDataReader> Rows(NpgsqlConnection connection, string sql)
    {
#pragma warning disable CA2100 // The tests' own queries.
        await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) yield return reader;
    }
}
