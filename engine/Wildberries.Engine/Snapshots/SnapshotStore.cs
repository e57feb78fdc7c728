using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Snapshots;

/// <summary>A snapshot on disk: the state it holds and where the journal continues after it.</summary>
public sealed record SnapshotFile(string Path, long Lsn, long JournalAddress, ulong StateHash);

/// <summary>
/// Snapshot files of one shard: <c>snapshot-&lt;lsn&gt;.wbs</c>, each a 64-byte header (magic, log sequence
/// number, journal address, state hash, body length and CRC-32C, header CRC-32C) and a MessagePack body. Written to
/// a temporary file, fsynced, renamed, and the directory fsynced, so a crash leaves the old snapshot or the new one.
/// </summary>
public sealed class SnapshotStore(string directory)
{
    private const ulong Magic = 0x31304E5041534257; // "WBSNAP01"
    private const int HeaderSize = 64;

    /// <summary>The shard directory the snapshots live in.</summary>
    public string Directory { get; } = directory;

    /// <summary>Every snapshot file by name, newest first (not yet verified).</summary>
    public IReadOnlyList<string> List() =>
        System.IO.Directory.Exists(Directory)
            ? [.. System.IO.Directory.EnumerateFiles(Directory, "snapshot-*.wbs").Order(StringComparer.Ordinal).Reverse()]
            : [];

    /// <summary>Writes a snapshot durably and returns its file.</summary>
    public SnapshotFile Save(StateSnapshot state, long journalAddress, ulong stateHash)
    {
        ArgumentNullException.ThrowIfNull(state);
        System.IO.Directory.CreateDirectory(Directory);
        var body = new ArrayBufferWriter<byte>(1 << 16);
        SnapshotCodec.Write(state, body);
        var header = new byte[HeaderSize];
        BinaryPrimitives.WriteUInt64LittleEndian(header, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), state.Lsn);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), journalAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(24), stateHash);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(32), body.WrittenCount);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), CommandCodec.Crc32C(body.WrittenSpan));
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(44), state.ShardId);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(60), CommandCodec.Crc32C(header.AsSpan(0, 60)));

        var path = System.IO.Path.Combine(Directory, FileName(state.Lsn));
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            file.Write(header);
            file.Write(body.WrittenSpan);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        DirectorySync.Fsync(Directory);
        return new SnapshotFile(path, state.Lsn, journalAddress, stateHash);
    }

    /// <summary>
    /// The newest snapshot that verifies (checksums, and the restored state hashes as recorded), restored; older
    /// ones are tried when a newer one is damaged. Null when there is none; <paramref name="rejected"/> says why
    /// files were passed over.
    /// </summary>
    public (ReservationStateMachine Machine, SnapshotFile File)? LoadLatest(StateMachineOptions options, List<string> rejected, long lsnBelow = long.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(rejected);
        foreach (var path in List().Where(p => LsnOf(p) < lsnBelow))
        {
            try
            {
                var (state, file) = Read(path);
                var machine = ReservationStateMachine.Restore(state, options);
                var hash = machine.ComputeStateHash();
                if (hash != file.StateHash) throw new InvalidDataException($"restored state hash {hash:x16} differs from the recorded {file.StateHash:x16}");
                return (machine, file);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or MessagePack.MessagePackSerializationException or InvariantViolationException or ArgumentException or KeyNotFoundException or OverflowException)
            {
                rejected.Add($"{path}: {ex.Message}");
            }
        }
        return null;
    }

    /// <summary>Reads and verifies one snapshot file.</summary>
    public static (StateSnapshot State, SnapshotFile File) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < HeaderSize) throw new InvalidDataException("shorter than its header");
        var header = bytes.AsSpan(0, HeaderSize);
        if (BinaryPrimitives.ReadUInt64LittleEndian(header) != Magic) throw new InvalidDataException("not a snapshot file (bad magic)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[60..]) != CommandCodec.Crc32C(header[..60])) throw new InvalidDataException("header checksum mismatch");
        var lsn = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        var address = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
        var length = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
        if (length != bytes.Length - HeaderSize) throw new InvalidDataException($"body is {bytes.Length - HeaderSize} bytes, header says {length}");
        var body = bytes.AsMemory(HeaderSize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[40..]) != CommandCodec.Crc32C(body.Span)) throw new InvalidDataException("body checksum mismatch");
        var state = SnapshotCodec.Read(body);
        if (state.Lsn != lsn) throw new InvalidDataException($"body is at log sequence number {state.Lsn}, header says {lsn}");
        return (state, new SnapshotFile(path, lsn, address, hash));
    }

    /// <summary>
    /// Deletes all but the newest <paramref name="keep"/> snapshots, and the newest one below
    /// <paramref name="keepOneBelowLsn"/> (where an event feed that lags must restart from), and leftover temporary files.
    /// </summary>
    public void Prune(int keep, long keepOneBelowLsn = long.MaxValue)
    {
        var files = List();
        var floor = files.FirstOrDefault(p => LsnOf(p) < keepOneBelowLsn);
        foreach (var path in files.Skip(keep))
        {
            if (path != floor) File.Delete(path);
        }
        foreach (var temp in System.IO.Directory.EnumerateFiles(Directory, "snapshot-*.wbs.tmp")) File.Delete(temp);
    }

    /// <summary>The log sequence number in a snapshot file's name.</summary>
    public static long LsnOf(string path) =>
        long.TryParse(System.IO.Path.GetFileNameWithoutExtension(path).AsSpan("snapshot-".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var lsn) ? lsn : -1;

    /// <summary>The file name of the snapshot at <paramref name="lsn"/>; zero-padded so names sort by number.</summary>
    public static string FileName(long lsn) => $"snapshot-{lsn.ToString("D20", CultureInfo.InvariantCulture)}.wbs";
}
