using Npgsql;
using NpgsqlTypes;
using Wildberries.Engine.Events;

namespace Wildberries.Engine.Postgres.Internal;

/// <summary>
/// Writes one <see cref="ProjectionBatch"/> in one transaction on one connection, with the shard's position. Two
/// ways to get the rows to the server, measured side by side (docs/benchmarks/projection.md): arrays bound as
/// parameters and expanded by <c>unnest</c> into multi-row upserts, all statements in one round trip
/// (<see cref="ProjectionWriteMethod.Upsert"/>); or binary COPY into temporary staging tables, then the same upserts
/// from them (<see cref="ProjectionWriteMethod.Copy"/>).
/// </summary>
internal sealed class BatchWriter(NpgsqlConnection connection, ProjectionWriteMethod method)
{
    // The merge statements, over a source that is either unnest(...) of parameters or a staging table.
    private const string OrderColumns = "order_id, shard, customer_id, status, amount, currency, created_ms, updated_ms, reserved_until_ms, payment_tx, other_shards, lsn, event_index";

    private const string MergeOrders =
        "INSERT INTO wb_orders AS o (order_id, shard, customer_id, status, amount, currency, created_at, updated_at, reserved_until, payment_tx, lines_on_other_shards, lsn, event_index) " +
        "SELECT order_id, shard, customer_id, status, amount, currency, timestamptz 'epoch' + created_ms * interval '1 millisecond', timestamptz 'epoch' + updated_ms * interval '1 millisecond', " +
        "timestamptz 'epoch' + NULLIF(reserved_until_ms, 0) * interval '1 millisecond', payment_tx, string_to_array(other_shards, ',')::integer[], lsn, event_index FROM {0} " +
        "ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, amount = EXCLUDED.amount, updated_at = EXCLUDED.updated_at, reserved_until = EXCLUDED.reserved_until, " +
        "payment_tx = EXCLUDED.payment_tx, lines_on_other_shards = EXCLUDED.lines_on_other_shards, lsn = EXCLUDED.lsn, event_index = EXCLUDED.event_index " +
        "WHERE (o.lsn, o.event_index) < (EXCLUDED.lsn, EXCLUDED.event_index)";

    private const string InsertLines = "INSERT INTO wb_order_lines (order_id, sku, quantity, unit_price) SELECT order_id, sku, quantity, unit_price FROM {0}";

    private const string InsertAllocations = "INSERT INTO wb_order_allocations (order_id, sku, warehouse_id, quantity) SELECT order_id, sku, warehouse_id, quantity FROM {0}";

    // A plain INSERT: an event applied twice is a primary-key violation, never a silent duplicate.
    private const string InsertHistory =
        "INSERT INTO wb_order_history (shard, lsn, event_index, order_id, event, status, amount, transaction_id, at) " +
        "SELECT shard, lsn, event_index, order_id, event, status, amount, transaction_id, timestamptz 'epoch' + at_ms * interval '1 millisecond' FROM {0}";

    private const string MergeStock =
        "INSERT INTO wb_stock AS s (sku, warehouse_id, on_hand, reserved, committed, shard, lsn, event_index, updated_at) " +
        "SELECT sku, warehouse_id, on_hand, reserved, committed, shard, lsn, event_index, timestamptz 'epoch' + at_ms * interval '1 millisecond' FROM {0} " +
        "ON CONFLICT (sku, warehouse_id) DO UPDATE SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, committed = EXCLUDED.committed, shard = EXCLUDED.shard, " +
        "lsn = EXCLUDED.lsn, event_index = EXCLUDED.event_index, updated_at = EXCLUDED.updated_at WHERE (s.lsn, s.event_index) < (EXCLUDED.lsn, EXCLUDED.event_index)";

    // The exactly-once guard, first in the transaction: it locks the shard's row and moves it only from before the
    // batch's first event. No row moved: another projector (or an earlier run) applied part of it; roll back.
    private const string Advance =
        "UPDATE wb_projection_positions SET lsn = $2, event_index = $3, updated_at = now() WHERE shard = $1 AND (lsn, event_index) < ($4, $5)";

    private const string UnnestOrders =
        "unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::integer[]) " +
        "AS x(" + OrderColumns + ")";

