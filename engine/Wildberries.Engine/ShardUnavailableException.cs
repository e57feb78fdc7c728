using Wildberries.Engine.Replication;

namespace Wildberries.Engine;

/// <summary>
/// A shard refuses a write because of its replication state (a standby, a fenced primary, a command log that does
/// not acknowledge). For a refusal at the door nothing was done; for "replication unavailable" after the command
/// was journaled, the outcome is unknown until the log has it: retry with the same idempotency key.
/// </summary>
public sealed class ShardUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ShardUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public ShardUnavailableException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ShardUnavailableException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception for <paramref name="reason"/> on <paramref name="shard"/>.</summary>
    public ShardUnavailableException(int shard, WriteRefusal reason, string message, Exception? inner = null) : base(message, inner)
    {
        Shard = shard;
        Reason = reason;
    }

    /// <summary>The shard.</summary>
    public int Shard { get; }

    /// <summary>Why it refuses.</summary>
    public WriteRefusal Reason { get; }

    /// <summary>The stable problem code: <c>standby</c>, <c>fenced</c>, <c>replication_unavailable</c> or <c>replica_stopped</c>.</summary>
    public string Code => Reason switch
    {
        WriteRefusal.Standby => "standby",
        WriteRefusal.Fenced => "fenced",
        WriteRefusal.Stopped => "replica_stopped",
        _ => "replication_unavailable",
    };
}
