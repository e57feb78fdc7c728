using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Wildberries.Host.Security;

namespace Wildberries.Host.Tests;

/// <summary>The real server on a loopback port of its own, with a fresh data directory: the one way tests start a host.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public const string StorefrontKey = "test-storefront-key-0123456789";
    public const string AdminKey = "test-admin-key-0123456789abcdef";
    public const string Secret = "whsec-test-secret-1";
    public const string OldSecret = "whsec-test-secret-0";

    private readonly WebApplication _app;
    private readonly string _data;

    private TestServer(WebApplication app, string data, Uri address)
    {
        _app = app;
        _data = data;
        Address = address;
        Storefront = Client(StorefrontKey);
        Admin = Client(AdminKey);
        Anonymous = Client(null);
    }

    public Uri Address { get; }

    /// <summary>The server's data directory.</summary>
    public string Data => _data;

    /// <summary>The engine inside the server, for the few tests that drive time directly.</summary>
    public Engine.ReservationEngine Engine => _app.Services.GetRequiredService<EngineService>().Engine!;

    /// <summary>The server's services, for the few tests that drive a piece of it directly.</summary>
    public IServiceProvider Services => _app.Services;

    public HttpClient Storefront { get; }

    public HttpClient Admin { get; }

    public HttpClient Anonymous { get; }

    public static Task<TestServer> StartAsync(params string[] extra) => StartAsync(null, extra);

    public static async Task<TestServer> StartAsync(TimeProvider? time, params string[] extra)
    {
        var data = Directory.CreateTempSubdirectory("wb-host-").FullName;
        string[] args =
        [
            "--urls", "http://127.0.0.1:0", "--data", data, "--storefront-key", StorefrontKey, "--admin-key", AdminKey,
            "--webhook-secret", $"{Secret},{OldSecret}", "--Logging:LogLevel:Default", "Warning",
            // The fuzz tests send thousands of unauthenticated requests; the rate-limit test sets its own limit.
            "--anonymous-rate-limit", "1000000",
            // CI runs the whole suite a second time with WB_TEST_SHARDS=2: every flow must hold on two shards.
            "--shards", Environment.GetEnvironmentVariable("WB_TEST_SHARDS") ?? "1", .. extra,
        ];
        var app = ServerApp.Build(args, time);
        var address = await ServerApp.StartAsync(app, TimeSpan.FromSeconds(60));
        return new TestServer(app, data, address);
    }

    public HttpClient Client(string? key)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

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
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
