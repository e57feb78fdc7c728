using System.Buffers.Binary;
using FASTER.core;

namespace Wildberries.Engine.Journal;

/// <summary>
/// Where FasterLog keeps its commit metadata: one <see cref="TwoSlotFile"/> of two checksummed slots, written in turn without an fsync
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
    private const int HeaderSize = 20;

    private readonly TwoSlotFile _file;
    private readonly byte[] _slot = new byte[TwoSlotFile.SlotStride];
    private readonly object _gate = new();
    private long _writes;
    private bool _dirty;

    /// <summary>
    /// Opens (or creates) the file in <paramref name="directory"/>; <paramref name="readOnly"/> (an offline check)
    /// creates nothing, opens it for reading only, and refuses commits.
    /// </summary>
    public FasterCommitFile(string directory, bool readOnly = false)
    {
        if (!readOnly) Directory.CreateDirectory(directory);
        _file = TwoSlotFile.Open(Path.Combine(directory, FileName), readOnly);
        var slots = Slots();
        var newest = slots.Select(s => s.Value.CommitNum).DefaultIfEmpty(0).Max();
        // Continue alternating from the slot after the newest, so the newest survives the next write.
        _writes = slots.Where(s => s.Value.CommitNum == newest).Select(s => (long)s.Slot + 1).FirstOrDefault();
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
        if (_file.ReadOnly || !_file.IsOpen) throw new InvalidOperationException("The commit file was opened read-only.");
        if (commitMetadata.Length > TwoSlotFile.SlotStride - HeaderSize) throw new InvalidOperationException($"FASTER commit metadata of {commitMetadata.Length} bytes does not fit a slot.");
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
            // The slot moves on only after a write that went through: after a failed one, the next write goes to the
            // same (perhaps torn) slot, never over the other one, which holds the newest valid commit.
            _file.Write((int)(_writes & 1), s[..length]);
            _writes++;
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
        foreach (var (_, slot) in Slots())
        {
            if (slot.CommitNum == commitNum) return slot.Metadata;
        }
        return null!;
    }

    public IEnumerable<long> ListCommits() => [.. Slots().Select(s => s.Value.CommitNum).OrderByDescending(n => n)];

    public void RemoveCommit(long commitNum)
    {
        lock (_gate)
        {
            if (_file.ReadOnly || !_file.IsOpen) return;
            foreach (var (index, _) in Slots().Where(s => s.Value.CommitNum == commitNum)) _file.Erase(index, HeaderSize);
        }
    }

    public void RemoveAllCommits()
    {
        lock (_gate)
        {
            if (_file.ReadOnly || !_file.IsOpen) return;
            _file.Erase(0, HeaderSize);
            _file.Erase(1, HeaderSize);
        }
    }

    public void OnRecovery(long commitNum)
    {
    }

    public void Dispose()
    {
        lock (_gate)
        {
            SyncLocked();
            _file.Dispose();
        }
    }

    private void SyncLocked()
    {
        if (!_dirty || !_file.IsOpen) return;
        _file.Flush();
        _dirty = false;
        SyncCount++;
        Synced?.Invoke(_file.ReadImage());
    }

    private List<(int Slot, (long CommitNum, byte[] Metadata) Value)> Slots() => _file.ReadSlots<(long, byte[])>(TwoSlotFile.SlotStride, TryParse);

    private static bool TryParse(ReadOnlySpan<byte> s, out (long CommitNum, byte[] Metadata) slot)
    {
        slot = default;
        if (s.Length < HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(s) != Magic) return false;
        var length = BinaryPrimitives.ReadInt32LittleEndian(s[8..]);
        if (length < 0 || length > s.Length - HeaderSize) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(s[4..]) != CommandCodec.Crc32C(s[8..(HeaderSize + length)])) return false;
        slot = (BinaryPrimitives.ReadInt64LittleEndian(s[12..]), s.Slice(HeaderSize, length).ToArray());
        return true;
    }
}
