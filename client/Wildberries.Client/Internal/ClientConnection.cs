using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Sockets;
using Wildberries.Protocol;

namespace Wildberries.Client.Internal;

/// <summary>
/// One TCP connection to a server: requests are written as they come (pipelined) and matched to answers by request
/// id, in whatever order they arrive. Any failure of the socket or the framing fails every waiting request with
/// <see cref="ConnectionLostException"/> and marks the connection dead: the one path for a dead connection.
/// </summary>
internal sealed class ClientConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly FrameOutput _output;
    private readonly ConcurrentDictionary<uint, Pending> _pending = new();
    private SemaphoreSlim _inFlight = new(1, 1);
    private Task _reading = Task.CompletedTask;
    private Timer? _sweep;
    private int _nextId;
    private volatile bool _dead;

    private ClientConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream);
        _output = new FrameOutput(PipeWriter.Create(_stream));
    }

    /// <summary>What the server said in its Welcome.</summary>
    public Welcome Welcome { get; private set; } = null!;

    /// <summary>False once the connection failed or closed.</summary>
    public bool IsAlive => !_dead;

    /// <summary>Connects, authenticates and starts reading answers.</summary>
    public static async Task<ClientConnection> ConnectAsync(string host, int port, string apiKey, string? clientName, int frameBytesMax, CancellationToken cancellation)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        ClientConnection? connection = null;
        try
        {
            await socket.ConnectAsync(host, port, cancellation).ConfigureAwait(false);
            connection = new ClientConnection(socket);
            await connection.HandshakeAsync(apiKey, clientName, frameBytesMax, cancellation).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            else socket.Dispose();
            throw;
        }
    }

    private async Task HandshakeAsync(string apiKey, string? clientName, int frameBytesMax, CancellationToken cancellation)
    {
        await WriteAsync(FrameType.Hello, 0, (apiKey, clientName), MessageCodec.WriteHello).ConfigureAwait(false);
        while (true)
        {
            var result = await _input.ReadAsync(cancellation).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (Frame.TryRead(ref buffer, frameBytesMax, out var header, out var body, out var error))
            {
                if (header.Type == FrameType.Error) throw new ReservationException(MessageCodec.Decode(body, MessageCodec.ReadProblem));
                if (header.Type != FrameType.Welcome) throw new InvalidDataException($"Expected Welcome, got frame type 0x{(byte)header.Type:x2}.");
                Welcome = MessageCodec.Decode(body, MessageCodec.ReadWelcome);
                _input.AdvanceTo(buffer.Start);
                break;
            }
            if (error != FrameError.None) throw new InvalidDataException($"The server's handshake answer is not a frame: {error}.");
            if (result.IsCompleted) throw new ConnectionLostException("The server closed the connection during the handshake.");
            _input.AdvanceTo(buffer.Start, buffer.End);
        }
        _inFlight = new SemaphoreSlim(Welcome.InFlightMax, Welcome.InFlightMax);
        _reading = ReadLoopAsync(frameBytesMax);
        _sweep = new Timer(static c => ((ClientConnection)c!).Sweep(), this, SweepMs, SweepMs);
    }

    /// <summary>
    /// Sends one request and waits for its answer, at most <paramref name="timeoutMs"/> (give or take
    /// <see cref="SweepMs"/>: deadlines are checked by one timer per connection, not one timer per request).
    /// </summary>
    public async Task<TAnswer> SendAsync<TRequest, TAnswer>(FrameType type, TRequest request, BodyWriter<TRequest> write, BodyReader<TAnswer> read, int timeoutMs, CancellationToken cancellation)
    {
        if (_dead) throw new ConnectionLostException();
        // At most the server's in-flight limit: beyond it the server would only stop reading.
        if (!_inFlight.Wait(0, CancellationToken.None)) await WaitForSlotAsync(timeoutMs, cancellation).ConfigureAwait(false);
        uint id;
        do
        {
            id = (uint)Interlocked.Increment(ref _nextId);
        }
        while (id == 0);
        var pending = new Pending<TAnswer>(type, read, Environment.TickCount64 + timeoutMs, timeoutMs);
        _pending[id] = pending;
        var registration = cancellation.CanBeCanceled ? cancellation.UnsafeRegister(static (p, token) => ((Pending)p!).Cancel(token), pending) : default;
        try
        {
            if (_dead) throw new ConnectionLostException();
            await WriteAsync(type, id, request, write).ConfigureAwait(false);
            return await pending.Answer.Task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException && ex is not ConnectionLostException)
        {
            Kill(ex);
            throw new ConnectionLostException("The connection failed while sending.", ex);
        }
        finally
        {
            registration.Dispose();
            // A late answer for an abandoned id finds nothing and is dropped.
            _pending.TryRemove(id, out _);
            _inFlight.Release();
        }
    }

    private async Task WaitForSlotAsync(int timeoutMs, CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(timeoutMs);
        try
        {
            await _inFlight.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new TimeoutException($"No slot for the request within {timeoutMs} ms.");
        }
    }

    /// <summary>
    /// 50 ms between checks of the requests' deadlines: a timeout fires at most that late, and one timer per connection
    /// replaces a timer (and a linked cancellation source) per request.
    /// </summary>
    public const int SweepMs = 50;

    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var entry in _pending)
        {
            if (entry.Value.DeadlineMs <= now) entry.Value.TimeOut();
        }
    }

    // Requests from many callers share the socket: appended as they come, flushed in bursts by one writer.
    private Task WriteAsync<T>(FrameType type, uint id, T body, BodyWriter<T> write) => _output.WriteAsync(type, id, body, write);

    private async Task ReadLoopAsync(int frameBytesMax)
    {
        Exception reason = new ConnectionLostException("The server closed the connection.");
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                while (Frame.TryRead(ref buffer, frameBytesMax, out var header, out var body, out _))
                {
                    if (header.RequestId == 0)
                    {
                        // A protocol error: the server closes next.
                        var problem = header.Type == FrameType.Error ? MessageCodec.Decode(body, MessageCodec.ReadProblem) : null;
                        reason = new ConnectionLostException($"The server closed the connection: {problem?.Code} {problem?.Detail}");
                        continue;
                    }
                    if (_pending.TryRemove(header.RequestId, out var pending)) pending.Complete(header.Type, body);
                }
                if (Frame.TryRead(ref buffer, frameBytesMax, out _, out _, out var error) || error != FrameError.None)
                {
                    reason = new ConnectionLostException($"The server's stream is not frames: {error}.");
                    break;
                }
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or ProtocolFormatException or SocketException)
        {
            reason = new ConnectionLostException("The connection failed.", ex);
        }
        Kill(reason);
    }

    private void Kill(Exception reason)
    {
        _dead = true;
        _sweep?.Dispose();
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var pending)) pending.Fail(reason is ConnectionLostException ? reason : new ConnectionLostException(reason.Message, reason));
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Kill(new ConnectionLostException("The client was disposed."));
        try
        {
            await _reading.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Reading ends with the socket.
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
    }
}
