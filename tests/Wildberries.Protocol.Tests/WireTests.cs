using Microsoft.AspNetCore.Http;
using Wildberries.Testing;
using MessagePack;

namespace Wildberries.Protocol.Tests;

/// <summary>The protocol by hand: pipelining, the handshake and roles, partial frames.</summary>
public class WireTests
{
    private static async Task SeedAsync(ProtocolServer server, long sku, long onHand)
    {
        await using var admin = server.Client(ProtocolServer.AdminKey);
        await admin.PutItemAsync(new ItemUpsert(sku, $"item {sku}", 100, 10), TestContext.Current.CancellationToken);
        await admin.AdjustStockAsync(new StockBatch("test", [new StockAdjustment(sku, 1, OnHand: onHand)]), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Pipelined_requests_are_answered_as_they_complete_not_in_order()
    {
        // The checkout's answer waits for the payment provider, which this test holds until the 50 availability reads
        // sent behind the checkout, in the same write, have all been answered: answered in request order, the reads
        // would wait for the checkout and the test would hang on its first read (cancelled by the test's timeout).
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (acquirer, url) = await FakeAcquirer.StartAsync(async (_, _) =>
        {
            await release.Task;
            return Results.Json(new { sessionId = "acq_1", paymentUrl = "https://pay.example/acq_1" });
        });
        await using var _ = acquirer;
        await using var server = await ProtocolServer.StartAsync(extra: ["--payment-provider-url", url, "--payment-provider-secret", "acquirer-secret-0123456789"]);
        await SeedAsync(server, 1, 1_000);
        using var raw = await RawConnection.ConnectAsync(server.Tcp, ProtocolServer.StorefrontKey);
        var bytes = new List<byte>(RawConnection.Frame(FrameType.Checkout, 1, new CheckoutRequest("k", "c", [new CartLine(1, 1)]), MessageCodec.WriteCheckout));
        for (uint id = 2; id <= 51; id++) bytes.AddRange(RawConnection.Frame(FrameType.Availability, id, (IReadOnlyList<long>)[1L], MessageCodec.WriteSkus));
        await raw.SendAsync([.. bytes]);
        var reads = new List<uint>();
        for (var i = 0; i < 50; i++)
        {
            var (type, id, _) = await raw.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
            Assert.Equal(FrameType.Availability | FrameType.Answer, type);
            reads.Add(id);
        }
        Assert.Equal(Enumerable.Range(2, 50).Select(i => (uint)i), reads.Order());
        release.SetResult();
        var (checkoutType, checkoutId, body) = await raw.ReceiveAsync();
        Assert.Equal((FrameType.Checkout | FrameType.Answer, 1u), (checkoutType, checkoutId));
        Assert.Equal("PENDING_PAYMENT", RawConnection.Decode(body, MessageCodec.ReadOrder).Status);
    }

    [Fact]
    public async Task Keys_and_roles_are_those_of_http()
    {
        await using var server = await ProtocolServer.StartAsync();
        var item = RawConnection.Frame(FrameType.PutItem, 1, new ItemUpsert(1, "x", 1), MessageCodec.WriteItemUpsert);
        var get = RawConnection.Frame(FrameType.GetItem, 2, 1L, MessageCodec.WriteSku);

        // No Hello: the first request is refused and the connection closed.
        using (var none = await RawConnection.ConnectAsync(server.Tcp))
        {
            await none.SendAsync(get);
            var (type, id, body) = await none.ReceiveAsync();
            Assert.Equal((FrameType.Error, 0u, "handshake_required"), (type, id, RawConnection.Problem(body).Code));
            Assert.True(await none.ClosedAsync());
        }

        // A wrong key: 401 unauthorized, closed.
        using (var wrong = await RawConnection.ConnectAsync(server.Tcp))
        {
            await wrong.SendAsync(RawConnection.Hello("not-a-key-of-this-server"));
            var (type, _, body) = await wrong.ReceiveAsync();
            Assert.Equal((FrameType.Error, "unauthorized", 401), (type, RawConnection.Problem(body).Code, RawConnection.Problem(body).Status));
            Assert.True(await wrong.ClosedAsync());
        }

        // A storefront key on an admin operation: 403 for that request; the connection goes on.
        using (var storefront = await RawConnection.ConnectAsync(server.Tcp, ProtocolServer.StorefrontKey))
        {
            await storefront.SendAsync(item);
            var (type, id, body) = await storefront.ReceiveAsync();
            Assert.Equal((FrameType.Error, 1u, "forbidden", 403), (type, id, RawConnection.Problem(body).Code, RawConnection.Problem(body).Status));
            await storefront.SendAsync(get);
            var (_, answered, problem) = await storefront.ReceiveAsync();
            Assert.Equal((2u, "unknown_sku"), (answered, RawConnection.Problem(problem).Code));
        }

        // An admin key on a storefront operation: 403 too, as over HTTP (roles are not ranks).
        using (var admin = await RawConnection.ConnectAsync(server.Tcp, ProtocolServer.AdminKey))
        {
            await admin.SendAsync(get);
            var (_, _, body) = await admin.ReceiveAsync();
            Assert.Equal("forbidden", RawConnection.Problem(body).Code);
            await admin.SendAsync(item);
            var (type, _, _) = await admin.ReceiveAsync();
            Assert.Equal(FrameType.PutItem | FrameType.Answer, type);
        }
    }

    [Fact]
    public async Task A_frame_sent_one_byte_at_a_time_is_served()
    {
        await using var server = await ProtocolServer.StartAsync();
        await SeedAsync(server, 3, 7);
        using var raw = await RawConnection.ConnectAsync(server.Tcp);
        byte[] bytes = [.. RawConnection.Hello(ProtocolServer.StorefrontKey), .. RawConnection.Frame(FrameType.GetItem, 9, 3L, MessageCodec.WriteSku)];
        foreach (var b in bytes) await raw.SendAsync([b]);
        Assert.Equal(FrameType.Welcome, (await raw.ReceiveAsync()).Type);
        var (type, id, body) = await raw.ReceiveAsync();
        Assert.Equal((FrameType.GetItem | FrameType.Answer, 9u), (type, id));
        Assert.Equal(7, RawConnection.Decode(body, MessageCodec.ReadItemDetail).Available);
    }

    [Fact]
    public async Task A_body_of_the_wrong_shape_fails_its_request_only()
    {
        await using var server = await ProtocolServer.StartAsync();
        using var raw = await RawConnection.ConnectAsync(server.Tcp, ProtocolServer.StorefrontKey);
        await raw.SendAsync(RawConnection.Frame(FrameType.GetItem, 4, "not an array", static (ref MessagePackWriter w, string s) => w.Write(s)));
        var (type, id, body) = await raw.ReceiveAsync();
        Assert.Equal((FrameType.Error, 4u, "invalid_argument"), (type, id, RawConnection.Problem(body).Code));
        // Hostile shapes: a string claiming more bytes than there are, an array claiming more elements, a map, nil,
        // an integer too large for its field. Each fails its request; the connection goes on.
        byte[][] hostile = [[0x92, 0x01, 0xA5, 0x61], [0x9F, 0x01], [0x81, 0x01, 0x02], [0xC0], [0x91, 0xCF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], [0x91, 0xDB, 0x7F, 0xFF, 0xFF, 0xFF]];
        for (var i = 0; i < hostile.Length; i++)
        {
            byte[] frame = [.. RawConnection.Frame(FrameType.GetItem, (uint)(100 + i), 1L, MessageCodec.WriteSku)[..10], .. hostile[i]];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)(6 + hostile[i].Length));
            await raw.SendAsync(frame);
            var (hostileType, hostileId, hostileBody) = await raw.ReceiveAsync();
            Assert.Equal((FrameType.Error, (uint)(100 + i), "invalid_argument"), (hostileType, hostileId, RawConnection.Problem(hostileBody).Code));
        }
        await raw.SendAsync(RawConnection.Frame(FrameType.GetItem, 5, 1L, MessageCodec.WriteSku));
        var (_, next, problem) = await raw.ReceiveAsync();
        Assert.Equal((5u, "unknown_sku"), (next, RawConnection.Problem(problem).Code));
    }

    [Fact]
    public async Task A_request_id_still_in_flight_cannot_be_reused()
    {
        await using var server = await ProtocolServer.StartAsync();
        await SeedAsync(server, 2, 10);
        using var raw = await RawConnection.ConnectAsync(server.Tcp, ProtocolServer.StorefrontKey);
        // One write: the second checkout is read while the first (journal, payment session) is still in flight.
        await raw.SendAsync([
            .. RawConnection.Frame(FrameType.Checkout, 3, new CheckoutRequest("d1", "c", [new CartLine(2, 1)]), MessageCodec.WriteCheckout),
            .. RawConnection.Frame(FrameType.Checkout, 3, new CheckoutRequest("d2", "c", [new CartLine(2, 1)]), MessageCodec.WriteCheckout)]);
        var frames = new List<(FrameType Type, uint Id, byte[] Body)>();
        try
        {
            while (true) frames.Add(await raw.ReceiveAsync());
        }
        catch (EndOfStreamException)
        {
            // Closed after the protocol error, as it must be.
        }
        var error = Assert.Single(frames, f => f.Id == 0);
        Assert.Equal((FrameType.Error, "duplicate_request_id"), (error.Type, RawConnection.Problem(error.Body).Code));
    }
}
