using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Wildberries.Host.Security;
using Wildberries.Testing;

namespace Wildberries.Host.Tests;

/// <summary>The real server on a loopback port of its own, with a fresh data directory: the one way tests start a host.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public const string StorefrontKey = "test-storefront-key-0123456789";
    public const string AdminKey = "test-admin-key-0123456789abcdef";
    public const string Secret = "whsec-test-secret-1";
    public const string OldSecret = "whsec-test-secret-0";

    private readonly InProcessServer _server;

    private TestServer(InProcessServer server)
    {
        _server = server;
        Storefront = Client(StorefrontKey);
        Admin = Client(AdminKey);
        Anonymous = Client(null);
    }

    public Uri Address => _server.Address;

    /// <summary>The server's data directory.</summary>
    public string Data => _server.Data;

    /// <summary>The engine inside the server, for the few tests that drive time directly.</summary>
    public Engine.ReservationEngine Engine => _server.Engine;

    /// <summary>The server's services, for the few tests that drive a piece of it directly.</summary>
    public IServiceProvider Services => _server.Services;

    public HttpClient Storefront { get; }

    public HttpClient Admin { get; }

    public HttpClient Anonymous { get; }

    public static Task<TestServer> StartAsync(params string[] extra) => StartAsync(null, extra);

    /// <summary>A server on <see cref="InProcessServer.Shards"/> shards (WB_TEST_SHARDS); <paramref name="extra"/> options win.</summary>
    public static async Task<TestServer> StartAsync(TimeProvider? time, params string[] extra)
    {
        string[] options =
        [
            "--storefront-key", StorefrontKey, "--admin-key", AdminKey, "--webhook-secret", $"{Secret},{OldSecret}",
            // The fuzz tests send thousands of unauthenticated requests; the rate-limit test sets its own limit.
            "--anonymous-rate-limit", "1000000", .. extra,
        ];
        return new TestServer(await InProcessServer.StartAsync("wb-host-", options, time));
    }

    public HttpClient Client(string? key) => _server.Client(key, TimeSpan.FromSeconds(30));

    public static StringContent JsonBody(object body) => new(JsonSerializer.Serialize(body, Http.Json.Options), Encoding.UTF8, "application/json");

    public async Task<HttpResponseMessage> CheckoutAsync(string key, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/checkout") { Content = JsonBody(body) };
        request.Headers.Add("Idempotency-Key", key);
        return await Storefront.SendAsync(request);
    }

    public async Task SeedAsync(long sku, long price, params (int Warehouse, long OnHand)[] stock)
    {
        (await Admin.PutAsync($"/v1/admin/items/{sku}", JsonBody(new { name = $"item {sku}", price, maxPerOrder = 10 }))).EnsureSuccessStatusCode();
        var adjustments = stock.Select(s => new { sku, warehouseId = s.Warehouse, onHand = s.OnHand }).ToArray();
        (await Admin.PostAsync("/v1/admin/stock", JsonBody(new { reason = "test", adjustments }))).EnsureSuccessStatusCode();
    }

    public async Task<HttpResponseMessage> CallbackAsync(byte[] body, string signature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments/callback") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("Webhook-Signature", signature);
        return await Anonymous.SendAsync(request);
    }

    public static string Sign(byte[] body, string secret = Secret, long? at = null) =>
        WebhookSignature.Sign(body, at ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds(), secret);

    public async ValueTask DisposeAsync()
    {
        Storefront.Dispose();
        Admin.Dispose();
        Anonymous.Dispose();
        await _server.DisposeAsync();
    }
}
