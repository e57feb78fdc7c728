using FASTER.core;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Bench.Durable;

/// <summary>
/// The journal read before issue 15, kept here (not in the engine) as the replay breakdown's baseline: FASTER copies
/// each entry into a new array (<c>GetNext(out byte[])</c>) and MessagePack's own reader decodes it. It checks what
/// the engine's read checks per entry (the header and CRC-32C, the body's decode, log sequence numbers following on)
/// and throws on the first damage; the engine's recovery-only checks (the acknowledged end) are not part of a
/// per-entry cost.
/// </summary>
internal static class CopyingJournalRead
{
    public static IEnumerable<JournalEntry> Read(FasterJournal journal)
    {
        using var iterator = journal.ScanCommitted();
        var previous = -1L;
        while (iterator.GetNext(out var copy, out var length, out var address, out var next))
        {
            if (!TryDecode(copy.AsMemory(0, length), out var command, out var error)) throw new InvalidDataException($"entry at {address}: {error}");
            if (previous >= 0 && command.Lsn != previous + 1) throw new InvalidDataException($"found log sequence number {command.Lsn} where {previous + 1} belongs");
            previous = command.Lsn;
            yield return new JournalEntry(command, address, next);
        }
    }

    private static bool TryDecode(ReadOnlyMemory<byte> entry, out Command command, out string? error)
    {
        command = default;
        if (!CommandCodec.TryCheck(entry.Span, out error)) return false;
        var reader = new MessagePackPackReader(entry[CommandCodec.HeaderSize..]);
        return CommandCodec.TryDecodeBody(ref reader, entry.Span, ref command, out _, out error, null);
    }
}
