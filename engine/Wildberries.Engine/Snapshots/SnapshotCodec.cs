using System.Buffers;
using MessagePack;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Snapshots;

/// <summary>The body of a snapshot file: the <see cref="StateSnapshot"/> as MessagePack arrays, written by hand.</summary>
internal static class SnapshotCodec
{
    public static void Write(StateSnapshot s, IBufferWriter<byte> output)
    {
        var w = new MessagePackWriter(output);
        w.WriteArrayHeader(9);
        w.Write(s.ShardId);
        w.Write(s.Lsn);
        w.Write(s.NowMs);
        w.Write(s.OrderSequence);

        w.WriteArrayHeader(s.Items.Length);
        foreach (var i in s.Items)
        {
            w.WriteArrayHeader(6);
            w.Write(i.Sku);
            w.Write(i.InCatalog);
            w.Write(i.Name);
            w.Write(i.Price);
            w.Write(i.MaxPerOrder);
            w.Write(i.Active);
        }
        w.WriteArrayHeader(s.Rows.Length);
        foreach (var r in s.Rows)
        {
            w.WriteArrayHeader(5);
            w.Write(r.Sku);
            w.Write(r.WarehouseId);
            w.Write(r.OnHand);
            w.Write(r.Reserved);
            w.Write(r.Committed);
        }
        w.WriteArrayHeader(s.Orders.Length);
        foreach (var o in s.Orders)
        {
            w.WriteArrayHeader(22);
            w.Write(o.Id.Value);
            w.Write((byte)o.Status);
            w.Write(o.Held);
            w.Write(o.CustomerId);
            w.Write(o.IdempotencyKey);
            w.Write(o.PaymentMethod);
            w.Write(o.PaymentSessionId);
            w.Write(o.PaidTransactionId);
            w.Write(o.Amount);
            w.Write(o.CreatedAtMs);
            w.Write(o.ReservedUntilMs);
            w.Write(o.TerminalAtMs);
            w.Write(o.Fingerprint);
            w.Write(o.LineCount);
            w.WriteArrayHeader(o.Allocations.Length * 4);
            foreach (var a in o.Allocations)
            {
                w.Write(a.Sku);
                w.Write(a.WarehouseId);
                w.Write(a.Quantity);
                w.Write(a.UnitPrice);
            }
            w.Write(o.CheckoutAborted);
            w.Write(o.PaymentUrl);
            if (o.RemoteShards is null)
            {
                w.WriteNil();
            }
            else
            {
                w.WriteArrayHeader(o.RemoteShards.Length);
                foreach (var shard in o.RemoteShards) w.Write(shard);
            }
            w.Write(o.RemoteAmount);
            w.Write(o.RemoteLineCount);
            w.Write(o.IsHold);
            w.Write(o.HoldConfirmed);
        }
        w.WriteArrayHeader(s.Keys.Length);
        foreach (var k in s.Keys)
        {
            w.WriteArrayHeader(4);
            w.Write(k.Key);
            w.Write(k.OrderId.Value);
            w.Write(k.Fingerprint);
            w.Write(k.ExpiresAtMs);
        }
        w.WriteArrayHeader(s.Transactions.Length);
        foreach (var t in s.Transactions)
        {
            w.WriteArrayHeader(10);
            w.Write(t.TransactionId);
            w.Write(t.OrderId.Value);
            w.Write(t.ExpiresAtMs);
            w.Write((byte)t.Code);
            w.Write((byte)t.Status);
            w.Write(t.Value);
            w.Write(t.ReservedUntilMs);
            w.Write(t.Field);
            w.Write(t.PaymentSessionId);
            w.Write(t.Succeeded);
        }
        w.Flush();
    }

    /// <summary>Decodes a body with the span reader.</summary>
    public static StateSnapshot Read(ReadOnlyMemory<byte> body)
    {
        var r = new PackReader(body.Span);
        return Read(ref r);
    }

    /// <summary>Decodes a body with MessagePack's own reader, as before issue 15 (the benchmark's side by side).</summary>
    public static StateSnapshot ReadWithMessagePack(ReadOnlyMemory<byte> body)
    {
        var r = new MessagePackPackReader(body);
        return Read(ref r);
    }

