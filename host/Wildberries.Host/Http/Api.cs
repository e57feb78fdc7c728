using System.Globalization;
using System.Text;
using System.Text.Json;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Reads;
using Wildberries.Host.Security;

namespace Wildberries.Host.Http;

/// <summary>The HTTP API of PRODUCT.md, v1.</summary>
public static class Api
{
    /// <summary>1,000 SKUs per availability query: a full search-results page many times over, bounded work per request.</summary>
    public const int AvailabilitySkusMax = 1_000;

    /// <summary>1,000 items per catalog page; 100 by default.</summary>
    public const int PageLimitMax = 1_000;

    /// <summary>1,000 adjustments per stock batch: a warehouse sync chunk, bounded time on the writer.</summary>
    public const int StockLinesMax = 1_000;

    /// <summary>Maps every endpoint.</summary>
    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // The limits the document states are this server's (configurable), not their defaults.
        var options = app.Services.GetRequiredService<ServerOptions>();
        // Every keyed endpoint can answer 401 (no or wrong key), 403 (the other role's key), 429 (rate limit) and
        // 503 (the engine recovering, or, for writes, a standby, fenced primary or stopped journal).
        var storefront = app.MapGroup("/v1").AddEndpointFilter(RequireRole(Role.Storefront, app.Services))
            .RequiresAccess(ApiAccess.Storefront).ProducesProblems(401, 403, 429, 503);
        // The hot endpoint outside the group's filter: it admits the key itself (the same Admit), so nothing wraps it.
        app.MapPost("/v1/checkout", (Delegate)CheckoutHandler(app.Services))
            .RequiresAccess(ApiAccess.Storefront).ProducesProblems(401, 403, 429, 503).WithMetadata(AnswersItsFailures.Instance)
            .WithName("Checkout").WithSummary("Reserve stock for a cart and open its payment session").WithTags("Checkout")
            .WithHeader("Idempotency-Key", $"1 to {options.IdempotencyKeyLengthMax} printable ASCII characters (--idempotency-key-length-max, default {ServerOptions.IdempotencyKeyLengthMaxDefault}); a retry with the same key and body gets the same answer.")
            .WithJsonBody<CheckoutBody>()
            .Produces<OrderBody>(StatusCodes.Status201Created)
            .ProducesProblems(400, 409, 413, 415, 422);
        storefront.MapGet("/orders", (Delegate)ListOrders)
            .WithName("ListOrders").WithSummary("List a customer's orders, newest first (needs --postgres)").WithTags("Orders")
            .WithHeader("X-Customer-Id", "The customer whose orders to list.")
            .WithQuery("limit", $"Orders per page, 1 to {Wildberries.Engine.Postgres.PostgresOrderHistory.LimitMax} ({HistoryLimitDefault} by default).")
            .WithQuery("before", "The next cursor of the previous page.")
            .Produces<OrderPageBody>().ProducesProblems(400);
        storefront.MapGet("/orders/{orderId}", (Delegate)GetOrder)
            .WithName("GetOrder").WithSummary("Read one of a customer's orders").WithTags("Orders")
            .WithHeader("X-Customer-Id", "The customer the order belongs to (another customer's order is 404).")
            .Produces<OrderBody>().ProducesProblems(400, 404);
        storefront.MapPost("/orders/{orderId}/cancel", (Delegate)CancelOrder)
            .WithName("CancelOrder").WithSummary("Cancel an unpaid order and release its stock").WithTags("Orders")
            .WithHeader("X-Customer-Id", "The customer the order belongs to.")
            .Produces<OrderBody>().ProducesProblems(400, 404, 409);
        storefront.MapGet("/catalog/items/{sku}", (Delegate)GetItem)
            .WithName("GetItem").WithSummary("Read an item with its availability per warehouse").WithTags("Catalog")
            .Produces<CatalogItemBody>().ProducesProblems(400, 404);
        storefront.MapGet("/catalog/availability", (Delegate)GetAvailability)
            .WithName("GetAvailability").WithSummary($"Available counts of up to {options.AvailabilitySkusMax} SKUs")
            .WithQuery("skus", $"Comma-separated SKUs, 1 to {options.AvailabilitySkusMax} (--availability-skus-max, default {AvailabilitySkusMax}).").WithTags("Catalog")
            .Produces<AvailabilityBody>().ProducesProblems(400);
        storefront.MapGet("/catalog/items", (Delegate)ListItems)
            .WithName("ListItems").WithSummary("Page through the catalog in SKU order").WithTags("Catalog")
            .Produces<CatalogPageBody>().ProducesProblems(400);

