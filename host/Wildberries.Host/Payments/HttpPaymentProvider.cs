using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Wildberries.Core;
using Wildberries.Host.Http;

namespace Wildberries.Host.Payments;

/// <summary>
/// A real acquirer over HTTP: <c>POST {base}/sessions</c> with <c>{orderId, amount, currency}</c>, the order id as
/// its <c>Idempotency-Key</c> (so a retry never opens a second session) and an HMAC-SHA256 signature of the body;
/// answered with <c>{sessionId, paymentUrl}</c>. Each attempt has its own timeout; 5xx, 429 and connection
/// failures are retried with backoff, then reported as unavailable.
/// </summary>
public sealed class HttpPaymentProvider(HttpClient http, string secret) : IPaymentProvider
{
    /// <summary>3 attempts: rides out a dropped connection or a rolling restart, still inside the checkout's 5 s budget.</summary>
    public const int Attempts = 3;

    /// <summary>1.5 s per attempt: an acquirer's session API answers in tens of milliseconds when healthy.</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromMilliseconds(1_500);

    private sealed record SessionRequest(string OrderId, long Amount, string Currency);

    // Read leniently: a provider adds fields to its answers without asking us.
    private sealed record SessionResponse(string? SessionId, string? PaymentUrl);

    /// <inheritdoc />
    public async Task<PaymentSession> CreateSessionAsync(OrderId orderId, long amount, string currency, CancellationToken cancellation)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new SessionRequest(orderId.ToString(), amount, currency), Json.Options);
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));
        Exception? last = null;
        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(AttemptTimeout);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "sessions") { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                request.Headers.Add("Idempotency-Key", orderId.ToString());
                request.Headers.Add("Signature", signature);
                using var response = await http.SendAsync(request, timeout.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    var session = await response.Content.ReadFromJsonAsync<SessionResponse>(Json.ThirdParty, timeout.Token).ConfigureAwait(false);
                    if (session is null || string.IsNullOrEmpty(session.SessionId) || string.IsNullOrEmpty(session.PaymentUrl))
                    {
                        throw new PaymentProviderUnavailableException("The payment provider answered without a session.");
                    }
                    return new PaymentSession(session.SessionId, session.PaymentUrl);
                }
                var status = (int)response.StatusCode;
                last = new HttpRequestException($"The payment provider answered {status.ToString(CultureInfo.InvariantCulture)}.");
                if (status is < 500 and not 429) break; // its answer will not change on a retry
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is OperationCanceledException && !cancellation.IsCancellationRequested))
            {
                last = ex;
            }
            if (attempt < Attempts) await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), cancellation).ConfigureAwait(false);
        }
        throw new PaymentProviderUnavailableException($"The payment provider could not open a session after {Attempts} attempts: {last?.Message}", last!);
    }
}
