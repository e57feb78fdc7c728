using System.Buffers;
using MessagePack;

namespace Wildberries.Protocol;

/// <summary>Writes a body into a MessagePack writer.</summary>
/// <typeparam name="T">The message.</typeparam>
public delegate void BodyWriter<in T>(ref MessagePackWriter writer, T value);

/// <summary>Reads a body from a MessagePack reader.</summary>
/// <typeparam name="T">The message.</typeparam>
public delegate T BodyReader<out T>(ref MessagePackReader reader);

/// <summary>
/// Every body of docs/protocol.md, written and read by hand: arrays with fields by position, so the wire format is
/// stable whatever the records look like. Readers ignore trailing fields they do not know and throw
/// <see cref="ProtocolFormatException"/> for anything else that is not the documented shape.
/// </summary>
public static class MessageCodec
{
    /// <summary>The Hello body: the API key and an optional client name.</summary>
    public static void WriteHello(ref MessagePackWriter w, (string ApiKey, string? ClientName) hello)
    {
        w.WriteArrayHeader(2);
        w.Write(hello.ApiKey);
        w.Write(hello.ClientName);
    }

    /// <summary>Reads a Hello body.</summary>
    public static (string ApiKey, string? ClientName) ReadHello(ref MessagePackReader r)
    {
        var n = Fields(ref r, 2, "hello");
        var key = Required(ref r, "apiKey");
        var name = r.ReadString();
        Skip(ref r, n - 2);
        return (key, name);
    }

    /// <summary>Writes a Welcome body.</summary>
    public static void WriteWelcome(ref MessagePackWriter w, Welcome welcome)
    {
        ArgumentNullException.ThrowIfNull(welcome);
        w.WriteArrayHeader(5);
        w.Write(welcome.Role);
        w.Write(welcome.FrameBytesMax);
        w.Write(welcome.InFlightMax);
        w.Write(welcome.Shards.Count);
        w.WriteArrayHeader(welcome.Shards.Count);
        foreach (var s in welcome.Shards)
        {
            w.WriteArrayHeader(2);
            w.Write(s.Shard);
            w.Write(s.Endpoint);
        }
    }

    /// <summary>Reads a Welcome body.</summary>
    public static Welcome ReadWelcome(ref MessagePackReader r)
    {
        var n = Fields(ref r, 5, "welcome");
        var role = Required(ref r, "role");
        var frameBytesMax = r.ReadInt32();
        var inFlightMax = r.ReadInt32();
        r.ReadInt32();
        var count = Array(ref r, "shards", ProtocolLimits.ShardsMax);
        var shards = new ShardEndpoint[count];
        for (var i = 0; i < count; i++)
        {
            var m = Fields(ref r, 2, "shards");
            shards[i] = new ShardEndpoint(r.ReadInt32(), r.ReadString());
            Skip(ref r, m - 2);
        }
        Skip(ref r, n - 5);
        return new Welcome(role, frameBytesMax, inFlightMax, shards);
    }

    /// <summary>Writes an Error body.</summary>
    public static void WriteProblem(ref MessagePackWriter w, ProblemBody problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        w.WriteArrayHeader(6);
        w.Write(problem.Code);
        w.Write(problem.Status);
        w.Write(problem.Title);
        w.Write(problem.Detail);
        w.Write(problem.Field);
        if (problem.Shortages is null)
        {
            w.WriteNil();
            return;
        }
        w.WriteArrayHeader(problem.Shortages.Count);
        foreach (var s in problem.Shortages)
        {
            w.WriteArrayHeader(3);
            w.Write(s.Sku);
            w.Write(s.Requested);
            w.Write(s.Available);
        }
    }

    /// <summary>Reads an Error body.</summary>
    public static ProblemBody ReadProblem(ref MessagePackReader r)
    {
        var n = Fields(ref r, 6, "error");
        var code = Required(ref r, "code");
        var status = r.ReadInt32();
        var title = Required(ref r, "title");
        var detail = r.ReadString();
        var field = r.ReadString();
        Shortage[]? shortages = null;
        if (!r.TryReadNil())
        {
            shortages = new Shortage[Array(ref r, "shortages", ProtocolLimits.OrderLinesMax)];
            for (var i = 0; i < shortages.Length; i++)
            {
                var m = Fields(ref r, 3, "shortages");
                shortages[i] = new Shortage(r.ReadInt64(), r.ReadInt32(), r.ReadInt64());
                Skip(ref r, m - 3);
            }
        }
        Skip(ref r, n - 6);
        return new ProblemBody(code, status, title, detail, field, shortages);
    }

