using System.Buffers;
using System.Net.Sockets;
using MessagePack;

namespace Wildberries.Protocol.Tests;

/// <summary>A socket that speaks frames by hand: for malformed, partial and pipelined traffic the client never sends.</summary>
public sealed class RawConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _receive = new byte[64 * 1024];
    private byte[] _pending = [];

    private RawConnection(Socket socket) => _socket = socket;

    public static async Task<RawConnection> ConnectAsync(Uri tcp, string? key = null)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(tcp.Host, tcp.Port);
        var connection = new RawConnection(socket);
        if (key is not null)
        {
            await connection.SendAsync(Hello(key));
            var (type, _, _) = await connection.ReceiveAsync();
            Assert.Equal(FrameType.Welcome, type);
        }
        return connection;
    }

    public static byte[] Frame<T>(FrameType type, uint id, T body, BodyWriter<T> write, byte version = Protocol.Frame.Version)
    {
        var scratch = new ArrayBufferWriter<byte>();
        MessageCodec.Encode(scratch, body, write);
        var output = new ArrayBufferWriter<byte>();
        Protocol.Frame.Write(output, type, id, scratch.WrittenSpan);
        var bytes = output.WrittenSpan.ToArray();
        bytes[4] = version;
        return bytes;
    }

    public static byte[] Hello(string key) => Frame(FrameType.Hello, 0, (key, (string?)"tests"), MessageCodec.WriteHello);

    public async Task SendAsync(byte[] bytes) => await _socket.SendAsync(bytes, SocketFlags.None);

    /// <summary>The next frame: type, request id, body; throws <see cref="EndOfStreamException"/> if the server closed first.</summary>
    public async Task<(FrameType Type, uint Id, byte[] Body)> ReceiveAsync()
    {
        while (true)
        {
            var buffer = new ReadOnlySequence<byte>(_pending);
            if (Protocol.Frame.TryRead(ref buffer, 16 * 1024 * 1024, out var header, out var body, out var error))
            {
                var result = (header.Type, header.RequestId, body.ToArray());
                _pending = buffer.ToArray();
                return result;
            }
            Assert.Equal(FrameError.None, error);
            var read = await _socket.ReceiveAsync(_receive, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(30));
            if (read == 0) throw new EndOfStreamException("The server closed the connection.");
            _pending = [.. _pending, .. _receive.AsSpan(0, read)];
        }
    }

    /// <summary>True once the server has closed the connection (after any frames still queued).</summary>
    public async Task<bool> ClosedAsync()
    {
        try
        {
            while (true) await ReceiveAsync();
        }
        catch (EndOfStreamException)
        {
            return true;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    public static ProblemBody Problem(byte[] body) => MessageCodec.Decode(new ReadOnlySequence<byte>(body), MessageCodec.ReadProblem);

    public static T Decode<T>(byte[] body, BodyReader<T> read) => MessageCodec.Decode(new ReadOnlySequence<byte>(body), read);

    public void Dispose() => _socket.Dispose();
}
