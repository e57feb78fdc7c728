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
}
