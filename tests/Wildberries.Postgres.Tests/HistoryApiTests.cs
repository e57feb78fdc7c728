using Npgsql;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Wildberries.Core;
using Wildberries.Testing;

namespace Wildberries.Postgres.Tests;

/// <summary>GET /v1/orders through the real server with --postgres: paging, isolation, evicted orders, bad input.</summary>
public sealed class HistoryApiTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string StorefrontKey = "pg-storefront-key-0123456789";

    [Fact]
    public async Task History_IsNewestFirst_PagesWithoutGapsOrDuplicates_ShowsOnlyTheCustomer_AndKeepsEvictedOrders()
    {
        var database = await postgres.CreateDatabaseAsync();
        var clock = new ManualClock();
        await using var server = await HistoryServer.StartAsync(["--postgres", database], clock);
        var engine = server.Engine;
        for (var sku = 1; sku <= 5; sku++)
        {
            await engine.UpsertItemAsync(sku, $"item {sku}", 100 * sku, maxPerOrder: 5);
            await engine.AdjustStockAsync(sku, 1, 1_000);
        }
        var mine = new List<string>();
        for (var i = 0; i < 45; i++)
        {
            // A second apart, so newest first is the reverse of this order.
            clock.Advance(TimeSpan.FromSeconds(1));
            var r = await engine.CheckoutAsync($"a{i}", "alice", [new CheckoutLine(1 + (i % 5), 1 + (i % 3))]);
            Assert.True(r.IsOk);
            mine.Add(r.OrderId.ToString());
            if (i < 5) Assert.True((await engine.CheckoutAsync($"b{i}", "bob", [new CheckoutLine(1, 1)])).IsOk);
        }
        // The first order ends now and is evicted from memory a day later (the engine keeps finished orders 24 hours).
        Assert.True((await engine.CancelAsync(Id(mine[0]))).IsOk);
        clock.Advance(TimeSpan.FromHours(25));
        await engine.TickAsync();
        Assert.Null(await engine.GetOrderAsync(Id(mine[0])));
        using (var gone = await server.Get($"/v1/orders/{mine[0]}", "alice")) Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);

        // Every page, until the projection has them all (it is asynchronous, and creates its tables as it starts: until
        // then the history answers 503 history_database_unavailable, which a fast engine's 45 checkouts can beat).
        List<JsonElement> seen = [];
        for (var attempt = 0; ; attempt++)
        {
            using (var first = await server.Get("/v1/orders?limit=1", "alice"))
            {
                if (first.StatusCode == HttpStatusCode.ServiceUnavailable && attempt <= 300)
                {
                    await Task.Delay(100, TestContext.Current.CancellationToken);
                    continue;
                }
            }
            seen = await AllPagesAsync(server, "alice", 7);
            if (seen.Count == mine.Count && seen.Any(o => o.GetProperty("status").GetString() == "CANCELLED") || attempt > 300) break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        var ids = seen.Select(o => o.GetProperty("orderId").GetString()!).ToList();
        Assert.Equal(Enumerable.Reverse(mine), ids);
        var evicted = seen.Single(o => o.GetProperty("orderId").GetString() == mine[0]);
        Assert.Equal("CANCELLED", evicted.GetProperty("status").GetString());
        Assert.Equal(1, evicted.GetProperty("lines").GetArrayLength());
        Assert.Equal(100, evicted.GetProperty("lines")[0].GetProperty("price").GetInt64());

        var bobs = await AllPagesAsync(server, "bob", 100);
        Assert.Equal(5, bobs.Count);
        Assert.DoesNotContain(bobs, o => mine.Contains(o.GetProperty("orderId").GetString()!));

        // One page of the default size, and its cursor.
        using (var first = await server.Get("/v1/orders", "alice"))
        {
            var body = await first.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
            Assert.Equal(20, body.GetProperty("orders").GetArrayLength());
            Assert.Equal(ids[19], body.GetProperty("next").GetString());
        }
        using (var last = await server.Get($"/v1/orders?before={ids[^2]}", "alice"))
        {
            var body = await last.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
            Assert.Equal(JsonValueKind.Null, body.GetProperty("next").ValueKind);
        }

        await AssertInvalid(server, "/v1/orders?limit=0", "limit");
        await AssertInvalid(server, "/v1/orders?limit=101", "limit");
        await AssertInvalid(server, "/v1/orders?limit=abc", "limit");
        await AssertInvalid(server, "/v1/orders?before=not*an*id", "before");
        // Bob's order is no cursor for Alice.
        await AssertInvalid(server, $"/v1/orders?before={bobs[0].GetProperty("orderId").GetString()}", "before");
    }

    [Fact]
    public async Task History_WithPostgresDown_Answers503()
    {
        var database = await postgres.CreateDatabaseAsync();
        await using var server = await HistoryServer.StartAsync(["--postgres", database], TimeProvider.System);
        await postgres.Server.StopAsync(TestContext.Current.CancellationToken);
        try
        {
            using var answer = await server.Get("/v1/orders", "alice");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
            var problem = await answer.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
            Assert.Equal("history_database_unavailable", problem.GetProperty("code").GetString());
        }
        finally
        {
            await postgres.Server.StartAsync(TestContext.Current.CancellationToken);
            NpgsqlConnection.ClearAllPools();
        }
    }

    private static async Task<List<JsonElement>> AllPagesAsync(HistoryServer server, string customer, int limit)
    {
        var all = new List<JsonElement>();
        string? next = null;
        do
        {
            using var answer = await server.Get($"/v1/orders?limit={limit}" + (next is null ? "" : $"&before={next}"), customer);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            var body = await answer.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
            var page = body.GetProperty("orders").EnumerateArray().ToList();
            Assert.True(page.Count <= limit);
            all.AddRange(page);
            next = body.GetProperty("next").GetString();
        }
        while (next is not null);
        return all;
    }

    private static OrderId Id(string text) => OrderId.TryParse(text, out var id) ? id : throw new ArgumentException(text);

    private static async Task AssertInvalid(HistoryServer server, string path, string field)
    {
        using var answer = await server.Get(path, "alice");
        Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
        var problem = await answer.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal("invalid_argument", problem.GetProperty("code").GetString());
        Assert.Equal(field, problem.GetProperty("field").GetString());
    }
}

