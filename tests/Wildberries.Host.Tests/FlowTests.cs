using System.Net;
using System.Text.Json;

namespace Wildberries.Host.Tests;

public class FlowTests
{
    private static async Task<JsonElement> Json(HttpResponseMessage r) =>
        JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task Checkout_sandbox_pay_ship_is_the_whole_happy_path()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(42, 199_00, (1, 3), (2, 5));

        var created = await server.CheckoutAsync("k1", new { customerId = "alice", lines = new[] { new { sku = 42, qty = 2 } }, warehouses = new[] { 1, 2 } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var order = await Json(created);
        var id = order.GetProperty("orderId").GetString()!;
        Assert.Equal("PENDING_PAYMENT", order.GetProperty("status").GetString());
        Assert.Equal(398_00, order.GetProperty("amount").GetInt64());
        Assert.Equal(1, order.GetProperty("lines")[0].GetProperty("allocations")[0].GetProperty("warehouseId").GetInt32());
        var paymentUrl = new Uri(order.GetProperty("paymentUrl").GetString()!);

        // The sandbox page, then its Pay button: a signed webhook goes over HTTP to the callback.
        var page = await server.Anonymous.GetStringAsync(paymentUrl.PathAndQuery);
        Assert.Contains("398.00 RUB", page, StringComparison.Ordinal);
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = server.Address };
        var paid = await noRedirect.PostAsync(paymentUrl.PathAndQuery + "/pay", null);
        Assert.Equal(HttpStatusCode.Redirect, paid.StatusCode);
        Assert.Contains("result=ok", paid.Headers.Location!.ToString(), StringComparison.Ordinal);

        using var get = new HttpRequestMessage(HttpMethod.Get, $"/v1/orders/{id}");
        get.Headers.Add("X-Customer-Id", "alice");
        Assert.Equal("PAID", (await Json(await server.Storefront.SendAsync(get))).GetProperty("status").GetString());

        var shipped = await server.Admin.PostAsync($"/v1/admin/orders/{id}/ship", null);
        Assert.Equal("FULFILLED", (await Json(shipped)).GetProperty("status").GetString());
        var item = await Json(await server.Storefront.GetAsync("/v1/catalog/items/42"));
        Assert.Equal(6, item.GetProperty("available").GetInt64());
    }

