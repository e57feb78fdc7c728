using Wildberries.Core;

namespace Wildberries.Host.Payments;

/// <summary>A payment session the customer is sent to.</summary>
public sealed record PaymentSession(string SessionId, string PaymentUrl);

/// <summary>The acquirer port: opens a payment session for an order, idempotent on the order id.</summary>
public interface IPaymentProvider
{
    /// <summary>Opens (or returns the existing) session for <paramref name="orderId"/>; throws <see cref="PaymentProviderUnavailableException"/> when unreachable.</summary>
    Task<PaymentSession> CreateSessionAsync(OrderId orderId, long amount, string currency, CancellationToken cancellation);

    /// <summary>
    /// Whether a session is computed from the order id alone, with no state at the provider (the sandbox): then there
    /// is nothing to record in the journal, and a checkout journals one command. A real provider's sessions are
    /// recorded (behind the answer), so a read needs no call to the provider.
    /// </summary>
    bool SessionsAreDerived => false;
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
/// The built-in sandbox: the session id is the order id with a MAC under a server secret (<c>ps_{orderId}_{mac}</c>),
/// so it is idempotent without state and cannot be guessed from an order id; the payment page is served by this
/// host at <c>/sandbox/pay/{sessionId}</c>, and only while this provider is the configured one.
/// </summary>
public sealed class SandboxPaymentProvider : IPaymentProvider
{
    private const string Prefix = "ps_";

    // 128 bits of MAC: as hard to guess as a random session id.
    private const int MacHexLength = 32;

    private readonly Func<string> _publicUrl;
    private readonly byte[] _key;

    /// <summary>Creates the sandbox; <paramref name="secret"/> keys the session MAC (derived, never used as is).</summary>
    public SandboxPaymentProvider(Func<string> publicUrl, string secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        _publicUrl = publicUrl;
        // A key of its own, so a session id reveals nothing about the webhook secret it was derived from.
        _key = System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret), "wildberries sandbox session v1"u8);
    }

    /// <inheritdoc />
    public bool SessionsAreDerived => true;

    /// <inheritdoc />
    public Task<PaymentSession> CreateSessionAsync(OrderId orderId, long amount, string currency, CancellationToken cancellation)
    {
        var session = $"{Prefix}{orderId}_{Mac(orderId)}";
        return Task.FromResult(new PaymentSession(session, $"{_publicUrl().TrimEnd('/')}/sandbox/pay/{session}"));
    }

    /// <summary>The order a sandbox session belongs to, when its MAC holds (compared in constant time).</summary>
    public bool TryOpenSession(string? sessionId, out OrderId orderId)
    {
        orderId = default;
        if (sessionId is null || !sessionId.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var separator = sessionId.LastIndexOf('_');
        if (separator <= Prefix.Length || sessionId.Length - separator - 1 != MacHexLength) return false;
        if (!OrderId.TryParse(sessionId[Prefix.Length..separator], out var id)) return false;
        var expected = System.Text.Encoding.ASCII.GetBytes(Mac(id));
        var presented = System.Text.Encoding.ASCII.GetBytes(sessionId[(separator + 1)..]);
        if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, presented)) return false;
        orderId = id;
        return true;
    }

    private string Mac(OrderId orderId) =>
        Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(_key, System.Text.Encoding.ASCII.GetBytes(orderId.ToString())))[..MacHexLength];
}