    private const string StageTables =
        "CREATE TEMP TABLE IF NOT EXISTS wb_stage_orders (order_id text, shard integer, customer_id text, status text, amount bigint, currency text, created_ms bigint, updated_ms bigint, reserved_until_ms bigint, payment_tx text, other_shards text, lsn bigint, event_index integer) ON COMMIT DELETE ROWS;" +
        "CREATE TEMP TABLE IF NOT EXISTS wb_stage_lines (order_id text, sku bigint, quantity integer, unit_price bigint) ON COMMIT DELETE ROWS;" +
        "CREATE TEMP TABLE IF NOT EXISTS wb_stage_allocations (order_id text, sku bigint, warehouse_id integer, quantity integer) ON COMMIT DELETE ROWS;" +
        "CREATE TEMP TABLE IF NOT EXISTS wb_stage_history (shard integer, lsn bigint, event_index integer, order_id text, event text, status text, amount bigint, transaction_id text, at_ms bigint) ON COMMIT DELETE ROWS;" +
        "CREATE TEMP TABLE IF NOT EXISTS wb_stage_stock (sku bigint, warehouse_id integer, on_hand bigint, reserved bigint, committed bigint, shard integer, lsn bigint, event_index integer, at_ms bigint) ON COMMIT DELETE ROWS;";

