using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Wildberries.Client;

namespace Wildberries.Protocol.Tests;

/// <summary>The client's deadlines and cancellation against a server that welcomes and then never answers.</summary>
public class ClientTimeoutTests
{
    /// <summary>Accepts connections; answers each one's Hello with a Welcome, then reads and never answers.</summary>
    private static async Task SilentServerAsync(TcpListener listener, CancellationToken ct)
    {
        var connections = new List<Task>();
        while (!ct.IsCancellationRequested) connections.Add(SilentConnectionAsync(await listener.AcceptSocketAsync(ct), ct));
        await Task.WhenAll(connections);
    }

    private static async Task SilentConnectionAsync(Socket accepted, CancellationToken ct)
    {
        using var socket = accepted;
        var buffer = new byte[64 * 1024];
        await socket.ReceiveAsync(buffer, ct); // the Hello (small: one read)
        var body = new ArrayBufferWriter<byte>();
        MessageCodec.Encode(body, new Welcome("storefront", Frame.BytesMaxDefault, 256, [new ShardEndpoint(0, null)]), MessageCodec.WriteWelcome);
        var frame = new ArrayBufferWriter<byte>();
        Frame.Write(frame, FrameType.Welcome, 0, body.WrittenSpan);
        await socket.SendAsync(frame.WrittenMemory, ct);
        while (await socket.ReceiveAsync(buffer, ct) > 0)
        {
        }
    }

    // The test's own timeout is the failure of a request that is never timed out: it would wait for ever.
    [Fact(Timeout = 60_000)]
    public async Task A_request_without_an_answer_times_out_and_a_cancelled_one_is_cancelled()
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = SilentServerAsync(listener, ct);
        ReservationClient Client(int timeoutMs) => new(new ReservationClientOptions
        {
            Endpoint = new Uri($"tcp://{listener.LocalEndpoint}"), ApiKey = "k", Connections = 1, RequestTimeoutMs = timeoutMs, AttemptsMax = 1,
        });
        await using var impatient = Client(200);
        await using var patient = Client(600_000);

        await Assert.ThrowsAsync<TimeoutException>(() => impatient.GetItemAsync(1, ct));
        using var cancel = new CancellationTokenSource();
        var pending = patient.GetItemAsync(2, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        Assert.False(server.IsCompleted, "the connection stays open: a late answer is dropped, not a protocol error");
    }
}
