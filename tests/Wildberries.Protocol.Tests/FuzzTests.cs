using System.Buffers.Binary;
using MessagePack;

namespace Wildberries.Protocol.Tests;

/// <summary>
/// Malformed traffic from many connections at once: every connection that breaks the framing gets an error frame
/// with request id 0 and is closed; a body of the wrong shape fails only its request; a healthy connection is served
/// throughout; the server never stops. Replay a failure with WB_FUZZ_SEED=the printed seed.
/// </summary>
public class FuzzTests
{
    private const int FramesTotal = 10_000;
    private const int Workers = 16;

    [Fact]
    public async Task Ten_thousand_bad_frames_from_many_connections_close_only_their_connections()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("WB_FUZZ_SEED"), out var s) ? s : Environment.TickCount;
        TestContext.Current.SendDiagnosticMessage($"fuzz seed {seed} (replay: WB_FUZZ_SEED={seed})");
        Console.WriteLine($"fuzz seed {seed} (replay: WB_FUZZ_SEED={seed})");
        await using var server = await ProtocolServer.StartAsync();
        await using (var admin = server.Client(ProtocolServer.AdminKey))
        {
            await admin.PutItemAsync(new ItemUpsert(1, "one", 100), TestContext.Current.CancellationToken);
        }
        await using var healthy = server.Client(ProtocolServer.StorefrontKey, connections: 1);
        using var stop = new CancellationTokenSource();
        var served = 0;
        var watcher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(1, (await healthy.GetItemAsync(1, TestContext.Current.CancellationToken)).Sku);
                Interlocked.Increment(ref served);
            }
        }, TestContext.Current.CancellationToken);

        var sent = 0;
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            var random = new Random(seed + w);
            while (Interlocked.Increment(ref sent) <= FramesTotal)
            {
                try
                {
                    outcomes.AddOrUpdate(await OneAsync(server.Tcp, random), 1, (_, n) => n + 1);
                }
                catch (Exception ex)
                {
                    throw new InvalidOperationException($"seed {seed}, worker {w}: {ex.Message}", ex);
                }
            }
        }, TestContext.Current.CancellationToken)).ToArray();
        await Task.WhenAll(workers);
        await stop.CancelAsync();
        await watcher;
        var summary = string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key} {o.Value}"));
        Console.WriteLine($"fuzz outcomes: {summary}; healthy requests served meanwhile: {served}");
        Assert.Equal(FramesTotal, outcomes.Values.Sum());
        Assert.True(served > 0, "the healthy connection was served during the fuzz");
        // And after it: the same connection, never dropped.
        Assert.Equal(1, (await healthy.GetItemAsync(1, TestContext.Current.CancellationToken)).Sku);
    }

    /// <summary>One connection with one bad frame (or a few body-level ones), and the check of what the server did.</summary>
    private static async Task<string> OneAsync(Uri tcp, Random random)
    {
        var authenticated = random.Next(4) != 0;
        using var raw = await RawConnection.ConnectAsync(tcp, authenticated ? ProtocolServer.StorefrontKey : null);
        var valid = RawConnection.Frame(FrameType.GetItem, 7, 1L, MessageCodec.WriteSku);
        byte[] frame;
        string? expected;
        switch (random.Next(9))
        {
            case 0: // Oversized length.
                frame = [.. valid];
                BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)random.Next(Frame.BytesMaxDefault + 1, int.MaxValue));
                expected = "frame_too_large";
                break;
            case 1: // A length shorter than its own header.
                frame = [.. valid];
                BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)random.Next(0, 6));
                expected = "bad_frame";
                break;
            case 2: // Another version.
                frame = [.. valid];
                frame[4] = (byte)random.Next(2, 256);
                expected = "unsupported_version";
                break;
            case 3: // A type a client may not send.
                frame = [.. valid];
                frame[5] = (byte)(0x30 + random.Next(0, 0x50));
                expected = "unknown_frame_type";
                break;
            case 4: // Request id 0.
                frame = [.. valid];
                frame.AsSpan(6, 4).Clear();
                expected = "bad_request_id";
                break;
            case 5: // Out of order: Hello again (or, unauthenticated, a request first).
                frame = authenticated ? RawConnection.Hello(ProtocolServer.StorefrontKey) : valid;
                expected = "handshake_required";
                break;
            case 6: // Truncated, then the client leaves: nothing to answer, nothing must break.
                frame = valid[..random.Next(1, valid.Length)];
                await raw.SendAsync(frame);
                return "truncated";
            case 7: // Random bytes as a body, with a correct length: only that request fails.
                var garbage = new byte[random.Next(0, 64)];
                random.NextBytes(garbage);
                frame = [.. valid[..10], .. garbage];
                BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)(6 + garbage.Length));
                expected = null;
                break;
            default: // Random bytes from the first byte.
                frame = new byte[random.Next(1, 200)];
                random.NextBytes(frame);
                await raw.SendAsync(frame);
                return "random";
        }
        await raw.SendAsync(frame);
        var (type, id, body) = await raw.ReceiveAsync();
        if (expected is null && authenticated)
        {
            // Only that request fails (or, by chance, the bytes parsed as [sku] and it was answered): the connection stays.
            Assert.Equal(7u, id);
            await raw.SendAsync(RawConnection.Frame(FrameType.GetItem, 8, 1L, MessageCodec.WriteSku));
            Assert.Equal((FrameType.GetItem | FrameType.Answer, 8u), ((await raw.ReceiveAsync()) is var (t, i, _) ? (t, i) : default));
            return "request_failed_connection_kept";
        }
        // Before the handshake, anything that is a frame but not Hello is refused as such.
        if (!authenticated && expected is null or "unknown_frame_type" or "bad_request_id") expected = "handshake_required";
        Assert.NotNull(expected);
        Assert.Equal((FrameType.Error, 0u, expected), (type, id, RawConnection.Problem(body).Code));
        Assert.True(await raw.ClosedAsync(), "the connection is closed after a protocol error");
        return expected;
    }
}
