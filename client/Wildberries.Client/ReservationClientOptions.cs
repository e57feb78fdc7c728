namespace Wildberries.Client;

/// <summary>Settings of a <see cref="ReservationClient"/>, validated once when it is created.</summary>
public sealed class ReservationClientOptions
{
    /// <summary>The server's binary endpoint, <c>tcp://host:port</c> (its <c>--tcp</c>).</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>The API key: the storefront key or the admin key, as over HTTP.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Connections per endpoint (default 2: requests are pipelined, so a few connections fill the server; more than
    /// the server's cores buys nothing).
    /// </summary>
    public int Connections { get; set; } = 2;

    /// <summary>
    /// How long one attempt waits for its answer (default 10,000 ms: a durable checkout takes milliseconds, a payment
    /// provider call at most 5 s on the server).
    /// </summary>
    public int RequestTimeoutMs { get; set; } = 10_000;

    /// <summary>How long a connection attempt may take (default 5,000 ms).</summary>
    public int ConnectTimeoutMs { get; set; } = 5_000;

    /// <summary>
    /// Attempts of a request that may be repeated safely (a checkout with its idempotency key, the reads) when the
    /// connection is lost, the attempt times out, or the server answers 503 (default 3).
    /// </summary>
    public int AttemptsMax { get; set; } = 3;

    /// <summary>The pause before a retry, doubled each time up to 16 times (default 50 ms: a restart of the server takes a moment).</summary>
    public int RetryDelayMs { get; set; } = 50;

    /// <summary>A name the server may log for this client.</summary>
    public string? ClientName { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (Endpoint is null || Endpoint.Scheme != "tcp" || Endpoint.Port <= 0) throw new ArgumentException("Endpoint must be tcp://host:port.");
        if (string.IsNullOrEmpty(ApiKey)) throw new ArgumentException("ApiKey is required.");
        if (Connections is < 1 or > 1024) throw new ArgumentException("Connections must be 1 to 1024.");
        if (RequestTimeoutMs < 1) throw new ArgumentException("RequestTimeoutMs must be positive.");
        if (ConnectTimeoutMs < 1) throw new ArgumentException("ConnectTimeoutMs must be positive.");
        if (AttemptsMax is < 1 or > 100) throw new ArgumentException("AttemptsMax must be 1 to 100.");
        if (RetryDelayMs < 0) throw new ArgumentException("RetryDelayMs must not be negative.");
    }
}