    /// <summary>Writes a Checkout body.</summary>
    public static void WriteCheckout(ref MessagePackWriter w, CheckoutRequest checkout)
    {
        ArgumentNullException.ThrowIfNull(checkout);
        w.WriteArrayHeader(5);
        w.Write(checkout.IdempotencyKey);
        w.Write(checkout.CustomerId);
        w.WriteArrayHeader(checkout.Lines.Count);
        foreach (var l in checkout.Lines)
        {
            w.WriteArrayHeader(2);
            w.Write(l.Sku);
            w.Write(l.Qty);
        }
        WriteInts(ref w, checkout.Warehouses);
        w.Write(checkout.PaymentMethod);
    }

    /// <summary>Reads a Checkout body; at most <paramref name="linesMax"/> lines are accepted before allocating.</summary>
    public static CheckoutRequest ReadCheckout(ref MessagePackReader r, int linesMax)
    {
        var n = Fields(ref r, 5, "checkout");
        var key = Required(ref r, "idempotencyKey");
        var customer = Required(ref r, "customerId");
        var lines = new CartLine[Array(ref r, "lines", linesMax)];
        for (var i = 0; i < lines.Length; i++)
        {
            var m = Fields(ref r, 2, $"lines[{i}]");
            lines[i] = new CartLine(r.ReadInt64(), r.ReadInt32());
            Skip(ref r, m - 2);
        }
        int[]? warehouses = null;
        if (!r.TryReadNil())
        {
            warehouses = new int[Array(ref r, "warehouses", linesMax)];
            for (var i = 0; i < warehouses.Length; i++) warehouses[i] = r.ReadInt32();
        }
        var method = r.ReadString();
        Skip(ref r, n - 5);
        return new CheckoutRequest(key, customer, lines, warehouses, method);
    }

    /// <summary>Writes an Order body.</summary>
    public static void WriteOrder(ref MessagePackWriter w, Order order)
    {
        ArgumentNullException.ThrowIfNull(order);
        w.WriteArrayHeader(7);
        w.Write(order.OrderId);
        w.Write(order.Status);
        w.Write(order.Amount);
        w.Write(order.Currency);
        WriteNullable(ref w, order.ReservedUntilMs);
        w.Write(order.PaymentUrl);
        w.WriteArrayHeader(order.Lines.Count);
        foreach (var l in order.Lines)
        {
            w.WriteArrayHeader(4);
            w.Write(l.Sku);
            w.Write(l.Qty);
            w.Write(l.Price);
            w.WriteArrayHeader(l.Allocations.Count);
            foreach (var a in l.Allocations)
            {
                w.WriteArrayHeader(2);
                w.Write(a.WarehouseId);
                w.Write(a.Qty);
            }
        }
    }

    /// <summary>Reads an Order body.</summary>
    public static Order ReadOrder(ref MessagePackReader r)
    {
        var n = Fields(ref r, 7, "order");
        var id = Required(ref r, "orderId");
        var status = Required(ref r, "status");
        var amount = r.ReadInt64();
        var currency = Required(ref r, "currency");
        var until = ReadNullableInt64(ref r);
        var url = r.ReadString();
        var lines = new OrderLine[Array(ref r, "lines", ProtocolLimits.OrderLinesMax)];
        for (var i = 0; i < lines.Length; i++)
        {
            var m = Fields(ref r, 4, "lines");
            var (sku, qty, price) = (r.ReadInt64(), r.ReadInt32(), r.ReadInt64());
            var allocations = new Allocation[Array(ref r, "allocations", int.MaxValue, ProtocolLimits.TupleBytesMin)];
            for (var j = 0; j < allocations.Length; j++)
            {
                var k = Fields(ref r, 2, "allocations");
                allocations[j] = new Allocation(r.ReadInt32(), r.ReadInt32());
                Skip(ref r, k - 2);
            }
            lines[i] = new OrderLine(sku, qty, price, allocations);
            Skip(ref r, m - 4);
        }
        Skip(ref r, n - 7);
        return new Order(id, status, amount, currency, until, url, lines);
    }

