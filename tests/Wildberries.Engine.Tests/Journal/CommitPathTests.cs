using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Journal;

/// <summary>
/// The one-write commit path: FASTER's commit metadata in a two-slot file, and the commit mark written in the
/// background (a lower bound of what was acknowledged, exact after a clean close).
/// </summary>
public sealed class CommitPathTests : IDisposable
{
    private readonly TempDirectory _dir = new("commit-path");

    public void Dispose() => _dir.Dispose();

    private static Command Entry(long lsn)
    {
        var c = Command.UpsertItem(lsn, "item", 100, 100, true);
        c.Lsn = lsn;
        c.TimestampMs = 1_700_000_000_000;
        return c;
    }

    private static void Recover(FasterJournal journal)
    {
        foreach (var _ in journal.ReadAfter(0))
        {
        }
    }

    [Fact]
    public void The_commit_file_keeps_the_two_newest_commits_and_a_damaged_slot_falls_back_to_the_other()
    {
        var commits = Path.Combine(_dir.Path, "commits");
        using (var file = new FasterCommitFile(commits))
        {
            file.Commit(0, 100, [1, 1, 1], 1, false);
            file.Commit(0, 200, [2, 2, 2, 2], 2, false);
            file.Commit(0, 300, [3, 3, 3, 3, 3], 3, false);
            Assert.Equal([3L, 2L], file.ListCommits());
            Assert.Equal(new byte[] { 3, 3, 3, 3, 3 }, file.GetCommitMetadata(3));
        }

        // Commit 3 went to the first slot (writes alternate 0, 1, 0): flip a byte of its metadata.
        var path = Path.Combine(commits, FasterCommitFile.FileName);
        var bytes = File.ReadAllBytes(path);
        bytes[20] ^= 0x40;
        File.WriteAllBytes(path, bytes);

        using var reopened = new FasterCommitFile(commits);
        Assert.Equal([2L], reopened.ListCommits());
        Assert.Equal(new byte[] { 2, 2, 2, 2 }, reopened.GetCommitMetadata(2));
        // The next write must not overwrite the only valid slot.
        reopened.Commit(0, 400, [4], 4, false);
        Assert.Equal([4L, 2L], reopened.ListCommits());
    }

    [Fact]
    public void Commits_write_no_file_per_commit_and_a_clean_close_leaves_the_exact_mark()
    {
        var options = DurabilityTests.Small(_dir.Path) with { CommitMarkInterval = TimeSpan.FromHours(1) };
        using (var journal = new FasterJournal(_dir.Shard0, options))
        {
            Recover(journal);
            for (long lsn = 1; lsn <= 50; lsn++)
            {
                journal.Append(Entry(lsn));
                journal.Commit();
            }
            Assert.Equal(50, journal.LastLsn);
        }

        // FASTER's default would have left a commit.N file per commit (the newest kept): ours is one file.
        Assert.Equal([FasterCommitFile.FileName], Directory.EnumerateFiles(Path.Combine(_dir.Shard0, "commits"), "*", SearchOption.AllDirectories).Select(Path.GetFileName));
        // The background writer waits an hour between marks, so only the close can have written LSN 50.
        using (var mark = CommitMark.Open(Path.Combine(_dir.Shard0, CommitMark.FileName)))
        {
            Assert.Equal(50, mark.Current?.Lsn);
        }
        using var reopened = new FasterJournal(_dir.Shard0, options);
        Assert.Equal(50, reopened.ReadAfter(0).Count());
    }

    [Fact]
    public void A_new_journal_has_its_mark_before_the_first_commit()
    {
        // A crash before the background writer's first mark must not read as "segments but no mark".
        using (var journal = new FasterJournal(_dir.Shard0, DurabilityTests.Small(_dir.Path)))
        {
            Recover(journal);
        }
        using var mark = CommitMark.Open(Path.Combine(_dir.Shard0, CommitMark.FileName));
        Assert.Equal(0, mark.Current?.Lsn);
    }