/// <summary>Without --postgres there is no history, and the answer says how to get one.</summary>
public sealed class HistoryWithoutPostgresTests
{
    [Fact]
    public async Task History_WithoutPostgres_Answers503HistoryUnavailable()
    {
        await using var server = await HistoryServer.StartAsync([], TimeProvider.System);
        using var answer = await server.Get("/v1/orders", "alice");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        var problem = await answer.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal("history_unavailable", problem.GetProperty("code").GetString());
        Assert.Contains("--postgres", problem.GetProperty("title").GetString(), StringComparison.Ordinal);
    }
}

/// <summary>The real server in-process on a loopback port with a fresh data directory: the one way these tests start it.</summary>
internal sealed class HistoryServer : IAsyncDisposable
{
    private const string StorefrontKey = "pg-storefront-key-0123456789";
    private readonly InProcessServer _server;
    private readonly HttpClient _client;

    private HistoryServer(InProcessServer server)
    {
        _server = server;
        _client = server.Client(StorefrontKey);
    }

    public Wildberries.Engine.ReservationEngine Engine => _server.Engine;

    public static async Task<HistoryServer> StartAsync(string[] extra, TimeProvider time) =>
        new(await InProcessServer.StartAsync("wb-pg-server-",
            ["--storefront-key", StorefrontKey, "--admin-key", "pg-admin-key-0123456789abcdef", "--webhook-secret", "pg-webhook-secret-0123456", .. extra], time));

    public Task<HttpResponseMessage> Get(string path, string customer)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("X-Customer-Id", customer);
        return _client.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }
}
