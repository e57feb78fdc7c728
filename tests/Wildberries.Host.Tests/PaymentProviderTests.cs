using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Wildberries.Host.Payments;
using Wildberries.Testing;

namespace Wildberries.Host.Tests;

public class PaymentProviderTests
{
    private static async Task<JsonElement> Json(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task An_unreachable_provider_gets_503_and_the_reservation_is_released()
    {
        // Port 1 on loopback: nothing listens, connections are refused at once.
        await using var server = await TestServer.StartAsync("--payment-provider-url", "http://127.0.0.1:1/", "--payment-provider-secret", "acquirer-secret-0123456789");
        await server.SeedAsync(1, 100, (1, 3));
        var r = await server.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 3 } } });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        var first = await r.Content.ReadAsStringAsync();
        Assert.Equal("payment_provider_unavailable", JsonDocument.Parse(first).RootElement.GetProperty("code").GetString());
        Assert.Equal(3, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());

        // Every replay of the key gets that first answer, not a 201 for an order that was cancelled.
        var replay = await server.CheckoutAsync("k", new { customerId = "c", lines = new[] { new { sku = 1, qty = 3 } } });
        Assert.Equal((HttpStatusCode.ServiceUnavailable, first), (replay.StatusCode, await replay.Content.ReadAsStringAsync()));
        Assert.Equal(3, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());

        // With a real provider the sandbox does not exist: nobody can pay through it.
        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.GetAsync("/sandbox/pay/ps_1")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.PostAsync("/sandbox/pay/ps_1/pay", null)).StatusCode);
    }

    private const string AcquirerSecret = "acquirer-secret-0123456789";

    private static Task<TestServer> StartServerAsync(string acquirerUrl) =>
        TestServer.StartAsync("--payment-provider-url", acquirerUrl, "--payment-provider-secret", AcquirerSecret);

    private static readonly object Cart = new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } };

    [Fact]
    public async Task A_provider_failing_twice_is_retried_with_one_idempotency_key_and_opens_one_session()
    {
        // Attempt 1: 503. Attempt 2: the session is created, but the answer is lost (500). Attempt 3: the provider
        // answers the session it has for that key. A retry with a different key would have opened a second session.
        var attempts = new List<(string? Key, bool SignatureOk)>();
        var sessions = new Dictionary<string, string>(StringComparer.Ordinal);
        var (acquirer, url) = await FakeAcquirer.StartAsync((http, body) =>
        {
            var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(AcquirerSecret), body));
            string key = http.Request.Headers["Idempotency-Key"]!;
            lock (attempts)
            {
                attempts.Add((key, http.Request.Headers["Signature"] == expected));
                if (attempts.Count == 1) return Task.FromResult(Results.StatusCode(503));
                if (!sessions.ContainsKey(key)) sessions[key] = $"acq_{sessions.Count + 1}";
                if (attempts.Count == 2) return Task.FromResult(Results.StatusCode(500));
                // Providers add fields to their answers: one we do not know must not break the checkout.
                return Task.FromResult(Results.Json(new { sessionId = sessions[key], paymentUrl = "https://pay.example/" + sessions[key], livemode = false, expiresAt = 1_900_000_000 }));
            }
        });
        await using var _ = acquirer;
        await using var server = await StartServerAsync(url);
        await server.SeedAsync(1, 100, (1, 3));
        var r = await server.CheckoutAsync("k", Cart);
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var body = await Json(r);
        var id = body.GetProperty("orderId").GetString();
        Assert.Equal("https://pay.example/acq_1", body.GetProperty("paymentUrl").GetString());
        Assert.Single(sessions);
        Assert.Equal(HttpPaymentProvider.Attempts, attempts.Count);
        Assert.All(attempts, a => Assert.Equal((id, true), (a.Key, a.SignatureOk)));
    }

    [Fact]
    public async Task A_hanging_provider_is_cut_off_per_attempt_and_the_checkout_answers_503_with_the_stock_released()
    {
        var attempts = 0;
        using var abandoned = new SemaphoreSlim(0);
        var (acquirer, url) = await FakeAcquirer.StartAsync(async (http, _) =>
        {
            Interlocked.Increment(ref attempts);
            try
            {
                await Task.Delay(Timeout.Infinite, http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                abandoned.Release(); // the client gave this attempt up
            }
            return Results.StatusCode(500);
        });
        await using var _ = acquirer;
        await using var server = await StartServerAsync(url);
        await server.SeedAsync(1, 100, (1, 3));

        // The test client waits 30 s at most: without timeouts of its own the server would never answer.
        var r = await server.CheckoutAsync("k", Cart);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.Equal("payment_provider_unavailable", (await Json(r)).GetProperty("code").GetString());
        Assert.Equal(3, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());
        // Every attempt was cut off by its own timeout, so all of them fit in the checkout's budget.
        Assert.Equal(HttpPaymentProvider.Attempts, Volatile.Read(ref attempts));
        for (var i = 0; i < HttpPaymentProvider.Attempts; i++) Assert.True(await abandoned.WaitAsync(TimeSpan.FromSeconds(30)), $"attempt {i + 1} was never abandoned");
    }

    [Fact]
    public async Task A_provider_that_is_down_opens_the_circuit_and_later_checkouts_fail_fast_without_reaching_it()
    {
        var hits = 0;
        var (acquirer, url) = await FakeAcquirer.StartAsync((_, _) =>
        {
            Interlocked.Increment(ref hits);
            return Task.FromResult(Results.StatusCode(503));
        });
        await using var _ = acquirer;
        await using var server = await StartServerAsync(url);
        await server.SeedAsync(1, 100, (1, 10));

        // Enough failing checkouts for the breaker's minimum throughput: it opens during them.
        var checkouts = (HttpPaymentProvider.BreakerMinimumThroughput + HttpPaymentProvider.Attempts - 1) / HttpPaymentProvider.Attempts;
        for (var i = 0; i < checkouts; i++)
        {
            var r = await server.CheckoutAsync($"k{i}", Cart);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        }
        var before = Volatile.Read(ref hits);
        Assert.Equal(HttpPaymentProvider.BreakerMinimumThroughput, before);

        // Open: the next checkout is refused without a request to the provider, and its stock goes back.
        var refused = await server.CheckoutAsync("after", Cart);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("payment_provider_unavailable", (await Json(refused)).GetProperty("code").GetString());
        Assert.Equal(before, Volatile.Read(ref hits));
        Assert.Equal(10, (await Json(await server.Storefront.GetAsync("/v1/catalog/items/1"))).GetProperty("available").GetInt64());
    }

    [Fact]
    public async Task Per_request_HttpClient_logs_are_off_at_the_default_log_level()
    {
        // The shipped appsettings.json, without the tests' own log level.
        var data = Directory.CreateTempSubdirectory("wb-host-").FullName;
        try
        {
            await using var app = ServerApp.Build(["--data", data, "--storefront-key", TestServer.StorefrontKey, "--admin-key", TestServer.AdminKey, "--webhook-secret", TestServer.Secret,
                "--payment-provider-url", "http://127.0.0.1:1/", "--payment-provider-secret", AcquirerSecret]);
            var loggers = app.Services.GetRequiredService<ILoggerFactory>();
            Assert.True(loggers.CreateLogger("Wildberries.Host").IsEnabled(LogLevel.Information));
            Assert.False(loggers.CreateLogger($"System.Net.Http.HttpClient.{HttpPaymentProvider.ClientName}.LogicalHandler").IsEnabled(LogLevel.Information));
            Assert.False(loggers.CreateLogger($"System.Net.Http.HttpClient.{HttpPaymentProvider.ClientName}.ClientHandler").IsEnabled(LogLevel.Information));
            Assert.True(loggers.CreateLogger($"System.Net.Http.HttpClient.{HttpPaymentProvider.ClientName}.ClientHandler").IsEnabled(LogLevel.Warning));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
