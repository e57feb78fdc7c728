using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Snapshots;

/// <summary>A snapshot on disk: the state it holds and where the journal continues after it.</summary>
public sealed record SnapshotFile(string Path, long Lsn, long JournalAddress, ulong StateHash);

/// <summary>How long each phase of loading a snapshot took (filled by <see cref="SnapshotStore.LoadLatest"/>).</summary>
public sealed class SnapshotLoadPhases
{
    /// <summary>Load as before issue 15: one stream read, then the checksum, then the decode with MessagePack's reader, one after another.</summary>
    public bool Sequential { get; init; }

    /// <summary>Reading the file into memory.</summary>
    public TimeSpan Read { get; internal set; }

    /// <summary>Checking the body's checksum (on another thread, alongside the decode, unless <see cref="Sequential"/>).</summary>
    public TimeSpan Verify { get; internal set; }

    /// <summary>Decoding the body into a <see cref="StateSnapshot"/>.</summary>
    public TimeSpan Decode { get; internal set; }

    /// <summary>Rebuilding the state machine from it (its invariants checked).</summary>
    public TimeSpan Restore { get; internal set; }

    /// <summary>Hashing the restored state against the recorded hash.</summary>
    public TimeSpan Hash { get; internal set; }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"read {Read.TotalMilliseconds:N0} ms, verify {Verify.TotalMilliseconds:N0} ms{(Sequential ? "" : " (beside the decode)")}, decode {Decode.TotalMilliseconds:N0} ms, restore {Restore.TotalMilliseconds:N0} ms, hash {Hash.TotalMilliseconds:N0} ms");
}

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
    /// files were passed over. <paramref name="phases"/>, when given, receives how long each phase took.
    /// </summary>
    public (ReservationStateMachine Machine, SnapshotFile File)? LoadLatest(StateMachineOptions options, List<string> rejected, long lsnBelow = long.MaxValue, SnapshotLoadPhases? phases = null)
    {
        ArgumentNullException.ThrowIfNull(rejected);
        foreach (var path in List().Where(p => LsnOf(p) < lsnBelow))
        {
            try
            {
                var (state, file) = Read(path, phases);
                var t = Stopwatch.GetTimestamp();
                var machine = ReservationStateMachine.Restore(state, options);
                if (phases is not null) phases.Restore = Stopwatch.GetElapsedTime(t);
                t = Stopwatch.GetTimestamp();
                var hash = machine.ComputeStateHash();
                if (phases is not null) phases.Hash = Stopwatch.GetElapsedTime(t);
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
    public static (StateSnapshot State, SnapshotFile File) Read(string path) => Read(path, null);

    /// <summary>
    /// Reads and verifies one snapshot file: the whole file in large reads, then its body decoded while another
    /// thread checks its checksum (a decode that fails on a body whose checksum does not hold reports the checksum).
    /// With <see cref="SnapshotLoadPhases.Sequential"/>, as before issue 15: read, then check, then decode.
    /// </summary>
    internal static (StateSnapshot State, SnapshotFile File) Read(string path, SnapshotLoadPhases? phases)
    {
        var sequential = phases?.Sequential == true;
        var t = Stopwatch.GetTimestamp();
        var bytes = sequential ? File.ReadAllBytes(path) : ReadWhole(path);
        if (phases is not null) phases.Read = Stopwatch.GetElapsedTime(t);
        if (bytes.Length < HeaderSize) throw new InvalidDataException("shorter than its header");
        var header = bytes.AsSpan(0, HeaderSize);
        if (BinaryPrimitives.ReadUInt64LittleEndian(header) != Magic) throw new InvalidDataException("not a snapshot file (bad magic)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[60..]) != CommandCodec.Crc32C(header[..60])) throw new InvalidDataException("header checksum mismatch");
        var lsn = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        var address = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
        var length = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
        if (length != bytes.Length - HeaderSize) throw new InvalidDataException($"body is {bytes.Length - HeaderSize} bytes, header says {length}");
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(header[40..]);
        var body = bytes.AsMemory(HeaderSize);
        StateSnapshot state;
        if (sequential)
        {
            t = Stopwatch.GetTimestamp();
            var matches = stored == CommandCodec.Crc32C(body.Span);
            if (phases is not null) phases.Verify = Stopwatch.GetElapsedTime(t);
            if (!matches) throw new InvalidDataException("body checksum mismatch");
            t = Stopwatch.GetTimestamp();
            state = SnapshotCodec.ReadWithMessagePack(body);
            if (phases is not null) phases.Decode = Stopwatch.GetElapsedTime(t);
        }
        else
        {
            // Body-sized work on both cores: nothing decoded is used before the checksum is known to hold.
            var check = Task.Run(() =>
            {
                var started = Stopwatch.GetTimestamp();
                var matches = stored == CommandCodec.Crc32C(body.Span);
                return (matches, Stopwatch.GetElapsedTime(started));
            });
            t = Stopwatch.GetTimestamp();
            StateSnapshot? decoded = null;
            Exception? failure = null;
            try
            {
                decoded = SnapshotCodec.Read(body);
            }
            // Whatever a damaged body makes the decoder throw (an array larger than memory, an index out of range) is
            // held until the checksum is known, and joins it: a failed checksum is the reason given, a held one
            // rethrows the decoder's error.
            catch (Exception ex)
            {
                failure = ex;
            }
            var decode = Stopwatch.GetElapsedTime(t);
            var (bodyMatches, verify) = check.GetAwaiter().GetResult();
            if (phases is not null) (phases.Decode, phases.Verify) = (decode, verify);
            if (!bodyMatches) throw new InvalidDataException("body checksum mismatch");
            if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            state = decoded!;
        }
        if (state.Lsn != lsn) throw new InvalidDataException($"body is at log sequence number {state.Lsn}, header says {lsn}");
        return (state, new SnapshotFile(path, lsn, address, hash));
    }

    // One uninitialized array of the file's size, filled by large positional reads (no stream buffer copies).
    private static byte[] ReadWhole(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var length = RandomAccess.GetLength(handle);
        if (length > Array.MaxLength) throw new InvalidDataException($"{length} bytes is larger than a snapshot can be");
        var bytes = GC.AllocateUninitializedArray<byte>((int)length);
        var done = 0;
        while (done < bytes.Length)
        {
            var read = RandomAccess.Read(handle, bytes.AsSpan(done, Math.Min(bytes.Length - done, 16 << 20)), done);
            if (read == 0) throw new InvalidDataException($"the file ended at {done} of {length} bytes while it was read");
            done += read;
        }
        return bytes;
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
