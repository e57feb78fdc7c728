using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Wildberries.Host.Tests;

/// <summary>
/// One test per finding of the hardening review (issue 8), each over HTTP against the real server: the hostile or
/// careless request is answered 4xx, the server stays ready, and a restart on the same data recovers.
/// </summary>
public class HardeningTests
{
    private static async Task<JsonElement> Json(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    private static async Task<HttpResponseMessage> Stock(TestServer server, object adjustment) =>
        await server.Admin.PostAsync("/v1/admin/stock", TestServer.JsonBody(new { reason = "attack", adjustments = new[] { adjustment } }));

    private static async Task<string> CheckoutAsync(TestServer server, string key, long sku, int qty, string customer = "c")
    {
        var r = await server.CheckoutAsync(key, new { customerId = customer, lines = new[] { new { sku, qty } } });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        return (await Json(r)).GetProperty("orderId").GetString()!;
    }

    private static async Task<JsonElement> Order(TestServer server, string id, string customer = "c")
    {
        using var get = new HttpRequestMessage(HttpMethod.Get, $"/v1/orders/{id}");
        get.Headers.Add("X-Customer-Id", customer);
        return await Json(await server.Storefront.SendAsync(get));
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> Webhook(TestServer server, string eventId, string tx, string orderId, string status, long amount, string? extra = null)
    {
        var body = Http.Api.WebhookBody(eventId, tx, orderId, status, amount, "RUB");
        if (extra is not null) body = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).TrimEnd('}') + "," + extra + "}");
        var r = await server.CallbackAsync(body, TestServer.Sign(body));
        return (r.StatusCode, await Json(r));
    }

    [Fact]
    public async Task Finding_1_overflowing_stock_and_prices_are_refused_and_the_data_directory_still_recovers()
    {
        var data = Directory.CreateTempSubdirectory("wb-harden-").FullName;
        try
        {
            ulong hash;
            await using (var server = await TestServer.StartAsync("--data", data))
            {
                await server.SeedAsync(1, 100, (1, 5));
                var before = await server.Engine.GetStateHashAsync();
                object[] attacks =
                [
                    new { sku = 1, warehouseId = 1, delta = long.MinValue },
                    new { sku = 1, warehouseId = 1, delta = long.MaxValue },
                    new { sku = 1, warehouseId = 1, onHand = long.MaxValue },
                    new { sku = 1, warehouseId = 1, onHand = long.MaxValue - 1, expectedOnHand = 5L },
                    new { sku = 1, warehouseId = 1, onHand = 5L, expectedOnHand = long.MinValue },
                ];
                foreach (var attack in attacks)
                {
                    var r = await Stock(server, attack);
                    Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                    var line = (await Json(r)).GetProperty("results")[0];
                    Assert.True(line.GetProperty("result").GetString() is "out_of_range" or "invalid_argument", line.ToString());
                }
                foreach (var price in new[] { long.MaxValue, long.MinValue, -1L })
                {
                    var r = await server.Admin.PutAsync("/v1/admin/items/2", TestServer.JsonBody(new { name = "x", price }));
                    Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
                    Assert.Equal("price", (await Json(r)).GetProperty("field").GetString());
                }
                var maxPerOrder = await server.Admin.PutAsync("/v1/admin/items/2", TestServer.JsonBody(new { name = "x", price = 1, maxPerOrder = int.MaxValue }));
                Assert.Equal(("out_of_range", "maxPerOrder"), ((await Json(maxPerOrder)).GetProperty("code").GetString(), (await Json(maxPerOrder)).GetProperty("field").GetString()));

                // Refused at the edge: nothing was journaled, nothing changed; the shard still serves.
                Assert.Equal(before, await server.Engine.GetStateHashAsync());
                Assert.Equal(HttpStatusCode.OK, (await server.Anonymous.GetAsync("/health/ready")).StatusCode);
                await CheckoutAsync(server, "after-attack", 1, 1);
                hash = await server.Engine.GetStateHashAsync();
            }
            await using var restarted = await TestServer.StartAsync("--data", data);
            Assert.Equal(HttpStatusCode.OK, (await restarted.Anonymous.GetAsync("/health/ready")).StatusCode);
            Assert.Equal(hash, await restarted.Engine.GetStateHashAsync());
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Finding_2_sandbox_sessions_cannot_be_guessed_and_pay_only_pending_orders()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        var checkout = await Json(await server.CheckoutAsync("k1", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } }));
        var id = checkout.GetProperty("orderId").GetString()!;
        var page = new Uri(checkout.GetProperty("paymentUrl").GetString()!).AbsolutePath;

