using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Wildberries.Host;
using Wildberries.Testing;

namespace Wildberries.Kafka.Tests;

/// <summary>
/// The seed's loop over a real network path: the server with <c>--kafka-bootstrap</c> pointing at the mock cluster in
/// another process; a checkout paid through the sandbox page yields an OrderPaid CloudEvent on wb.events, readable
/// with kcat, carrying the order's data.
/// </summary>
public class HostPublishingTests(ITestOutputHelper output)
{
    [Fact(Timeout = 120_000)]
    public async Task A_checkout_paid_through_the_sandbox_yields_OrderPaid_on_wb_events()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var kcat = Tools.Find("kcat") ?? throw new InvalidOperationException("kcat is not installed: run scripts/install-deps.sh (Debian's kcat).");
        await using var kafka = await KafkaMockCluster.StartAsync(brokers: 1, cancellationToken: cancellation);
        await kafka.CreateTopicAsync("wb.events", partitions: 3, cancellationToken: cancellation);
        await using var server = await PublishingServer.StartAsync(kafka.Bootstrap);
        var (admin, storefront, browser) = (server.Admin, server.Storefront, server.Browser);
        (await admin.PutAsync("/v1/admin/items/42", Body(new { name = "kettle", price = 1990, maxPerOrder = 5 }), cancellation)).EnsureSuccessStatusCode();
        (await admin.PostAsync("/v1/admin/stock", Body(new { reason = "receipt", adjustments = new[] { new { sku = 42, warehouseId = 1, onHand = 10 } } }), cancellation)).EnsureSuccessStatusCode();
        using var checkout = new HttpRequestMessage(HttpMethod.Post, "/v1/checkout") { Content = Body(new { customerId = "alice", lines = new[] { new { sku = 42, qty = 2 } } }) };
        checkout.Headers.Add("Idempotency-Key", "kafka-1");
        var created = JsonDocument.Parse(await (await storefront.SendAsync(checkout, cancellation)).Content.ReadAsStringAsync(cancellation)).RootElement;
        var orderId = created.GetProperty("orderId").GetString()!;
        var pay = new Uri(created.GetProperty("paymentUrl").GetString()!).AbsolutePath + "/pay";
        Assert.Contains("PAID", await (await browser.PostAsync(pay, null, cancellation)).Content.ReadAsStringAsync(cancellation), StringComparison.Ordinal);

        // kcat reads the topic from the beginning until the OrderPaid of this order is there (bounded).
        JsonElement? paid = null;
        var watch = Stopwatch.StartNew();
        while (paid is null && watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            foreach (var line in await Kcat(kcat, kafka.Bootstrap, cancellation))
            {
                var e = JsonDocument.Parse(line).RootElement;
                if (e.GetProperty("type").GetString() == "OrderPaid" && e.GetProperty("data").GetProperty("orderId").GetString() == orderId) paid = e;
            }
        }
        Assert.NotNull(paid);
        var order = paid.Value.GetProperty("data");
        Assert.Equal(("alice", 3980L, "PAID"), (order.GetProperty("customerId").GetString(), order.GetProperty("amount").GetInt64(), order.GetProperty("status").GetString()));
        Assert.Equal(42, order.GetProperty("lines")[0].GetProperty("sku").GetInt64());
        Assert.Equal("1.0", paid.Value.GetProperty("specversion").GetString());

        var ready = JsonDocument.Parse(await browser.GetStringAsync("/health/ready", cancellation)).RootElement;
        Assert.True(ready.GetProperty("events").TryGetProperty("lagEntries", out _));
        Assert.Contains("wb_events_lag_seconds{shard=\"0\"}", await admin.GetStringAsync("/metrics", cancellation), StringComparison.Ordinal);
    }

    private static StringContent Body(object body) => PublishingServer.Body(body);

    private async Task<string[]> Kcat(string kcat, string bootstrap, CancellationToken cancellation)
    {
        var (_, lines, error) = await KafkaClients.KcatReadAllAsync(kcat, bootstrap, "wb.events", "%s\\n", TimeSpan.FromSeconds(20), cancellation);
        output.WriteLine($"kcat: {lines.Length} events; stderr: {error}");
        return lines;
    }
}
