using System.Net;
using System.Text.Json;
using Wildberries.Core;

namespace Wildberries.Host.Tests;

/// <summary>The server with two shards: the README walk-through, orders at home on their stock's shard.</summary>
public class ShardedServerTests
{
    private static async Task<JsonElement> Json(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task Two_shards_serve_the_walk_through_and_a_cart_spanning_them()
    {
        await using var server = await TestServer.StartAsync("--shards", "2");
        Assert.Equal(2, server.Engine.ShardCount);
        long[] skus = [.. Enumerable.Range(1, 100).Select(i => (long)i).Where(s => ShardRouter.ShardOf(s, 2) == 1).Take(1)
            .Concat(Enumerable.Range(1, 100).Select(i => (long)i).Where(s => ShardRouter.ShardOf(s, 2) == 0).Take(1))];
        foreach (var sku in skus) await server.SeedAsync(sku, 100, (1, 5));

        foreach (var (sku, i) in skus.Select((s, i) => (s, i)))
        {
            var created = await Json(await server.CheckoutAsync($"k{i}", new { customerId = "alice", lines = new[] { new { sku, qty = 2 } } }));
            var id = created.GetProperty("orderId").GetString()!;
            Assert.True(OrderId.TryParse(id, out var orderId));
            Assert.Equal(ShardRouter.ShardOf(sku, 2), orderId.Shard);
            var pay = new Uri(created.GetProperty("paymentUrl").GetString()!).AbsolutePath;
            Assert.Contains("PAID", await (await server.Anonymous.PostAsync(pay + "/pay", null)).Content.ReadAsStringAsync(), StringComparison.Ordinal);
            using var get = new HttpRequestMessage(HttpMethod.Get, $"/v1/orders/{id}");
            get.Headers.Add("X-Customer-Id", "alice");
            Assert.Equal("PAID", (await Json(await server.Storefront.SendAsync(get))).GetProperty("status").GetString());
            Assert.Equal("FULFILLED", (await Json(await server.Admin.PostAsync($"/v1/admin/orders/{id}/ship", null))).GetProperty("status").GetString());
        }

        // One order over both shards: reserved on both, paid on both, one answer.
        var spanning = await server.CheckoutAsync("both", new { customerId = "bob", lines = skus.Select(sku => new { sku, qty = 1 }).ToArray() });
        Assert.Equal(HttpStatusCode.Created, spanning.StatusCode);
        var both = await Json(spanning);
        Assert.Equal(skus, both.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("sku").GetInt64()));
        Assert.Equal(200, both.GetProperty("amount").GetInt64());
        var payBoth = new Uri(both.GetProperty("paymentUrl").GetString()!).AbsolutePath;
        Assert.Contains("PAID", await (await server.Anonymous.PostAsync(payBoth + "/pay", null)).Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var audit = await server.Engine.AuditAsync();
        Assert.All(skus, sku => Assert.Equal((3L, 0L, 1L), audit.Rows.Where(r => r.Sku == sku).Select(r => (r.OnHand, r.Reserved, r.Committed)).Single()));
        var items = await Json(await server.Storefront.GetAsync("/v1/catalog/items?limit=10"));
        Assert.Equal(skus.Order(), items.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("sku").GetInt64()));
    }
}