        var admin = app.MapGroup("/v1/admin").AddEndpointFilter(RequireRole(Role.Admin, app.Services))
            .RequiresAccess(ApiAccess.Admin).ProducesProblems(401, 403, 429, 503).WithTags("Admin");
        admin.MapPut("/items/{sku}", (Delegate)PutItem)
            .WithName("PutItem").WithSummary("Create or update a catalog item")
            .WithJsonBody<ItemBody>()
            .Produces<ItemSavedBody>().ProducesProblems(400, 413, 415);
        admin.MapPost("/stock", (Delegate)PostStock)
            .WithName("AdjustStock").WithSummary($"Apply up to {StockLinesMax} stock adjustments (deltas or on-hand counts)")
            .WithJsonBody<StockBatchBody>()
            .Produces<StockBatchResultBody>().ProducesProblems(400, 413, 415);
        admin.MapPost("/orders/{orderId}/ship", (Delegate)ShipOrder)
            .WithName("ShipOrder").WithSummary("Mark a paid order shipped")
            .Produces<OrderBody>().ProducesProblems(404, 409);
        admin.MapPost("/promote", (Delegate)Promote)
            .WithName("Promote").WithSummary("Promote this standby to primary")
            .Produces<ReplicationBody[]>().ProducesProblems(409);
        admin.MapGet("/replication", (Delegate)GetReplication)
            .WithName("GetReplication").WithSummary("Each shard's replication role, lag and state hash")
            .Produces<ReplicationBody[]>();
        admin.MapGet("/snapshots/{shard}", (Delegate)GetSnapshot)
            .WithName("GetSnapshot").WithSummary("Take a snapshot now and download one shard's (how a new standby starts)")
            .Produces<Stream>(StatusCodes.Status200OK, "application/octet-stream").ProducesProblems(404, 409);
        admin.MapPost("/snapshot", (Delegate)AdminSnapshot.TakeAsync)
            .WithName("TakeSnapshot").WithSummary("Take a snapshot of every shard now")
            .Produces<SnapshotsTakenBody>().ProducesProblems(409);

