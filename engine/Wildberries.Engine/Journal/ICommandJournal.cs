using Wildberries.Core;

namespace Wildberries.Engine.Journal;

/// <summary>A command read back from a journal, with where it sits.</summary>
/// <param name="Command">The command, with its log sequence number and timestamp.</param>
/// <param name="Address">The journal address of the entry.</param>
/// <param name="NextAddress">The address just after it: where a snapshot that covers this entry lets the journal begin.</param>
public readonly record struct JournalEntry(Command Command, long Address, long NextAddress);

/// <summary>
/// The port the journal stage writes to: an append-only log of commands that survives what the engine must
/// survive. Appends and commits come from one thread (the shard's journal stage); reads may run beside them.
/// </summary>
public interface ICommandJournal : IDisposable
{
    /// <summary>The log sequence number of the last durable command (0 for an empty journal); known after recovery read it.</summary>
    long LastLsn { get; }

    /// <summary>Appends a command whose <see cref="Command.Lsn"/> and <see cref="Command.TimestampMs"/> are set.</summary>
    void Append(in Command command);

    /// <summary>Makes everything appended so far durable; called once per batch (group commit).</summary>
    void Commit();

    /// <summary>
    /// The durable commands after <paramref name="afterLsn"/>, in order, verified (checksums, no gaps), starting
    /// the scan at <paramref name="fromAddress"/> when the caller knows where they begin. Throws
    /// <see cref="JournalCorruptException"/> on damage in the durable part.
    /// </summary>
    IEnumerable<JournalEntry> ReadAfter(long afterLsn, long fromAddress = 0);

    /// <summary>Lets the journal drop entries before <paramref name="address"/>: a snapshot covers them.</summary>
    void TruncateBefore(long address);

    /// <summary>
    /// When the journal was opened accepting data loss and found damage: what was skipped (the valid prefix was
    /// kept); null when nothing was lost, and always null for journals that cannot lose anything.
    /// </summary>
    string? DataLoss => null;
}

/// <summary>
/// The journal (or a snapshot) is damaged inside its acknowledged part: the engine refuses to start rather than
/// start with less. The message names the file and the log sequence number.
/// </summary>
public sealed class JournalCorruptException : Exception
{
    /// <summary>Creates the exception.</summary>
    public JournalCorruptException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public JournalCorruptException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public JournalCorruptException(string message, Exception inner) : base(message, inner)
    {
    }
}
