using System.Net;
using System.Text;
using System.Text.Json;
using Wildberries.Host.Security;
using Wildberries.Testing;

namespace Wildberries.Host.Tests;

public class SecurityTests(ITestOutputHelper output)
{
    private static readonly (string Method, string Path, bool Admin)[] Endpoints =
    [
        ("POST", "/v1/checkout", false), ("GET", "/v1/orders/1", false), ("POST", "/v1/orders/1/cancel", false),
        ("GET", "/v1/catalog/items/1", false), ("GET", "/v1/catalog/availability?skus=1", false), ("GET", "/v1/catalog/items", false),
        ("PUT", "/v1/admin/items/1", true), ("POST", "/v1/admin/stock", true), ("POST", "/v1/admin/orders/1/ship", true),
    ];

    [Fact]
    public async Task Every_endpoint_refuses_missing_bad_and_wrong_role_keys()
    {
        await using var server = await TestServer.StartAsync();
        var unexpected = 0;
        foreach (var (method, path, admin) in Endpoints)
        {
            foreach (var (key, expected) in new[] { ((string?)null, 401), ("not-a-key", 401), (admin ? TestServer.StorefrontKey : TestServer.AdminKey, 403) })
            {
                using var client = server.Client(key);
                using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = TestServer.JsonBody(new { }) };
                var r = await client.SendAsync(request);
                if ((int)r.StatusCode != expected) unexpected++;
                Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
                output.WriteLine($"{method} {path} key={key ?? "none"}: {(int)r.StatusCode}");
            }
        }
        Assert.Equal(0, unexpected);
    }

    [Fact]
    public void Ten_thousand_fuzzed_signatures_timestamps_and_bodies_are_all_refused()
    {
        var seed = TestSeed.Get(output.WriteLine, "WB_SIGNATURE_SEED");
#pragma warning disable CA5394 // Test data, not security.
        var random = new Random(seed);
        var body = Encoding.UTF8.GetBytes("{\"eventId\":\"e\",\"txId\":\"t\",\"orderId\":\"1\",\"status\":\"succeeded\",\"amount\":1,\"currency\":\"RUB\"}");
        var now = 1_800_000_000L;
        var valid = WebhookSignature.Sign(body, now, TestServer.Secret);
        Assert.True(WebhookSignature.Verify(valid, body, [TestServer.Secret], now));
        var accepted = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var header = valid.ToCharArray();
            var candidateBody = (byte[])body.Clone();
            var at = now;
            switch (random.Next(4))
            {
                case 0: header[random.Next(header.Length)] = (char)random.Next(32, 127); break;
                case 1: candidateBody[random.Next(candidateBody.Length)] ^= (byte)(1 << random.Next(8)); break;
                case 2: at = now + (random.Next(2) == 0 ? -1 : 1) * random.Next(301, 1_000_000); break;
                default: header = WebhookSignature.Sign(body, now, "wrong-secret-" + random.Next()).ToCharArray(); break;
            }
            var candidate = new string(header);
            // The same MAC with hex letters in another case is the same signature, not a forgery.
            if (string.Equals(candidate, valid, StringComparison.OrdinalIgnoreCase) && candidateBody.AsSpan().SequenceEqual(body) && at == now) continue;
            if (WebhookSignature.Verify(candidate, candidateBody, [TestServer.Secret, TestServer.OldSecret], at)) accepted++;
        }
#pragma warning restore CA5394
        Assert.Equal(0, accepted);
    }

    [Fact]
    public void The_300_second_edges_and_key_rotation()
    {
        var body = Encoding.UTF8.GetBytes("{}");
        var t = 1_800_000_000L;
        Assert.True(WebhookSignature.Verify(WebhookSignature.Sign(body, t, "new"), body, ["new", "old"], t + 300));
        Assert.True(WebhookSignature.Verify(WebhookSignature.Sign(body, t, "new"), body, ["new", "old"], t - 300));
        Assert.False(WebhookSignature.Verify(WebhookSignature.Sign(body, t, "new"), body, ["new", "old"], t + 301));
        Assert.True(WebhookSignature.Verify(WebhookSignature.Sign(body, t, "old"), body, ["new", "old"], t));
        var both = WebhookSignature.Sign(body, t, "retired") + "," + WebhookSignature.Sign(body, t, "new").Split(',')[1];
        Assert.True(WebhookSignature.Verify(both, body, ["new"], t));
        Assert.False(WebhookSignature.Verify(null, body, ["new"], t));
    }

    [Fact]
    public async Task Webhooks_need_a_valid_signature_and_duplicates_change_nothing()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        var r = await server.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } });
        var id = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("orderId").GetString()!;
        var body = Http.Api.WebhookBody("evt-1", "tx-1", id, "succeeded", 100, "RUB");

        Assert.Equal(HttpStatusCode.Unauthorized, (await server.CallbackAsync(body, "t=1,v1=00")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.CallbackAsync(body, TestServer.Sign(body, "wrong"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.CallbackAsync(body, TestServer.Sign(body, at: DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 301))).StatusCode);

        var first = await server.CallbackAsync(body, TestServer.Sign(body, TestServer.OldSecret));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var again = JsonDocument.Parse(await (await server.CallbackAsync(body, TestServer.Sign(body))).Content.ReadAsStringAsync()).RootElement;
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        Assert.Equal("PAID", again.GetProperty("status").GetString());

        var wrongAmount = Http.Api.WebhookBody("evt-2", "tx-2", id, "succeeded", 99, "RUB");
        var refused = await server.CallbackAsync(wrongAmount, TestServer.Sign(wrongAmount));
        Assert.Equal((HttpStatusCode)422, refused.StatusCode);
    }
}
