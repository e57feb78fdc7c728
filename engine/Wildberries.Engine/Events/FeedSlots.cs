using System.Text.Json;

namespace Wildberries.Engine.Events;

/// <summary>
/// A shard's named event feeds and how far each reader has acknowledged (like a database's replication slots):
/// kept in <c>feeds.json</c> in the shard's directory, so the journal is kept for a reader across restarts, before
/// it even reconnects. Written to a temporary file, fsynced and renamed; at most every <see cref="FlushInterval"/>,
/// and on close. A checkpoint on disk is never ahead of what its reader acknowledged.
/// </summary>
internal sealed class FeedSlots
{
    /// <summary>100 ms: a restart re-derives at most this much more than the reader had; one small write a tenth of a second.</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(100);

    private const string FileName = "feeds.json";
    private readonly string? _file;
    private readonly Dictionary<string, EventPosition> _slots;

    // What feeds.json holds (behind _slots by at most a flush): retention follows it, not the acknowledgements in
    // memory, so after a crash the journal still reaches back to every position a restart resumes from.
    private readonly Dictionary<string, EventPosition> _persisted;
    private readonly Lock _gate = new();
    private readonly Lock _write = new();
    private long _flushedAt;
    private bool _dirty;

    private FeedSlots(string? file, Dictionary<string, EventPosition> slots)
    {
        _file = file;
        _slots = slots;
        _persisted = new Dictionary<string, EventPosition>(slots, StringComparer.Ordinal);
    }

    private sealed record Slot(long Lsn, int Index);

    /// <summary>The slots of a shard directory (none yet when it has no file); in memory only without a directory.</summary>
    public static FeedSlots Load(string? directory)
    {
        if (directory is null) return new FeedSlots(null, new(StringComparer.Ordinal));
        var file = Path.Combine(directory, FileName);
        var slots = new Dictionary<string, EventPosition>(StringComparer.Ordinal);
        if (File.Exists(file))
        {
            var stored = JsonSerializer.Deserialize<Dictionary<string, Slot>>(File.ReadAllText(file))
                ?? throw new InvalidDataException($"{file} is empty: restore it, or delete it to let every event feed start over.");
            foreach (var (name, slot) in stored) slots[name] = new EventPosition(slot.Lsn, slot.Index);
        }
        return new FeedSlots(file, slots);
    }

    /// <summary>The position of <paramref name="name"/>, creating the slot at <paramref name="start"/> when it is new.</summary>
    public EventPosition Open(string name, EventPosition start)
    {
        lock (_gate)
        {
            if (_slots.TryGetValue(name, out var position)) return position;
            _slots[name] = start;
            _dirty = true;
        }
        Flush();
        return start;
    }

    /// <summary>Forgets a slot: the journal is no longer kept for it. True when it existed.</summary>
    public bool Drop(string name)
    {
        lock (_gate)
        {
            if (!_slots.Remove(name)) return false;
            _dirty = true;
        }
        Flush();
        return true;
    }

    /// <summary>The names of the slots.</summary>
    public IReadOnlyList<string> Names()
    {
        lock (_gate) return [.. _slots.Keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>Moves a slot forward (never back) and writes the slots when the last write is old enough.</summary>
    public void Acknowledge(string name, EventPosition position, long nowTicks)
    {
        lock (_gate)
        {
            // A dropped slot stays dropped, even if its last reader still acknowledges.
            if (!_slots.TryGetValue(name, out var current) || position <= current) return;
            _slots[name] = position;
            _dirty = true;
            if (nowTicks - _flushedAt < FlushInterval.Ticks) return;
            _flushedAt = nowTicks;
        }
        Flush();
    }

    /// <summary>
    /// The oldest log sequence number any slot still needs, as written in feeds.json (what a restart resumes from);
    /// <see cref="long.MaxValue"/> without slots.
    /// </summary>
    public long OldestNeededLsn()
    {
        lock (_gate) return _persisted.Count == 0 ? long.MaxValue : _persisted.Values.Min(p => p.Lsn);
    }

    /// <summary>Writes the slots if they changed; writes are serialised, so the file only moves forward.</summary>
    public void Flush()
    {
        lock (_write)
        {
            Dictionary<string, Slot> copy;
            lock (_gate)
            {
                if (!_dirty) return;
                _dirty = false;
                copy = _slots.ToDictionary(s => s.Key, s => new Slot(s.Value.Lsn, s.Value.Index), StringComparer.Ordinal);
            }
            if (_file is not null)
            {
                var temporary = _file + ".tmp";
                using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
                {
                    JsonSerializer.Serialize(stream, copy);
                    stream.Flush(flushToDisk: true);
                }
                File.Move(temporary, _file, overwrite: true);
                // Retention trusts the file as soon as this returns: the rename must survive a power loss first.
                Snapshots.DirectorySync.Fsync(Path.GetDirectoryName(_file)!);
            }
            lock (_gate)
            {
                _persisted.Clear();
                foreach (var (name, slot) in copy) _persisted[name] = new EventPosition(slot.Lsn, slot.Index);
            }
        }
    }
}