    [Fact]
    public void A_truncation_survives_a_power_loss_right_after_its_segments_are_deleted()
    {
        // FASTER deletes the segments below a new begin address right after the commit that moves it: its
        // metadata slot must be on disk by then (forceWriteMetadata), or a power loss leaves a slot that sends
        // recovery into a deleted segment. The background writer waits an hour, so only that forced sync can help.
        var options = Faults.FaultWorkload.Tiny with { Directory = _dir.Path, CommitMarkInterval = TimeSpan.FromHours(1) };
        var durable = Array.Empty<byte>();
        long truncatedAt = 0, firstKept = 0, last = 0;
        var image = Path.Combine(_dir.Path, "image", "shard-0");
        using (var journal = new FasterJournal(_dir.Shard0, options))
        {
            Recover(journal);
            journal.CommitFile!.Synced = bytes => durable = bytes;
            var segmentBytes = 1L << options.SegmentSizeBits;
            while (journal.CommittedUntilAddress < 3 * segmentBytes)
            {
                journal.Append(Entry(++last));
                journal.Commit();
                if (truncatedAt == 0 && journal.CommittedUntilAddress >= 2 * segmentBytes) (truncatedAt, firstKept) = (journal.CommittedUntilAddress, last + 1);
            }
            journal.TruncateBefore(truncatedAt);
            journal.Append(Entry(++last));
            journal.Commit();
            var segment0 = Path.Combine(_dir.Shard0, FasterJournal.LogFileName + ".0");
            Assert.True(SpinWait.SpinUntil(() => !File.Exists(segment0), TimeSpan.FromSeconds(30)), "FASTER did not delete the truncated segment");

            // Power loss now: the log segments were written through (O_SYNC); the commit file holds what was synced.
            Directory.CreateDirectory(Path.Combine(image, "commits"));
            foreach (var file in Directory.EnumerateFiles(_dir.Shard0)) File.Copy(file, Path.Combine(image, Path.GetFileName(file)));
            File.WriteAllBytes(Path.Combine(image, "commits", FasterCommitFile.FileName), durable);
        }

        using var reopened = new FasterJournal(image, options with { Directory = Path.GetDirectoryName(image)! });
        var lsns = reopened.ReadAfter(firstKept - 1).Select(e => e.Command.Lsn).ToList();
        Assert.Equal(firstKept, lsns.FirstOrDefault());
        Assert.Equal(last, reopened.LastLsn);
        Assert.Equal(last - firstKept + 1, lsns.Count);
    }

    [Fact]
    public void A_failed_mark_write_fails_the_next_batch_uncommitted_not_the_acknowledged_one()
    {
        var options = DurabilityTests.Small(_dir.Path);
        using (var journal = new FasterJournal(_dir.Shard0, options))
        {
            Recover(journal);
            journal.DeferredMark!.BeforeWrite = static () => throw new IOException("disk gone (test)");
            journal.Append(Entry(1));
            journal.Commit();
            // Batch 1 is acknowledged (its commit record is on disk); the mark written behind it fails.
            Assert.Equal(1, journal.LastLsn);
            Assert.True(SpinWait.SpinUntil(() => journal.DeferredMark.Failure is not null, TimeSpan.FromSeconds(30)), "the mark write did not fail");
            journal.Append(Entry(2));
            var error = Assert.Throws<IOException>(journal.Commit);
            Assert.Contains(CommitMark.FileName, error.Message, StringComparison.Ordinal);
            Assert.Equal(1, journal.LastLsn);
        }

        // Batch 2's caller heard a failure: it must not have been committed.
        using var reopened = new FasterJournal(_dir.Shard0, DurabilityTests.Small(_dir.Path));
        Assert.Equal([1L], reopened.ReadAfter(0).Select(e => e.Command.Lsn));
    }

