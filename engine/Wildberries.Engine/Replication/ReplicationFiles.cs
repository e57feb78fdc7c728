using System.Text.Json;

namespace Wildberries.Engine.Replication;

/// <summary>
/// This node's epoch, in <c>replication.json</c> at the data directory's root: the epoch of the last promotion it
/// made (1 for the first primary). Written (temporary file, fsync, rename, directory fsync) before the marker that
/// announces it, so a node never writes under an epoch it could forget.
/// </summary>
internal sealed class NodeEpoch
{
    private const string FileName = "replication.json";
    private readonly string? _file;
    private int _epoch;

    private NodeEpoch(string? file, int epoch, string? fencedBy)
    {
        _file = file;
        _epoch = epoch;
        FencedBy = fencedBy;
    }

    private sealed record Stored(int Epoch, string? FencedBy = null);

    /// <summary>Why this node was fenced, once it was: it never takes writes again (rebuild it as a standby).</summary>
    public string? FencedBy { get; private set; }

    /// <summary>The epoch this node writes with.</summary>
    public int Epoch => Volatile.Read(ref _epoch);

    /// <summary>Loads the epoch of <paramref name="directory"/> (0 when new); in memory only without a directory.</summary>
    public static NodeEpoch Load(string? directory)
    {
        if (directory is null) return new NodeEpoch(null, 0, null);
        var file = Path.Combine(directory, FileName);
        if (!File.Exists(file)) return new NodeEpoch(file, 0, null);
        var stored = JsonSerializer.Deserialize<Stored>(File.ReadAllText(file))
            ?? throw new InvalidDataException($"{file} is empty: restore it from a backup (it holds this node's replication epoch).");
        return new NodeEpoch(file, stored.Epoch, stored.FencedBy);
    }

    /// <summary>Raises the epoch to <paramref name="epoch"/> and makes it durable before returning.</summary>
    public void Raise(int epoch)
    {
        if (epoch <= _epoch) throw new InvalidOperationException($"The epoch only grows: {epoch} after {_epoch}.");
        if (_file is not null) WriteDurably(_file, new Stored(epoch, FencedBy));
        Volatile.Write(ref _epoch, epoch);
    }

    /// <summary>Records (durably) that this node was fenced, and why; the first reason stays.</summary>
    public void MarkFenced(string reason)
    {
        lock (this)
        {
            if (FencedBy is not null) return;
            FencedBy = reason;
            if (_file is not null) WriteDurably(_file, new Stored(_epoch, reason));
        }
    }

    internal static void WriteDurably<T>(string file, T value, bool fsync = true)
    {
        var temporary = file + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(stream, value);
            if (fsync) stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, file, overwrite: true);
        if (fsync) Snapshots.DirectorySync.Fsync(Path.GetDirectoryName(file)!);
    }
}

/// <summary>
/// Where a shard last was in its command log (<c>commandlog.json</c> in the shard's directory): a position, the last
/// entry accepted before it, and the highest epoch seen, so a restart reads from there rather than from the start.
/// Only a hint: one that is ahead of the local journal (entries shipped but not yet fsynced here) is ignored.
/// </summary>
internal sealed record CommandLogCheckpoint(long Position, long Lsn, int Epoch)
{
    private const string FileName = "commandlog.json";

    public static CommandLogCheckpoint? Load(string? shardDirectory)
    {
        if (shardDirectory is null) return null;
        var file = Path.Combine(shardDirectory, FileName);
        try
        {
            return File.Exists(file) ? JsonSerializer.Deserialize<CommandLogCheckpoint>(File.ReadAllText(file)) : null;
        }
        catch (JsonException)
        {
            return null; // a hint only: reading from the start is always right
        }
    }

    public void Save(string? shardDirectory)
    {
        if (shardDirectory is null) return;
        NodeEpoch.WriteDurably(Path.Combine(shardDirectory, FileName), this, fsync: false);
    }
}
