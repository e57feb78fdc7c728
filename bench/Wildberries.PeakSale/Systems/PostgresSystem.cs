using Npgsql;
using NpgsqlTypes;
using Wildberries.PeakSale.Servers;
using Wildberries.Testing;

namespace Wildberries.PeakSale.Systems;

/// <summary>
/// What a competent team would build on PostgreSQL: one transaction per checkout, a conditional
/// <c>UPDATE ... SET reserved = reserved + q WHERE ... AND on_hand - reserved - committed &gt;= q</c> per line (lines in
/// SKU order, so transactions lock rows in one order and never deadlock), the order insert, commit.
/// </summary>
public sealed class PostgresSystem(bool synchronousCommit) : IReservationSystem
{
    private PostgresServer? _server;
    private NpgsqlDataSource? _data;

    /// <summary>
    /// At most 256 connections (the server allows 400): beyond that more customers wait for a pooled connection, as
    /// an application in front of PostgreSQL does (PostgreSQL slows down with hundreds of active backends anyway).
    /// </summary>
    private const int ConnectionsMax = 256;

    public string Name => $"PostgreSQL 15 row locks (synchronous_commit {(synchronousCommit ? "on" : "off")})";

    public async Task LoadAsync(FlashSaleOptions sale)
    {
        ArgumentNullException.ThrowIfNull(sale);
        _server = await PostgresServer.StartAsync();
        var builder = new NpgsqlDataSourceBuilder(_server.ConnectionString(Math.Min(sale.Concurrency, ConnectionsMax) + 4));
        builder.ConnectionStringBuilder.Options = $"-c synchronous_commit={(synchronousCommit ? "on" : "off")}";
        _data = builder.Build();
        await using (var schema = _data.CreateCommand("""
            CREATE TABLE items (sku bigint PRIMARY KEY, price bigint NOT NULL);
            CREATE TABLE stock (sku bigint, wh int, on_hand bigint NOT NULL, reserved bigint NOT NULL DEFAULT 0, committed bigint NOT NULL DEFAULT 0,
                                PRIMARY KEY (sku, wh), CHECK (reserved >= 0 AND committed >= 0));
            CREATE TABLE orders (id bigserial PRIMARY KEY, idempotency_key text UNIQUE NOT NULL, customer int NOT NULL, status text NOT NULL, amount bigint NOT NULL);
            CREATE TABLE order_lines (order_id bigint NOT NULL REFERENCES orders(id), sku bigint NOT NULL, wh int NOT NULL, qty int NOT NULL);
            CREATE INDEX ON order_lines (order_id);
            """))
        {
            await schema.ExecuteNonQueryAsync();
        }
        await using var connection = await _data.OpenConnectionAsync();
        await using (var items = await connection.BeginBinaryImportAsync("COPY items (sku, price) FROM STDIN (FORMAT BINARY)"))
        {
            for (long sku = 1; sku <= sale.Skus; sku++)
            {
                await items.StartRowAsync();
                await items.WriteAsync(sku, NpgsqlDbType.Bigint);
                await items.WriteAsync(FlashSale.Price(sku), NpgsqlDbType.Bigint);
            }
            await items.CompleteAsync();
        }
        await using (var stock = await connection.BeginBinaryImportAsync("COPY stock (sku, wh, on_hand) FROM STDIN (FORMAT BINARY)"))
        {
            for (long sku = 1; sku <= sale.Skus; sku++)
            {
                for (var w = 1; w <= sale.Warehouses; w++)
                {
                    await stock.StartRowAsync();
                    await stock.WriteAsync(sku, NpgsqlDbType.Bigint);
                    await stock.WriteAsync(w, NpgsqlDbType.Integer);
                    await stock.WriteAsync(FlashSale.Stock(sale, sku), NpgsqlDbType.Bigint);
                }
            }
            await stock.CompleteAsync();
        }
        await using var analyze = new NpgsqlCommand("ANALYZE", connection);
        await analyze.ExecuteNonQueryAsync();
    }

