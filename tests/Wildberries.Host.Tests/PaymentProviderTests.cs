using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Wildberries.Host.Tests;

public class PaymentProviderTests
{
    private static async Task<JsonElement> Json(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task An_unreachable_provider_gets_503_and_the_reservation_is_released()
    {
        // Port 1 on loopback: nothing listens, connections are refused at once.
        await using var server = await TestServer.StartAsync("--payment-provider-url", "http://127.0.0.1:1/", "--payment-provider-secret", "acquirer-secret-0123456789");
        await server.SeedAsync(1, 100, (1, 3));
        var r = await server.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 3 } } });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        var first = await r.Content.ReadAsStringAsync();
        Assert.Equal("payment_provider_unavailable", JsonDocument.Parse(first).RootElement.GetProperty("code").GetString());
        Assert.Equal(3, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());

        // Every replay of the key gets that first answer, not a 201 for an order that was cancelled.
        var replay = await server.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 3 } } });
        Assert.Equal((HttpStatusCode.ServiceUnavailable, first), (replay.StatusCode, await replay.Content.ReadAsStringAsync()));
        Assert.Equal(3, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());

        // With a real provider the sandbox does not exist: nobody can pay through it.
        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.GetAsync("/sandbox/pay/ps_1")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.PostAsync("/sandbox/pay/ps_1/pay", null)).StatusCode);
    }

    [Fact]
    public async Task A_flaky_provider_is_retried_with_the_same_idempotency_key_and_a_valid_signature()
    {
        var attempts = new List<(string? Key, bool SignatureOk)>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var acquirer = builder.Build();
        acquirer.MapPost("/api/sessions", async (HttpContext http) =>
        {
            using var buffer = new MemoryStream();
            await http.Request.Body.CopyToAsync(buffer);
            var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes("acquirer-secret-0123456789"), buffer.ToArray()));
            lock (attempts) attempts.Add((http.Request.Headers["Idempotency-Key"], http.Request.Headers["Signature"] == expected));
            if (attempts.Count == 1) return Results.StatusCode(503);
            var order = JsonDocument.Parse(buffer.ToArray()).RootElement.GetProperty("orderId").GetString();
            // Providers add fields to their answers: one we do not know must not break the checkout.
            return Results.Json(new { sessionId = "acq_" + order, paymentUrl = "https://pay.example/acq_" + order, livemode = false, expiresAt = 1_900_000_000 });
        });
        await acquirer.StartAsync();
        var url = acquirer.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        await using var server = await TestServer.StartAsync("--payment-provider-url", url + "/api/", "--payment-provider-secret", "acquirer-secret-0123456789");
        await server.SeedAsync(1, 100, (1, 3));
        var r = await server.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var body = await Json(r);
        var id = body.GetProperty("orderId").GetString();
        Assert.Equal($"https://pay.example/acq_{id}", body.GetProperty("paymentUrl").GetString());
        Assert.Equal(2, attempts.Count);
        Assert.All(attempts, a => Assert.Equal((id, true), (a.Key, a.SignatureOk)));
    }
}
