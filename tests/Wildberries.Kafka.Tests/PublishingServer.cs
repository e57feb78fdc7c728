using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Wildberries.Host;

namespace Wildberries.Kafka.Tests;

/// <summary>
/// The real server on a loopback port with <c>--kafka-bootstrap</c> pointing at a mock cluster, a fresh data
/// directory, and clients for both roles: the one way the Kafka tests start a server.
/// </summary>
internal sealed class PublishingServer : IAsyncDisposable
{
    public const string StorefrontKey = "kafka-storefront-key-0123456789";
    public const string AdminKey = "kafka-admin-key-0123456789abcdef";

    private readonly WebApplication _app;
    private readonly string _data;

    private PublishingServer(WebApplication app, string data, Uri address)
    {
        _app = app;
        _data = data;
        Address = address;
        Storefront = Client(StorefrontKey);
        Admin = Client(AdminKey);
        Browser = Client(null);
    }

    public Uri Address { get; }

    public HttpClient Storefront { get; }

    public HttpClient Admin { get; }

    /// <summary>No key: the sandbox payment page, probes.</summary>
    public HttpClient Browser { get; }

    public static async Task<PublishingServer> StartAsync(string bootstrap)
    {
        var data = Directory.CreateTempSubdirectory("wb-kafka-server-").FullName;
        var app = ServerApp.Build(["--urls", "http://127.0.0.1:0", "--data", data, "--storefront-key", StorefrontKey, "--admin-key", AdminKey,
            "--webhook-secret", "kafka-webhook-secret-0123", "--kafka-bootstrap", bootstrap, "--Logging:LogLevel:Default", "Warning",
            "--anonymous-rate-limit", "100000"]);
        try
        {
            return new PublishingServer(app, data, await ServerApp.StartAsync(app, TimeSpan.FromSeconds(60)));
        }
        catch
        {
            await app.DisposeAsync();
            Directory.Delete(data, recursive: true);
            throw;
        }
    }

    public static StringContent Body(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private HttpClient Client(string? key)
    {
        var client = new HttpClient { BaseAddress = Address };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Storefront.Dispose();
        Admin.Dispose();
        Browser.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        Directory.Delete(_data, recursive: true);
    }
}
