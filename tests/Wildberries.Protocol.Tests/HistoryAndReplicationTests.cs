using System.Buffers;
using Wildberries.Client;

namespace Wildberries.Protocol.Tests;

/// <summary>The order history and the admin replication operations over the protocol, as over HTTP.</summary>
public class HistoryAndReplicationTests
{
    private static T RoundTrip<T>(T value, BodyWriter<T> write, BodyReader<T> read)
    {
        var buffer = new ArrayBufferWriter<byte>();
        MessageCodec.Encode(buffer, value, write);
        return MessageCodec.Decode(new ReadOnlySequence<byte>(buffer.WrittenMemory), read);
    }

    [Fact]
    public void History_pages_and_replication_status_survive_the_codec()
    {
        var order = new Order("1-7", "PAID", 300, "RUB", null, null, [new OrderLine(42, 3, 100, [new Allocation(1, 2), new Allocation(2, 1)])]);
        var page = RoundTrip(new OrderPage([order, order with { OrderId = "1-6" }], "1-6"), MessageCodec.WriteOrderPage, MessageCodec.ReadOrderPage);
        Assert.Equal(("1-7", "1-6", "1-6"), (page.Orders[0].OrderId, page.Orders[1].OrderId, page.Next));
        Assert.Equal(order.Lines[0].Allocations, page.Orders[0].Lines[0].Allocations);
        var query = RoundTrip(new OrderHistoryQuery("alice", null, 7), MessageCodec.WriteHistoryQuery, MessageCodec.ReadHistoryQuery);
        Assert.Equal(new OrderHistoryQuery("alice", null, 7), query);
        var status = new ShardReplication(1, "standby", "replicated", 3, "standby", 99, 4, 12.5, 2, "late", "00000000deadbeef", 95);
        Assert.Equal(status, Assert.Single(RoundTrip((IReadOnlyList<ShardReplication>)[status], MessageCodec.WriteReplication, MessageCodec.ReadReplication)));
    }

    [Fact]
    public async Task Without_postgres_and_replication_they_refuse_as_http_does()
    {
        await using var server = await ProtocolServer.StartAsync();
        await using var admin = server.Client(ProtocolServer.AdminKey);
        await using var storefront = new ReservationClient(new ReservationClientOptions { Endpoint = server.Tcp, ApiKey = ProtocolServer.StorefrontKey, AttemptsMax = 1 });
        var ct = TestContext.Current.CancellationToken;

        // Bad input first, whatever the server has; then the history's own refusal.
        var noLimit = await Assert.ThrowsAsync<ReservationException>(() => storefront.ListOrdersAsync(new OrderHistoryQuery("alice", null, 0), ct));
        Assert.Equal(("invalid_argument", "limit"), (noLimit.Code, noLimit.Problem.Field));
        var badCursor = await Assert.ThrowsAsync<ReservationException>(() => storefront.ListOrdersAsync(new OrderHistoryQuery("alice", "not-an-order"), ct));
        Assert.Equal(("invalid_argument", "before"), (badCursor.Code, badCursor.Problem.Field));
        var unavailable = await Assert.ThrowsAsync<ReservationException>(() => storefront.ListOrdersAsync(new OrderHistoryQuery("alice"), ct));
        Assert.Equal(("history_unavailable", 503), (unavailable.Code, unavailable.Problem.Status));

        // A server that does not replicate reports no shards, and is no standby to promote.
        Assert.Empty(await admin.GetReplicationAsync(ct));
        var promote = await Assert.ThrowsAsync<ReservationException>(() => admin.PromoteAsync(ct));
        Assert.Equal(("not_standby", 409), (promote.Code, promote.Problem.Status));

        // Roles as over HTTP: the history is the storefront's, replication the admin's.
        Assert.Equal("forbidden", (await Assert.ThrowsAsync<ReservationException>(() => storefront.GetReplicationAsync(ct))).Code);
        Assert.Equal("forbidden", (await Assert.ThrowsAsync<ReservationException>(() => admin.ListOrdersAsync(new OrderHistoryQuery("alice"), ct))).Code);
    }
}
