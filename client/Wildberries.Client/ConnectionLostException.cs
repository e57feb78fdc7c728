namespace Wildberries.Client;

/// <summary>
/// The connection closed before the answer came: the request may or may not have been applied. A checkout retried
/// with the same idempotency key is safe; the client does that by itself up to <see cref="ReservationClientOptions.AttemptsMax"/>.
/// </summary>
public sealed class ConnectionLostException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ConnectionLostException() : base("The connection to the reservation server was lost.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ConnectionLostException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ConnectionLostException(string message, Exception? inner) : base(message, inner)
    {
    }
}