    /// <summary>Writes a GetOrder or CancelOrder body (<c>[orderId, customerId]</c>) or a ShipOrder body (<c>[orderId]</c>, no customer).</summary>
    public static void WriteOrderRef(ref MessagePackWriter w, OrderRef order)
    {
        ArgumentNullException.ThrowIfNull(order);
        w.WriteArrayHeader(order.CustomerId is null ? 1 : 2);
        w.Write(order.OrderId);
        if (order.CustomerId is not null) w.Write(order.CustomerId);
    }

    /// <summary>Reads an order reference; <paramref name="withCustomer"/>: the customer id is required.</summary>
    public static OrderRef ReadOrderRef(ref MessagePackReader r, bool withCustomer)
    {
        var expected = withCustomer ? 2 : 1;
        var n = Fields(ref r, expected, "order");
        var id = Required(ref r, "orderId");
        var customer = withCustomer ? Required(ref r, "customerId") : null;
        Skip(ref r, n - expected);
        return new OrderRef(id, customer);
    }

    /// <summary>Writes a GetItem body.</summary>
    public static void WriteSku(ref MessagePackWriter w, long sku)
    {
        w.WriteArrayHeader(1);
        w.Write(sku);
    }

    /// <summary>Reads a GetItem body.</summary>
    public static long ReadSku(ref MessagePackReader r)
    {
        var n = Fields(ref r, 1, "sku");
        var sku = r.ReadInt64();
        Skip(ref r, n - 1);
        return sku;
    }

    /// <summary>Writes a GetItem answer.</summary>
    public static void WriteItemDetail(ref MessagePackWriter w, ItemDetail item)
    {
        ArgumentNullException.ThrowIfNull(item);
        w.WriteArrayHeader(8);
        w.Write(item.Sku);
        w.Write(item.Name);
        w.Write(item.Price);
        w.Write(item.Currency);
        w.Write(item.MaxPerOrder);
        w.Write(item.Active);
        w.Write(item.Available);
        w.WriteArrayHeader(item.Warehouses.Count);
        foreach (var s in item.Warehouses)
        {
            w.WriteArrayHeader(2);
            w.Write(s.WarehouseId);
            w.Write(s.Available);
        }
    }

    /// <summary>Reads a GetItem answer.</summary>
    public static ItemDetail ReadItemDetail(ref MessagePackReader r)
    {
        var n = Fields(ref r, 8, "item");
        var (sku, name, price, currency) = (r.ReadInt64(), Required(ref r, "name"), r.ReadInt64(), Required(ref r, "currency"));
        var (max, active, available) = (r.ReadInt32(), r.ReadBoolean(), r.ReadInt64());
        var stock = new WarehouseStock[Array(ref r, "warehouses", int.MaxValue, ProtocolLimits.TupleBytesMin)];
        for (var i = 0; i < stock.Length; i++)
        {
            var m = Fields(ref r, 2, "warehouses");
            stock[i] = new WarehouseStock(r.ReadInt32(), r.ReadInt64());
            Skip(ref r, m - 2);
        }
        Skip(ref r, n - 8);
        return new ItemDetail(sku, name, price, currency, max, active, available, stock);
    }

    /// <summary>Writes an Availability body.</summary>
    public static void WriteSkus(ref MessagePackWriter w, IReadOnlyList<long> skus)
    {
        ArgumentNullException.ThrowIfNull(skus);
        w.WriteArrayHeader(1);
        w.WriteArrayHeader(skus.Count);
        foreach (var s in skus) w.Write(s);
    }

    /// <summary>Reads an Availability body; at most <paramref name="skusMax"/> SKUs.</summary>
    public static long[] ReadSkus(ref MessagePackReader r, int skusMax)
    {
        var n = Fields(ref r, 1, "availability");
        var skus = new long[Array(ref r, "skus", skusMax)];
        for (var i = 0; i < skus.Length; i++) skus[i] = r.ReadInt64();
        Skip(ref r, n - 1);
        return skus;
    }

    /// <summary>Writes an Availability answer.</summary>
    public static void WriteAvailability(ref MessagePackWriter w, IReadOnlyList<SkuAvailability> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        w.WriteArrayHeader(rows.Count);
        foreach (var a in rows)
        {
            w.WriteArrayHeader(2);
            w.Write(a.Sku);
            w.Write(a.Available);
        }
    }