    private static StateSnapshot Read<TReader>(ref TReader r)
        where TReader : IPackReader, allows ref struct
    {
        // Names and customers repeat from one record to the next: the same string is kept instead of a new one each.
        var names = new RepeatedString();
        var customers = new RepeatedString();
        Expect(ref r, 9);
        var shard = r.ReadInt32();
        var lsn = r.ReadInt64();
        var now = r.ReadInt64();
        var sequence = r.ReadInt64();

        var items = new SnapshotItem[r.ReadArrayHeader()];
        for (var i = 0; i < items.Length; i++)
        {
            Expect(ref r, 6);
            items[i] = new SnapshotItem(r.ReadInt64(), r.ReadBoolean(), names.Read(ref r)!, r.ReadInt64(), r.ReadInt32(), r.ReadBoolean());
        }
        var rows = new SnapshotRow[r.ReadArrayHeader()];
        for (var i = 0; i < rows.Length; i++)
        {
            Expect(ref r, 5);
            rows[i] = new SnapshotRow(r.ReadInt64(), r.ReadInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64());
        }
        var orders = new SnapshotOrder[r.ReadArrayHeader()];
        for (var i = 0; i < orders.Length; i++)
        {
            // 15 fields before checkout aborts and payment pages were recorded (not aborted, no page), 17 before
            // cross-shard orders and holds (none).
            var fields = r.ReadArrayHeader();
            if (fields is not (15 or 17 or 22)) throw new MessagePackSerializationException($"expected 15, 17 or 22 order fields, found {fields}");
            var id = new OrderId(r.ReadUInt64());
            var status = (OrderStatus)r.ReadByte();
            var held = r.ReadBoolean();
            var customer = customers.Read(ref r)!;
            var key = r.ReadString()!;
            var method = r.ReadString();
            var session = r.ReadString();
            var paid = r.ReadString();
            var amount = r.ReadInt64();
            var created = r.ReadInt64();
            var until = r.ReadInt64();
            var terminal = r.ReadInt64();
            var fingerprint = r.ReadUInt64();
            var lineCount = r.ReadInt32();
            var allocations = new SnapshotAllocation[r.ReadArrayHeader() / 4];
            for (var a = 0; a < allocations.Length; a++)
            {
                allocations[a] = new SnapshotAllocation(r.ReadInt64(), r.ReadInt32(), r.ReadInt32(), r.ReadInt64());
            }
            var aborted = fields > 15 && r.ReadBoolean();
            var url = fields > 15 ? r.ReadString() : null;
            int[]? remoteShards = null;
            if (fields > 17 && !r.TryReadNil())
            {
                remoteShards = new int[r.ReadArrayHeader()];
                for (var s = 0; s < remoteShards.Length; s++) remoteShards[s] = r.ReadInt32();
            }
            var (remoteAmount, remoteLines) = fields > 17 ? (r.ReadInt64(), r.ReadInt32()) : (0L, 0);
            var (isHold, confirmed) = fields > 17 ? (r.ReadBoolean(), r.ReadBoolean()) : (false, false);
            orders[i] = new SnapshotOrder(id, status, held, customer, key, method, session, paid, amount, created, until, terminal, fingerprint, lineCount, allocations, aborted, url,
                remoteShards, remoteAmount, remoteLines, isHold, confirmed);
        }
        var keys = new SnapshotKey[r.ReadArrayHeader()];
        for (var i = 0; i < keys.Length; i++)
        {
            Expect(ref r, 4);
            keys[i] = new SnapshotKey(r.ReadString()!, new OrderId(r.ReadUInt64()), r.ReadUInt64(), r.ReadInt64());
        }
        var transactions = new SnapshotTransaction[r.ReadArrayHeader()];
        for (var i = 0; i < transactions.Length; i++)
        {
            // 9 fields before a transaction kept one answer per verdict: that answer is read as its success's when it
            // paid or asked for a refund, else as its failure's.
            var fields = ExpectOneOf(ref r, 9, 10);
            var (tx, order, expires, code, status) = (r.ReadString()!, new OrderId(r.ReadUInt64()), r.ReadInt64(), (ResultCode)r.ReadByte(), (OrderStatus)r.ReadByte());
            var (value, until, field, session) = (r.ReadInt64(), r.ReadInt64(), r.ReadString(), r.ReadString());
            var succeeded = fields > 9 ? r.ReadBoolean() : code is ResultCode.AlreadyPaid or ResultCode.RefundRequired || status is OrderStatus.Paid or OrderStatus.Fulfilled;
            transactions[i] = new SnapshotTransaction(tx, order, expires, code, status, value, until, field, session, succeeded);
        }
        return new StateSnapshot(shard, lsn, now, sequence, items, rows, orders, keys, transactions);
    }

    private static int ExpectOneOf<TReader>(ref TReader r, int older, int current)
        where TReader : IPackReader, allows ref struct
    {
        var n = r.ReadArrayHeader();
        if (n != older && n != current) throw new MessagePackSerializationException($"expected {older} or {current} fields, found {n}");
        return n;
    }

    private static void Expect<TReader>(ref TReader r, int fields)
        where TReader : IPackReader, allows ref struct
    {
        var n = r.ReadArrayHeader();
        if (n != fields) throw new MessagePackSerializationException($"expected {fields} fields, found {n}");
    }

    /// <summary>The last string read in one field, returned again while its bytes repeat.</summary>
    private sealed class RepeatedString
    {
        private string? _last;

        public string? Read<TReader>(ref TReader r)
            where TReader : IPackReader, allows ref struct
        {
            if (!r.TryReadStringBytes(out var bytes)) return null;
            // ASCII only (what names and customer ids are in practice); anything else is decoded every time.
            if (_last is not null && System.Text.Ascii.Equals(bytes, _last)) return _last;
            return _last = System.Text.Encoding.UTF8.GetString(bytes);
        }
    }
}
