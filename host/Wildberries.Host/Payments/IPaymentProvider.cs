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
        // Built in a stack buffer: ps_, the id, _, the MAC's hex; then the page's URL in one concatenation.
        var id = orderId.ToString();
        Span<char> text = stackalloc char[Prefix.Length + IdLengthMax + 1 + MacHexLength];
        Prefix.CopyTo(text);
        id.CopyTo(text[Prefix.Length..]);
        text[Prefix.Length + id.Length] = '_';
        var length = Prefix.Length + id.Length + 1 + MacHexLength;
        WriteMac(id, text[(Prefix.Length + id.Length + 1)..length]);
        var session = new string(text[..length]);
        return Task.FromResult(new PaymentSession(session, string.Concat(PagePrefix(), session)));
    }

    /// <summary>The longest text form of an order id (13 base-32 digits of 64 bits).</summary>
    private const int IdLengthMax = 13;

    // One reference, so a reader never pairs one URL with another's prefix.
    private sealed record Page(string Url, string Prefix);

    private Page? _page;

    /// <summary>The payment pages' common prefix, <c>{public URL}/sandbox/pay/</c>, made again only when the public URL changes.</summary>
    private string PagePrefix()
    {
        var url = _publicUrl();
        if (_page is { } page && ReferenceEquals(page.Url, url)) return page.Prefix;
        var prefix = url.TrimEnd('/') + "/sandbox/pay/";
        _page = new Page(url, prefix);
        return prefix;
    }

    /// <summary>The order a sandbox session belongs to, when its MAC holds (compared in constant time).</summary>
    public bool TryOpenSession(string? sessionId, out OrderId orderId)
    {
        orderId = default;
        if (sessionId is null || !sessionId.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var separator = sessionId.LastIndexOf('_');
        if (separator <= Prefix.Length || sessionId.Length - separator - 1 != MacHexLength) return false;
        if (!OrderId.TryParse(sessionId[Prefix.Length..separator], out var id)) return false;
        Span<char> expected = stackalloc char[MacHexLength];
        WriteMac(sessionId.AsSpan(Prefix.Length, separator - Prefix.Length), expected);
        if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected), System.Runtime.InteropServices.MemoryMarshal.AsBytes(sessionId.AsSpan(separator + 1))))
        {
            return false;
        }
        orderId = id;
        return true;
    }

    /// <summary>The MAC of an order id's text form, as <see cref="MacHexLength"/> lower-case hex digits into <paramref name="destination"/>.</summary>
    private void WriteMac(ReadOnlySpan<char> orderId, Span<char> destination)
    {
        Span<byte> ascii = stackalloc byte[IdLengthMax];
        var length = System.Text.Encoding.ASCII.GetBytes(orderId, ascii);
        Span<byte> mac = stackalloc byte[System.Security.Cryptography.HMACSHA256.HashSizeInBytes];
        System.Security.Cryptography.HMACSHA256.HashData(_key, ascii[..length], mac);
        Convert.TryToHexStringLower(mac[..(MacHexLength / 2)], destination, out _);
    }
}