    /// <summary>Reads an Availability answer.</summary>
    public static SkuAvailability[] ReadAvailability(ref MessagePackReader r)
    {
        var rows = new SkuAvailability[Array(ref r, "availability", ProtocolLimits.AvailabilitySkusMax)];
        for (var i = 0; i < rows.Length; i++)
        {
            var m = Fields(ref r, 2, "availability");
            rows[i] = new SkuAvailability(r.ReadInt64(), r.ReadInt64());
            Skip(ref r, m - 2);
        }
        return rows;
    }

    /// <summary>Writes a ListItems body.</summary>
    public static void WriteCatalogQuery(ref MessagePackWriter w, CatalogQuery query)
    {
        w.WriteArrayHeader(2);
        w.Write(query.AfterSku);
        w.Write(query.Limit);
    }

    /// <summary>Reads a ListItems body.</summary>
    public static CatalogQuery ReadCatalogQuery(ref MessagePackReader r)
    {
        var n = Fields(ref r, 2, "listItems");
        var query = new CatalogQuery(r.ReadInt64(), r.ReadInt32());
        Skip(ref r, n - 2);
        return query;
    }

    /// <summary>Writes a ListItems answer.</summary>
    public static void WriteCatalogPage(ref MessagePackWriter w, CatalogPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        w.WriteArrayHeader(2);
        w.WriteArrayHeader(page.Items.Count);
        foreach (var i in page.Items)
        {
            w.WriteArrayHeader(6);
            w.Write(i.Sku);
            w.Write(i.Name);
            w.Write(i.Price);
            w.Write(i.MaxPerOrder);
            w.Write(i.Active);
            w.Write(i.Available);
        }
        WriteNullable(ref w, page.Next);
    }

    /// <summary>Reads a ListItems answer.</summary>
    public static CatalogPage ReadCatalogPage(ref MessagePackReader r)
    {
        var n = Fields(ref r, 2, "page");
        var items = new CatalogItem[Array(ref r, "items", ProtocolLimits.CatalogPageMax)];
        for (var i = 0; i < items.Length; i++)
        {
            var m = Fields(ref r, 6, "items");
            items[i] = new CatalogItem(r.ReadInt64(), Required(ref r, "name"), r.ReadInt64(), r.ReadInt32(), r.ReadBoolean(), r.ReadInt64());
            Skip(ref r, m - 6);
        }
        var next = ReadNullableInt64(ref r);
        Skip(ref r, n - 2);
        return new CatalogPage(items, next);
    }

    /// <summary>Writes a PutItem body or answer.</summary>
    public static void WriteItemUpsert(ref MessagePackWriter w, ItemUpsert item)
    {
        ArgumentNullException.ThrowIfNull(item);
        w.WriteArrayHeader(5);
        w.Write(item.Sku);
        w.Write(item.Name);
        w.Write(item.Price);
        if (item.MaxPerOrder is { } max) w.Write(max);
        else w.WriteNil();
        w.Write(item.Active);
    }

    /// <summary>Reads a PutItem body or answer.</summary>
    public static ItemUpsert ReadItemUpsert(ref MessagePackReader r)
    {
        var n = Fields(ref r, 5, "item");
        var (sku, name, price) = (r.ReadInt64(), Required(ref r, "name"), r.ReadInt64());
        int? max = r.TryReadNil() ? null : r.ReadInt32();
        var active = r.ReadBoolean();
        Skip(ref r, n - 5);
        return new ItemUpsert(sku, name, price, max, active);
    }

    /// <summary>Writes a StockBatch body.</summary>
    public static void WriteStockBatch(ref MessagePackWriter w, StockBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        w.WriteArrayHeader(2);
        w.Write(batch.Reason);
        w.WriteArrayHeader(batch.Adjustments.Count);
        foreach (var a in batch.Adjustments)
        {
            w.WriteArrayHeader(5);
            w.Write(a.Sku);
            w.Write(a.WarehouseId);
            WriteNullable(ref w, a.Delta);
            WriteNullable(ref w, a.OnHand);
            WriteNullable(ref w, a.ExpectedOnHand);
        }
    }

    /// <summary>Reads a StockBatch body; at most <paramref name="linesMax"/> adjustments.</summary>
    public static StockBatch ReadStockBatch(ref MessagePackReader r, int linesMax)
    {
        var n = Fields(ref r, 2, "stock");
        var reason = Required(ref r, "reason");
        var adjustments = new StockAdjustment[Array(ref r, "adjustments", linesMax)];
        for (var i = 0; i < adjustments.Length; i++)
        {
            var m = Fields(ref r, 5, $"adjustments[{i}]");
            adjustments[i] = new StockAdjustment(r.ReadInt64(), r.ReadInt32(), ReadNullableInt64(ref r), ReadNullableInt64(ref r), ReadNullableInt64(ref r));
            Skip(ref r, m - 5);
        }
        Skip(ref r, n - 2);
        return new StockBatch(reason, adjustments);
    }

