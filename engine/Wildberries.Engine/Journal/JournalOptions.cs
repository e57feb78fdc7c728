namespace Wildberries.Engine.Journal;

/// <summary>What a crash may take.</summary>
public enum JournalDurability
{
    /// <summary>FASTER on disk, fsynced per batch before any answer: an acknowledged command survives any crash.</summary>
    Durable = 0,

    /// <summary>Nothing on disk: for tests and benchmarks that say so. A restart starts empty.</summary>
    InMemory = 1,
}

/// <summary>Where and how the journal and snapshots are kept. Validated once at start.</summary>
public sealed record JournalOptions
{
    /// <summary>The data directory; each shard keeps its journal and snapshots in <c>shard-N</c> below it.</summary>
    public string Directory { get; init; } = "data";

    /// <summary>Durable (the default) or in-memory.</summary>
    public JournalDurability Durability { get; init; } = JournalDurability.Durable;

    /// <summary>4 MiB pages: a batch of thousands of checkouts fits one page, so a commit writes one or two pages.</summary>
    public int PageSizeBits { get; init; } = 22;

    /// <summary>64 MiB of log in memory: room for the batches in flight while the previous ones are being flushed.</summary>
    public int MemorySizeBits { get; init; } = 26;

    /// <summary>1 GiB segment files: few files, and truncation after a snapshot frees whole gigabytes.</summary>
    public int SegmentSizeBits { get; init; } = 30;

    /// <summary>
    /// Start anyway when the acknowledged part of the journal is damaged, keeping the valid prefix and moving the
    /// damaged files aside. Off by default: an operator must choose to lose data.
    /// </summary>
    public bool AcceptDataLoss { get; init; }

    /// <summary>
    /// A snapshot after this many journal entries (1,000,000: a replay of that many takes well under a second),
    /// 0 to take none.
    /// </summary>
    public long SnapshotEveryEntries { get; init; } = 1_000_000;

    /// <summary>A snapshot at least this often while commands arrive (10 minutes bounds replay time on quiet shards).</summary>
    public TimeSpan SnapshotInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The commit path before issue 15, kept for the durable benchmark's same-run comparison: the commit mark
    /// written and fsynced on every batch, and FASTER's commit file rewritten on every commit.
    /// </summary>
    internal bool LegacyCommitPath { get; init; }

    /// <summary>
    /// FASTER's managed log device (writes through the thread pool, completes on FASTER's commit worker) instead of
    /// <see cref="SyncFileDevice"/>: the commit path before it, for the durable benchmark's same-run comparison.
    /// </summary>
    internal bool FasterManagedDevice { get; init; }

    /// <summary>
    /// Open for an offline check: nothing in the directory is created or written (no mark, no commit file, no
    /// appends or commits).
    /// </summary>
    internal bool ReadOnly { get; init; }

    /// <summary>How often, at most, the background writer rewrites the commit mark (100 ms).</summary>
    internal TimeSpan CommitMarkInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public JournalOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory)) throw new ArgumentException("JournalOptions.Directory must be set.", nameof(Directory));
        if (PageSizeBits is < 12 or > 30) throw new ArgumentException("JournalOptions.PageSizeBits must be 12 to 30.", nameof(PageSizeBits));
        if (MemorySizeBits < PageSizeBits + 1 || MemorySizeBits > 40) throw new ArgumentException("JournalOptions.MemorySizeBits must hold at least two pages and at most 2^40 bytes.", nameof(MemorySizeBits));
        if (SegmentSizeBits < PageSizeBits || SegmentSizeBits > 40) throw new ArgumentException("JournalOptions.SegmentSizeBits must be at least a page and at most 2^40 bytes.", nameof(SegmentSizeBits));
        if (SnapshotEveryEntries < 0) throw new ArgumentException("JournalOptions.SnapshotEveryEntries must not be negative.", nameof(SnapshotEveryEntries));
        if (SnapshotInterval < TimeSpan.FromSeconds(1)) throw new ArgumentException("JournalOptions.SnapshotInterval must be at least 1 second.", nameof(SnapshotInterval));
        return this;
    }

    /// <summary>The directory of one shard.</summary>
    public string ShardDirectory(int shard) => Path.Combine(Directory, $"shard-{shard}");
}
