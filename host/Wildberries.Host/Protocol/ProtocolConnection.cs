using System.Buffers;
using System.IO.Pipelines;
using MessagePack;
using Microsoft.AspNetCore.Connections;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Host.Http;
using Wildberries.Host.Security;
using Wildberries.Protocol;
using ProtocolOrder = Wildberries.Protocol.Order;
using Shortage = Wildberries.Protocol.Shortage;

namespace Wildberries.Host.Protocol;

/// <summary>
/// One binary connection: the handshake, then a read loop that parses each frame in place (no copy of its body),
/// starts its operation and reads on while up to <see cref="ServerOptions.TcpInFlightMax"/> run; answers are written
/// as they complete, in any order, by whichever operation finishes. A frame that breaks the framing gets an error
/// frame with request id 0, and the connection closes: the one path for "this connection is dead".
/// </summary>
#pragma warning disable CA1001 // The semaphores never allocate a wait handle; an operation that outlives the drain may still release one.
internal sealed class ProtocolConnection
#pragma warning restore CA1001
{
    private readonly ConnectionContext _connection;
    private readonly EngineService _engine;
    private readonly Credentials _credentials;
    private readonly CheckoutFlow _checkout;
    private readonly Wildberries.Engine.Postgres.PostgresOrderHistory? _history;
    private readonly ServerOptions _options;
    private readonly BodyReader<long[]> _readSkus;
    private readonly ILogger _log;
    private readonly PipeReader _input;
    private readonly SemaphoreSlim _inFlight;
    private readonly HashSet<uint> _ids = [];
    // Answers from many operations share the output: appended as they complete, flushed in bursts by one writer.
    private readonly FrameOutput _frames;
    private Role _role;
    // The server stopping: reading ends, requests in flight finish and are answered, then the connection closes
    // (Kestrel cannot ask a raw connection to close gracefully; without this, a stop waits its whole timeout).
    private readonly CancellationToken _stopping;

    public ProtocolConnection(ConnectionContext connection, EngineService engine, Credentials credentials, CheckoutFlow checkout, ServerOptions options, ILogger log, Wildberries.Engine.Postgres.PostgresOrderHistory? history, CancellationToken stopping)
    {
        _history = history;
        _stopping = stopping;
        _connection = connection;
        _engine = engine;
        _credentials = credentials;
        _checkout = checkout;
        _options = options;
        // Made once a connection: a lambda over the limit, built per Availability frame, would allocate each time.
        _readSkus = (ref MessagePackReader r) => MessageCodec.ReadSkus(ref r, options.AvailabilitySkusMax);
        _log = log;
        _input = connection.Transport.Input;
        _frames = new FrameOutput(connection.Transport.Output);
        _inFlight = new SemaphoreSlim(options.TcpInFlightMax, options.TcpInFlightMax);
    }

    private CancellationToken Closed => _connection.ConnectionClosed;

    private CancellationToken _reading;

    public async Task RunAsync()
    {
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(Closed, _stopping);
        _reading = reading.Token;
        try
        {
            if (!await HandshakeAsync().ConfigureAwait(false)) return;
            await ReadLoopAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away: requests in flight finish and their answers are dropped.
        }
        finally
        {
            await DrainAsync().ConfigureAwait(false);
            try
            {
                await _frames.FlushedAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The peer is gone: the last answers have nobody to go to.
            }
        }
    }

    private async Task<bool> HandshakeAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_reading);
        timeout.CancelAfter(ProtocolHandler.HandshakeTimeoutMs);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!_reading.IsCancellationRequested)
            {
                await FailAsync("handshake_timeout", $"No Hello within {ProtocolHandler.HandshakeTimeoutMs} ms.").ConfigureAwait(false);
                return false;
            }
            var buffer = result.Buffer;
            if (Frame.TryRead(ref buffer, _options.TcpFrameBytesMax, out var header, out var body, out var error))
            {
                if (header.Type != FrameType.Hello || header.RequestId != 0)
                {
                    await FailAsync("handshake_required", "The first frame must be Hello with request id 0.").ConfigureAwait(false);
                    return false;
                }
                (string ApiKey, string? ClientName) hello;
                try
                {
                    hello = MessageCodec.Decode(body, MessageCodec.ReadHello);
                }
                catch (ProtocolFormatException ex)
                {
                    await FailAsync("handshake_required", $"Hello's body is not [apiKey, clientName]: {ex.Message}").ConfigureAwait(false);
                    return false;
                }
                _input.AdvanceTo(buffer.Start);
                if (_credentials.Authenticate("Bearer " + hello.ApiKey) is not { } role)
                {
                    await FailAsync("unauthorized", "The API key matches no role.", 401).ConfigureAwait(false);
                    return false;
                }
                _role = role;
                var shards = _engine.Engine?.ShardCount ?? _options.Shards;
                var map = new ShardEndpoint[shards];
                for (var i = 0; i < shards; i++) map[i] = new ShardEndpoint(i, null);
                await SendAsync(FrameType.Welcome, 0, new Welcome(role.ToString().ToLowerInvariant(), _options.TcpFrameBytesMax, _options.TcpInFlightMax, map), MessageCodec.WriteWelcome).ConfigureAwait(false);
                return true;
            }
            if (error != FrameError.None)
            {
                await FailAsync(error).ConfigureAwait(false);
                return false;
            }
            if (result.IsCompleted) return false;
            _input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private async Task ReadLoopAsync()
    {
        while (true)
        {
            var result = await _input.ReadAsync(_reading).ConfigureAwait(false);
            var buffer = result.Buffer;
            while (Frame.TryRead(ref buffer, _options.TcpFrameBytesMax, out var header, out var body, out var error))
            {
                // Backpressure: at the limit this waits, and while it waits nothing more is read from the socket.
                await _inFlight.WaitAsync(_reading).ConfigureAwait(false);
                var refusal = Dispatch(header, body);
                if (refusal is not null)
                {
                    _inFlight.Release();
                    await FailAsync(refusal.Value.Code, refusal.Value.Detail).ConfigureAwait(false);
                    return;
                }
                error = FrameError.None;
            }
            if (Frame.TryRead(ref buffer, _options.TcpFrameBytesMax, out _, out _, out var broken) || broken != FrameError.None)
            {
                await FailAsync(broken).ConfigureAwait(false);
                return;
            }
            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled) return;
        }
    }

    /// <summary>Parses one request and starts it; a protocol error (the connection must close) is returned instead.</summary>
    private (string Code, string Detail)? Dispatch(FrameHeader header, ReadOnlySequence<byte> body)
    {
        var id = header.RequestId;
        if (header.Type == FrameType.Hello) return ("handshake_required", "Hello was already received on this connection.");
        var needs = header.Type switch
        {
            FrameType.Checkout or FrameType.GetOrder or FrameType.CancelOrder or FrameType.GetItem or FrameType.Availability or FrameType.ListItems or FrameType.ListOrders => Role.Storefront,
            FrameType.PutItem or FrameType.StockBatch or FrameType.ShipOrder or FrameType.Promote or FrameType.Replication => (Role?)Role.Admin,
            _ => null,
        };
        if (needs is null) return ("unknown_frame_type", $"Frame type 0x{(byte)header.Type:x2} is not a request.");
        if (id == 0) return ("bad_request_id", "Request id 0 names the connection; requests need another.");
        lock (_ids)
        {
            if (!_ids.Add(id)) return ("duplicate_request_id", $"Request {id} is still in flight.");
        }
        Task work;
        try
        {
            if (needs != _role) work = SendProblemAsync(id, Problems.Describe(403, "forbidden", $"This operation needs the {needs.Value.ToString().ToLowerInvariant()} role."));
            else if (_engine.Engine is not { } engine) work = SendProblemAsync(id, Problems.Describe(503, "not_ready", "The engine is recovering; retry shortly."));
            else work = header.Type switch
            {
                FrameType.Checkout => CheckoutAsync(engine, id, MessageCodec.Decode(body, static (ref MessagePackReader r) => MessageCodec.ReadCheckout(ref r, StateMachineLinesMax))),
                FrameType.GetOrder => GetOrderAsync(engine, id, MessageCodec.Decode(body, static (ref MessagePackReader r) => MessageCodec.ReadOrderRef(ref r, withCustomer: true))),
                FrameType.CancelOrder => CancelAsync(engine, id, MessageCodec.Decode(body, static (ref MessagePackReader r) => MessageCodec.ReadOrderRef(ref r, withCustomer: true))),
                FrameType.GetItem => GetItemAsync(engine, id, MessageCodec.Decode(body, MessageCodec.ReadSku)),
                FrameType.Availability => AvailabilityAsync(engine, id, MessageCodec.Decode(body, _readSkus)),
                FrameType.ListItems => ListItemsAsync(engine, id, MessageCodec.Decode(body, MessageCodec.ReadCatalogQuery)),
                FrameType.PutItem => PutItemAsync(engine, id, MessageCodec.Decode(body, MessageCodec.ReadItemUpsert)),
                FrameType.ListOrders => ListOrdersAsync(id, MessageCodec.Decode(body, MessageCodec.ReadHistoryQuery)),
                FrameType.Promote => PromoteAsync(id, MessageCodec.Decode(body, MessageCodec.ReadNothing)),
                FrameType.Replication => ReplicationAsync(engine, id, MessageCodec.Decode(body, MessageCodec.ReadNothing)),
                FrameType.StockBatch => StockAsync(engine, id, MessageCodec.Decode(body, static (ref MessagePackReader r) => MessageCodec.ReadStockBatch(ref r, Api.StockLinesMax))),
                _ => ShipAsync(engine, id, MessageCodec.Decode(body, static (ref MessagePackReader r) => MessageCodec.ReadOrderRef(ref r, withCustomer: false))),
            };
        }
        catch (ProtocolFormatException ex)
        {
            // The framing is intact: only this request fails, as a malformed JSON body fails one HTTP request.
            work = SendProblemAsync(id, Problems.DescribeInvalid(ex.Field, ex.Message));
        }
        _ = CompleteAsync(id, work);
        return null;
    }

    /// <summary>
    /// 1,000 lines read per checkout at most before the engine's own rules judge them: a bound on what one frame can
    /// make the server allocate (the state machine's own line limit is lower and answers invalid_argument).
    /// </summary>
    private const int StateMachineLinesMax = 1_000;

    /// <summary>Waits for one operation; whatever it throws becomes its error frame; its slot and id are freed.</summary>
    private async Task CompleteAsync(uint id, Task work)
    {
        try
        {
            await work.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var problem = Problems.Unavailable(ex);
            if (problem is null)
            {
                ProtocolHandler.LogRequestFailed(_log, ex, id, _connection.ConnectionId);
                problem = Problems.Describe(500, "internal_error", "The server failed to process the request; see its log.");
            }
            try
            {
                await SendProblemAsync(id, problem).ConfigureAwait(false);
            }
            catch (Exception send) when (send is IOException or InvalidOperationException or ObjectDisposedException or OperationCanceledException or ConnectionResetException)
            {
                // The connection is gone: nobody to tell.
            }
        }
        finally
        {
            lock (_ids) _ids.Remove(id);
            _inFlight.Release();
        }
    }

    private async Task CheckoutAsync(ReservationEngine engine, uint id, CheckoutRequest request)
    {
        var lines = new CheckoutLine[request.Lines.Count];
        for (var i = 0; i < lines.Length; i++) lines[i] = new CheckoutLine(request.Lines[i].Sku, request.Lines[i].Qty);
        var (order, problem) = await _checkout.CheckoutAsync(engine, request.IdempotencyKey, request.CustomerId, lines, (int[]?)request.Warehouses, request.PaymentMethod, Closed).ConfigureAwait(false);
        await AnswerAsync(FrameType.Checkout, id, order, problem).ConfigureAwait(false);
    }

    private async Task GetOrderAsync(ReservationEngine engine, uint id, OrderRef request)
    {
        if (string.IsNullOrEmpty(request.CustomerId))
        {
            await SendProblemAsync(id, Problems.DescribeInvalid("customerId", "customerId is required.")).ConfigureAwait(false);
            return;
        }
        var order = OrderId.TryParse(request.OrderId, out var orderId) ? await engine.GetOrderAsync(orderId).ConfigureAwait(false) : null;
        if (order is null || !string.Equals(order.CustomerId, request.CustomerId, StringComparison.Ordinal))
        {
            await SendProblemAsync(id, OrderNotFound).ConfigureAwait(false);
            return;
        }
        await AnswerAsync(FrameType.GetOrder, id, Api.ToBody(order, await _checkout.PaymentUrlAsync(order, Closed).ConfigureAwait(false)), null).ConfigureAwait(false);
    }

    private static readonly Problem OrderNotFound = Problems.Describe(404, "order_not_found", "No such order.");

    private async Task ListOrdersAsync(uint id, OrderHistoryQuery query)
    {
        var (page, problem) = await Api.HistoryAsync(_history, query.CustomerId, "customerId", query.Before, query.Limit, Closed).ConfigureAwait(false);
        if (problem is not null)
        {
            await SendProblemAsync(id, problem).ConfigureAwait(false);
            return;
        }
        var orders = new ProtocolOrder[page!.Orders.Length];
        for (var i = 0; i < orders.Length; i++) orders[i] = ToOrder(page.Orders[i]);
        await SendAsync(FrameType.ListOrders | FrameType.Answer, id, new OrderPage(orders, page.Next), MessageCodec.WriteOrderPage).ConfigureAwait(false);
    }

    private async Task PromoteAsync(uint id, bool _)
    {
        var (status, problem) = await Api.PromoteAsync(_engine, Closed).ConfigureAwait(false);
        if (problem is not null) await SendProblemAsync(id, problem).ConfigureAwait(false);
        else await SendAsync(FrameType.Promote | FrameType.Answer, id, ToReplication(status!), MessageCodec.WriteReplication).ConfigureAwait(false);
    }

    private async Task ReplicationAsync(ReservationEngine engine, uint id, bool _)
    {
        var status = await Api.BodiesAsync(engine, engine.Replication).ConfigureAwait(false);
        await SendAsync(FrameType.Replication | FrameType.Answer, id, ToReplication(status), MessageCodec.WriteReplication).ConfigureAwait(false);
    }

    private static ShardReplication[] ToReplication(ReplicationBody[] bodies)
    {
        var shards = new ShardReplication[bodies.Length];
        for (var i = 0; i < shards.Length; i++)
        {
            var b = bodies[i];
            shards[i] = new ShardReplication(b.Shard, b.Role, b.Mode, b.Epoch, b.Refusing, b.Lsn, b.LagEntries, b.LagMs, b.DroppedStale, b.LastError, b.StateHash, b.AppliedLsn);
        }
        return shards;
    }

    private async Task CancelAsync(ReservationEngine engine, uint id, OrderRef request)
    {
        if (string.IsNullOrEmpty(request.CustomerId))
        {
            await SendProblemAsync(id, Problems.DescribeInvalid("customerId", "customerId is required.")).ConfigureAwait(false);
            return;
        }
        if (!OrderId.TryParse(request.OrderId, out var orderId))
        {
            await SendProblemAsync(id, OrderNotFound).ConfigureAwait(false);
            return;
        }
        var (r, order) = await engine.SubmitWithOrderAsync(Command.Cancel(orderId, request.CustomerId)).ConfigureAwait(false);
        await AnswerAsync(FrameType.CancelOrder, id, r.IsOk ? Api.ToBody(order!, null) : null, r.IsOk ? null : Problems.Describe(r)).ConfigureAwait(false);
    }

    private async Task ShipAsync(ReservationEngine engine, uint id, OrderRef request)
    {
        if (!OrderId.TryParse(request.OrderId, out var orderId))
        {
            await SendProblemAsync(id, OrderNotFound).ConfigureAwait(false);
            return;
        }
        var (r, order) = await engine.SubmitWithOrderAsync(Command.Ship(orderId)).ConfigureAwait(false);
        await AnswerAsync(FrameType.ShipOrder, id, r.IsOk ? Api.ToBody(order!, null) : null, r.IsOk ? null : Problems.Describe(r)).ConfigureAwait(false);
    }

    private async Task GetItemAsync(ReservationEngine engine, uint id, long sku)
    {
        if (sku <= 0)
        {
            await SendProblemAsync(id, Problems.DescribeInvalid("sku", "sku must be a positive integer.")).ConfigureAwait(false);
            return;
        }
        var item = await engine.GetItemAsync(sku).ConfigureAwait(false);
        if (item is null)
        {
            await SendProblemAsync(id, Problems.Describe(404, "unknown_sku", "The SKU is not in the catalog.")).ConfigureAwait(false);
            return;
        }
        var rows = new Wildberries.Engine.Reads.WarehouseAvailability[64];
        engine.Availability.TryRead(sku, rows, out var total, out var count);
        var stock = new WarehouseStock[Math.Min(count, rows.Length)];
        for (var i = 0; i < stock.Length; i++) stock[i] = new WarehouseStock(rows[i].WarehouseId, rows[i].Available);
        var detail = new ItemDetail(item.Sku, item.Name, item.Price, engine.Options.StateMachine.Currency, item.MaxPerOrder, item.Active, total, stock);
        await SendAsync(FrameType.GetItem | FrameType.Answer, id, detail, MessageCodec.WriteItemDetail).ConfigureAwait(false);
    }

    private async Task AvailabilityAsync(ReservationEngine engine, uint id, long[] skus)
    {
        if (skus.Length == 0)
        {
            await SendProblemAsync(id, Problems.DescribeInvalid("skus", $"1 to {_options.AvailabilitySkusMax} SKUs.")).ConfigureAwait(false);
            return;
        }
        var rows = new SkuAvailability[skus.Length];
        for (var i = 0; i < skus.Length; i++)
        {
            if (skus[i] <= 0)
            {
                await SendProblemAsync(id, Problems.DescribeInvalid($"skus[{i}]", "Each SKU must be a positive integer.")).ConfigureAwait(false);
                return;
            }
            rows[i] = new SkuAvailability(skus[i], engine.Availability.GetAvailable(skus[i]));
        }
        await SendAsync(FrameType.Availability | FrameType.Answer, id, rows, MessageCodec.WriteAvailability).ConfigureAwait(false);
    }

    private async Task ListItemsAsync(ReservationEngine engine, uint id, CatalogQuery query)
    {
        if (query.AfterSku < 0)
        {
            await SendProblemAsync(id, Problems.DescribeInvalid("afterSku", "afterSku must be a SKU (0: from the start).")).ConfigureAwait(false);
            return;
        }
        if (query.Limit is < 1 or > Api.PageLimitMax)
        {
            await SendProblemAsync(id, Problems.DescribeInvalid("limit", $"limit must be 1 to {Api.PageLimitMax}.")).ConfigureAwait(false);
            return;
        }
        var items = await engine.ListItemsAsync(query.AfterSku, query.Limit).ConfigureAwait(false);
        var page = new CatalogItem[items.Length];
        for (var i = 0; i < items.Length; i++) page[i] = new CatalogItem(items[i].Sku, items[i].Name, items[i].Price, items[i].MaxPerOrder, items[i].Active, engine.Availability.GetAvailable(items[i].Sku));
        var next = items.Length == query.Limit ? items[^1].Sku : (long?)null;
        await SendAsync(FrameType.ListItems | FrameType.Answer, id, new CatalogPage(page, next), MessageCodec.WriteCatalogPage).ConfigureAwait(false);
    }

    private async Task PutItemAsync(ReservationEngine engine, uint id, ItemUpsert request)
    {
        if (request.Sku <= 0)
        {
            await SendProblemAsync(id, Problems.DescribeInvalid("sku", "sku must be a positive integer.")).ConfigureAwait(false);
            return;
        }
        var max = request.MaxPerOrder ?? engine.Options.StateMachine.MaxPerOrderDefault;
        var r = await engine.SubmitAsync(Command.UpsertItem(request.Sku, request.Name, request.Price, max, request.Active)).ConfigureAwait(false);
        if (!r.IsOk)
        {
            await SendProblemAsync(id, Problems.Describe(r)).ConfigureAwait(false);
            return;
        }
        await SendAsync(FrameType.PutItem | FrameType.Answer, id, request with { MaxPerOrder = max }, MessageCodec.WriteItemUpsert).ConfigureAwait(false);
    }

    private async Task StockAsync(ReservationEngine engine, uint id, StockBatch batch)
    {
        var lines = new StockLineBody[batch.Adjustments.Count];
        for (var i = 0; i < lines.Length; i++)
        {
            var a = batch.Adjustments[i];
            lines[i] = new StockLineBody(a.Sku, a.WarehouseId, a.Delta, a.OnHand, a.ExpectedOnHand);
        }
        var (results, problem) = await Api.StockAsync(engine, batch.Reason, lines).ConfigureAwait(false);
        if (problem is not null)
        {
            await SendProblemAsync(id, problem).ConfigureAwait(false);
            return;
        }
        var answer = new StockResult[results!.Length];
        for (var i = 0; i < answer.Length; i++) answer[i] = new StockResult(results[i].Sku, results[i].WarehouseId, results[i].Result, results[i].OnHand, results[i].Field);
        await SendAsync(FrameType.StockBatch | FrameType.Answer, id, answer, MessageCodec.WriteStockResults).ConfigureAwait(false);
    }

    private Task AnswerAsync(FrameType type, uint id, OrderBody? order, Problem? problem) =>
        problem is not null ? SendProblemAsync(id, problem) : SendAsync(type | FrameType.Answer, id, ToOrder(order!), MessageCodec.WriteOrder);

    private static ProtocolOrder ToOrder(OrderBody o)
    {
        var lines = new OrderLine[o.Lines.Length];
        for (var i = 0; i < lines.Length; i++)
        {
            var l = o.Lines[i];
            var allocations = new Allocation[l.Allocations.Length];
            for (var j = 0; j < allocations.Length; j++) allocations[j] = new Allocation(l.Allocations[j].WarehouseId, l.Allocations[j].Qty);
            lines[i] = new OrderLine(l.Sku, l.Qty, l.Price, allocations);
        }
        return new ProtocolOrder(o.OrderId, o.Status, o.Amount, o.Currency, o.ReservedUntil?.ToUnixTimeMilliseconds(), o.PaymentUrl, lines);
    }

    private Task SendProblemAsync(uint id, Problem problem) =>
        SendAsync(FrameType.Error, id, new ProblemBody(problem.Code, problem.Status, problem.Title, problem.Detail, problem.Field,
            problem.Shortages?.Select(s => new Shortage(s.Sku, s.Requested, s.Available)).ToArray()), MessageCodec.WriteProblem);

    private Task SendAsync<T>(FrameType type, uint id, T body, BodyWriter<T> write) => _frames.WriteAsync(type, id, body, write);

    private Task FailAsync(FrameError error) => error switch
    {
        FrameError.TooLarge => FailAsync("frame_too_large", $"Frames are at most {_options.TcpFrameBytesMax} bytes."),
        FrameError.UnsupportedVersion => FailAsync("unsupported_version", $"This server speaks version {Frame.Version}."),
        _ => FailAsync("bad_frame", "A frame length must count at least its 6 header bytes."),
    };

    /// <summary>The protocol error path: one error frame with request id 0; the caller then returns and the connection closes.</summary>
    private async Task FailAsync(string code, string detail, int status = 400)
    {
        ProtocolHandler.LogProtocolError(_log, _connection.ConnectionId, code, detail);
        try
        {
            await SendAsync(FrameType.Error, 0, new ProblemBody(code, status, "The connection broke the protocol and is closed.", detail), MessageCodec.WriteProblem).ConfigureAwait(false);
            // Out before the connection closes, with the answers queued ahead of it.
            await _frames.FlushedAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException or OperationCanceledException or ConnectionResetException)
        {
            // Gone already.
        }
    }

    /// <summary>Waits (a bounded time) for the requests in flight, so none writes to a transport Kestrel has disposed.</summary>
    private async Task DrainAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            for (var i = 0; i < _options.TcpInFlightMax; i++) await _inFlight.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // An operation stuck in the engine: the connection closes anyway; its answer will fail to send.
        }
    }
}
