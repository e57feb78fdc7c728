using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Wildberries.Client;
using Wildberries.Host;

namespace Wildberries.Protocol.Tests;

/// <summary>The real server with its binary endpoint, on loopback ports of its own, with a data directory that may outlive it (restarts).</summary>
public sealed class ProtocolServer : IAsyncDisposable
{
    public const string StorefrontKey = "test-storefront-key-0123456789";
    public const string AdminKey = "test-admin-key-0123456789abcdef";
    public const string Secret = "whsec-test-secret-1";

    private readonly WebApplication _app;
    private readonly bool _ownsData;

    private ProtocolServer(WebApplication app, string data, bool ownsData, Uri http, Uri tcp)
    {
        _app = app;
        Data = data;
        _ownsData = ownsData;
        Http = http;
        Tcp = tcp;
    }

    public string Data { get; }

    public Uri Http { get; }

    public Uri Tcp { get; }

    /// <summary>Starts a server; <paramref name="data"/> and <paramref name="tcpPort"/> given: a restart of an earlier one.</summary>
    public static async Task<ProtocolServer> StartAsync(string? data = null, int tcpPort = 0, params string[] extra)
    {
        var owns = data is null;
        data ??= Directory.CreateTempSubdirectory("wb-proto-").FullName;
        string[] args =
        [
            "--urls", "http://127.0.0.1:0", "--tcp", $"tcp://127.0.0.1:{tcpPort}", "--data", data,
            "--storefront-key", StorefrontKey, "--admin-key", AdminKey, "--webhook-secret", Secret,
            "--Logging:LogLevel:Default", "Warning", "--Logging:LogLevel:Wildberries.Host.Protocol", "Warning",
            // CI runs the suites a second time with WB_TEST_SHARDS=2, as it does the host's.
            "--shards", Environment.GetEnvironmentVariable("WB_TEST_SHARDS") ?? "1", .. extra,
        ];
        var app = ServerApp.Build(args);
        var http = await ServerApp.StartAsync(app, TimeSpan.FromSeconds(60));
        return new ProtocolServer(app, data, owns, http, ServerApp.TcpAddress(app)!);
    }

    /// <summary>A free loopback port, for a server that must come back on the same one.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public ReservationClient Client(string key, int connections = 2) =>
        new(new ReservationClientOptions { Endpoint = Tcp, ApiKey = key, Connections = connections, RequestTimeoutMs = 30_000 });

    private bool _stopped;

    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (!_ownsData) return;
        try
        {
            Directory.Delete(Data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
