using System.Buffers.Binary;

namespace Wildberries.Engine.Journal;

/// <summary>
/// Our own durable record of how far the journal was acknowledged: the last committed log sequence number and
/// FASTER address. FasterLog silently recovers an empty (or older) log when its commit file is missing or
/// truncated; comparing what it recovered with this record turns that into a refusal instead of a silent loss.
/// </summary>
/// <remarks>
/// Two 64-byte slots of a <see cref="TwoSlotFile"/>, written alternately and each fsynced, each with its own CRC-32C:
/// a write torn by a crash damages only the slot being written, and the other still says what was acknowledged
/// before (the torn write's batch was never acknowledged).
/// </remarks>
internal sealed class CommitMark : IDisposable
{
    public const string FileName = "journal.mark";
    private const uint Magic = 0x4D4A4257; // "WBJM"
    private const int SlotSize = 64;

    private readonly TwoSlotFile _file;
    private readonly byte[] _slot = new byte[SlotSize];
    private long _sequence;

    private CommitMark(TwoSlotFile file, Record? current)
    {
        _file = file;
        Current = current;
        _sequence = current?.Sequence ?? 0;
        Damaged = file.Existed && current is null;
    }

    /// <summary>What one slot says.</summary>
    public readonly record struct Record(long Sequence, long Lsn, long BeginAddress, long UntilAddress);

    /// <summary>The newest valid record, or null when the file is new or holds none.</summary>
    public Record? Current { get; private set; }

    /// <summary>Whether the file existed with content before this open.</summary>
    public bool Existed => _file.Existed;

    /// <summary>Whether the file existed but neither slot was valid (as opened).</summary>
    public bool Damaged { get; }

    /// <summary>Opened for an offline check: <see cref="Write"/> refuses.</summary>
    public bool ReadOnly => _file.ReadOnly;

    /// <summary>Opens (or creates) the mark; <paramref name="readOnly"/> (an offline check) creates nothing and refuses writes.</summary>
    public static CommitMark Open(string path, bool readOnly = false)
    {
        var file = TwoSlotFile.Open(path, readOnly);
        Record? best = null;
        foreach (var (_, r) in file.ReadSlots<Record>(SlotSize, TryParse))
        {
            if (best is null || r.Sequence > best.Value.Sequence) best = r;
        }
        return new CommitMark(file, best);
    }

    /// <summary>Durably records a commit; returns after the slot is on disk.</summary>
    public void Write(long lsn, long beginAddress, long untilAddress)
    {
        if (ReadOnly) throw new InvalidOperationException($"{FileName} was opened read-only.");
        var r = new Record(_sequence + 1, lsn, beginAddress, untilAddress);
        var s = _slot.AsSpan();
        s.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(s[8..], r.Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(s[16..], r.Lsn);
        BinaryPrimitives.WriteInt64LittleEndian(s[24..], r.BeginAddress);
        BinaryPrimitives.WriteInt64LittleEndian(s[32..], r.UntilAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[60..], CommandCodec.Crc32C(s[..60]));
        // Odd record sequences go to the second slot: the newest record's slot is never the one written next.
        _file.Write((int)(r.Sequence & 1), s);
        _file.Flush();
        _sequence = r.Sequence;
        Current = r;
    }

    public void Dispose() => _file.Dispose();

    private static bool TryParse(ReadOnlySpan<byte> s, out Record record)
    {
        record = default;
        if (s.Length != SlotSize) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(s) != Magic) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(s[60..]) != CommandCodec.Crc32C(s[..60])) return false;
        record = new Record(
            BinaryPrimitives.ReadInt64LittleEndian(s[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(s[16..]),
            BinaryPrimitives.ReadInt64LittleEndian(s[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(s[32..]));
        return true;
    }
}
