using Wildberries.Core;

namespace Wildberries.Engine.Journal;

/// <summary>
/// The port the journal stage writes to: an append-only log of commands that survives what the engine must
/// survive. Called from one thread (the shard's journal stage) only.
/// </summary>
public interface ICommandJournal : IDisposable
{
    /// <summary>The log sequence number of the last durable command (0 for an empty journal).</summary>
    long LastLsn { get; }

    /// <summary>Appends a command whose <see cref="Command.Lsn"/> and <see cref="Command.TimestampMs"/> are set.</summary>
    void Append(in Command command);

    /// <summary>Makes everything appended so far durable; called once per batch (group commit).</summary>
    void Commit();

    /// <summary>The durable commands after <paramref name="afterLsn"/>, in order, for recovery.</summary>
    IEnumerable<Command> ReadAfter(long afterLsn);
}
