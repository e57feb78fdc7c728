namespace Wildberries.Engine.Replication;

/// <summary>What a record of a shard's command log is.</summary>
public enum CommandLogRecordKind : byte
{
    /// <summary>A journal entry, byte for byte as the primary's journal holds it (header with LSN, epoch and CRC, then the body).</summary>
    Entry = 0,

    /// <summary>
    /// An epoch marker: a newly promoted primary's first record. Every entry before it counts; every entry after it
    /// written by an older epoch is dropped by every reader.
    /// </summary>
    EpochMarker = 1,
}

/// <summary>One record read from a shard's command log.</summary>
/// <param name="Position">Where it sits in the log (a Kafka offset); positions grow, not necessarily by one.</param>
/// <param name="Kind">An entry or an epoch marker.</param>
/// <param name="Epoch">The epoch of the primary that wrote it.</param>
/// <param name="Lsn">The entry's log sequence number (0 for a marker).</param>
/// <param name="Entry">The journal entry's bytes (empty for a marker).</param>
public readonly record struct CommandLogRecord(long Position, CommandLogRecordKind Kind, int Epoch, long Lsn, ReadOnlyMemory<byte> Entry);

/// <summary>One record to append: an entry (its LSN and journal bytes), or a marker (LSN 0, no bytes).</summary>
/// <param name="Lsn">The entry's log sequence number; 0 for an epoch marker.</param>
/// <param name="Entry">The journal entry's bytes, owned by the caller until the append returns.</param>
public readonly record struct CommandLogWrite(long Lsn, ReadOnlyMemory<byte> Entry)
{
    /// <summary>Whether this is an epoch marker.</summary>
    public bool IsMarker => Lsn == 0;
}

/// <summary>What a read returned: the records found and where the next read starts.</summary>
/// <param name="Records">The records, in log order (possibly none).</param>
/// <param name="NextPosition">The position to read from next.</param>
public readonly record struct CommandLogBatch(IReadOnlyList<CommandLogRecord> Records, long NextPosition);

/// <summary>Where an appended batch landed.</summary>
/// <param name="FirstPosition">The position of its first record.</param>
/// <param name="NextPosition">The position just after its last record.</param>
public readonly record struct CommandLogAppend(long FirstPosition, long NextPosition);

/// <summary>
/// The port to one shard's replicated command log (a Kafka topic partition, <c>wb.journal.&lt;shard&gt;</c>). The
/// engine keeps the protocol (epochs, contiguity, promotion); the adapter moves bytes and guarantees what
/// <see cref="Append"/> says. Calls come from one thread at a time.
/// </summary>
public interface ICommandLog : IDisposable
{
    /// <summary>
    /// The position just after the last record written so far (reading to the end means reading until the next
    /// position reaches it). Throws <see cref="CommandLogUnavailableException"/> when the log does not answer within
    /// <paramref name="timeout"/>.
    /// </summary>
    long EndPosition(TimeSpan timeout);

    /// <summary>
    /// The records at or after <paramref name="from"/>, in order, waiting up to <paramref name="wait"/> when there is
    /// none yet (then an empty batch). Throws <see cref="CommandLogUnavailableException"/> on errors that outlast the wait.
    /// </summary>
    CommandLogBatch Read(long from, TimeSpan wait, CancellationToken cancellation);

    /// <summary>
    /// Appends <paramref name="writes"/> as one atomic batch written by <paramref name="epoch"/> (all or none become
    /// visible) and returns once the log acknowledged them durably (Kafka: <c>acks=all</c>, transaction committed).
    /// The adapter guarantees that no record of an epoch higher than <paramref name="epoch"/> sits between
    /// <paramref name="verifiedFrom"/> (the first position its caller has not read or written) and the batch; when one
    /// does, it throws <see cref="CommandLogFencedException"/> (the batch may be in the log, but it does not count: every
    /// reader drops it). Throws <see cref="CommandLogUnavailableException"/> when it cannot tell within
    /// <paramref name="timeout"/>.
    /// </summary>
    CommandLogAppend Append(IReadOnlyList<CommandLogWrite> writes, int epoch, long verifiedFrom, TimeSpan timeout);
}

/// <summary>The command log could not be reached or did not acknowledge in time; nothing is known to be replicated.</summary>
public sealed class CommandLogUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CommandLogUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public CommandLogUnavailableException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CommandLogUnavailableException(string message, Exception inner) : base(message, inner)
    {
    }
}

/// <summary>A primary of a higher epoch has written to the command log: this writer is fenced and must stop.</summary>
public sealed class CommandLogFencedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CommandLogFencedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public CommandLogFencedException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CommandLogFencedException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception for a record of epoch <paramref name="epoch"/> found at <paramref name="position"/>.</summary>
    public CommandLogFencedException(int epoch, long position) : base($"a primary of epoch {epoch} wrote to the command log at position {position}")
    {
        Epoch = epoch;
        Position = position;
    }

    /// <summary>The higher epoch found.</summary>
    public int Epoch { get; }

    /// <summary>Where its record sits.</summary>
    public long Position { get; }
}
