using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Wildberries.Client;

namespace Wildberries.Protocol.Tests;

/// <summary>The client's deadlines and cancellation against a server that welcomes and then answers only when told to.</summary>
public class ClientTimeoutTests
{
    /// <summary>
    /// A server by hand: welcomes every connection, reports each request it reads (connection number, id) and answers
    /// a GetItem only when the test sends it an id to answer.
    /// </summary>
    private sealed class QuietServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _connections = [];
        private readonly Task _accepting;
        private int _accepted;

        public QuietServer()
        {
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public Uri Endpoint => new($"tcp://{_listener.LocalEndpoint}");

        public int Accepted => Volatile.Read(ref _accepted);

        /// <summary>Every request read: the connection it came on (1 = the first accepted) and its id.</summary>
        public Channel<(int Connection, uint Id)> Requests { get; } = Channel.CreateUnbounded<(int, uint)>();

        /// <summary>Ids to answer (with an item), on the connection that is open at the time.</summary>
        public Channel<uint> Answers { get; } = Channel.CreateUnbounded<uint>();

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    var number = Interlocked.Increment(ref _accepted);
                    lock (_connections) _connections.Add(ServeAsync(socket, number, _stop.Token));
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        private async Task ServeAsync(Socket accepted, int number, CancellationToken ct)
        {
            using var socket = accepted;
            using var sending = new SemaphoreSlim(1, 1);
            var answering = AnswerAsync(socket, sending, ct);
            var received = new byte[64 * 1024];
            byte[] unread = [];
            try
            {
                int read;
                while ((read = await socket.ReceiveAsync(received, ct)) > 0)
                {
                    unread = [.. unread, .. received.AsSpan(0, read)];
                    var pending = new ReadOnlySequence<byte>(unread);
                    while (Frame.TryRead(ref pending, Frame.BytesMaxDefault, out var header, out _, out _))
                    {
                        if (header.Type == FrameType.Hello)
                        {
                            var body = new ArrayBufferWriter<byte>();
                            MessageCodec.Encode(body, new Welcome("storefront", Frame.BytesMaxDefault, 256, [new ShardEndpoint(0, null)]), MessageCodec.WriteWelcome);
                            await SendAsync(socket, sending, FrameType.Welcome, 0, body.WrittenSpan.ToArray(), ct);
                        }
                        else
                        {
                            await Requests.Writer.WriteAsync((number, header.RequestId), ct);
                        }
                    }
                    unread = pending.ToArray();
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
            }
            await answering;
        }

        private async Task AnswerAsync(Socket socket, SemaphoreSlim sending, CancellationToken ct)
        {
            try
            {
                await foreach (var id in Answers.Reader.ReadAllAsync(ct))
                {
                    var body = new ArrayBufferWriter<byte>();
                    MessageCodec.Encode(body, new ItemDetail(id, $"item {id}", 100, "RUB", 1, true, 0, []), MessageCodec.WriteItemDetail);
                    await SendAsync(socket, sending, FrameType.GetItem | FrameType.Answer, id, body.WrittenSpan.ToArray(), ct);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private static async Task SendAsync(Socket socket, SemaphoreSlim sending, FrameType type, uint id, byte[] body, CancellationToken ct)
        {
            var frame = new ArrayBufferWriter<byte>();
            Frame.Write(frame, type, id, body);
            await sending.WaitAsync(ct);
            try
            {
                await socket.SendAsync(frame.WrittenMemory, ct);
            }
            finally
            {
                sending.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            Task[] connections;
            lock (_connections) connections = [.. _connections];
            await Task.WhenAll(connections);
            _stop.Dispose();
        }
    }

    private static ReservationClient Client(Uri endpoint, int timeoutMs) => new(new ReservationClientOptions
    {
        Endpoint = endpoint, ApiKey = "k", Connections = 1, RequestTimeoutMs = timeoutMs, AttemptsMax = 1,
    });

    // The test's own timeout is the failure of a request that is never timed out: it would wait for ever.
    [Fact(Timeout = 60_000)]
    public async Task A_request_without_an_answer_times_out()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new QuietServer();
        await using var impatient = Client(server.Endpoint, 200);
        await Assert.ThrowsAsync<TimeoutException>(() => impatient.GetItemAsync(1, ct));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_cancelled_request_is_cancelled_and_its_late_answer_is_dropped_on_a_connection_that_stays_open()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new QuietServer();
        await using var patient = Client(server.Endpoint, 600_000);

        using var cancel = new CancellationTokenSource();
        var pending = patient.GetItemAsync(2, cancel.Token);
        var (connection, cancelledId) = await server.Requests.Reader.ReadAsync(ct);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);

        // The cancelled request's answer arrives late; then the next request is sent and answered.
        await server.Answers.Writer.WriteAsync(cancelledId, ct);
        var next = patient.GetItemAsync(3, ct);
        var request = server.Requests.Reader.ReadAsync(ct).AsTask();
        // A request that fails without reaching the server (a dead connection) fails the test with its own exception.
        if (await Task.WhenAny(request, next) == next) await next;
        var (nextConnection, nextId) = await request;
        // The same connection, never a second one: a cancel does not close it, nor does the late answer (not a protocol error).
        Assert.Equal(connection, nextConnection);
        Assert.Equal(1, server.Accepted);
        Assert.NotEqual(cancelledId, nextId);
        await server.Answers.Writer.WriteAsync(nextId, ct);
        var item = await next;
        Assert.Equal(nextId, (uint)item.Sku);
    }
}
