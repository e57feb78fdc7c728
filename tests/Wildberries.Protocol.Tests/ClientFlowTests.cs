using Wildberries.Client;
using Wildberries.Testing;

namespace Wildberries.Protocol.Tests;

public class ClientFlowTests
{
    [Fact]
    public async Task Checkout_pay_over_http_sandbox_then_ship_through_the_client()
    {
        await using var server = await ProtocolServer.StartAsync();
        await using var admin = server.Client(ProtocolServer.AdminKey);
        await using var storefront = server.Client(ProtocolServer.StorefrontKey);
        var ct = TestContext.Current.CancellationToken;

        var item = await admin.PutItemAsync(new ItemUpsert(42, "kettle", 199_00, 10), ct);
        Assert.Equal(10, item.MaxPerOrder);
        var stock = await admin.AdjustStockAsync(new StockBatch("test", [new StockAdjustment(42, 1, OnHand: 3), new StockAdjustment(42, 2, OnHand: 5)]), ct);
        Assert.All(stock, s => Assert.Equal("ok", s.Result));

        var order = await storefront.CheckoutAsync(new CheckoutRequest("k1", "alice", [new CartLine(42, 2)], [1, 2]), ct);
        Assert.Equal("PENDING_PAYMENT", order.Status);
        Assert.Equal(398_00, order.Amount);
        Assert.Equal(1, order.Lines[0].Allocations[0].WarehouseId);
        Assert.NotNull(order.ReservedUntilMs);
        Assert.Equal("storefront", storefront.Welcome!.Role);

        // The same key again: the same order, not a second one.
        var replay = await storefront.CheckoutAsync(new CheckoutRequest("k1", "alice", [new CartLine(42, 2)], [1, 2]), ct);
        Assert.Equal(order.OrderId, replay.OrderId);

        // Payment stays HTTP: the sandbox's Pay button sends the signed webhook.
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = server.Http };
        var paid = await http.PostAsync(new Uri(order.PaymentUrl!).PathAndQuery + "/pay", null, ct);
        Assert.Contains("result=ok", paid.Headers.Location!.ToString(), StringComparison.Ordinal);

        Assert.Equal("PAID", (await storefront.GetOrderAsync(order.OrderId, "alice", ct)).Status);
        var shipped = await admin.ShipOrderAsync(order.OrderId, ct);
        Assert.Equal("FULFILLED", shipped.Status);
        var detail = await storefront.GetItemAsync(42, ct);
        Assert.Equal(6, detail.Available);
        Assert.Equal(6, Assert.Single(await storefront.GetAvailabilityAsync([42], ct)).Available);
        var page = await storefront.ListItemsAsync(0, 10, ct);
        Assert.Equal(42, Assert.Single(page.Items).Sku);
        Assert.Null(page.Next);
    }

    [Fact]
    public async Task Business_failures_carry_the_http_problem_codes()
    {
        await using var server = await ProtocolServer.StartAsync();
        await using var admin = server.Client(ProtocolServer.AdminKey);
        await using var storefront = server.Client(ProtocolServer.StorefrontKey);
        var ct = TestContext.Current.CancellationToken;
        await admin.PutItemAsync(new ItemUpsert(1, "one", 100), ct);
        await admin.AdjustStockAsync(new StockBatch("test", [new StockAdjustment(1, 1, Delta: 1)]), ct);

        var short_ = await Assert.ThrowsAsync<ReservationException>(() => storefront.CheckoutAsync(new CheckoutRequest("a", "c", [new CartLine(1, 2)]), ct));
        Assert.Equal(("insufficient_stock", 409), (short_.Code, short_.Problem.Status));
        Assert.Equal(new Shortage(1, 2, 1), Assert.Single(short_.Problem.Shortages!));

        var order = await storefront.CheckoutAsync(new CheckoutRequest("b", "c", [new CartLine(1, 1)]), ct);
        var reused = await Assert.ThrowsAsync<ReservationException>(() => storefront.CheckoutAsync(new CheckoutRequest("b", "c", [new CartLine(1, 1)], [7]), ct));
        Assert.Equal("idempotency_key_reused", reused.Code);
        var badKey = await Assert.ThrowsAsync<ReservationException>(() => storefront.CheckoutAsync(new CheckoutRequest("with space", "c", [new CartLine(1, 1)]), ct));
        Assert.Equal(("invalid_argument", "Idempotency-Key"), (badKey.Code, badKey.Problem.Field));

        var notYours = await Assert.ThrowsAsync<ReservationException>(() => storefront.GetOrderAsync(order.OrderId, "mallory", ct));
        Assert.Equal(("order_not_found", 404), (notYours.Code, notYours.Problem.Status));
        var unknown = await Assert.ThrowsAsync<ReservationException>(() => storefront.GetItemAsync(999, ct));
        Assert.Equal("unknown_sku", unknown.Code);
        Assert.Equal("CANCELLED", (await storefront.CancelOrderAsync(order.OrderId, "c", ct)).Status);
        var again = await Assert.ThrowsAsync<ReservationException>(() => admin.ShipOrderAsync(order.OrderId, ct));
        Assert.Equal("invalid_state", again.Code);
    }

    [Fact]
    public async Task The_client_reconnects_when_the_server_restarts_and_a_retried_checkout_keeps_its_key()
    {
        var port = LocalProcess.FreePort();
        var server = await ProtocolServer.StartAsync(tcpPort: port);
        var data = server.Data;
        var ct = TestContext.Current.CancellationToken;
        await using var storefront = new ReservationClient(new ReservationClientOptions
        {
            // One connection: the one the restart kills must be replaced, not retried until the attempts run out.
            Endpoint = server.Tcp, ApiKey = ProtocolServer.StorefrontKey, Connections = 1, RequestTimeoutMs = 30_000, AttemptsMax = 100, RetryDelayMs = 25,
        });
        try
        {
            await using (var admin = server.Client(ProtocolServer.AdminKey))
            {
                await admin.PutItemAsync(new ItemUpsert(5, "five", 500), ct);
                await admin.AdjustStockAsync(new StockBatch("test", [new StockAdjustment(5, 1, OnHand: 10)]), ct);
            }
            var first = await storefront.CheckoutAsync(new CheckoutRequest("before", "c", [new CartLine(5, 1)]), ct);
            await server.StopAsync();

            // Down: a request fails over to the retries, which keep trying until the server is back.
            var during = storefront.CheckoutAsync(new CheckoutRequest("during", "c", [new CartLine(5, 1)]), ct);
            server = await ProtocolServer.StartAsync(data, port);
            var second = await during;
            Assert.NotEqual(first.OrderId, second.OrderId);
            // The first order survived the restart (the journal), and the same key answers the same order.
            Assert.Equal(first.OrderId, (await storefront.CheckoutAsync(new CheckoutRequest("before", "c", [new CartLine(5, 1)]), ct)).OrderId);
            Assert.Equal(8, (await storefront.GetItemAsync(5, ct)).Available);
        }
        finally
        {
            await server.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }
}
