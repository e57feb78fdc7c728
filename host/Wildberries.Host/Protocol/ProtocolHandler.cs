using Microsoft.AspNetCore.Connections;
using Wildberries.Host.Security;

namespace Wildberries.Host.Protocol;

/// <summary>Kestrel's entry point for the binary protocol (docs/protocol.md): one <see cref="ProtocolConnection"/> per TCP connection.</summary>
public sealed partial class ProtocolHandler(
    EngineService engine, Credentials credentials, CheckoutFlow checkout, ServerOptions options, IHostApplicationLifetime lifetime, ILogger<ProtocolHandler> log, IServiceProvider services) : ConnectionHandler
{
    /// <summary>
    /// 10,000 ms for the Hello: a connection that never authenticates holds a socket and a buffer for nothing; a
    /// client on a slow network still gets its handshake through.
    /// </summary>
    public const int HandshakeTimeoutMs = 10_000;

    /// <inheritdoc />
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var served = new ProtocolConnection(connection, engine, credentials, checkout, options, log, services.GetService<Wildberries.Engine.Postgres.PostgresOrderHistory>(), lifetime.ApplicationStopping);
        await served.RunAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Binary connection {ConnectionId} closed with protocol error {Code}: {Detail}")]
    internal static partial void LogProtocolError(ILogger logger, string connectionId, string code, string detail);

    [LoggerMessage(EventId = 41, Level = LogLevel.Error, Message = "Binary request {RequestId} on connection {ConnectionId} failed")]
    internal static partial void LogRequestFailed(ILogger logger, Exception exception, uint requestId, string connectionId);
}
