using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Wildberries.Core;
using Wildberries.Host.Http;

namespace Wildberries.Host.Payments;

/// <summary>
/// A real acquirer over HTTP: <c>POST {base}/sessions</c> with <c>{orderId, amount, currency}</c>, the order id as
/// its <c>Idempotency-Key</c> (so a retry never opens a second session) and an HMAC-SHA256 signature of the body;
/// answered with <c>{sessionId, paymentUrl}</c>. The named client <see cref="ClientName"/> carries the standard
/// resilience handler (<see cref="AddClient"/>): a timeout per attempt, retries of 5xx, 408, 429, timeouts and
/// connection failures with exponential backoff and jitter (the same request, so the same key and signature), a
/// circuit breaker, and a total timeout inside the checkout's budget. Whatever it gives up with is reported as
/// <see cref="PaymentProviderUnavailableException"/>.
/// </summary>
public sealed class HttpPaymentProvider(IHttpClientFactory clients, string secret) : IPaymentProvider
{
    /// <summary>The named HTTP client (and resilience pipeline) of the acquirer.</summary>
    public const string ClientName = "acquirer";

    /// <summary>3 attempts: rides out a dropped connection or a rolling restart, still inside the checkout's 5 s budget.</summary>
    public const int Attempts = 3;

    /// <summary>1.5 s per attempt: an acquirer's session API answers in tens of milliseconds when healthy.</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromMilliseconds(1_500);

    /// <summary>100 ms before the first retry, doubling, with jitter: retries of many checkouts do not arrive together.</summary>
    public static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>4.5 s for all attempts and waits: the provider gives up before the checkout's own 5 s budget does.</summary>
    public static readonly TimeSpan TotalTimeout = TimeSpan.FromMilliseconds(4_500);

    /// <summary>
    /// The breaker opens when at least half of at least 10 attempts in 30 s failed (four checkouts against a provider
    /// that is down), and stays open 10 s: checkouts meanwhile answer 503 at once instead of each waiting for its
    /// timeouts, and the provider is not hammered while it recovers. Then one trial attempt decides.
    /// </summary>
    public const int BreakerMinimumThroughput = 10;

    /// <summary>See <see cref="BreakerMinimumThroughput"/>.</summary>
    public const double BreakerFailureRatio = 0.5;

    /// <summary>See <see cref="BreakerMinimumThroughput"/>.</summary>
    public static readonly TimeSpan BreakerSamplingDuration = TimeSpan.FromSeconds(30);

    /// <summary>See <see cref="BreakerMinimumThroughput"/>.</summary>
    public static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(10);

    private sealed record SessionRequest(string OrderId, long Amount, string Currency);

    // Read leniently: a provider adds fields to its answers without asking us.
    private sealed record SessionResponse(string? SessionId, string? PaymentUrl);

    /// <summary>Registers the acquirer's named client with its resilience handler.</summary>
    public static IHttpClientBuilder AddClient(IServiceCollection services, Uri baseAddress)
    {
        var client = services.AddHttpClient(ClientName, c =>
        {
            c.BaseAddress = baseAddress;
            c.Timeout = Timeout.InfiniteTimeSpan; // the resilience handler's timeouts rule
        });
        client.AddStandardResilienceHandler(o =>
        {
            o.AttemptTimeout.Timeout = AttemptTimeout;
            o.TotalRequestTimeout.Timeout = TotalTimeout;
            o.Retry.MaxRetryAttempts = Attempts - 1;
            o.Retry.BackoffType = DelayBackoffType.Exponential;
            o.Retry.UseJitter = true;
            o.Retry.Delay = FirstRetryDelay;
            o.CircuitBreaker.MinimumThroughput = BreakerMinimumThroughput;
            o.CircuitBreaker.FailureRatio = BreakerFailureRatio;
            o.CircuitBreaker.SamplingDuration = BreakerSamplingDuration;
            o.CircuitBreaker.BreakDuration = BreakDuration;
        });
        return client;
    }

    /// <summary>The idempotency key of an order's session request: the order id, the same on every attempt and every replay.</summary>
    public static string IdempotencyKey(OrderId orderId) => orderId.ToString();

    /// <inheritdoc />
    public async Task<PaymentSession> CreateSessionAsync(OrderId orderId, long amount, string currency, CancellationToken cancellation)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new SessionRequest(orderId.ToString(), amount, currency), Json.Options);
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));
        // One request for every attempt: the resilience handler sends this message again, key and signature included.
        using var request = new HttpRequestMessage(HttpMethod.Post, "sessions") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add("Idempotency-Key", IdempotencyKey(orderId));
        request.Headers.Add("Signature", signature);
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, cancellation).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                // A 4xx other than 408/429 is not retried: its answer would not change.
                throw new PaymentProviderUnavailableException($"The payment provider answered {((int)response.StatusCode).ToString(CultureInfo.InvariantCulture)}.");
            }
            var session = await response.Content.ReadFromJsonAsync<SessionResponse>(Json.ThirdParty, cancellation).ConfigureAwait(false);
            if (session is null || string.IsNullOrEmpty(session.SessionId) || string.IsNullOrEmpty(session.PaymentUrl))
            {
                throw new PaymentProviderUnavailableException("The payment provider answered without a session.");
            }
            return new PaymentSession(session.SessionId, session.PaymentUrl);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or ExecutionRejectedException
            || (ex is OperationCanceledException && !cancellation.IsCancellationRequested))
        {
            // Connection failures and timeouts after the last attempt, or the breaker open: the caller answers 503.
            throw new PaymentProviderUnavailableException($"The payment provider could not open a session: {ex.Message}", ex);
        }
    }
}
