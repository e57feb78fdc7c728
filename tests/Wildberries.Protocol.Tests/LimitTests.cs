using System.Text.Json;
using MessagePack;
using Microsoft.AspNetCore.Http;
using Wildberries.Testing;

namespace Wildberries.Protocol.Tests;

/// <summary>The connection limits of docs/protocol.md: requests in flight (backpressure) and the handshake's deadline.</summary>
public class LimitTests
{
    [Fact]
    public async Task Beyond_the_in_flight_limit_the_server_reads_nothing_until_a_request_finishes()
    {
        // A payment provider that holds the first two sessions until told: two checkouts stay in flight.
        var held = 0;
        var twoHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (acquirer, url) = await FakeAcquirer.StartAsync(async (_, body) =>
        {
            var order = JsonDocument.Parse(body).RootElement.GetProperty("orderId").GetString();
            if (Interlocked.Increment(ref held) == 2) twoHeld.SetResult();
            await release.Task;
            return Results.Json(new { sessionId = "acq_" + order, paymentUrl = "https://pay.example/acq_" + order });
        });
        await using var _ = acquirer;
        await using var server = await ProtocolServer.StartAsync(null, 0,
            "--payment-provider-url", url, "--payment-provider-secret", "acquirer-secret-0123456789", "--Wildberries:TcpInFlightMax", "2");
        await using (var admin = server.Client(ProtocolServer.AdminKey))
        {
            await admin.PutItemAsync(new ItemUpsert(1, "one", 100, 10), TestContext.Current.CancellationToken);
            await admin.AdjustStockAsync(new StockBatch("test", [new StockAdjustment(1, 1, OnHand: 10)]), TestContext.Current.CancellationToken);
        }

        using var raw = await RawConnection.ConnectAsync(server.Tcp, ProtocolServer.StorefrontKey);
        // Two checkouts (held at the provider), then a read answered from memory, in one write.
        await raw.SendAsync([
            .. RawConnection.Frame(FrameType.Checkout, 1, new CheckoutRequest("a", "c", [new CartLine(1, 1)]), MessageCodec.WriteCheckout),
            .. RawConnection.Frame(FrameType.Checkout, 2, new CheckoutRequest("b", "c", [new CartLine(1, 1)]), MessageCodec.WriteCheckout),
            .. RawConnection.Frame(FrameType.Availability, 3, (IReadOnlyList<long>)[1L], MessageCodec.WriteSkus),
        ]);
        await twoHeld.Task;
        // Without the limit the read would have been dispatched with the checkouts and answered first, before this.
        release.SetResult();
        var answered = new List<uint>();
        for (var i = 0; i < 3; i++) answered.Add((await raw.ReceiveAsync()).Id);
        Assert.NotEqual(3u, answered[0]);
        Assert.Equal([1u, 2u, 3u], answered.Order());
    }

    [Fact]
    public async Task A_connection_that_never_says_hello_gets_handshake_timeout_and_is_closed()
    {
        await using var server = await ProtocolServer.StartAsync();
        using var raw = await RawConnection.ConnectAsync(server.Tcp);
        var (type, id, body) = await raw.ReceiveAsync();
        Assert.Equal((FrameType.Error, 0u), (type, id));
        Assert.Equal("handshake_timeout", RawConnection.Problem(body).Code);
        Assert.True(await raw.ClosedAsync());
    }

    [Fact]
    public async Task The_configured_availability_limit_bounds_the_protocol_as_it_does_http()
    {
        await using var server = await ProtocolServer.StartAsync(extra: ["--availability-skus-max", "3"]);
        await using var storefront = server.Client(ProtocolServer.StorefrontKey);
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(3, (await storefront.GetAvailabilityAsync([1, 2, 3], ct)).Count);
        var refused = await Assert.ThrowsAsync<ReservationException>(() => storefront.GetAvailabilityAsync([1, 2, 3, 4], ct));
        Assert.Equal(("invalid_argument", "skus"), (refused.Code, refused.Problem.Field));
    }
}
