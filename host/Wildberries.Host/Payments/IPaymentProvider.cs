using Wildberries.Core;

namespace Wildberries.Host.Payments;

/// <summary>A payment session the customer is sent to.</summary>
public sealed record PaymentSession(string SessionId, string PaymentUrl);

/// <summary>The acquirer port: opens a payment session for an order, idempotent on the order id.</summary>
public interface IPaymentProvider
{
    /// <summary>Opens (or returns the existing) session for <paramref name="orderId"/>; throws <see cref="PaymentProviderUnavailableException"/> when unreachable.</summary>
    Task<PaymentSession> CreateSessionAsync(OrderId orderId, long amount, string currency, CancellationToken cancellation);
}

/// <summary>The provider could not be reached in time; the caller releases the reservation and answers 503.</summary>
public sealed class PaymentProviderUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PaymentProviderUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public PaymentProviderUnavailableException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public PaymentProviderUnavailableException(string message, Exception inner) : base(message, inner)
    {
    }
}

/// <summary>
/// The built-in sandbox: the session id is derived from the order id (so it is idempotent without state) and the
/// payment page is served by this host at <c>/sandbox/pay/{sessionId}</c>.
/// </summary>
public sealed class SandboxPaymentProvider(Func<string> publicUrl) : IPaymentProvider
{
    private const string Prefix = "ps_";

    /// <inheritdoc />
    public Task<PaymentSession> CreateSessionAsync(OrderId orderId, long amount, string currency, CancellationToken cancellation)
    {
        var session = Prefix + orderId;
        return Task.FromResult(new PaymentSession(session, $"{publicUrl().TrimEnd('/')}/sandbox/pay/{session}"));
    }

    /// <summary>The order a sandbox session belongs to.</summary>
    public static bool TryParseSession(string sessionId, out OrderId orderId)
    {
        orderId = default;
        return sessionId.StartsWith(Prefix, StringComparison.Ordinal) && OrderId.TryParse(sessionId[Prefix.Length..], out orderId);
    }
}