    public async Task<string?> CheckoutAsync(string idempotencyKey, Visit visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        await using var connection = await _data!.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var chosen = new List<(long Sku, int Wh, int Qty)>();
        long amount = 0;
        foreach (var (sku, qty) in visit.Lines.OrderBy(l => l.Sku))
        {
            // The warehouse with the most available first; the WHERE is re-checked under the row lock, so two buyers
            // of the last units cannot both succeed.
            await using var reserve = new NpgsqlCommand("""
                UPDATE stock SET reserved = reserved + @q
                WHERE sku = @s AND wh = (SELECT wh FROM stock WHERE sku = @s AND on_hand - reserved - committed >= @q
                                          ORDER BY on_hand - reserved - committed DESC, wh LIMIT 1)
                  AND on_hand - reserved - committed >= @q
                RETURNING wh, (SELECT price FROM items WHERE sku = @s)
                """, connection, tx);
            reserve.Parameters.AddWithValue("q", (long)qty);
            reserve.Parameters.AddWithValue("s", sku);
            await using var reader = await reserve.ExecuteReaderAsync();
            if (!await reader.ReadAsync())
            {
                await reader.DisposeAsync();
                await tx.RollbackAsync();
                return null;
            }
            chosen.Add((sku, reader.GetInt32(0), qty));
            amount += reader.GetInt64(1) * qty;
        }
        await using var insert = new NpgsqlCommand("""
            WITH o AS (INSERT INTO orders (idempotency_key, customer, status, amount) VALUES (@k, @c, 'PENDING', @a) RETURNING id)
            INSERT INTO order_lines (order_id, sku, wh, qty) SELECT o.id, l.sku, l.wh, l.qty FROM o, unnest(@skus, @whs, @qtys) AS l(sku, wh, qty)
            RETURNING order_id
            """, connection, tx);
        insert.Parameters.AddWithValue("k", idempotencyKey);
        insert.Parameters.AddWithValue("c", visit.Customer);
        insert.Parameters.AddWithValue("a", amount);
        insert.Parameters.AddWithValue("skus", chosen.Select(c => c.Sku).ToArray());
        insert.Parameters.AddWithValue("whs", chosen.Select(c => c.Wh).ToArray());
        insert.Parameters.AddWithValue("qtys", chosen.Select(c => c.Qty).ToArray());
        var id = (long)(await insert.ExecuteScalarAsync())!;
        await tx.CommitAsync();
        return id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task PayAsync(string orderId, bool succeeded)
    {
        var id = long.Parse(orderId, System.Globalization.CultureInfo.InvariantCulture);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var connection = await _data!.OpenConnectionAsync();
                await using var tx = await connection.BeginTransactionAsync();
                await using var order = new NpgsqlCommand("UPDATE orders SET status = @st WHERE id = @id AND status = 'PENDING' RETURNING id", connection, tx);
                order.Parameters.AddWithValue("st", succeeded ? "PAID" : "CANCELLED");
                order.Parameters.AddWithValue("id", id);
                if (await order.ExecuteScalarAsync() is null)
                {
                    await tx.CommitAsync();
                    return; // paid or cancelled before: a duplicate changes nothing
                }
                // Lock the rows in SKU order, as checkouts do, so the two never deadlock; then move the units.
                await using var lockRows = new NpgsqlCommand("""
                    SELECT 1 FROM stock s JOIN order_lines l ON l.sku = s.sku AND l.wh = s.wh
                    WHERE l.order_id = @id ORDER BY s.sku, s.wh FOR UPDATE OF s
                    """, connection, tx);
                lockRows.Parameters.AddWithValue("id", id);
                await lockRows.ExecuteNonQueryAsync();
                await using var move = new NpgsqlCommand($"""
                    UPDATE stock s SET reserved = s.reserved - l.qty{(succeeded ? ", committed = s.committed + l.qty" : "")}
                    FROM order_lines l WHERE l.order_id = @id AND l.sku = s.sku AND l.wh = s.wh
                    """, connection, tx);
                move.Parameters.AddWithValue("id", id);
                await move.ExecuteNonQueryAsync();
                await tx.CommitAsync();
                return;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DeadlockDetected && attempt < 5)
            {
            }
        }
    }

    public async Task<Audit> AuditAsync()
    {
        var rows = new List<AuditRow>();
        await using (var c = _data!.CreateCommand("SELECT sku, wh, on_hand, reserved, committed FROM stock"))
        await using (var r = await c.ExecuteReaderAsync())
        {
            while (await r.ReadAsync()) rows.Add(new AuditRow(r.GetInt64(0), r.GetInt32(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4)));
        }
        var lines = new Dictionary<long, List<AuditLine>>();
        await using (var c = _data.CreateCommand("SELECT order_id, sku, wh, qty FROM order_lines"))
        await using (var r = await c.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                if (!lines.TryGetValue(r.GetInt64(0), out var list)) lines[r.GetInt64(0)] = list = [];
                list.Add(new AuditLine(r.GetInt64(1), r.GetInt32(2), r.GetInt32(3)));
            }
        }
        var orders = new List<AuditOrder>();
        await using (var c = _data.CreateCommand("SELECT id, status FROM orders"))
        await using (var r = await c.ExecuteReaderAsync())
        {
            while (await r.ReadAsync()) orders.Add(new AuditOrder(r.GetInt64(0).ToString(System.Globalization.CultureInfo.InvariantCulture), r.GetString(1), [.. lines.GetValueOrDefault(r.GetInt64(0)) ?? []]));
        }
        return new Audit([.. rows], [.. orders]);
    }

    public async ValueTask DisposeAsync()
    {
        if (_data is not null) await _data.DisposeAsync();
        if (_server is not null) await _server.DisposeAsync();
    }
}
