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

public class OpenApiLimitsTests
{
    [Fact]
    public async Task The_OpenAPI_document_states_the_configured_limits_not_their_defaults()
    {
        await using var server = await TestServer.StartAsync("--idempotency-key-length-max", "100", "--availability-skus-max", "50", "--body-bytes-max", "2048");
        var paths = JsonDocument.Parse(await server.Storefront.GetStringAsync("/openapi/v1.json")).RootElement.GetProperty("paths");
        var checkout = paths.GetProperty("/v1/checkout").GetProperty("post");
        var key = checkout.GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "Idempotency-Key");
        Assert.StartsWith("1 to 100 printable ASCII characters (--idempotency-key-length-max, default 255)", key.GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Contains("larger than 2048 bytes (--body-bytes-max, default 65536)", checkout.GetProperty("responses").GetProperty("413").GetProperty("description").GetString(), StringComparison.Ordinal);

        var availability = paths.GetProperty("/v1/catalog/availability").GetProperty("get");
        Assert.Equal("Available counts of up to 50 SKUs", availability.GetProperty("summary").GetString());
        // The handler's own parameter gets the description, listed once.
        var skus = Assert.Single(availability.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "skus");
        Assert.Equal("Comma-separated SKUs, 1 to 50 (--availability-skus-max, default 1000).", skus.GetProperty("description").GetString());
    }
}

/// <summary>The history query's fields are checked before the history is asked (here: none, no --postgres), by the check the binary protocol shares.</summary>
public class HistoryQueryTests
{
    [Theory]
    [InlineData("/v1/orders?limit=0", "alice", "limit")]
    [InlineData("/v1/orders?limit=abc", "alice", "limit")]
    [InlineData("/v1/orders?limit=101", "alice", "limit")]
    [InlineData("/v1/orders?before=not*an*id", "alice", "before")]
    [InlineData("/v1/orders", null, "X-Customer-Id")]
    public async Task A_bad_history_query_is_400_with_its_field_before_the_history_is_asked(string path, string? customer, string field)
    {
        await using var server = await TestServer.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (customer is not null) request.Headers.Add("X-Customer-Id", customer);
        using var answer = await server.Storefront.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, answer.StatusCode);
        var problem = JsonDocument.Parse(await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal(("invalid_argument", field), (problem.GetProperty("code").GetString(), problem.GetProperty("field").GetString()));
    }

    [Fact]
    public async Task A_good_history_query_without_postgres_is_503_history_unavailable()
    {
        await using var server = await TestServer.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/orders?limit=5");
        request.Headers.Add("X-Customer-Id", "alice");
        using var answer = await server.Storefront.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, answer.StatusCode);
    }
}
