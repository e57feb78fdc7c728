using System.Net;
using System.Net.Sockets;
using Wildberries.Client;
using Wildberries.Host;
using Wildberries.Testing;

namespace Wildberries.Protocol.Tests;

/// <summary>The real server with its binary endpoint, on loopback ports of its own, with a data directory that may outlive it (restarts).</summary>
public sealed class ProtocolServer : IAsyncDisposable
{
    public const string StorefrontKey = "test-storefront-key-0123456789";
    public const string AdminKey = "test-admin-key-0123456789abcdef";
    public const string Secret = "whsec-test-secret-1";

    private readonly InProcessServer _server;

    private ProtocolServer(InProcessServer server)
    {
        _server = server;
        Tcp = ServerApp.TcpAddress(server.App)!;
    }

    public string Data => _server.Data;

    public Uri Http => _server.Address;

    public Uri Tcp { get; }

    /// <summary>The engine inside the server.</summary>
    public Engine.ReservationEngine Engine => _server.Engine;

    /// <summary>Starts a server; <paramref name="data"/> and <paramref name="tcpPort"/> given: a restart of an earlier one.</summary>
    /// <remarks>On <see cref="InProcessServer.Shards"/> shards (WB_TEST_SHARDS), as the host's tests.</remarks>
    public static async Task<ProtocolServer> StartAsync(string? data = null, int tcpPort = 0, params string[] extra)
    {
        string[] options =
        [
            "--tcp", $"tcp://127.0.0.1:{tcpPort}", "--storefront-key", StorefrontKey, "--admin-key", AdminKey, "--webhook-secret", Secret,
            "--Logging:LogLevel:Wildberries.Host.Protocol", "Warning", .. extra,
        ];
        return new ProtocolServer(await InProcessServer.StartAsync("wb-proto-", options, data: data));
    }

    public ReservationClient Client(string key, int connections = 2) =>
        new(new ReservationClientOptions { Endpoint = Tcp, ApiKey = key, Connections = connections, RequestTimeoutMs = 30_000 });

    public Task StopAsync() => _server.StopAsync();

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