        app.MapPost("/v1/payments/callback", (Delegate)PaymentCallback)
            .WithName("PaymentCallback").WithSummary("Payment result webhook from the payment provider").WithTags("Payments")
            .RequiresAccess(ApiAccess.ProviderSigned)
            .WithJsonBody<PaymentCallbackBody>()
            .Produces<PaymentCallbackResultBody>().ProducesProblems(400, 401, 404, 409, 413, 422, 429, 503);
        app.MapGet("/health/live", () => Results.Ok(new LiveBody("live")))
            .WithName("Live").WithSummary("Liveness probe").WithTags("Health").RequiresAccess(ApiAccess.Anonymous)
            .Produces<LiveBody>();
        // Probes get a status and nothing else: the reason is in the log, not in an answer anyone can read.
        // A standby is ready (it serves reads; writes answer 503 standby); a fenced primary or a stopped standby is not.
        app.MapGet("/health/ready", (EngineService s) => s.Engine is { Fault: null } engine
            && engine.Replication.All(r => r.Refusal is not (Wildberries.Engine.Replication.WriteRefusal.Fenced or Wildberries.Engine.Replication.WriteRefusal.Stopped))
            ? Results.Ok(new ReadyBody("ready",
                engine.Replication.Count == 0 ? null : engine.Replication[0].Role.ToString().ToLowerInvariant(),
                s.Publisher is { } publisher ? new LagBody(publisher.Lag.Sum(l => l.LagEntries), publisher.Lag.Max(l => l.LagSeconds)) : null,
                engine.Replication.Count == 0 ? null : new LagBody(engine.Replication.Sum(r => r.LagEntries), engine.Replication.Max(r => r.LagMs) / 1000),
                s.Projector is { } projector ? new LagBody(projector.Lag.Sum(l => l.LagEntries), projector.Lag.Max(l => l.LagSeconds)) : null))
            : Problems.Of(503, "not_ready", "The engine is recovering, refused to start, was fenced, or stopped after a journal failure; see the server log."))
            .WithName("Ready").WithSummary("Readiness probe, with this node's role and lags").WithTags("Health").RequiresAccess(ApiAccess.Anonymous)
            .Produces<ReadyBody>().ProducesProblems(503);
    }

    /// <summary>Any valid API key, of either role: for the operational endpoints (metrics, the OpenAPI document).</summary>
    public static ValueTask<object?> RequireAnyKey(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var (_, refused) = Authenticate(context.HttpContext);
        // Not awaited here: the endpoint's own task goes through, with no state machine of this filter per request.
        return refused is null ? next(context) : ValueTask.FromResult<object?>(refused);
    }

    /// <summary>The role of the request's API key, or the 401 that refuses it: one check for every keyed endpoint (and <c>/metrics</c>).</summary>
    internal static (Role? Role, IResult? Refused) Authenticate(HttpContext http) => Authenticate(http, http.RequestServices.GetRequiredService<Credentials>());

    private static (Role? Role, IResult? Refused) Authenticate(HttpContext http, Credentials credentials)
    {
        var role = credentials.Authenticate(http.Request.Headers.Authorization);
        if (role is not null) return (role, null);
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return (null, Problems.Of(401, "unauthorized", "A valid API key is required (Authorization: Bearer ...)."));
    }

    /// <summary>
    /// A keyed request let in, or its refusal: no or a wrong key (401), the other role's key (403), an engine still
    /// recovering (503). The group filters' check and the checkout's, with the server's singletons passed in (no
    /// request scope is made for them).
    /// </summary>
    private static IResult? Admit(HttpContext http, Role role, Credentials credentials, EngineService engines)
    {
        var (presented, refused) = Authenticate(http, credentials);
        if (refused is not null) return refused;
        if (presented != role) return Problems.Of(403, "forbidden", $"This endpoint needs the {role.ToString().ToLowerInvariant()} role.");
        return engines.Engine is null ? Problems.Of(503, "not_ready", "The engine is recovering; retry shortly.") : null;
    }

    private static Func<EndpointFilterInvocationContext, EndpointFilterDelegate, ValueTask<object?>> RequireRole(Role role, IServiceProvider services)
    {
        var credentials = services.GetRequiredService<Credentials>();
        var engines = services.GetRequiredService<EngineService>();
        return (context, next) =>
            // Not awaited here: the endpoint's own task goes through, with no state machine of this filter per request.
            Admit(context.HttpContext, role, credentials, engines) is { } refused ? ValueTask.FromResult<object?>(refused) : next(context);
    }

    private static async Task<IResult> Promote(HttpContext http, EngineService service)
    {
        var (status, problem) = await PromoteAsync(service, http.RequestAborted);
        return problem is not null ? Problems.Of(problem) : Results.Ok(status);
    }

    /// <summary>A promotion, over HTTP or the binary protocol: the shards' replication status after it, or the problem to answer.</summary>
    internal static async Task<(ReplicationBody[]? Status, Problem? Problem)> PromoteAsync(EngineService service, CancellationToken cancellation)
    {
        try
        {
            var status = await service.PromoteAsync(cancellation);
            return (await BodiesAsync(service.Engine!, status), null);
        }
        catch (InvalidOperationException ex)
        {
            return (null, Problems.Describe(409, "not_standby", "Only a standby whose replica runs can be promoted.", ex.Message));
        }
        catch (Wildberries.Engine.Replication.CommandLogFencedException ex)
        {
            return (null, Problems.Describe(409, "fenced", "Another node was promoted first; this one takes no writes.", ex.Message));
        }
        catch (Wildberries.Engine.Replication.CommandLogUnavailableException ex)
        {
            return (null, Problems.Describe(503, "replication_unavailable", "Kafka could not be reached: the promotion did not happen; retry.", ex.Message));
        }
    }

    private static async Task<IResult> GetReplication(HttpContext http) => Results.Ok(await BodiesAsync(Engine(http), Engine(http).Replication));

    internal static async Task<ReplicationBody[]> BodiesAsync(ReservationEngine engine, IReadOnlyList<Wildberries.Engine.Replication.ReplicationStatus> status)
    {
        var bodies = new ReplicationBody[status.Count];
        for (var i = 0; i < status.Count; i++)
        {
            var r = status[i];
            var (lsn, hash) = await engine.GetAppliedStateAsync(r.Shard);
            bodies[i] = new ReplicationBody(r.Shard, r.Role.ToString().ToLowerInvariant(), r.Mode.ToString().ToLowerInvariant(), r.Epoch,
                r.Refusal == Wildberries.Engine.Replication.WriteRefusal.None ? null : new ShardUnavailableException(r.Shard, r.Refusal, "").Code,
                r.Lsn, r.LagEntries, r.LagMs, r.DroppedStale, r.LastError, hash.ToString("x16", CultureInfo.InvariantCulture), lsn);
        }
        return bodies;
    }

    /// <summary>Takes a snapshot of every shard now and streams the one asked for: how a new standby starts.</summary>
    private static async Task<IResult> GetSnapshot(HttpContext http, string shard)
    {
        var engine = Engine(http);
        if (!int.TryParse(shard, NumberStyles.None, CultureInfo.InvariantCulture, out var s) || s >= engine.ShardCount) return Problems.Of(404, "shard_not_found", $"Shards are 0 to {engine.ShardCount - 1}.");
        var files = await engine.SnapshotAsync(http.RequestAborted);
        if (files[s] is not { } file) return Problems.Of(409, "no_snapshots", "This engine keeps no snapshots (an in-memory journal).");
        // A standby started from a snapshot must find every later entry in the log: a snapshot ahead of what the
        // command log has (entries not yet shipped) would let it skip, as duplicates, another primary's different ones.
        for (var waited = 0; engine.Replication.Count > 0 && engine.Replication[s].Role == Wildberries.Engine.Replication.NodeRole.Primary && engine.Replication[s].Lsn < file.Lsn; waited++)
        {
            if (waited == 100) return Problems.Of(503, "replication_behind", "The command log does not have everything this snapshot covers yet; retry shortly.", $"The log has shard {s} through {engine.Replication[s].Lsn}; the snapshot is at {file.Lsn}.");
            await Task.Delay(100, http.RequestAborted);
        }
        // Opened before answering: a snapshot pruned meanwhile stays readable until the stream closes.
        var stream = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        http.Response.Headers[StandbyBootstrap.ShardCountHeader] = engine.ShardCount.ToString(CultureInfo.InvariantCulture);
        http.Response.Headers[StandbyBootstrap.LsnHeader] = file.Lsn.ToString(CultureInfo.InvariantCulture);
        http.Response.Headers[StandbyBootstrap.ReservationTtlHeader] = engine.Options.StateMachine.ReservationTtlMs.ToString(CultureInfo.InvariantCulture);
        return Results.Stream(stream, "application/octet-stream", Path.GetFileName(file.Path));
    }

    private static ReservationEngine Engine(HttpContext http) => http.RequestServices.GetRequiredService<EngineService>().Engine!;

    /// <summary>
    /// POST /v1/checkout, the hot endpoint, as a plain <c>Task(HttpContext)</c>: no endpoint filter, no <see cref="IResult"/>
    /// on success, no request scope (the server's singletons are taken once, here), the answer serialized by the
    /// generated code into a pooled buffer and written with its Content-Length, and its own failures answered
    /// (<see cref="AnswersItsFailures"/>: the error middleware does not wait for it).
    /// </summary>
    private static Func<HttpContext, Task> CheckoutHandler(IServiceProvider services)
    {
        var flow = services.GetRequiredService<CheckoutFlow>();
        var engines = services.GetRequiredService<EngineService>();
        var credentials = services.GetRequiredService<Credentials>();
        var bodyBytesMax = services.GetRequiredService<ServerOptions>().BodyBytesMax;
        return http => CheckoutAsync(http, flow, engines, credentials, bodyBytesMax);
    }

    private static async Task CheckoutAsync(HttpContext http, CheckoutFlow flow, EngineService engines, Credentials credentials, int bodyBytesMax)
    {
        IResult? refused;
        // One method, one state machine a checkout: its own failures (a body that cannot be read, an engine that
        // cannot take it) are answered here, as the error middleware answers them for the other endpoints.
        try
        {
            if ((refused = Admit(http, Role.Storefront, credentials, engines)) is null)
            {
                var key = http.Request.Headers["Idempotency-Key"].ToString();
                // Before the body is read: a request without a usable key costs nothing more.
                var engine = engines.Engine!;
                if (CheckoutFlow.KeyProblem(engine, key) is { } badKey) refused = Problems.Of(badKey);
                else
                {
                    var (body, invalid) = await Json.ReadCheckoutAsync(http.Request, bodyBytesMax);
                    refused = invalid ?? (body!.Lines is null ? Problems.Invalid("lines", "lines is required.")
                        : body.CustomerId is null ? Problems.Invalid("customerId", "customerId is required.") : null);
                    if (refused is null)
                    {
                        var lines = new CheckoutLine[body!.Lines!.Length];
                        for (var i = 0; i < lines.Length; i++) lines[i] = body.Lines[i] is { } l ? new CheckoutLine(l.Sku, l.Qty) : default;
                        var (order, failed) = await flow.CheckoutAsync(engine, key, body.CustomerId!, lines, body.Warehouses, body.PaymentMethod, http.RequestAborted);
                        if (failed is null) Json.Write(http.Response, StatusCodes.Status201Created, order!, ApiJson.Default.OrderBody);
                        else refused = Problems.Of(failed);
                    }
                }
            }
        }
        catch (Exception ex) when (ServerApp.FailureProblem(http, ex) is { } problem)
        {
            refused = problem;
        }
        if (refused is not null) await refused.ExecuteAsync(http);
    }

    internal static OrderBody ToBody(OrderView o, string? paymentUrl) =>
        ToBody(o, paymentUrl, o.Status, o.Status == OrderStatus.PendingPayment ? DateTimeOffset.FromUnixTimeMilliseconds(o.ReservedUntilMs) : null);

    /// <summary>The answer body of an order, with the status and reservation deadline to show (a checkout's replay shows its first answer's).</summary>
    internal static OrderBody ToBody(OrderView o, string? paymentUrl, OrderStatus status, DateTimeOffset? reservedUntil)
    {
        ArgumentNullException.ThrowIfNull(o);
        var lines = new OrderLineBody[o.Lines.Length];
        for (var i = 0; i < lines.Length; i++)
        {
            var l = o.Lines[i];
            var allocations = new AllocationBody[l.Allocations.Length];
            for (var a = 0; a < allocations.Length; a++) allocations[a] = new AllocationBody(l.Allocations[a].WarehouseId, l.Allocations[a].Quantity);
            lines[i] = new OrderLineBody(l.Sku, l.Quantity, l.UnitPrice, allocations);
        }
        return new OrderBody(o.OrderId.ToString(), OrderTransitions.ToWire(status), o.Amount, o.Currency, reservedUntil, paymentUrl, lines);
    }

    private static async Task<IResult> GetOrder(HttpContext http, string orderId, CheckoutFlow flow)
    {
        var customer = http.Request.Headers["X-Customer-Id"].ToString();
        if (string.IsNullOrEmpty(customer)) return Problems.Invalid("X-Customer-Id", "The X-Customer-Id header is required.");
        if (!OrderId.TryParse(orderId, out var id)) return Problems.Of(404, "order_not_found", "No such order.");
        var order = await Engine(http).GetOrderAsync(id);
        if (order is null || !string.Equals(order.CustomerId, customer, StringComparison.Ordinal)) return Problems.Of(404, "order_not_found", "No such order.");
        return Results.Json(ToBody(order, await flow.PaymentUrlAsync(order, http.RequestAborted)), ApiJson.Default.OrderBody);
    }

    /// <summary>20 orders per history page unless <c>limit</c> says otherwise: a screen of them.</summary>
    public const int HistoryLimitDefault = 20;

    private static async Task<IResult> ListOrders(HttpContext http)
    {
        var limit = HistoryLimitDefault;
        var limitText = http.Request.Query["limit"].ToString();
        // Text that is no number is refused as an out-of-range limit, by the same check as the binary protocol's.
        if (limitText.Length > 0 && !int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit)) limit = 0;
        var before = http.Request.Query["before"].ToString();
        var (page, problem) = await HistoryAsync(http.RequestServices.GetService<Wildberries.Engine.Postgres.PostgresOrderHistory>(),
            http.Request.Headers["X-Customer-Id"].ToString(), "X-Customer-Id", before.Length > 0 ? before : null, limit, http.RequestAborted);
        if (problem is null) return Results.Json(page, ApiJson.Default.OrderPageBody);
        // The engine takes orders all the same; the history comes back with PostgreSQL (and the projection catches up).
        if (problem.Code == "history_database_unavailable") http.Response.Headers.RetryAfter = "5";
        return Problems.Of(problem);
    }

    /// <summary>
    /// A page of a customer's history, over HTTP or the binary protocol: its fields checked here once (the customer,
    /// named <paramref name="customerField"/> in the problem; the limit; the cursor), before the history's own refusals.
    /// </summary>
    internal static async Task<(OrderPageBody? Page, Problem? Problem)> HistoryAsync(Wildberries.Engine.Postgres.PostgresOrderHistory? history, string? customer, string customerField, string? before, int limit, CancellationToken cancellation)
    {
        if (string.IsNullOrEmpty(customer)) return (null, Problems.DescribeInvalid(customerField, $"{customerField} is required."));
        if (limit is < 1 or > Wildberries.Engine.Postgres.PostgresOrderHistory.LimitMax)
        {
            return (null, Problems.DescribeInvalid("limit", $"limit must be an integer from 1 to {Wildberries.Engine.Postgres.PostgresOrderHistory.LimitMax}."));
        }
        if (before is not null && !OrderId.TryParse(before, out _)) return (null, Problems.DescribeInvalid("before", "before must be the next cursor of a previous page (an order id)."));
        if (history is null) return (null, Problems.Describe(503, "history_unavailable", "The order history needs PostgreSQL: start the server with --postgres."));
        try
        {
            var page = await history.ListAsync(customer, before, limit, cancellation);
            if (page.Orders.Length == 0 && before is not null && !await history.ExistsAsync(customer, before, cancellation))
            {
                return (null, Problems.DescribeInvalid("before", "before names no order of this customer."));
            }
            var orders = new OrderBody[page.Orders.Length];
            for (var i = 0; i < orders.Length; i++) orders[i] = ToBody(page.Orders[i], null);
            return (new OrderPageBody(orders, page.Next), null);
        }
        catch (Npgsql.NpgsqlException)
        {
            return (null, Problems.Describe(503, "history_database_unavailable", "The order history's database (PostgreSQL) cannot answer right now; orders are still taken.", "Retry shortly; the server log of the database says why."));
        }
    }

    private static async Task<IResult> CancelOrder(HttpContext http, string orderId)
    {
        var customer = http.Request.Headers["X-Customer-Id"].ToString();
        if (string.IsNullOrEmpty(customer)) return Problems.Invalid("X-Customer-Id", "The X-Customer-Id header is required.");
        if (!OrderId.TryParse(orderId, out var id)) return Problems.Of(404, "order_not_found", "No such order.");
        var (r, order) = await Engine(http).SubmitWithOrderAsync(Command.Cancel(id, customer));
        if (!r.IsOk) return Problems.FromResult(r);
        return Results.Json(ToBody(order!, null), ApiJson.Default.OrderBody);
    }

    private static async Task<IResult> GetItem(HttpContext http, string sku)
    {
        if (!long.TryParse(sku, NumberStyles.None, CultureInfo.InvariantCulture, out var s) || s <= 0) return Problems.Invalid("sku", "sku must be a positive integer.");
        var engine = Engine(http);
        var item = await engine.GetItemAsync(s);
        if (item is null) return Problems.Of(404, "unknown_sku", "The SKU is not in the catalog.");
        return Results.Json(ItemBody(engine, item), ApiJson.Default.CatalogItemBody);
    }

    private static CatalogItemBody ItemBody(ReservationEngine engine, ItemView item)
    {
        Span<WarehouseAvailability> rows = stackalloc WarehouseAvailability[64];
        engine.Availability.TryRead(item.Sku, rows, out var total, out var count);
        var warehouses = new WarehouseAvailableBody[Math.Min(count, rows.Length)];
        for (var i = 0; i < warehouses.Length; i++) warehouses[i] = new WarehouseAvailableBody(rows[i].WarehouseId, rows[i].Available);
        return new CatalogItemBody(item.Sku, item.Name, item.Price, engine.Options.StateMachine.Currency, item.MaxPerOrder, item.Active, total, warehouses);
    }

    private static IResult GetAvailability(HttpContext http, string? skus)
    {
        if (string.IsNullOrEmpty(skus)) return Problems.Invalid("skus", "skus is required: a comma-separated list of SKUs.");
        var parts = skus.Split(',');
        var max = http.RequestServices.GetRequiredService<ServerOptions>().AvailabilitySkusMax;
        if (parts.Length > max) return Problems.Invalid("skus", $"At most {max} SKUs per query.");
        var engine = Engine(http);
        var items = new SkuAvailableBody[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out var s) || s <= 0) return Problems.Invalid($"skus[{i}]", "Each SKU must be a positive integer.");
            items[i] = new SkuAvailableBody(s, engine.Availability.GetAvailable(s));
        }
        return Results.Json(new AvailabilityBody(items), ApiJson.Default.AvailabilityBody);
    }

    private static async Task<IResult> ListItems(HttpContext http, string? after, string? limit)
    {
        long afterSku = 0;
        var pageSize = 100;
        if (after is not null && (!long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out afterSku))) return Problems.Invalid("after", "after must be a SKU.");
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) || pageSize is < 1 or > PageLimitMax)) return Problems.Invalid("limit", $"limit must be 1 to {PageLimitMax}.");
        var engine = Engine(http);
        var items = await engine.ListItemsAsync(afterSku, pageSize);
        var next = items.Length == pageSize ? items[^1].Sku.ToString(CultureInfo.InvariantCulture) : null;
        var page = new CatalogListItemBody[items.Length];
        for (var i = 0; i < page.Length; i++) page[i] = new CatalogListItemBody(items[i].Sku, items[i].Name, items[i].Price, items[i].MaxPerOrder, items[i].Active, engine.Availability.GetAvailable(items[i].Sku));
        return Results.Json(new CatalogPageBody(page, next), ApiJson.Default.CatalogPageBody);
    }

    private static async Task<IResult> PutItem(HttpContext http, string sku)
    {
        if (!long.TryParse(sku, NumberStyles.None, CultureInfo.InvariantCulture, out var s) || s <= 0) return Problems.Invalid("sku", "sku must be a positive integer.");
        var (raw, problem) = await Json.ReadBodyAsync(http.Request);
        if (problem is not null) return problem;
        var (body, invalid) = Json.Parse<ItemBody>(raw!);
        if (invalid is not null) return invalid;
        var engine = Engine(http);
        var r = await engine.SubmitAsync(Command.UpsertItem(s, body!.Name, body.Price, body.MaxPerOrder ?? engine.Options.StateMachine.MaxPerOrderDefault, body.Active));
        if (!r.IsOk) return Problems.FromResult(r);
        return Results.Json(new ItemSavedBody(s, body.Name, body.Price, body.MaxPerOrder ?? engine.Options.StateMachine.MaxPerOrderDefault, body.Active), ApiJson.Default.ItemSavedBody);
    }

    private static async Task<IResult> PostStock(HttpContext http)
    {
        var (raw, problem) = await Json.ReadBodyAsync(http.Request);
        if (problem is not null) return problem;
        var (body, invalid) = Json.Parse<StockBatchBody>(raw!);
        if (invalid is not null) return invalid;
        var (results, failed) = await StockAsync(Engine(http), body!.Reason, body.Adjustments);
        if (failed is not null) return Problems.Of(failed);
        return Results.Json(new StockBatchResultBody(results!), ApiJson.Default.StockBatchResultBody);
    }

    /// <summary>A stock batch after it is read, over HTTP or the binary protocol: checked whole, then submitted in order.</summary>
    internal static async Task<(StockLineResult[]? Results, Problem? Problem)> StockAsync(ReservationEngine engine, string? reason, StockLineBody?[]? adjustments)
    {
        if (adjustments is null || adjustments.Length is 0 or > StockLinesMax) return (null, Problems.DescribeInvalid("adjustments", $"1 to {StockLinesMax} adjustments."));
        if (string.IsNullOrWhiteSpace(reason)) return (null, Problems.DescribeInvalid("reason", "A reason is required (it is kept in the journal)."));
        for (var i = 0; i < adjustments.Length; i++)
        {
            var a = adjustments[i];
            if (a is null) return (null, Problems.DescribeInvalid($"adjustments[{i}]", "An adjustment must be an object."));
            if ((a.Delta is null) == (a.OnHand is null)) return (null, Problems.DescribeInvalid($"adjustments[{i}]", "Give either delta or onHand."));
            if (a.ExpectedOnHand is not null && a.OnHand is null) return (null, Problems.DescribeInvalid($"adjustments[{i}].expectedOnHand", "expectedOnHand goes with onHand."));
        }
        // Submitted together, in order: the batch shares group commits instead of paying one per line.
        var pending = new Task<CommandResult>[adjustments.Length];
        for (var i = 0; i < pending.Length; i++)
        {
            var a = adjustments[i]!;
            var command = a.Delta is { } delta
                ? Command.AdjustStockDelta(a.Sku, a.WarehouseId, delta, reason)
                : Command.SetStockOnHand(a.Sku, a.WarehouseId, a.OnHand!.Value, a.ExpectedOnHand, reason);
            pending[i] = engine.SubmitAsync(command).AsTask();
        }
        var results = new StockLineResult[pending.Length];
        for (var i = 0; i < pending.Length; i++)
        {
            var (a, r) = (adjustments[i]!, await pending[i]);
            results[i] = new StockLineResult(a.Sku, a.WarehouseId, ResultCodes.ToWire(r.Code), r.Value, r.Field);
        }
        return (results, null);
    }

    private static async Task<IResult> ShipOrder(HttpContext http, string orderId)
    {
        if (!OrderId.TryParse(orderId, out var id)) return Problems.Of(404, "order_not_found", "No such order.");
        var (r, order) = await Engine(http).SubmitWithOrderAsync(Command.Ship(id));
        if (!r.IsOk) return Problems.FromResult(r);
        return Results.Json(ToBody(order!, null), ApiJson.Default.OrderBody);
    }

    private static async Task<IResult> PaymentCallback(HttpContext http, Credentials credentials, EngineService service, TimeProvider time, Metrics metrics)
    {
        var (raw, problem) = await Json.ReadBodyAsync(http.Request, requireJson: false);
        if (problem is not null) return problem;
        if (!WebhookSignature.Verify(http.Request.Headers["Webhook-Signature"], raw, credentials.WebhookSecrets, time.GetUtcNow().ToUnixTimeSeconds()))
        {
            return Problems.Of(401, "bad_signature", "The Webhook-Signature header is missing, stale or does not match the body.");
        }
        var engine = service.Engine;
        if (engine is null) return Problems.Of(503, "not_ready", "The engine is recovering; retry shortly.");
        // The provider's JSON: fields it adds are ignored; the ones we need are checked.
        var (body, invalid) = Json.Parse<PaymentCallbackBody>(raw!, Json.ThirdParty);
        if (invalid is not null) return invalid;
        if (body!.Status is not ("succeeded" or "failed")) return Problems.Invalid("status", "status must be succeeded or failed.");
        if (string.IsNullOrEmpty(body.OrderId)) return Problems.Invalid("orderId", "orderId is required.");
        // A signed payment for an order id we could never have issued is still money to return: the core records a
        // refund for it (an id that does not parse reaches the core as no order at all).
        var id = OrderId.TryParse(body.OrderId, out var parsed) ? parsed : default;
        var r = await engine.ApplyPaymentAsync(id, body.TxId, body.Status == "succeeded", body.Amount, body.Currency, body.EventId);
        metrics.Payment(ResultCodes.ToWire(r.Code));
        if (r.Code is ResultCode.Ok or ResultCode.AlreadyPaid or ResultCode.RefundRequired)
        {
            var status = r.Status == OrderStatus.None ? null : OrderTransitions.ToWire(r.Status);
            return Results.Json(new PaymentCallbackResultBody(ResultCodes.ToWire(r.Code), body.OrderId, status, r.Replayed), ApiJson.Default.PaymentCallbackResultBody);
        }
        return Problems.FromResult(r);
    }

    /// <summary>A webhook body as a provider sends it.</summary>
    public static byte[] WebhookBody(string eventId, string txId, string orderId, string status, long amount, string currency) =>
        JsonSerializer.SerializeToUtf8Bytes(new PaymentCallbackBody(eventId, txId, orderId, status, amount, currency), Json.Options);

    /// <summary>Bytes of a UTF-8 string (for signatures in tests and the sandbox).</summary>
    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}

/// <summary>Endpoint metadata: the endpoint answers its own failures (<see cref="ServerApp.FailureProblem"/>), so the error middleware passes it by.</summary>
internal sealed class AnswersItsFailures
{
    public static readonly AnswersItsFailures Instance = new();

    private AnswersItsFailures()
    {
    }
}