    [Fact]
    public async Task Decline_cancels_and_releases_the_stock()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(7, 500, (1, 2));
        var order = await Json(await server.CheckoutAsync("k1", new { customerId = "bob", lines = new[] { new { sku = 7, qty = 2 } } }));
        Assert.Equal(0, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/7"))).GetProperty("available").GetInt64());
        var path = new Uri(order.GetProperty("paymentUrl").GetString()!).PathAndQuery;
        await server.Anonymous.PostAsync(path + "/decline", null);
        Assert.Contains("CANCELLED", await server.Anonymous.GetStringAsync(path), StringComparison.Ordinal);
        Assert.Equal(2, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/7"))).GetProperty("available").GetInt64());
    }

    [Fact]
    public async Task Insufficient_stock_is_409_with_every_short_line()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 1));
        await server.SeedAsync(2, 100, (1, 5));
        var r = await server.CheckoutAsync("k1", new { customerId = "c", lines = new[] { new { sku = 1, qty = 2 }, new { sku = 2, qty = 1 } } });
        Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType!.MediaType);
        var body = await Json(r);
        Assert.Equal("insufficient_stock", body.GetProperty("code").GetString());
        var shortage = Assert.Single(body.GetProperty("shortages").EnumerateArray());
        Assert.Equal((1, 2, 1), (shortage.GetProperty("sku").GetInt64(), shortage.GetProperty("requested").GetInt32(), shortage.GetProperty("available").GetInt64()));
    }

    [Fact]
    public async Task Idempotency_same_body_same_order_other_body_422_and_concurrent_duplicates_make_one_order()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 10_000));
        var body = new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } };
        var first = await Json(await server.CheckoutAsync("same", body));
        var again = await Json(await server.CheckoutAsync("same", body));
        Assert.Equal(first.GetProperty("orderId").GetString(), again.GetProperty("orderId").GetString());
        // Even after the order was paid, the retry gets the first answer, byte for byte.
        var firstText = first.GetRawText();
        var path = new Uri(first.GetProperty("paymentUrl").GetString()!).PathAndQuery;
        await server.Anonymous.PostAsync(path + "/pay", null);
        var afterPaid = await server.CheckoutAsync("same", body);
        Assert.Equal(HttpStatusCode.Created, afterPaid.StatusCode);
        Assert.Equal(firstText, (await Json(afterPaid)).GetRawText());
        var other = await server.CheckoutAsync("same", new { customerId = "c", lines = new[] { new { sku = 1, qty = 2 } } });
        Assert.Equal((HttpStatusCode)422, other.StatusCode);

        // 100 keys x 20 parallel requests each: exactly 100 orders.
        var responses = await Task.WhenAll(Enumerable.Range(0, 100).SelectMany(k => Enumerable.Range(0, 20).Select(async _ =>
            await Json(await server.CheckoutAsync($"par-{k}", body)))));
        var ids = responses.Select(r => r.GetProperty("orderId").GetString()).ToHashSet();
        Assert.Equal(100, ids.Count);
        var left = (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64();
        Assert.Equal(10_000 - 1 - 100, left);
    }

    [Fact]
    public async Task Orders_are_visible_to_their_customer_only()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        var id = (await Json(await server.CheckoutAsync("k", new { customerId = "alice", lines = new[] { new { sku = 1, qty = 1 } } }))).GetProperty("orderId").GetString();
        foreach (var (customer, expected) in new[] { ("alice", HttpStatusCode.OK), ("mallory", HttpStatusCode.NotFound) })
        {
            using var get = new HttpRequestMessage(HttpMethod.Get, $"/v1/orders/{id}");
            get.Headers.Add("X-Customer-Id", customer);
            Assert.Equal(expected, (await server.Storefront.SendAsync(get)).StatusCode);
            using var cancel = new HttpRequestMessage(HttpMethod.Post, $"/v1/orders/{id}/cancel");
            cancel.Headers.Add("X-Customer-Id", "mallory");
            Assert.Equal(HttpStatusCode.NotFound, (await server.Storefront.SendAsync(cancel)).StatusCode);
        }
    }

    [Fact]
    public async Task A_stock_batch_answers_per_line_in_order_including_compare_and_set_misses()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 10));
        var body = new
        {
            reason = "cycle count",
            adjustments = new object[]
            {
                new { sku = 1, warehouseId = 1, delta = 5 },
                new { sku = 1, warehouseId = 1, onHand = 7, expectedOnHand = 10 },
                new { sku = 1, warehouseId = 1, onHand = 8, expectedOnHand = 15 },
                new { sku = 1, warehouseId = 2, delta = -1 },
            },
        };
        var results = (await Json(await server.Admin.PostAsync("/v1/admin/stock", TestServer.JsonBody(body)))).GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(["ok", "on_hand_mismatch", "ok", "on_hand_out_of_range"], results.Select(r => r.GetProperty("result").GetString()));
        Assert.Equal(15, results[1].GetProperty("onHand").GetInt64());
        Assert.Equal(8, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());
    }

    [Fact]
    public async Task Catalog_pages_by_key_and_answers_batch_availability()
    {
        await using var server = await TestServer.StartAsync();
        for (var sku = 1; sku <= 5; sku++) await server.SeedAsync(sku, 100 * sku, (1, sku));
        var page1 = await Json(await server.Storefront.GetAsync("/v1/catalog/items?limit=2"));
        Assert.Equal([1L, 2L], page1.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("sku").GetInt64()));
        var page2 = await Json(await server.Storefront.GetAsync($"/v1/catalog/items?after={page1.GetProperty("next").GetString()}&limit=2"));
        Assert.Equal([3L, 4L], page2.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("sku").GetInt64()));
        var availability = await Json(await server.Storefront.GetAsync("/v1/catalog/availability?skus=5,3,99"));
        Assert.Equal([5L, 3L, 0L], availability.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("available").GetInt64()));
        Assert.Equal(HttpStatusCode.BadRequest, (await server.Storefront.GetAsync("/v1/catalog/availability?skus=1,x")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Storefront.GetAsync("/v1/catalog/items/999")).StatusCode);
    }
}