    [Fact]
    public void Verify_writes_nothing_in_the_data_directory()
    {
        var options = DurabilityTests.Small(_dir.Path);
        using (var journal = new FasterJournal(_dir.Shard0, options))
        {
            Recover(journal);
            for (long lsn = 1; lsn <= 20; lsn++)
            {
                journal.Append(Entry(lsn));
                journal.Commit();
            }
        }
        var before = Files(_dir.Path);
        var check = Assert.Single(Durability.DataDirectoryCheck.Verify(_dir.Path, journalOptions: options));
        Assert.Equal(20, check.Recovery?.LastLsn);
        AssertSame(before, Files(_dir.Path));

        // A shard directory with no journal at all: verify must not give it a mark (or anything else).
        using var empty = new TempDirectory("verify-empty");
        Directory.CreateDirectory(empty.Shard0);
        var emptyCheck = Assert.Single(Durability.DataDirectoryCheck.Verify(empty.Path, journalOptions: options));
        Assert.Equal(0, emptyCheck.Recovery?.LastLsn);
        Assert.Empty(Directory.EnumerateFileSystemEntries(empty.Shard0, "*", SearchOption.AllDirectories));
    }

    private static Dictionary<string, byte[]> Files(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(directory, f), File.ReadAllBytes);

    private static void AssertSame(Dictionary<string, byte[]> before, Dictionary<string, byte[]> after)
    {
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[name]), $"{name} changed");
    }

    [Fact]
    public unsafe void The_device_writes_and_reads_on_the_calling_thread_and_syncs_the_directory_of_a_new_segment()
    {
        using var device = new SyncFileDevice(Path.Combine(_dir.Path, "log"));
        device.Initialize(1 << 16);
        var data = new byte[512];
        data.AsSpan().Fill(7);
        var completions = new List<(uint Error, uint Bytes, int Thread)>();
        void Done(uint error, uint bytes, object context) => completions.Add((error, bytes, Environment.CurrentManagedThreadId));
        fixed (byte* p = data)
        {
            device.WriteAsync((IntPtr)p, 0, 512, 512, Done, null!);
            device.WriteAsync((IntPtr)p, 1, 0, 512, Done, null!);
            device.WriteAsync((IntPtr)p, 0, 1024, 512, Done, null!);
        }
        // Completed before WriteAsync returned, on this thread, without error.
        Assert.Equal([(0u, 512u, Environment.CurrentManagedThreadId), (0u, 512u, Environment.CurrentManagedThreadId), (0u, 512u, Environment.CurrentManagedThreadId)], completions);
        // Two segment files were created: each one's name made durable once.
        Assert.Equal(2, device.DirectorySyncs);

        // What was never written reads as zeros; a missing segment too.
        var read = new byte[2048];
        completions.Clear();
        fixed (byte* p = read)
        {
            device.ReadAsync(0, 0, (IntPtr)p, 2048, Done, null!);
        }
        Assert.Equal((0u, 2048u), (completions[0].Error, completions[0].Bytes));
        Assert.True(read.AsSpan(0, 512).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(read.AsSpan(512, 512).SequenceEqual(data));
        Assert.True(read.AsSpan(1536).IndexOfAnyExcept((byte)0) < 0);

        // A segment never written reads as zeros.
        read.AsSpan().Fill(9);
        completions.Clear();
        fixed (byte* p = read)
        {
            device.ReadAsync(5, 0, (IntPtr)p, 2048, Done, null!);
        }
        Assert.Equal((0u, 2048u), (completions[0].Error, completions[0].Bytes));
        Assert.True(read.AsSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void A_failed_device_write_fails_the_commit_and_the_batch_is_not_recovered()
    {
        SyncFileDevice? device = null;
        var options = DurabilityTests.Small(_dir.Path);
        using (var journal = new FasterJournal(_dir.Shard0, options, path => device = new SyncFileDevice(path)))
        {
            Recover(journal);
            journal.Append(Entry(1));
            journal.Commit();
            device!.FailWrites = true;
            journal.Append(Entry(2));
            // FASTER records the failed flush and its commit request throws it: no hang, no acknowledgement.
            Assert.ThrowsAny<Exception>(journal.Commit);
            Assert.Equal(1, journal.LastLsn);
        }
        using var reopened = new FasterJournal(_dir.Shard0, options);
        Assert.Equal([1L], reopened.ReadAfter(0).Select(e => e.Command.Lsn));
    }
}
