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

    private readonly SafeFileHandle _file;
    private readonly byte[] _slot = new byte[SlotStride];
    private readonly object _gate = new();
    private long _writes;
    private bool _dirty;

    public FasterCommitFile(string directory)
    {
        Directory.CreateDirectory(directory);
        _file = File.OpenHandle(Path.Combine(directory, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, FileOptions.None);
        var newest = Slots().Select(s => s.CommitNum).DefaultIfEmpty(0).Max();
        // Continue alternating from the slot after the newest, so the newest survives the next write.
        _writes = Slots().Where(s => s.CommitNum == newest).Select(s => (long)s.Index + 1).FirstOrDefault();
    }

    public void Commit(long beginAddress, long untilAddress, byte[] commitMetadata, long commitNum, bool forceWriteMetadata)
    {
        ArgumentNullException.ThrowIfNull(commitMetadata);
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
            foreach (var slot in Slots().Where(s => s.CommitNum == commitNum)) RandomAccess.Write(_file, new byte[HeaderSize], slot.Index * SlotStride);
        }
    }

    public void RemoveAllCommits()
    {
        lock (_gate)
        {
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
            if (!_file.IsClosed) SyncLocked();
            _file.Dispose();
        }
    }

    private void SyncLocked()
    {
        if (!_dirty || _file.IsClosed) return;
        RandomAccess.FlushToDisk(_file);
        _dirty = false;
    }

    private List<(int Index, long CommitNum, byte[] Metadata)> Slots()
    {
        var found = new List<(int, long, byte[])>(2);
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
