namespace Wildberries.Engine;

/// <summary>The engine (or one shard) stopped because its journal or its state machine failed; restart it.</summary>
public sealed class EngineFaultedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EngineFaultedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public EngineFaultedException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public EngineFaultedException(string message, Exception inner) : base(message, inner)
    {
    }
}