    /// <summary>Writes a StockBatch answer.</summary>
    public static void WriteStockResults(ref MessagePackWriter w, IReadOnlyList<StockResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        w.WriteArrayHeader(results.Count);
        foreach (var s in results)
        {
            w.WriteArrayHeader(5);
            w.Write(s.Sku);
            w.Write(s.WarehouseId);
            w.Write(s.Result);
            w.Write(s.OnHand);
            w.Write(s.Field);
        }
    }

    /// <summary>Reads a StockBatch answer.</summary>
    public static StockResult[] ReadStockResults(ref MessagePackReader r)
    {
        var results = new StockResult[Array(ref r, "results", ProtocolLimits.StockAdjustmentsMax)];
        for (var i = 0; i < results.Length; i++)
        {
            var m = Fields(ref r, 5, "results");
            results[i] = new StockResult(r.ReadInt64(), r.ReadInt32(), Required(ref r, "result"), r.ReadInt64(), r.ReadString());
            Skip(ref r, m - 5);
        }
        return results;
    }

    /// <summary>Serializes <paramref name="value"/> with <paramref name="write"/> into <paramref name="buffer"/> (cleared first).</summary>
    public static void Encode<T>(ArrayBufferWriter<byte> buffer, T value, BodyWriter<T> write)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentNullException.ThrowIfNull(write);
        buffer.ResetWrittenCount();
        var writer = new MessagePackWriter(buffer);
        write(ref writer, value);
        writer.Flush();
    }

    /// <summary>
    /// Reads a whole body with <paramref name="read"/>; any shape other than the documented one (wrong types, missing
    /// fields, bytes left over) is a <see cref="ProtocolFormatException"/>.
    /// </summary>
    public static T Decode<T>(ReadOnlySequence<byte> body, BodyReader<T> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        var reader = new MessagePackReader(body);
        T value;
        try
        {
            value = read(ref reader);
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or OverflowException or InvalidOperationException or ArgumentException or IndexOutOfRangeException)
        {
            // The reader throws several types on hostile bytes (a truncated skip is an ArgumentOutOfRangeException):
            // all of them mean "not the documented shape".
            throw new ProtocolFormatException("body", ex.Message, ex);
        }
        if (!reader.End) throw new ProtocolFormatException("body", "Bytes after the body's MessagePack value.");
        return value;
    }

    /// <summary>Writes an empty body (<c>[]</c>): a request with no fields.</summary>
    public static void WriteNothing(ref MessagePackWriter w, bool nothing) => w.WriteArrayHeader(0);

    /// <summary>Reads an empty body (an array; any elements are ignored, as later fields are).</summary>
    public static bool ReadNothing(ref MessagePackReader r)
    {
        Skip(ref r, Fields(ref r, 0, "body"));
        return true;
    }

    /// <summary>Writes a history query.</summary>
    public static void WriteHistoryQuery(ref MessagePackWriter w, OrderHistoryQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        w.WriteArrayHeader(3);
        w.Write(query.CustomerId);
        w.Write(query.Before);
        w.Write(query.Limit);
    }

    /// <summary>Reads a history query.</summary>
    public static OrderHistoryQuery ReadHistoryQuery(ref MessagePackReader r)
    {
        var n = Fields(ref r, 3, "query");
        var query = new OrderHistoryQuery(Required(ref r, "customerId"), r.ReadString(), r.ReadInt32());
        Skip(ref r, n - 3);
        return query;
    }

    /// <summary>Writes a history page.</summary>
    public static void WriteOrderPage(ref MessagePackWriter w, OrderPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        w.WriteArrayHeader(2);
        w.WriteArrayHeader(page.Orders.Count);
        foreach (var o in page.Orders) WriteOrder(ref w, o);
        w.Write(page.Next);
    }

    /// <summary>Reads a history page.</summary>
    public static OrderPage ReadOrderPage(ref MessagePackReader r)
    {
        var n = Fields(ref r, 2, "page");
        var orders = new Order[Array(ref r, "orders", ProtocolLimits.OrdersPageMax)];
        for (var i = 0; i < orders.Length; i++) orders[i] = ReadOrder(ref r);
        var page = new OrderPage(orders, r.ReadString());
        Skip(ref r, n - 2);
        return page;
    }

    /// <summary>Writes the replication status of every shard.</summary>
    public static void WriteReplication(ref MessagePackWriter w, IReadOnlyList<ShardReplication> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        w.WriteArrayHeader(shards.Count);
        foreach (var s in shards)
        {
            w.WriteArrayHeader(12);
            w.Write(s.Shard);
            w.Write(s.Role);
            w.Write(s.Mode);
            w.Write(s.Epoch);
            w.Write(s.Refusing);
            w.Write(s.Lsn);
            w.Write(s.LagEntries);
            w.Write(s.LagMs);
            w.Write(s.DroppedStale);
            w.Write(s.LastError);
            w.Write(s.StateHash);
            w.Write(s.AppliedLsn);
        }
    }

    /// <summary>Reads the replication status of every shard.</summary>
    public static IReadOnlyList<ShardReplication> ReadReplication(ref MessagePackReader r)
    {
        var shards = new ShardReplication[Array(ref r, "shards", ProtocolLimits.ShardsMax)];
        for (var i = 0; i < shards.Length; i++)
        {
            var n = Fields(ref r, 12, "shards");
            shards[i] = new ShardReplication(r.ReadInt32(), Required(ref r, "role"), Required(ref r, "mode"), r.ReadInt32(), r.ReadString(), r.ReadInt64(), r.ReadInt64(),
                r.ReadDouble(), r.ReadInt64(), r.ReadString(), Required(ref r, "stateHash"), r.ReadInt64());
            Skip(ref r, n - 12);
        }
        return shards;
    }

    private static int Fields(ref MessagePackReader r, int min, string field)
    {
        if (r.NextMessagePackType != MessagePackType.Array) throw new ProtocolFormatException(field, "Expected an array.");
        var n = r.ReadArrayHeader();
        if (n < min) throw new ProtocolFormatException(field, $"Expected at least {min} fields, got {n}.");
        return n;
    }

    /// <summary>
    /// An array's count, refused (before anyone allocates for it) above <paramref name="max"/> or above what the
    /// bytes left could hold at <paramref name="elementBytesMin"/> bytes an element.
    /// </summary>
    private static int Array(ref MessagePackReader r, string field, int max, int elementBytesMin = 1)
    {
        if (r.NextMessagePackType != MessagePackType.Array) throw new ProtocolFormatException(field, "Expected an array.");
        var n = r.ReadArrayHeader();
        if (n > max) throw new ProtocolFormatException(field, $"At most {max} elements.");
        if ((long)n * elementBytesMin > r.Sequence.Length - r.Consumed) throw new ProtocolFormatException(field, $"{n} elements do not fit the bytes left.");
        return n;
    }

    private static string Required(ref MessagePackReader r, string field) =>
        r.ReadString() ?? throw new ProtocolFormatException(field, "A string is required.");

    private static void Skip(ref MessagePackReader r, int count)
    {
        for (var i = 0; i < count; i++) r.Skip();
    }

    private static void WriteInts(ref MessagePackWriter w, IReadOnlyList<int>? values)
    {
        if (values is null)
        {
            w.WriteNil();
            return;
        }
        w.WriteArrayHeader(values.Count);
        foreach (var v in values) w.Write(v);
    }

    private static void WriteNullable(ref MessagePackWriter w, long? value)
    {
        if (value is { } v) w.Write(v);
        else w.WriteNil();
    }

    private static long? ReadNullableInt64(ref MessagePackReader r) => r.TryReadNil() ? null : r.ReadInt64();
}

/// <summary>A body that is not the documented MessagePack shape: the request fails with <c>invalid_argument</c>.</summary>
public sealed class ProtocolFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ProtocolFormatException()
    {
        Field = "body";
    }

    /// <summary>Creates the exception.</summary>
    public ProtocolFormatException(string message) : base(message)
    {
        Field = "body";
    }

    /// <summary>Creates the exception.</summary>
    public ProtocolFormatException(string message, Exception inner) : base(message, inner)
    {
        Field = "body";
    }

    /// <summary>Creates the exception for <paramref name="field"/>.</summary>
    public ProtocolFormatException(string field, string message, Exception? inner = null) : base(message, inner)
    {
        Field = field;
    }

    /// <summary>The field whose shape is wrong.</summary>
    public string Field { get; }
}
