namespace Wildberries.Engine.Replication;

/// <summary>When a command is acknowledged, relative to the command log.</summary>
public enum ReplicationMode
{
    /// <summary>
    /// After the local fsync; the command log follows from the journal (the lag is a metric). A primary lost for
    /// good loses what it acknowledged in the last lag window.
    /// </summary>
    Local = 0,

    /// <summary>
    /// After the local fsync and the command log's acknowledgement (Kafka <c>acks=all</c>). When the log does not
    /// acknowledge in <see cref="ReplicationOptions.AckTimeout"/>, the shard answers "replication unavailable" and
    /// refuses writes until the log has everything again.
    /// </summary>
    Replicated = 1,
}

/// <summary>What a node is for its shards.</summary>
public enum NodeRole
{
    /// <summary>Takes writes, journals them and ships them to the command log.</summary>
    Primary = 0,

    /// <summary>Applies the command log, serves reads, refuses writes; becomes the primary when promoted.</summary>
    Standby = 1,
}

/// <summary>Replication through a command log per shard (<c>wb.journal.&lt;shard&gt;</c> on Kafka).</summary>
public sealed record ReplicationOptions
{
    /// <summary>The command log of a shard number (the Kafka adapter, or an in-memory log in tests).</summary>
    public required Func<int, ICommandLog> CommandLog { get; init; }

    /// <summary>When commands are acknowledged (default <see cref="ReplicationMode.Replicated"/>).</summary>
    public ReplicationMode Mode { get; init; } = ReplicationMode.Replicated;

    /// <summary>What this node starts as (default <see cref="NodeRole.Primary"/>); a standby stays one until promoted.</summary>
    public NodeRole Role { get; init; } = NodeRole.Primary;

    /// <summary>
    /// 5 seconds: how long a replicated command waits for the log's acknowledgement before its caller hears
    /// "replication unavailable" (Kafka's own request timeout is 30 s; a checkout should not hang that long).
    /// </summary>
    public TimeSpan AckTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// 15 seconds: how long a start may take to read a shard's command log to its end (a node that cannot tell
    /// whether it was fenced does not take writes; the host tries again).
    /// </summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>500 ms between attempts while the log is unreachable: prompt recovery, little noise.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>10,000 entries per append at most: one Kafka transaction stays well under its size limits.</summary>
    public int MaxBatch { get; init; } = 10_000;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public ReplicationOptions Validate()
    {
        ArgumentNullException.ThrowIfNull(CommandLog);
        if (!Enum.IsDefined(Mode)) throw new ArgumentException("ReplicationOptions.Mode must be Local or Replicated.", nameof(Mode));
        if (!Enum.IsDefined(Role)) throw new ArgumentException("ReplicationOptions.Role must be Primary or Standby.", nameof(Role));
        if (AckTimeout < TimeSpan.FromMilliseconds(100) || AckTimeout > TimeSpan.FromMinutes(5)) throw new ArgumentException("ReplicationOptions.AckTimeout must be 100 ms to 5 minutes.", nameof(AckTimeout));
        if (StartTimeout < TimeSpan.FromMilliseconds(100) || StartTimeout > TimeSpan.FromMinutes(30)) throw new ArgumentException("ReplicationOptions.StartTimeout must be 100 ms to 30 minutes.", nameof(StartTimeout));
        if (RetryInterval < TimeSpan.FromMilliseconds(10) || RetryInterval > TimeSpan.FromMinutes(1)) throw new ArgumentException("ReplicationOptions.RetryInterval must be 10 ms to 1 minute.", nameof(RetryInterval));
        if (MaxBatch is < 1 or > 1_000_000) throw new ArgumentException("ReplicationOptions.MaxBatch must be 1 to 1000000.", nameof(MaxBatch));
        return this;
    }
}

/// <summary>Why a shard refuses writes right now.</summary>
public enum WriteRefusal
{
    /// <summary>It takes writes.</summary>
    None = 0,

    /// <summary>This node is a standby: writes go to the primary (or promote this one).</summary>
    Standby = 1,

    /// <summary>A primary of a higher epoch exists: this node must not take writes again; rebuild it as a standby.</summary>
    Fenced = 2,

    /// <summary>The command log did not acknowledge in time; writes resume by themselves once it has everything.</summary>
    ReplicationUnavailable = 3,

    /// <summary>The standby stopped applying the log (a gap, damage): it needs an operator.</summary>
    Stopped = 4,
}

/// <summary>One shard's replication, for metrics, readiness and the operator.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Role">Primary or standby.</param>
/// <param name="Mode">Local or replicated acknowledgement.</param>
/// <param name="Epoch">This node's epoch.</param>
/// <param name="Refusal">Why writes are refused, if they are.</param>
/// <param name="Lsn">A primary: the last entry the log acknowledged; a standby: the last entry applied.</param>
/// <param name="LagEntries">A primary: journaled entries not yet acknowledged by the log; a standby: records seen in the log not yet applied (as of the last look).</param>
/// <param name="LagMs">Age of the oldest entry not yet in the log (primary) or of the last applied entry when behind (standby).</param>
/// <param name="DroppedStale">Entries of an older epoch dropped after a newer primary's marker.</param>
/// <param name="LastError">The last error, if any.</param>
public sealed record ReplicationStatus(int Shard, NodeRole Role, ReplicationMode Mode, int Epoch, WriteRefusal Refusal, long Lsn, long LagEntries, double LagMs, long DroppedStale, string? LastError);