        // The session id of the old scheme (derived from the order id), and a forged MAC, are unknown sessions.
        foreach (var guess in new[] { $"/sandbox/pay/ps_{id}", $"/sandbox/pay/ps_{id}_{new string('0', 32)}" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.GetAsync(guess)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.PostAsync(guess + "/pay", null)).StatusCode);
        }

        // A cancelled order cannot be paid through its real session either: the page says so, the button is refused.
        using var cancel = new HttpRequestMessage(HttpMethod.Post, $"/v1/orders/{id}/cancel");
        cancel.Headers.Add("X-Customer-Id", "c");
        Assert.Equal(HttpStatusCode.OK, (await server.Storefront.SendAsync(cancel)).StatusCode);
        var html = await server.Anonymous.GetStringAsync(page);
        Assert.Contains("not waiting for a payment", html, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"pay\"", html, StringComparison.Ordinal);
        var pay = await server.Anonymous.PostAsync(page + "/pay", null);
        Assert.Equal(HttpStatusCode.Conflict, pay.StatusCode);
        Assert.Equal("CANCELLED", (await Order(server, id)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Finding_3_payments_are_applied_as_providers_send_them()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));

        // failed, then succeeded, for the same transaction: the retried card pays the order.
        var a = await CheckoutAsync(server, "a", 1, 1);
        Assert.Equal("CANCELLED", (await Webhook(server, "e1", "tx-a", a, "failed", 100)).Body.GetProperty("status").GetString());
        var paid = await Webhook(server, "e2", "tx-a", a, "succeeded", 100);
        Assert.Equal((HttpStatusCode.OK, "ok", "PAID"), (paid.Status, paid.Body.GetProperty("result").GetString(), paid.Body.GetProperty("status").GetString()));
        // The exact redelivery of an event gets its first answer.
        var again = await Webhook(server, "e2", "tx-a", a, "succeeded", 100);
        Assert.True(again.Body.GetProperty("duplicate").GetBoolean());
        Assert.Equal("PAID", (await Order(server, a)).GetProperty("status").GetString());

        // A wrong amount is refused without using up the transaction id; the corrected event pays.
        var b = await CheckoutAsync(server, "b", 1, 1);
        var wrong = await Webhook(server, "e3", "tx-b", b, "succeeded", 99);
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "amount_mismatch"), (wrong.Status, wrong.Body.GetProperty("code").GetString()));
        var corrected = await Webhook(server, "e4", "tx-b", b, "succeeded", 100);
        Assert.Equal(("ok", false), (corrected.Body.GetProperty("result").GetString(), corrected.Body.GetProperty("duplicate").GetBoolean()));

        // A provider's webhook with fields we do not know is still applied.
        var c = await CheckoutAsync(server, "c", 1, 1);
        var extra = await Webhook(server, "e5", "tx-c", c, "succeeded", 100, "\"livemode\":true,\"fee\":{\"amount\":3}");
        Assert.Equal((HttpStatusCode.OK, "PAID"), (extra.Status, extra.Body.GetProperty("status").GetString()));

        // Money for an order the server does not hold (never issued, or evicted) is a refund, counted, never dropped.
        foreach (var (evt, tx, order) in new[] { ("e6", "tx-d", "zzzzzzz"), ("e7", "tx-e", "not-an-order-id") })
        {
            var orphan = await Webhook(server, evt, tx, order, "succeeded", 100);
            Assert.Equal((HttpStatusCode.OK, "refund_required"), (orphan.Status, orphan.Body.GetProperty("result").GetString()));
        }
        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Contains("wb_payments_total{result=\"refund_required\"} 2", metrics, StringComparison.Ordinal);

        // Our own API stays strict: an unknown field in a checkout is refused with its path.
        var strict = await server.CheckoutAsync("d", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } }, price = 1 });
        Assert.Equal(HttpStatusCode.BadRequest, strict.StatusCode);
    }

    [Fact]
    public async Task Finding_4_invalid_requests_are_refused_before_the_journal()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        var before = await server.Engine.GetStateHashAsync();
        var hugeCustomer = new string('x', 60_000);
        var tooManyLines = Enumerable.Range(1, 101).Select(i => new { sku = (long)i, qty = 1 }).ToArray();
        for (var i = 0; i < 100; i++)
        {
            var r1 = await server.CheckoutAsync($"huge-{i}", new { customerId = hugeCustomer, lines = new[] { new { sku = 1, qty = 1 } } });
            Assert.Equal(("customerId", HttpStatusCode.BadRequest), ((await Json(r1)).GetProperty("field").GetString(), r1.StatusCode));
            var r2 = await server.CheckoutAsync($"lines-{i}", new { customerId = "c", lines = tooManyLines });
            Assert.Equal(("lines", HttpStatusCode.BadRequest), ((await Json(r2)).GetProperty("field").GetString(), r2.StatusCode));
        }
        // The state hash covers the last log sequence number: 200 refusals applied (so journaled) nothing.
        Assert.Equal(before, await server.Engine.GetStateHashAsync());
    }

    [Fact]
    public async Task Finding_5_requests_without_a_valid_key_are_rate_limited_and_operational_endpoints_need_a_key()
    {
        await using var server = await TestServer.StartAsync("--anonymous-rate-limit", "5");
        var answers = new List<HttpResponseMessage>();
        using var badKey = server.Client("not-a-key-at-all-0123456789");
        for (var i = 0; i < 60; i++) answers.Add(await badKey.GetAsync("/v1/catalog/items/1"));
        Assert.Contains(answers, r => r.StatusCode == HttpStatusCode.Unauthorized);
        var limited = answers.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.All(limited, r => Assert.True(r.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1)));
        // Keyed traffic has its own budget; probes are never limited and say nothing about the inside.
        Assert.Equal(HttpStatusCode.NotFound, (await server.Storefront.GetAsync("/v1/catalog/items/1")).StatusCode);
        var ready = await server.Anonymous.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("{\"status\":\"ready\"}", await ready.Content.ReadAsStringAsync());

        await using var open = await TestServer.StartAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, (await open.Anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await open.Anonymous.GetAsync("/openapi/v1.json")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await open.Storefront.GetAsync("/metrics")).StatusCode);
        await using var opened = await TestServer.StartAsync("--open-operational-endpoints");
        Assert.Equal(HttpStatusCode.OK, (await opened.Anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await opened.Anonymous.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task Finding_5_a_refused_start_says_why_in_the_log_not_in_the_readiness_body()
    {
        var data = Directory.CreateTempSubdirectory("wb-refuse-").FullName;
        try
        {
            // A journal directory that is a file: the engine cannot open it and refuses to start.
            File.WriteAllText(Path.Combine(data, "shard-0"), "not a directory");
            var app = ServerApp.Build(["--urls", "http://127.0.0.1:0", "--data", data, "--storefront-key", TestServer.StorefrontKey,
                "--admin-key", TestServer.AdminKey, "--webhook-secret", TestServer.Secret, "--Logging:LogLevel:Default", "None"]);
            await using var _ = app;
            await Assert.ThrowsAnyAsync<Exception>(() => ServerApp.StartAsync(app, TimeSpan.FromSeconds(60)));
            using var client = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<Payments.ServerOptionsAccessor>().PublicUrl) };
            var ready = await client.GetAsync("/health/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var body = await ready.Content.ReadAsStringAsync();
            Assert.DoesNotContain("shard-0", body, StringComparison.Ordinal);
            Assert.False(JsonDocument.Parse(body).RootElement.TryGetProperty("detail", out var detail) && detail.GetString()!.Contains(data, StringComparison.Ordinal));
            await app.StopAsync();
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Finding_6_a_checkout_replayed_after_a_503_gets_the_503_even_when_the_provider_is_back()
    {
        var down = true;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var acquirer = builder.Build();
        acquirer.MapPost("/sessions", async (HttpContext http) =>
        {
            var order = (await JsonDocument.ParseAsync(http.Request.Body)).RootElement.GetProperty("orderId").GetString();
            return Volatile.Read(ref down) ? Results.StatusCode(503) : Results.Json(new { sessionId = "acq_" + order, paymentUrl = "https://pay.example/acq_" + order });
        });
        await acquirer.StartAsync();
        var url = acquirer.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        await using var server = await TestServer.StartAsync("--payment-provider-url", url, "--payment-provider-secret", "acquirer-secret-0123456789");
        await server.SeedAsync(1, 100, (1, 3));
        var cart = new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } };

        var first = await server.CheckoutAsync("k", cart);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, first.StatusCode);
        var firstBody = await first.Content.ReadAsStringAsync();
        Volatile.Write(ref down, false);
        var replay = await server.CheckoutAsync("k", cart);
        Assert.Equal((HttpStatusCode.ServiceUnavailable, firstBody), (replay.StatusCode, await replay.Content.ReadAsStringAsync()));
        Assert.Equal(3, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());

        // A new key is a new checkout, and succeeds now; its replay answers the same 201, byte for byte.
        var fresh = await server.CheckoutAsync("k2", cart);
        Assert.Equal(HttpStatusCode.Created, fresh.StatusCode);
        var freshBody = await fresh.Content.ReadAsStringAsync();
        var id = JsonDocument.Parse(freshBody).RootElement.GetProperty("orderId").GetString()!;
        using var cancel = new HttpRequestMessage(HttpMethod.Post, $"/v1/orders/{id}/cancel");
        cancel.Headers.Add("X-Customer-Id", "c");
        Assert.Equal(HttpStatusCode.OK, (await server.Storefront.SendAsync(cancel)).StatusCode);
        Volatile.Write(ref down, true);
        var freshReplay = await server.CheckoutAsync("k2", cart);
        Assert.Equal((HttpStatusCode.Created, freshBody), (freshReplay.StatusCode, await freshReplay.Content.ReadAsStringAsync()));
    }

    [Fact]
    public void A_mistyped_switch_or_a_value_of_the_wrong_type_stops_the_start_with_a_clear_message()
    {
        // An operator who types --shardz 3 must not get a one-shard server that looks fine.
        var unknown = Assert.Throws<ArgumentException>(() => ServerApp.Build(["--shardz", "3"]));
        Assert.Contains("--shardz", unknown.Message, StringComparison.Ordinal);
        var wrongType = Assert.Throws<ArgumentException>(() => ServerApp.Build(["--shards", "abc"]));
        Assert.Contains("Shards", wrongType.Message, StringComparison.Ordinal);
        Assert.Contains("abc", wrongType.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Short_secrets_are_refused_at_start_and_generated_keys_are_owner_only()
    {
        var options = new ServerOptions { WebhookSecret = "short" };
        Assert.Contains("WebhookSecret", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(new ServerOptions { StorefrontKey = "0123456789" }.Validate);
        Assert.Throws<ArgumentException>(new ServerOptions { PaymentProviderUrl = "http://127.0.0.1:1/", PaymentProviderSecret = "short" }.Validate);

        var data = Directory.CreateTempSubdirectory("wb-keys-").FullName;
        try
        {
            var credentials = Security.Credentials.Load(new ServerOptions { DataDirectory = data });
            Assert.NotNull(credentials.GeneratedFile);
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(credentials.GeneratedFile));
            // Loaded again: the same keys, nothing rewritten.
            Assert.Equal(credentials.AdminKey, Security.Credentials.Load(new ServerOptions { DataDirectory = data }).AdminKey);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