    /// <summary>Creates the shard's position row (and, for COPY, this connection's staging tables); returns the position.</summary>
    public async Task<EventPosition> OpenAsync(int shard, CancellationToken cancellation)
    {
        if (method == ProjectionWriteMethod.Copy)
        {
            await using var stage = new NpgsqlCommand(StageTables, connection);
            await stage.ExecuteNonQueryAsync(cancellation).ConfigureAwait(false);
        }
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("INSERT INTO wb_projection_positions (shard, lsn, event_index, updated_at) VALUES ($1, 0, 0, now()) ON CONFLICT (shard) DO NOTHING") { Parameters = { Int(shard) } },
                new NpgsqlBatchCommand("SELECT lsn, event_index FROM wb_projection_positions WHERE shard = $1") { Parameters = { Int(shard) } },
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellation).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellation).ConfigureAwait(false)) throw new InvalidOperationException($"wb_projection_positions has no row for shard {shard}.");
        return new EventPosition(reader.GetInt64(0), reader.GetInt32(1));
    }

    /// <summary>The shard's position as stored now.</summary>
    public async Task<EventPosition> ReadPositionAsync(int shard, CancellationToken cancellation)
    {
        await using var command = new NpgsqlCommand("SELECT lsn, event_index FROM wb_projection_positions WHERE shard = $1", connection) { Parameters = { Int(shard) } };
        await using var reader = await command.ExecuteReaderAsync(cancellation).ConfigureAwait(false);
        await reader.ReadAsync(cancellation).ConfigureAwait(false);
        return new EventPosition(reader.GetInt64(0), reader.GetInt32(1));
    }

    /// <summary>
    /// Applies the batch and moves the shard's position to its last event, in one transaction; false (nothing
    /// written) when the stored position is no longer before the batch.
    /// </summary>
    public async Task<bool> WriteAsync(int shard, ProjectionBatch rows, CancellationToken cancellation)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellation).ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection, transaction);
        var advance = new NpgsqlBatchCommand(Advance) { Parameters = { Int(shard), Long(rows.Last.Lsn), Int(rows.Last.Index), Long(rows.First.Lsn), Int(rows.First.Index) } };
        batch.BatchCommands.Add(advance);
        var relined = rows.Orders.Values.Where(o => o.Relined).Select(o => o.View.OrderId.ToString()).ToArray();
        if (method == ProjectionWriteMethod.Upsert) AddUnnest(batch, rows, relined);
        else await AddCopiedAsync(batch, rows, relined, cancellation).ConfigureAwait(false);
        await batch.ExecuteNonQueryAsync(cancellation).ConfigureAwait(false);
        if (advance.RecordsAffected != 1)
        {
            await transaction.RollbackAsync(cancellation).ConfigureAwait(false);
            return false;
        }
        await transaction.CommitAsync(cancellation).ConfigureAwait(false);
        return true;
    }

    private static void AddUnnest(NpgsqlBatch batch, ProjectionBatch rows, string[] relined)
    {
        var orders = rows.Orders.Values.ToArray();
        if (orders.Length > 0)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(MergeOrders, UnnestOrders))
            {
                Parameters =
                {
                    Array(orders.Select(o => o.View.OrderId.ToString())), Array(orders.Select(o => o.Shard)), Array(orders.Select(o => o.View.CustomerId)),
                    Array(orders.Select(o => Wildberries.Core.OrderTransitions.ToWire(o.View.Status))), Array(orders.Select(o => o.View.Amount)), Array(orders.Select(o => o.View.Currency)),
                    Array(orders.Select(o => o.View.CreatedAtMs)), Array(orders.Select(o => o.UpdatedMs)), Array(orders.Select(ReservedUntilMs)),
                    Array(orders.Select(o => o.View.PaidTransactionId)), Array(orders.Select(OtherShards)),
                    Array(orders.Select(o => o.Position.Lsn)), Array(orders.Select(o => o.Position.Index)),
                },
            });
        }
        if (relined.Length > 0)
        {
            var lines = rows.Orders.Values.Where(o => o.Relined).SelectMany(o => o.View.Lines.Select(l => (Order: o.View.OrderId.ToString(), Line: l))).ToArray();
            var allocations = lines.SelectMany(l => l.Line.Allocations.Select(a => (l.Order, l.Line.Sku, Allocation: a))).ToArray();
            batch.BatchCommands.Add(new NpgsqlBatchCommand("DELETE FROM wb_order_lines WHERE order_id = ANY($1)") { Parameters = { Array(relined) } });
            batch.BatchCommands.Add(new NpgsqlBatchCommand("DELETE FROM wb_order_allocations WHERE order_id = ANY($1)") { Parameters = { Array(relined) } });
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(InsertLines, "unnest($1::text[], $2::bigint[], $3::integer[], $4::bigint[]) AS x(order_id, sku, quantity, unit_price)"))
            {
                Parameters = { Array(lines.Select(l => l.Order)), Array(lines.Select(l => l.Line.Sku)), Array(lines.Select(l => l.Line.Quantity)), Array(lines.Select(l => l.Line.UnitPrice)) },
            });
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(InsertAllocations, "unnest($1::text[], $2::bigint[], $3::integer[], $4::integer[]) AS x(order_id, sku, warehouse_id, quantity)"))
            {
                Parameters = { Array(allocations.Select(a => a.Order)), Array(allocations.Select(a => a.Sku)), Array(allocations.Select(a => a.Allocation.WarehouseId)), Array(allocations.Select(a => a.Allocation.Quantity)) },
            });
        }
        if (rows.History.Count > 0)
        {
            var h = rows.History;
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(InsertHistory,
                "unnest($1::integer[], $2::bigint[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[]) AS x(shard, lsn, event_index, order_id, event, status, amount, transaction_id, at_ms)"))
            {
                Parameters =
                {
                    Array(h.Select(r => r.Shard)), Array(h.Select(r => r.Position.Lsn)), Array(h.Select(r => r.Position.Index)), Array(h.Select(r => r.OrderId)), Array(h.Select(r => r.Event)),
                    Array(h.Select(r => r.Status)), Array(h.Select(r => r.Amount)), Array(h.Select(r => r.TransactionId)), Array(h.Select(r => r.AtMs)),
                },
            });
        }
        if (rows.Stock.Count > 0)
        {
            var s = rows.Stock.Values.ToArray();
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(MergeStock,
                "unnest($1::bigint[], $2::integer[], $3::bigint[], $4::bigint[], $5::bigint[], $6::integer[], $7::bigint[], $8::integer[], $9::bigint[]) AS x(sku, warehouse_id, on_hand, reserved, committed, shard, lsn, event_index, at_ms)"))
            {
                Parameters =
                {
                    Array(s.Select(r => r.Sku)), Array(s.Select(r => r.WarehouseId)), Array(s.Select(r => r.OnHand)), Array(s.Select(r => r.Reserved)), Array(s.Select(r => r.Committed)),
                    Array(s.Select(r => r.Shard)), Array(s.Select(r => r.Position.Lsn)), Array(s.Select(r => r.Position.Index)), Array(s.Select(r => r.AtMs)),
                },
            });
        }
    }

    private async Task AddCopiedAsync(NpgsqlBatch batch, ProjectionBatch rows, string[] relined, CancellationToken cancellation)
    {
        if (rows.Orders.Count > 0)
        {
            await using (var copy = await connection.BeginBinaryImportAsync($"COPY wb_stage_orders ({OrderColumns}) FROM STDIN (FORMAT BINARY)", cancellation).ConfigureAwait(false))
            {
                foreach (var o in rows.Orders.Values)
                {
                    await copy.StartRowAsync(cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.View.OrderId.ToString(), NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.Shard, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.View.CustomerId, NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(Wildberries.Core.OrderTransitions.ToWire(o.View.Status), NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.View.Amount, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.View.Currency, NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.View.CreatedAtMs, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.UpdatedMs, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(ReservedUntilMs(o), NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await WriteText(copy, o.View.PaidTransactionId, cancellation).ConfigureAwait(false);
                    await WriteText(copy, OtherShards(o), cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.Position.Lsn, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(o.Position.Index, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                }
                await copy.CompleteAsync(cancellation).ConfigureAwait(false);
            }
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(MergeOrders, "wb_stage_orders")));
        }
        if (relined.Length > 0)
        {
            await using (var copy = await connection.BeginBinaryImportAsync("COPY wb_stage_lines (order_id, sku, quantity, unit_price) FROM STDIN (FORMAT BINARY)", cancellation).ConfigureAwait(false))
            {
                foreach (var o in rows.Orders.Values.Where(o => o.Relined))
                {
                    foreach (var l in o.View.Lines)
                    {
                        await copy.StartRowAsync(cancellation).ConfigureAwait(false);
                        await copy.WriteAsync(o.View.OrderId.ToString(), NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
                        await copy.WriteAsync(l.Sku, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                        await copy.WriteAsync(l.Quantity, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                        await copy.WriteAsync(l.UnitPrice, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    }
                }
                await copy.CompleteAsync(cancellation).ConfigureAwait(false);
            }
            await using (var copy = await connection.BeginBinaryImportAsync("COPY wb_stage_allocations (order_id, sku, warehouse_id, quantity) FROM STDIN (FORMAT BINARY)", cancellation).ConfigureAwait(false))
            {
                foreach (var o in rows.Orders.Values.Where(o => o.Relined))
                {
                    foreach (var l in o.View.Lines)
                    {
                        foreach (var a in l.Allocations)
                        {
                            await copy.StartRowAsync(cancellation).ConfigureAwait(false);
                            await copy.WriteAsync(o.View.OrderId.ToString(), NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
                            await copy.WriteAsync(l.Sku, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                            await copy.WriteAsync(a.WarehouseId, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                            await copy.WriteAsync(a.Quantity, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                        }
                    }
                }
                await copy.CompleteAsync(cancellation).ConfigureAwait(false);
            }
            batch.BatchCommands.Add(new NpgsqlBatchCommand("DELETE FROM wb_order_lines WHERE order_id = ANY($1)") { Parameters = { Array(relined) } });
            batch.BatchCommands.Add(new NpgsqlBatchCommand("DELETE FROM wb_order_allocations WHERE order_id = ANY($1)") { Parameters = { Array(relined) } });
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(InsertLines, "wb_stage_lines")));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(InsertAllocations, "wb_stage_allocations")));
        }
        if (rows.History.Count > 0)
        {
            await using (var copy = await connection.BeginBinaryImportAsync("COPY wb_stage_history (shard, lsn, event_index, order_id, event, status, amount, transaction_id, at_ms) FROM STDIN (FORMAT BINARY)", cancellation).ConfigureAwait(false))
            {
                foreach (var h in rows.History)
                {
                    await copy.StartRowAsync(cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(h.Shard, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(h.Position.Lsn, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(h.Position.Index, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(h.OrderId, NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(h.Event, NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
                    await WriteText(copy, h.Status, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(h.Amount, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await WriteText(copy, h.TransactionId, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(h.AtMs, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                }
                await copy.CompleteAsync(cancellation).ConfigureAwait(false);
            }
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(InsertHistory, "wb_stage_history")));
        }
        if (rows.Stock.Count > 0)
        {
            await using (var copy = await connection.BeginBinaryImportAsync("COPY wb_stage_stock (sku, warehouse_id, on_hand, reserved, committed, shard, lsn, event_index, at_ms) FROM STDIN (FORMAT BINARY)", cancellation).ConfigureAwait(false))
            {
                foreach (var s in rows.Stock.Values)
                {
                    await copy.StartRowAsync(cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.Sku, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.WarehouseId, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.OnHand, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.Reserved, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.Committed, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.Shard, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.Position.Lsn, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.Position.Index, NpgsqlDbType.Integer, cancellation).ConfigureAwait(false);
                    await copy.WriteAsync(s.AtMs, NpgsqlDbType.Bigint, cancellation).ConfigureAwait(false);
                }
                await copy.CompleteAsync(cancellation).ConfigureAwait(false);
            }
            batch.BatchCommands.Add(new NpgsqlBatchCommand(From(MergeStock, "wb_stage_stock")));
        }
    }

    private static async Task WriteText(NpgsqlBinaryImporter copy, string? value, CancellationToken cancellation)
    {
        if (value is null) await copy.WriteNullAsync(cancellation).ConfigureAwait(false);
        else await copy.WriteAsync(value, NpgsqlDbType.Text, cancellation).ConfigureAwait(false);
    }

    private static long ReservedUntilMs(ProjectionBatch.OrderRow o) =>
        o.View.Status == Wildberries.Core.OrderStatus.PendingPayment ? o.View.ReservedUntilMs : 0;

    private static string? OtherShards(ProjectionBatch.OrderRow o) =>
        o.View.RemoteShards is { Length: > 0 } remote ? string.Join(',', remote) : null;

    /// <summary>A merge statement over <paramref name="source"/> (the same text every batch, so its prepared statement is reused).</summary>
    private static string From(string template, string source) => template.Replace("{0}", source, StringComparison.Ordinal);

    private static NpgsqlParameter<int> Int(int value) => new() { TypedValue = value };

    private static NpgsqlParameter<long> Long(long value) => new() { TypedValue = value };

    private static NpgsqlParameter<T[]> Array<T>(IEnumerable<T> values) => new() { TypedValue = [.. values] };
}
