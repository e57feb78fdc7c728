using System.Text.Json;

namespace Wildberries.Host.Tests;

public class OpenApiTests
{
    [Fact]
    public async Task The_OpenAPI_document_describes_the_API()
    {
        await using var server = await TestServer.StartAsync();
        var document = JsonDocument.Parse(await server.Storefront.GetStringAsync("/openapi/v1.json")).RootElement;
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        foreach (var path in new[] { "/v1/checkout", "/v1/orders/{orderId}", "/v1/payments/callback", "/v1/admin/stock", "/v1/catalog/availability" })
        {
            Assert.Contains(path, paths);
        }
        var checkout = document.GetProperty("paths").GetProperty("/v1/checkout").GetProperty("post");
        Assert.True(checkout.GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(checkout.GetProperty("responses").TryGetProperty("409", out _));
    }
}

public class MetricsTests
{
    [Fact]
    public async Task Metrics_expose_requests_outcomes_reservations_and_commit_latency()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 1));
        await server.CheckoutAsync("a", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } });
        await server.CheckoutAsync("b", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } });
        var text = await server.Admin.GetStringAsync("/metrics");
        Assert.Matches("wb_checkouts_total\\{result=\"ok\",shard=\"[0-9]+\"\\} 1", text);
        Assert.Matches("wb_checkouts_total\\{result=\"insufficient_stock\",shard=\"[0-9]+\"\\} 1", text);
        Assert.Matches("wb_reservations_live\\{shard=\"[0-9]+\"\\} 1", text);
        // Requests are counted once, by ASP.NET Core's own metric (route and status), not again by the host.
        Assert.Matches("http_server_request_duration_seconds_count\\{http_request_method=\"POST\",http_response_status_code=\"201\",http_route=\"/v1/checkout\"[^}]*\\} 1\\b", text);
        Assert.DoesNotContain("wb_http_requests", text, StringComparison.Ordinal);
        Assert.Matches("wb_journal_commit_duration_seconds_count\\{shard=\"[0-9]+\"\\} [1-9]", text);
    }
}
