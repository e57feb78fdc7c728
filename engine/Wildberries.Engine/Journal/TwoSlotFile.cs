using Microsoft.Win32.SafeHandles;

namespace Wildberries.Engine.Journal;

/// <summary>
/// A small file of two slots, 4 KiB apart so that each sits in its own block, written in turn: a write torn by a
/// crash damages only the slot being written, and the other still holds the record before it. The owner
/// (<see cref="CommitMark"/>, <see cref="FasterCommitFile"/>) lays out its slots (magic, checksum, contents),
/// tells valid from damaged, and picks which slot to write; this class owns the file: opening it (read-only opens
/// create nothing and refuse writes), reading the slots, writing one, making writes durable.
/// </summary>
internal sealed class TwoSlotFile : IDisposable
{
    /// <summary>Where the second slot starts; a slot is at most this long.</summary>
    public const int SlotStride = 4096;

    private readonly SafeFileHandle? _file;
    private readonly string _name;

    private TwoSlotFile(SafeFileHandle? file, string name, bool readOnly, bool existed)
    {
        _file = file;
        _name = name;
        ReadOnly = readOnly;
        Existed = existed;
    }

    /// <summary>Parses one slot's bytes (as many as the file held, up to the size asked for); false when not valid.</summary>
    public delegate bool SlotParser<T>(ReadOnlySpan<byte> slot, out T value);

    /// <summary>Opened for an offline check: writes refuse.</summary>
    public bool ReadOnly { get; }

    /// <summary>Whether the file existed with content before this open.</summary>
    public bool Existed { get; }

    /// <summary>Whether there is an open file (a read-only open of a missing file has none, and reads no slot).</summary>
    public bool IsOpen => _file is { IsClosed: false };

    /// <summary>
    /// Opens (or creates) the file at <paramref name="path"/>; <paramref name="readOnly"/> creates nothing, opens an
    /// existing file for reading only (sharing it with a running writer), and refuses writes.
    /// </summary>
    public static TwoSlotFile Open(string path, bool readOnly)
    {
        var name = Path.GetFileName(path);
        var existed = File.Exists(path) && new FileInfo(path).Length > 0;
        if (readOnly && !File.Exists(path)) return new TwoSlotFile(null, name, readOnly, existed);
        var file = readOnly
            ? File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.None)
            : File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, FileOptions.None);
        return new TwoSlotFile(file, name, readOnly, existed);
    }

    /// <summary>
    /// The slots <paramref name="parse"/> accepts, in slot order, each given up to <paramref name="size"/> bytes
    /// (fewer where the file ends inside it).
    /// </summary>
    public List<(int Slot, T Value)> ReadSlots<T>(int size, SlotParser<T> parse)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, SlotStride);
        var found = new List<(int, T)>(2);
        if (!IsOpen) return found;
        var buffer = new byte[size];
        for (var slot = 0; slot < 2; slot++)
        {
            var read = RandomAccess.Read(_file!, buffer, (long)slot * SlotStride);
            if (parse(buffer.AsSpan(0, read), out var value)) found.Add((slot, value));
        }
        return found;
    }

    /// <summary>Writes <paramref name="bytes"/> at the start of slot <paramref name="slot"/> (0 or 1), without syncing.</summary>
    public void Write(int slot, ReadOnlySpan<byte> bytes)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)slot, 1u, nameof(slot));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes.Length, SlotStride, nameof(bytes));
        if (ReadOnly || _file is null) throw new InvalidOperationException($"{_name} was opened read-only.");
        RandomAccess.Write(_file, bytes, (long)slot * SlotStride);
    }

    /// <summary>Zeroes the first <paramref name="length"/> bytes of slot <paramref name="slot"/>, without syncing.</summary>
    public void Erase(int slot, int length) => Write(slot, new byte[length]);

    /// <summary>Makes the writes so far durable (fsync).</summary>
    public void Flush()
    {
        if (IsOpen) RandomAccess.FlushToDisk(_file!);
    }

    /// <summary>The whole file as it is now (for tests: what a power loss right after a flush leaves).</summary>
    public byte[] ReadImage()
    {
        if (!IsOpen) return [];
        var image = new byte[RandomAccess.GetLength(_file!)];
        RandomAccess.Read(_file!, image, 0);
        return image;
    }

    public void Dispose() => _file?.Dispose();
}
