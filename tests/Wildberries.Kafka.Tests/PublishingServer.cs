using System.Text;
using System.Text.Json;
using Wildberries.Testing;

namespace Wildberries.Kafka.Tests;

/// <summary>
/// The real server on a loopback port with <c>--kafka-bootstrap</c> pointing at a mock cluster, a fresh data
/// directory, and clients for both roles: the one way the Kafka tests start a server.
/// </summary>
internal sealed class PublishingServer : IAsyncDisposable
{
    public const string StorefrontKey = "kafka-storefront-key-0123456789";
    public const string AdminKey = "kafka-admin-key-0123456789abcdef";

    private readonly InProcessServer _server;

    private PublishingServer(InProcessServer server)
    {
        _server = server;
        Storefront = server.Client(StorefrontKey);
        Admin = server.Client(AdminKey);
        Browser = server.Client(null);
    }

    public Uri Address => _server.Address;

    public HttpClient Storefront { get; }

    public HttpClient Admin { get; }

    /// <summary>No key: the sandbox payment page, probes.</summary>
    public HttpClient Browser { get; }

    public static async Task<PublishingServer> StartAsync(string bootstrap) =>
        new(await InProcessServer.StartAsync("wb-kafka-server-",
            ["--storefront-key", StorefrontKey, "--admin-key", AdminKey, "--webhook-secret", "kafka-webhook-secret-0123", "--kafka-bootstrap", bootstrap,
                "--anonymous-rate-limit", "100000"]));

    public static StringContent Body(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    public async ValueTask DisposeAsync()
    {
        Storefront.Dispose();
        Admin.Dispose();
        Browser.Dispose();
        await _server.DisposeAsync();
    }
}
