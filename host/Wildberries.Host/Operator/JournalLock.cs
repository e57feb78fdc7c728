using Wildberries.Engine.Journal;

namespace Wildberries.Host.Operator;

/// <summary>
/// Exclusive locks on every journal segment of a data directory. FASTER's file device opens its segments with a shared
/// lock, so the locks cannot be taken while a server runs on the directory, and while they are held no server can
/// start on it: how the offline commands (<c>import</c>, <c>backup</c>) know the directory is theirs.
/// </summary>
internal sealed class JournalLock : IDisposable
{
    private readonly Dictionary<string, FileStream> _segments;

    private JournalLock(Dictionary<string, FileStream> segments) => _segments = segments;

    /// <summary>
    /// Takes the locks, or returns null with <paramref name="busy"/> naming a segment another process holds open.
    /// A directory without journal segments (new, or not a data directory) is locked trivially.
    /// </summary>
    public static JournalLock? TryTake(string data, out string? busy)
    {
        busy = null;
        var segments = new Dictionary<string, FileStream>(StringComparer.Ordinal);
        if (!Directory.Exists(data)) return new JournalLock(segments);
        try
        {
            foreach (var shard in Directory.EnumerateDirectories(data, "shard-*"))
            {
                foreach (var segment in Directory.EnumerateFiles(shard, FasterJournal.LogFileName + ".*"))
                {
                    segments[Path.GetFullPath(segment)] = new FileStream(segment, FileMode.Open, FileAccess.Read, FileShare.None);
                }
            }
        }
        catch (IOException ex)
        {
            foreach (var held in segments.Values) held.Dispose();
            busy = ex is FileNotFoundException ? "a journal segment (removed while probing)" : ex.Message;
            return null;
        }
        return new JournalLock(segments);
    }

    /// <summary>The locked stream of <paramref name="path"/> if it is a journal segment (a second open of it would be refused).</summary>
    public FileStream? Segment(string path) => _segments.GetValueOrDefault(Path.GetFullPath(path));

    public void Dispose()
    {
        foreach (var segment in _segments.Values) segment.Dispose();
    }
}
