using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Wildberries.Engine;
using Wildberries.Host;

namespace Wildberries.Testing;

/// <summary>
/// The real server (host/Wildberries.Host) in this process, on loopback ports of its own, with a data directory of
/// its own or one given (a restart): the set-up every test fixture that starts a server shares (the host's
/// TestServer, the protocol's, the Kafka and PostgreSQL tests'), each adding its keys and options.
/// </summary>
public sealed class InProcessServer : IAsyncDisposable
{
    private readonly bool _ownsData;
    private bool _stopped;

    private InProcessServer(WebApplication app, string data, bool ownsData, Uri address)
    {
        App = app;
        Data = data;
        _ownsData = ownsData;
        Address = address;
    }

    /// <summary>
    /// The shard count the servers start with: <c>WB_TEST_SHARDS</c>, else 1. scripts/test.sh runs the host's and the
    /// protocol's tests a second time with WB_TEST_SHARDS=2: every flow must hold on two shards.
    /// </summary>
    public static string Shards => Environment.GetEnvironmentVariable("WB_TEST_SHARDS") ?? "1";

    /// <summary><see cref="Shards"/> as a number.</summary>
    public static int ShardCount => int.Parse(Shards, CultureInfo.InvariantCulture);

    public WebApplication App { get; }

    /// <summary>The server's data directory.</summary>
    public string Data { get; }

    /// <summary>The HTTP address.</summary>
    public Uri Address { get; }

    /// <summary>The server's services, for the few tests that drive a piece of it directly.</summary>
    public IServiceProvider Services => App.Services;

    /// <summary>The engine inside the server, for the few tests that drive it directly.</summary>
    public ReservationEngine Engine => Services.GetRequiredService<EngineService>().Engine!;

    /// <summary>
    /// Starts a server with <paramref name="options"/> after the common ones (a loopback HTTP port, the data directory,
    /// warnings only in the log, <see cref="Shards"/>; later options win). Without <paramref name="data"/> a fresh
    /// directory named <paramref name="prefix"/>..., deleted on dispose; with it, the directory is left behind.
    /// </summary>
    public static async Task<InProcessServer> StartAsync(string prefix, IEnumerable<string> options, TimeProvider? time = null, string? data = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var owns = data is null;
        data ??= Directory.CreateTempSubdirectory(prefix).FullName;
        string[] args = ["--urls", "http://127.0.0.1:0", "--data", data, "--Logging:LogLevel:Default", "Warning", "--shards", Shards, .. options];
        WebApplication? app = null;
        try
        {
            app = ServerApp.Build(args, time);
            return new InProcessServer(app, data, owns, await ServerApp.StartAsync(app, TimeSpan.FromSeconds(60)).ConfigureAwait(false));
        }
        catch
        {
            if (app is not null) await app.DisposeAsync().ConfigureAwait(false);
            if (owns) DeleteDirectory(data);
            throw;
        }
    }

    /// <summary>A client of the HTTP address with <paramref name="key"/> as its bearer token (none: anonymous).</summary>
    public HttpClient Client(string? key, TimeSpan? timeout = null) => Client(Address, key, timeout);

    /// <summary>A client of a server at <paramref name="address"/> with <paramref name="key"/> as its bearer token (none: anonymous).</summary>
    public static HttpClient Client(Uri address, string? key, TimeSpan? timeout = null)
    {
        var client = new HttpClient { BaseAddress = address };
        if (timeout is { } t) client.Timeout = t;
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>Stops the server (once); its data directory stays until dispose.</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        await App.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await App.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_ownsData) DeleteDirectory(Data);
    }

    private static void DeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
