using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Wildberries.Host.Tests;

/// <summary>/metrics is OpenTelemetry's Prometheus exporter over the engine's, the host's and the runtime's meters.</summary>
public class TelemetryTests
{
    [Fact]
    public async Task Metrics_are_scraped_from_OpenTelemetry_with_checkouts_commit_latency_buckets_and_runtime()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 1));
        Assert.Equal(HttpStatusCode.Created, (await server.CheckoutAsync("a", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } })).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await server.CheckoutAsync("b", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } })).StatusCode);
        var scrape = await server.Admin.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.StartsWith("text/plain", scrape.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var text = await scrape.Content.ReadAsStringAsync();

        // The engine's checkout counter (per shard) and the host's (as answered), by result.
        Assert.Equal(1, Sum(text, "wb_checkouts_total", "result=\"ok\""));
        Assert.Equal(1, Sum(text, "wb_checkouts_total", "result=\"insufficient_stock\""));
        Assert.Contains("wb_api_checkouts_total{result=\"ok\"} 1", text, StringComparison.Ordinal);
        // Requests are counted once, by ASP.NET Core's own metric (route and status), not again by the host.
        Assert.Matches("http_server_request_duration_seconds_count\\{http_request_method=\"POST\",http_response_status_code=\"201\",http_route=\"/v1/checkout\"[^}]*\\} 1\\b", text);
        Assert.DoesNotContain("wb_http_requests", text, StringComparison.Ordinal);
        Assert.Equal(1, Sum(text, "wb_reservations_live", ""));
        Assert.Contains("wb_engine_ready{} 1", text, StringComparison.Ordinal);
        // The commit latency histogram: the engine's bucket bounds (50 us to 1 s), cumulative, +Inf equal to the count.
        Assert.Matches("# TYPE wb_journal_commit_duration_seconds histogram", text);
        Assert.Matches("wb_journal_commit_duration_seconds_bucket\\{shard=\"[0-9]+\",le=\"5E-05\"\\} [0-9]+", text);
        Assert.Matches("wb_journal_commit_duration_seconds_bucket\\{shard=\"[0-9]+\",le=\"0.001\"\\} [0-9]+", text);
        var commits = Sum(text, "wb_journal_commit_duration_seconds_count", "");
        Assert.True(commits >= 3, $"{commits} commits");
        Assert.Equal(commits, Sum(text, "wb_journal_commit_duration_seconds_bucket", "le=\"+Inf\""));
        Assert.Equal(commits, Sum(text, "wb_journal_commits_total", ""));
        Assert.Matches("wb_journal_batch_size_bucket\\{shard=\"[0-9]+\",le=\"1\"\\} [1-9]", text);
        // Runtime, ASP.NET Core and Kestrel instrumentation.
        Assert.Matches("(?m)^dotnet_process_memory_working_set_bytes\\{\\} [1-9]", text);
        Assert.Matches("(?m)^dotnet_assembly_count\\{\\} [1-9]", text);
        Assert.Contains("http_server_request_duration_seconds_bucket{http_request_method=\"POST\",http_response_status_code=\"201\",http_route=\"/v1/checkout\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_server_exports_its_own_engine_and_requests_not_another_in_the_same_process()
    {
        await using var busy = await TestServer.StartAsync();
        await using var idle = await TestServer.StartAsync();
        await busy.SeedAsync(1, 100, (1, 5));
        Assert.Equal(HttpStatusCode.Created, (await busy.CheckoutAsync("a", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } })).StatusCode);
        var text = await idle.Admin.GetStringAsync("/metrics");
        Assert.Equal(0, Sum(text, "wb_checkouts_total", ""));
        Assert.Equal(0, Sum(text, "wb_reservations_live", ""));
        Assert.DoesNotContain("route=\"/v1/checkout\"", text, StringComparison.Ordinal);
        Assert.Equal(1, Sum(await busy.Admin.GetStringAsync("/metrics"), "wb_reservations_live", ""));
    }

    [Fact]
    public async Task Metrics_refuse_a_request_without_a_valid_key()
    {
        await using var server = await TestServer.StartAsync();
        foreach (var client in new[] { server.Anonymous, server.Client("not-a-key-at-all-0123456789") })
        {
            var refused = await client.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
            var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("unauthorized", problem.GetProperty("code").GetString());
            Assert.DoesNotContain("wb_", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.Equal(HttpStatusCode.OK, (await server.Storefront.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task The_Grafana_dashboard_is_valid_JSON_over_names_the_docs_list_and_the_server_exports()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "Wildberries.slnx"))) root = root.Parent ?? throw new InvalidOperationException("No Wildberries.slnx above the test binaries.");
        var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(root.FullName, "docs", "grafana-dashboard.json"), TestContext.Current.CancellationToken)).RootElement;
        var docs = await File.ReadAllTextAsync(Path.Combine(root.FullName, "docs", "telemetry.md"), TestContext.Current.CancellationToken);
        Assert.Contains(dashboard.GetProperty("templating").GetProperty("list").EnumerateArray(), v => v.GetProperty("type").GetString() == "datasource" && v.GetProperty("query").GetString() == "prometheus");
        var expressions = dashboard.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .ToList();
        var names = expressions.SelectMany(e => Regex.Matches(e, "\\b(?:wb|dotnet|http_server)_[a-z_]+").Select(m => Regex.Replace(m.Value, "_(bucket|sum|count)$", ""))).ToHashSet();
        Assert.True(names.Count >= 20, string.Join(", ", names));

        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        await server.CheckoutAsync("a", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } });
        var payment = Http.Api.WebhookBody("e1", "tx-1", "zzzzzzz", "succeeded", 100, "RUB");
        Assert.Equal(HttpStatusCode.OK, (await server.CallbackAsync(payment, TestServer.Sign(payment))).StatusCode);
        var scraped = await server.Admin.GetStringAsync("/metrics");
        foreach (var name in names)
        {
            if (name.StartsWith("wb_", StringComparison.Ordinal)) Assert.Contains($"`{name}`", docs, StringComparison.Ordinal);
            // Replication, Kafka publishing and the projection exist only on servers started with them; a counter
            // appears with its first measurement (no reservation expired here).
            if (Regex.IsMatch(name, "^wb_(replication|events|projection)_") || name == "wb_reservations_expired_total") continue;
            Assert.True(scraped.Contains($"# TYPE {name} ", StringComparison.Ordinal), $"{name} is not exported");
        }
    }

    /// <summary>The sum of a metric's samples whose labels contain <paramref name="label"/> (0 when there is none).</summary>
    private static double Sum(string text, string metric, string label) =>
        Regex.Matches(text, $"(?m)^{Regex.Escape(metric)}\\{{([^}}]*)\\}} (\\S+)$")
            .Where(m => m.Groups[1].Value.Contains(label, StringComparison.Ordinal))
            .Sum(m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
}
