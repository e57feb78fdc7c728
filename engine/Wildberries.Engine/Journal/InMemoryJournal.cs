using Wildberries.Core;

namespace Wildberries.Engine.Journal;

/// <summary>
/// Keeps every command in memory: survives an engine restart within the process, not a process crash. For tests
/// and for replicas that rebuild from another log; says so in its name.
/// </summary>
public sealed class InMemoryJournal : ICommandJournal
{
    private readonly List<Command> _entries = [];
    private int _committed;

    /// <inheritdoc />
    public long LastLsn { get; private set; }

    /// <summary>How many commits were made (one per batch), to see group commit at work.</summary>
    public long CommitCount { get; private set; }

    /// <inheritdoc />
    public void Append(in Command command)
    {
        lock (_entries)
        {
            if (command.Lsn != (_entries.Count == 0 ? LastLsn : _entries[^1].Lsn) + 1)
            {
                throw new InvalidOperationException($"Journal entries must be contiguous: got {command.Lsn} after {LastLsn}.");
            }
            _entries.Add(command);
        }
    }

    /// <inheritdoc />
    public void Commit()
    {
        lock (_entries)
        {
            _committed = _entries.Count;
            LastLsn = _committed == 0 ? 0 : _entries[_committed - 1].Lsn;
            CommitCount++;
        }
    }

    /// <inheritdoc />
    public IEnumerable<JournalEntry> ReadAfter(long afterLsn, long fromAddress = 0)
    {
        Command[] copy;
        lock (_entries) copy = _entries.GetRange(0, _committed).ToArray();
        // The address of an entry is its index: enough for snapshots to say where the journal may begin.
        return copy.Select((c, i) => new JournalEntry(c, i, i + 1)).Where(e => e.Command.Lsn > afterLsn);
    }

    /// <inheritdoc />
    public void TruncateBefore(long address)
    {
        // Kept whole: an in-memory journal is for tests that want to replay everything.
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}

/// <summary>Keeps nothing: for benchmarks and tests that measure the pipeline without any durability.</summary>
public sealed class NullJournal : ICommandJournal
{
    /// <inheritdoc />
    public long LastLsn { get; private set; }

    /// <inheritdoc />
    public void Append(in Command command) => LastLsn = command.Lsn;

    /// <inheritdoc />
    public void Commit()
    {
    }

    /// <inheritdoc />
    public IEnumerable<JournalEntry> ReadAfter(long afterLsn, long fromAddress = 0) => [];

    /// <inheritdoc />
    public void TruncateBefore(long address)
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
