namespace Wildberries.Core;

/// <summary>A broken invariant: a bug in the engine, never a caller's mistake. It stops the shard loudly.</summary>
public sealed class InvariantViolationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InvariantViolationException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public InvariantViolationException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public InvariantViolationException(string message, Exception inner) : base(message, inner)
    {
    }
}

/// <summary>Assertions that stay on in release builds: a state machine that lies is worse than one that stops.</summary>
public static class Invariant
{
    /// <summary>Throws <see cref="InvariantViolationException"/> when <paramref name="condition"/> is false.</summary>
    public static void That(bool condition, string invariant)
    {
        if (!condition) Fail(invariant);
    }

    private static void Fail(string invariant) => throw new InvariantViolationException("Invariant broken: " + invariant + ".");
}
