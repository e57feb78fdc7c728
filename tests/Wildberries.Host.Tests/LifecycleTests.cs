using System.Net;
using System.Text.Json;

namespace Wildberries.Host.Tests;

public class LifecycleTests
{
    private static async Task<JsonElement> Json(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    private static async Task<string> StatusOf(TestServer server, string id, string customer)
    {
        using var get = new HttpRequestMessage(HttpMethod.Get, $"/v1/orders/{id}");
        get.Headers.Add("X-Customer-Id", customer);
        return (await Json(await server.Storefront.SendAsync(get))).GetProperty("status").GetString()!;
    }

    [Fact]
    public async Task An_unpaid_reservation_expires_and_a_late_payment_is_paid_or_refunded()
    {
        var clock = new ManualClock();
        await using var server = await TestServer.StartAsync(clock, "--reservation-ttl-minutes", "1");
        await server.SeedAsync(1, 100, (1, 2));
        var a = (await Json(await server.CheckoutAsync("a", new { customerId = "alice", lines = new[] { new { sku = 1, qty = 1 } } }))).GetProperty("orderId").GetString()!;
        var b = (await Json(await server.CheckoutAsync("b", new { customerId = "bob", lines = new[] { new { sku = 1, qty = 1 } } }))).GetProperty("orderId").GetString()!;

        clock.Advance(TimeSpan.FromSeconds(61));
        // The engine's timer would tick within a second; ticking here makes the test independent of it.
        await server.Engine.TickAsync();
        Assert.Equal(("EXPIRED", "EXPIRED"), (await StatusOf(server, a, "alice"), await StatusOf(server, b, "bob")));

        // Someone else takes one unit; alice's late payment still finds one; bob's finds none and is refunded.
        Assert.Equal(HttpStatusCode.Created, (await server.CheckoutAsync("c", new { customerId = "carol", lines = new[] { new { sku = 1, qty = 1 } } })).StatusCode);
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var payA = Http.Api.WebhookBody("e1", "t1", a, "succeeded", 100, "RUB");
        Assert.Equal("ok", (await Json(await server.CallbackAsync(payA, TestServer.Sign(payA, at: now)))).GetProperty("result").GetString());
        var payB = Http.Api.WebhookBody("e2", "t2", b, "succeeded", 100, "RUB");
        Assert.Equal("refund_required", (await Json(await server.CallbackAsync(payB, TestServer.Sign(payB, at: now)))).GetProperty("result").GetString());
        Assert.Equal(("PAID", "REFUND_REQUIRED"), (await StatusOf(server, a, "alice"), await StatusOf(server, b, "bob")));
        Assert.Equal(0, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());
    }

    [Fact]
    public async Task A_restart_recovers_orders_and_keys()
    {
        var data = Directory.CreateTempSubdirectory("wb-restart-").FullName;
        try
        {
            string id;
            await using (var first = await TestServer.StartAsync("--data", data))
            {
                await first.SeedAsync(1, 100, (1, 5));
                id = (await Json(await first.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 2 } } }))).GetProperty("orderId").GetString()!;
            }
            await using var second = await TestServer.StartAsync("--data", data);
            Assert.Equal("PENDING_PAYMENT", await StatusOf(second, id, "c"));
            var replay = await Json(await second.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 2 } } }));
            Assert.Equal(id, replay.GetProperty("orderId").GetString());
            Assert.Equal(3, (await Json(await second.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task A_stopped_engine_answers_503_problems_not_500s()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        await server.Engine.DisposeAsync();
        var r = await server.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.Equal("engine_unavailable", (await Json(r)).GetProperty("code").GetString());
        Assert.NotNull(r.Headers.RetryAfter);
    }

    [Fact]
    public async Task Too_many_requests_for_a_key_get_429_with_Retry_After()
    {
        await using var server = await TestServer.StartAsync("--rate-limit", "5");
        var statuses = new List<HttpResponseMessage>();
        for (var i = 0; i < 40; i++) statuses.Add(await server.Storefront.GetAsync("/v1/catalog/items/1"));
        var limited = statuses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.All(limited, r => Assert.True(r.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1)));
        Assert.Equal("rate_limited", (await Json(limited[0])).GetProperty("code").GetString());
        // Another key has its own budget.
        Assert.NotEqual(HttpStatusCode.TooManyRequests, (await server.Admin.PutAsync("/v1/admin/items/1", TestServer.JsonBody(new { name = "x", price = 1 }))).StatusCode);
    }
}
