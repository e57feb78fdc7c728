using Wildberries.Engine;
using Wildberries.Engine.Embedded;
using Wildberries.Engine.Journal;

namespace Wildberries.Protocol.Tests;

/// <summary>
/// One contract for <see cref="IReservationService"/>, run against each implementation: a service that switches
/// between the embedded engine and the client by configuration sees the same answers and the same problem codes.
/// </summary>
public abstract class ServiceContractTests
{
    protected abstract Task<(IReservationService Storefront, IReservationService Admin, IAsyncDisposable Owner)> StartAsync();

    [Fact]
    public async Task Reserve_read_cancel_and_refuse_with_the_same_codes()
    {
        var (storefront, admin, owner) = await StartAsync();
        await using var _ = owner;
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(10, (await admin.PutItemAsync(new ItemUpsert(8, "eight", 250, 10), ct)).MaxPerOrder);
        Assert.Equal("ok", Assert.Single(await admin.AdjustStockAsync(new StockBatch("test", [new StockAdjustment(8, 1, OnHand: 4)]), ct)).Result);

        var order = await storefront.CheckoutAsync(new CheckoutRequest("contract-1", "dora", [new CartLine(8, 3)]), ct);
        Assert.Equal(("PENDING_PAYMENT", 750L), (order.Status, order.Amount));
        Assert.Equal(order.OrderId, (await storefront.GetOrderAsync(order.OrderId, "dora", ct)).OrderId);
        Assert.Equal(1, Assert.Single(await storefront.GetAvailabilityAsync([8], ct)).Available);

        var shortage = await Assert.ThrowsAsync<ReservationException>(() => storefront.CheckoutAsync(new CheckoutRequest("contract-2", "dora", [new CartLine(8, 2)]), ct));
        Assert.Equal(("insufficient_stock", 409), (shortage.Code, shortage.Problem.Status));
        var missing = await Assert.ThrowsAsync<ReservationException>(() => storefront.GetOrderAsync(order.OrderId, "eve", ct));
        Assert.Equal("order_not_found", missing.Code);

        Assert.Equal("CANCELLED", (await storefront.CancelOrderAsync(order.OrderId, "dora", ct)).Status);
        Assert.Equal(4, (await storefront.GetItemAsync(8, ct)).Available);
        var notPaid = await Assert.ThrowsAsync<ReservationException>(() => admin.ShipOrderAsync(order.OrderId, ct));
        Assert.Equal(("invalid_state", 409), (notPaid.Code, notPaid.Problem.Status));
        Assert.Equal(8, Assert.Single((await storefront.ListItemsAsync(0, 10, ct)).Items).Sku);
    }
}

public sealed class EmbeddedServiceContractTests : ServiceContractTests
{
    protected override Task<(IReservationService Storefront, IReservationService Admin, IAsyncDisposable Owner)> StartAsync()
    {
        var engine = ReservationEngine.Start(new EngineOptions(), _ => new InMemoryJournal());
        var service = new EmbeddedReservationService(engine);
        return Task.FromResult<(IReservationService, IReservationService, IAsyncDisposable)>((service, service, engine));
    }
}

public sealed class ClientServiceContractTests : ServiceContractTests
{
    protected override async Task<(IReservationService Storefront, IReservationService Admin, IAsyncDisposable Owner)> StartAsync()
    {
        var server = await ProtocolServer.StartAsync();
        var storefront = server.Client(ProtocolServer.StorefrontKey);
        var admin = server.Client(ProtocolServer.AdminKey);
        return (storefront, admin, new Owner(server, storefront, admin));
    }

    private sealed class Owner(params IAsyncDisposable[] owned) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var o in owned.Reverse()) await o.DisposeAsync();
        }
    }
}
