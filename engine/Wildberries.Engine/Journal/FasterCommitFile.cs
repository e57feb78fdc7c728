using System.Buffers.Binary;
using FASTER.core;
using Microsoft.Win32.SafeHandles;

namespace Wildberries.Engine.Journal;

/// <summary>
/// Where FasterLog keeps its commit metadata: one file of two checksummed slots, written in turn without an fsync
/// of its own, instead of FASTER's default of a new file (created, written through, the old one deleted) per
/// commit, which cost more than the commit itself.
/// </summary>
/// <remarks>
/// In fast-commit mode the metadata is only where recovery starts scanning: every commit record is in the log,
/// beside the entries it commits, written in the same flush. The slot written after a commit is in the page
/// cache, so a killed process leaves it current and recovery reaches the last commit directly (then our own read
/// verifies every entry up to it, and names any damage). After a power loss the slot may be older or torn: FASTER
/// then starts from the other slot and scans forward through the commit records. <see cref="Sync"/> (called by
/// the background mark writer) bounds how old; a commit that moves the begin address (truncation, after which
/// FASTER deletes segments) is synced at once, since an older slot would point into a deleted segment.
/// </remarks>
internal sealed class FasterCommitFile : ILogCommitManager
{
    public const string FileName = "faster.commit";
    private const uint Magic = 0x43464257; // "WBFC"
    private const int SlotStride = 4096;
    private const int HeaderSize = 20;

    private readonly SafeFileHandle? _file;
    private readonly byte[] _slot = new byte[SlotStride];
    private readonly object _gate = new();
    private readonly bool _readOnly;
    private long _writes;
    private bool _dirty;

    /// <summary>
    /// Opens (or creates) the file in <paramref name="directory"/>; <paramref name="readOnly"/> (an offline check)
    /// creates nothing, opens it for reading only, and refuses commits.
    /// </summary>
    public FasterCommitFile(string directory, bool readOnly = false)
    {
        var path = Path.Combine(directory, FileName);
        _readOnly = readOnly;
        if (readOnly)
        {
            _file = File.Exists(path) ? File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.None) : null;
            return;
        }
        Directory.CreateDirectory(directory);
        _file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, FileOptions.None);
        var newest = Slots().Select(s => s.CommitNum).DefaultIfEmpty(0).Max();
        // Continue alternating from the slot after the newest, so the newest survives the next write.
        _writes = Slots().Where(s => s.CommitNum == newest).Select(s => (long)s.Index + 1).FirstOrDefault();
    }

    /// <summary>
    /// Test hook: called after each sync with the file's bytes as they are then on disk (a power loss after it
    /// leaves at least these).
    /// </summary>
    internal Action<byte[]>? Synced { get; set; }

    /// <summary>How many syncs reached the disk (for tests).</summary>
    internal long SyncCount { get; private set; }

    /// <remarks>
    /// FASTER 2.6.5 (<c>FasterLog.WriteCommitMetadata</c>) passes <paramref name="forceWriteMetadata"/> in fast-commit
    /// mode exactly when the commit moves the begin address, before it deletes the segments below it: that slot is
    /// synced here at once, since an older one would send recovery into a deleted segment.
    /// </remarks>
    public void Commit(long beginAddress, long untilAddress, byte[] commitMetadata, long commitNum, bool forceWriteMetadata)
    {
        ArgumentNullException.ThrowIfNull(commitMetadata);
        if (_readOnly || _file is null) throw new InvalidOperationException("The commit file was opened read-only.");
        if (commitMetadata.Length > SlotStride - HeaderSize) throw new InvalidOperationException($"FASTER commit metadata of {commitMetadata.Length} bytes does not fit a slot.");
        lock (_gate)
        {
            var s = _slot.AsSpan();
            s.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
            BinaryPrimitives.WriteInt32LittleEndian(s[8..], commitMetadata.Length);
            BinaryPrimitives.WriteInt64LittleEndian(s[12..], commitNum);
            commitMetadata.CopyTo(s[HeaderSize..]);
            var length = HeaderSize + commitMetadata.Length;
            // The checksum covers the length, the commit number and the metadata.
            BinaryPrimitives.WriteUInt32LittleEndian(s[4..], CommandCodec.Crc32C(s[8..length]));
            RandomAccess.Write(_file, s[..length], (_writes++ & 1) * SlotStride);
            _dirty = true;
            if (forceWriteMetadata) SyncLocked();
        }
    }

    /// <summary>Makes the slots written so far durable (cheap when nothing changed).</summary>
    public void Sync()
    {
        lock (_gate) SyncLocked();
    }

    public byte[] GetCommitMetadata(long commitNum)
    {
        foreach (var slot in Slots())
        {
            if (slot.CommitNum == commitNum) return slot.Metadata;
        }
        return null!;
    }

    public IEnumerable<long> ListCommits() => [.. Slots().Select(s => s.CommitNum).OrderByDescending(n => n)];

    public void RemoveCommit(long commitNum)
    {
        lock (_gate)
        {
            if (_readOnly || _file is null) return;
            foreach (var slot in Slots().Where(s => s.CommitNum == commitNum)) RandomAccess.Write(_file, new byte[HeaderSize], slot.Index * SlotStride);
        }
    }

    public void RemoveAllCommits()
    {
        lock (_gate)
        {
            if (_readOnly || _file is null) return;
            RandomAccess.Write(_file, new byte[SlotStride + HeaderSize], 0);
        }
    }

    public void OnRecovery(long commitNum)
    {
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_file is null) return;
            if (!_file.IsClosed) SyncLocked();
            _file.Dispose();
        }
    }

    private void SyncLocked()
    {
        if (!_dirty || _file is null || _file.IsClosed) return;
        RandomAccess.FlushToDisk(_file);
        _dirty = false;
        SyncCount++;
        if (Synced is { } synced)
        {
            var image = new byte[RandomAccess.GetLength(_file)];
            RandomAccess.Read(_file, image, 0);
            synced(image);
        }
    }

    private List<(int Index, long CommitNum, byte[] Metadata)> Slots()
    {
        var found = new List<(int, long, byte[])>(2);
        if (_file is null) return found;
        var buffer = new byte[SlotStride];
        for (var i = 0; i < 2; i++)
        {
            var read = RandomAccess.Read(_file, buffer, (long)i * SlotStride);
            if (read < HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(buffer) != Magic) continue;
            var length = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(8));
            if (length < 0 || length > SlotStride - HeaderSize || read < HeaderSize + length) continue;
            if (BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(4)) != CommandCodec.Crc32C(buffer.AsSpan(8, HeaderSize - 8 + length))) continue;
            found.Add((i, BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(12)), buffer.AsSpan(HeaderSize, length).ToArray()));
        }
        return found;
    }
}
