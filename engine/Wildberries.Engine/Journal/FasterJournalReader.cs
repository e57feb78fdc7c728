using FASTER.core;
using Wildberries.Core;

namespace Wildberries.Engine.Journal;

/// <summary>How <see cref="FasterJournal"/> reads entries back.</summary>
internal enum JournalReadMode
{
    /// <summary>
    /// Each entry read in place from FASTER's page (no copy by FASTER), decoded from the span; every command gets
    /// its own arrays (readers that keep commands).
    /// </summary>
    InPlace,

    /// <summary>
    /// As <see cref="InPlace"/>, and a command's line and warehouse arrays are reused by the next entry: for a
    /// reader that is done with each command before it asks for the next (recovery's replay).
    /// </summary>
    Replay,

    /// <summary>
    /// As <see cref="InPlace"/> (every command its own arrays), with repeated strings kept once: for recovery's
    /// replay that decodes ahead on another thread, a batch of commands ahead of the one applying them.
    /// </summary>
    ReplayAhead,
}

// The read side of the journal: scanning committed entries back, each one verified.
public sealed partial class FasterJournal
{
    /// <inheritdoc />
    public IEnumerable<JournalEntry> ReadAfter(long afterLsn, long fromAddress = 0) => Read(afterLsn, fromAddress, JournalReadMode.InPlace);

    /// <summary>
    /// <see cref="ReadAfter"/> for a reader that applies each command before it asks for the next: the command's
    /// line and warehouse arrays are overwritten by the next entry.
    /// </summary>
    internal IEnumerable<JournalEntry> ReadForReplay(long afterLsn, long fromAddress = 0) => Read(afterLsn, fromAddress, JournalReadMode.Replay);

    /// <summary>The committed entries after <paramref name="afterLsn"/>, read the way <paramref name="mode"/> says.</summary>
    internal IEnumerable<JournalEntry> Read(long afterLsn, long fromAddress, JournalReadMode mode)
    {
        var start = Math.Max(_log.BeginAddress, fromAddress);
        var end = _log.CommittedUntilAddress;
        var previous = -1L;
        var scratch = mode switch
        {
            JournalReadMode.Replay => new CommandCodec.DecodeScratch(reuseArrays: true),
            JournalReadMode.ReplayAhead => new CommandCodec.DecodeScratch(reuseArrays: false),
            _ => null,
        };
        var buffer = new byte[512];
        using var iterator = _log.Scan(start, end);
        while (true)
        {
            int length;
            long address, next;
            JournalCorruptException? damage = null;
            Command command = default;
            string? error = null;
            bool decoded;
            try
            {
                if (!NextInPlace(iterator, ref buffer, out length, out address, out next)) break;
                decoded = CommandCodec.TryDecode(buffer.AsSpan(0, length), out command, out _, out error, scratch);
            }
            catch (Exception ex) when (ex is not JournalCorruptException)
            {
                damage = Corrupt(previous + 1, iterator.NextAddress, "FASTER could not read the entry: " + ex.Message, ex);
                (decoded, address, next) = (false, iterator.NextAddress, 0);
            }
            if (damage is null && !decoded)
            {
                damage = Corrupt(previous + 1, address, error!);
            }
            else if (damage is null && previous < 0 && command.Lsn - 1 > afterLsn)
            {
                damage = Corrupt(afterLsn + 1, address, $"the journal begins at log sequence number {command.Lsn}, after a gap from {afterLsn}: a snapshot that covers it is missing");
            }
            else if (damage is null && previous >= 0 && command.Lsn != previous + 1)
            {
                damage = Corrupt(previous + 1, address, $"found log sequence number {command.Lsn} where {previous + 1} belongs");
            }
            if (damage is not null)
            {
                if (!_acceptDataLoss) throw damage;
                DataLoss = damage.Message;
                break;
            }
            previous = command.Lsn;
            if (command.Lsn > afterLsn) yield return new JournalEntry(command, address, next);
        }
        if (_recovered) yield break;

        // The first read is recovery: it must reach everything acknowledged, and it sets where appends continue.
        var last = Math.Max(previous, afterLsn);
        if (_mark.Current is { } mark && last < mark.Lsn && DataLoss is null)
        {
            var lost = Corrupt(last + 1, end, $"the journal ends at log sequence number {last} but {mark.Lsn} was acknowledged ({CommitMark.FileName})");
            if (!_acceptDataLoss) throw lost;
            DataLoss = lost.Message;
        }
        LastLsn = _appendedLsn = last;
        _recovered = true;
    }

    /// <summary>
    /// The log sequence number of the first entry still kept (0 for an empty journal): where a reader of a truncated
    /// journal can begin. Reads one entry; throws <see cref="JournalCorruptException"/> when it does not decode.
    /// </summary>
    public long FirstLsn()
    {
        using var iterator = _log.Scan(_log.BeginAddress, _log.CommittedUntilAddress);
        var buffer = new byte[512];
        if (!NextInPlace(iterator, ref buffer, out var length, out var address, out _)) return 0;
        if (!CommandCodec.TryDecode(buffer.AsSpan(0, length), out var command, out _, out var error, null)) throw Corrupt(0, address, error!);
        return command.Lsn;
    }

    /// <summary>
    /// FASTER's iterator over the committed entries, for the benchmark's baseline read (bench/, the read before
    /// issue 15), which copies and decodes them its own way.
    /// </summary>
    internal FasterLogScanIterator ScanCommitted() => _log.Scan(_log.BeginAddress, _log.CommittedUntilAddress);

    /// <summary>FASTER's part of a read alone: every committed entry visited in place, nothing decoded (the benchmark's breakdown).</summary>
    internal unsafe long CountEntries()
    {
        using var iterator = _log.Scan(_log.BeginAddress, _log.CommittedUntilAddress);
        long count = 0;
        while (iterator.UnsafeGetNext(out _, out _, out _, out _))
        {
            iterator.UnsafeRelease();
            count++;
        }
        return count;
    }

    /// <summary>
    /// The next entry, copied from FASTER's page into <paramref name="buffer"/> (grown when too small) while FASTER
    /// holds the page: one copy of a few hundred bytes instead of a new array an entry.
    /// </summary>
    private static unsafe bool NextInPlace(FasterLogScanIterator iterator, ref byte[] buffer, out int length, out long address, out long next)
    {
        if (!iterator.UnsafeGetNext(out var entry, out length, out address, out next)) return false;
        try
        {
            if (buffer.Length < length) buffer = new byte[Math.Max(length, buffer.Length * 2)];
            new ReadOnlySpan<byte>(entry, length).CopyTo(buffer);
        }
        finally
        {
            iterator.UnsafeRelease();
        }
        return true;
    }
}
