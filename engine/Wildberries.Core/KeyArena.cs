using System.Text;

namespace Wildberries.Core;

/// <summary>
/// Idempotency keys as their ASCII bytes (keys are printable ASCII, <see cref="Validate.IsKey"/>), in chunks of 1 MiB
/// that are never copied, each key a range of 4-byte units with a free list per range length: a key of "k123456"
/// costs 8 bytes here instead of a 40-byte string object, a UUID key 36 instead of 96, and the GC has nothing to trace.
/// A range is named by its first unit; ranges never cross a chunk.
/// </summary>
internal sealed class KeyArena
{
    private const int ChunkShift = 18; // 2^18 units of 4 bytes: 1 MiB a chunk
    private const int ChunkUnits = 1 << ChunkShift;
    private const int ChunkBytes = ChunkUnits * 4;

    private byte[][] _chunks;
    private int _top;

    // The first free range of each length in units; a free range links to the next of its length through its first unit.
    private int[] _free = [];

    /// <summary>Makes room for <paramref name="bytes"/> bytes of keys up front (a small machine's one chunk grows as used).</summary>
    public KeyArena(long bytes, bool commit = false)
    {
        var chunks = (int)Math.Min((bytes + ChunkBytes - 1) / ChunkBytes, 1 << (31 - ChunkShift));
        _chunks = new byte[Math.Max(chunks, 1)][];
        for (var i = 0; i < _chunks.Length; i++)
        {
            _chunks[i] = new byte[chunks > 1 ? ChunkBytes : (int)Math.Clamp(bytes, 1024, ChunkBytes)];
            if (commit) Prefault.Touch(_chunks[i]);
        }
    }

    /// <summary>The bytes a key of <paramref name="length"/> characters takes (a whole number of 4-byte units).</summary>
    public static long BytesOf(int length) => Units(length) * 4L;

    /// <summary>The bytes of the key of <paramref name="length"/> characters at <paramref name="start"/>.</summary>
    public Span<byte> this[int start, int length] =>
        length == 0 ? [] : _chunks[start >> ChunkShift].AsSpan((start & (ChunkUnits - 1)) * 4, length);

    /// <summary>Stores an ASCII key; returns where it starts.</summary>
    public int Add(ReadOnlySpan<char> key)
    {
        if (key.Length == 0) return 0;
        var start = Take(Units(key.Length));
        var status = Ascii.FromUtf16(key, this[start, key.Length], out _);
        Invariant.That(status == System.Buffers.OperationStatus.Done, "idempotency keys are ASCII");
        return start;
    }

    /// <summary>Gives the range of a key back.</summary>
    public void Free(int start, int length)
    {
        if (length == 0) return;
        var units = Units(length);
        BitConverter.TryWriteBytes(Chunk(start, units), _free[units]);
        _free[units] = start;
    }

    private int Take(int units)
    {
        if (units >= _free.Length)
        {
            var old = _free.Length;
            Array.Resize(ref _free, Math.Max(units + 1, 16));
            _free.AsSpan(old).Fill(-1);
        }
        if (_free[units] is var free and >= 0)
        {
            _free[units] = BitConverter.ToInt32(Chunk(free, units));
            return free;
        }
        // A range does not cross a chunk: the few units left at a chunk's end are skipped.
        if ((_top & (ChunkUnits - 1)) + units > ChunkUnits) _top = (_top | (ChunkUnits - 1)) + 1;
        var chunk = _top >> ChunkShift;
        if (chunk == _chunks.Length)
        {
            Invariant.That(chunk < 1 << (31 - ChunkShift), "the key arena stays below 8 GiB");
            Array.Resize(ref _chunks, chunk + 1);
            _chunks[chunk] = new byte[ChunkBytes];
        }
        var end = ((_top & (ChunkUnits - 1)) + units) * 4;
        if (end > _chunks[chunk].Length) Array.Resize(ref _chunks[chunk], Math.Min(ChunkBytes, Math.Max(end, _chunks[chunk].Length * 2)));
        var start = _top;
        _top += units;
        return start;
    }

    private Span<byte> Chunk(int start, int units) => _chunks[start >> ChunkShift].AsSpan((start & (ChunkUnits - 1)) * 4, units * 4);

    private static int Units(int length) => (length + 3) >> 2;
}
