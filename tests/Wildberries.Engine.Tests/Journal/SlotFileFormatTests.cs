using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Journal;

/// <summary>
/// The on-disk bytes of the two slot files (<see cref="CommitMark"/> and <see cref="FasterCommitFile"/>), as
/// written by the versions that created existing data directories: those files must still open, and new writes
/// must produce the same bytes. The hex below was captured from the code before both were moved onto
/// <see cref="TwoSlotFile"/>; it is the format, not something to regenerate.
/// </summary>
public sealed class SlotFileFormatTests : IDisposable
{
    private const int SlotStride = 4096;

    // journal.mark after Write(17, 64, 4096) (record 1, second slot) then Write(99, 0, 8192) (record 2, first slot).
    private const string MarkSlot0 =
        "57424A4D000000000200000000000000630000000000000000000000000000000020000000000000"
        + "00000000000000000000000000000000000000005B62D632";
    private const string MarkSlot1 =
        "57424A4D000000000100000000000000110000000000000040000000000000000010000000000000"
        + "0000000000000000000000000000000000000000EA748689";

    // faster.commit after Commit(0, 100, [1,2,3], 1) (first slot) then Commit(64, 200, [4,5,6,7], 2) (second slot).
    private const string CommitSlot0 = "57424643B675B8FD030000000100000000000000010203";
    private const string CommitSlot1 = "574246432FAC2F1B04000000020000000000000004050607";

    private readonly TempDirectory _dir = new("slot-format");

    public void Dispose() => _dir.Dispose();

    private static byte[] Image(string slot0, string slot1)
    {
        var second = Convert.FromHexString(slot1);
        var image = new byte[SlotStride + second.Length];
        Convert.FromHexString(slot0).CopyTo(image, 0);
        second.CopyTo(image, SlotStride);
        return image;
    }

    /// <summary>The file is exactly these two slots, zeros between them.</summary>
    private static void AssertImage(string path, string slot0, string slot1)
    {
        var image = File.ReadAllBytes(path);
        var first = slot0.Length / 2;
        Assert.Equal((slot0, slot1), (Convert.ToHexString(image, 0, first), Convert.ToHexString(image, SlotStride, image.Length - SlotStride)));
        Assert.True(image.AsSpan(first, SlotStride - first).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void The_commit_mark_writes_the_bytes_of_the_existing_format()
    {
        var path = Path.Combine(_dir.Path, CommitMark.FileName);
        using (var mark = CommitMark.Open(path))
        {
            mark.Write(17, 64, 4_096);
            mark.Write(99, 0, 8_192);
        }
        AssertImage(path, MarkSlot0, MarkSlot1);
    }

    [Fact]
    public void A_commit_mark_in_the_existing_format_opens()
    {
        var path = Path.Combine(_dir.Path, CommitMark.FileName);
        File.WriteAllBytes(path, Image(MarkSlot0, MarkSlot1));
        using (var mark = CommitMark.Open(path, readOnly: true))
        {
            Assert.Equal(new CommitMark.Record(2, 99, 0, 8_192), mark.Current);
            Assert.False(mark.Damaged);
        }
        // Its first slot gone, the second one's older record is what remains; the next write goes to the first slot.
        var image = File.ReadAllBytes(path);
        image[10] ^= 1;
        File.WriteAllBytes(path, image);
        using (var mark = CommitMark.Open(path))
        {
            Assert.Equal(new CommitMark.Record(1, 17, 64, 4_096), mark.Current);
            mark.Write(99, 0, 8_192);
        }
        AssertImage(path, MarkSlot0, MarkSlot1);
    }

    [Fact]
    public void The_faster_commit_file_writes_the_bytes_of_the_existing_format()
    {
        using (var file = new FasterCommitFile(_dir.Path))
        {
            file.Commit(0, 100, [1, 2, 3], 1, false);
            file.Commit(64, 200, [4, 5, 6, 7], 2, false);
        }
        AssertImage(Path.Combine(_dir.Path, FasterCommitFile.FileName), CommitSlot0, CommitSlot1);
    }

    [Fact]
    public void A_faster_commit_file_in_the_existing_format_opens()
    {
        var path = Path.Combine(_dir.Path, FasterCommitFile.FileName);
        File.WriteAllBytes(path, Image(CommitSlot0, CommitSlot1));
        using (var file = new FasterCommitFile(_dir.Path, readOnly: true))
        {
            Assert.Equal([2L, 1L], file.ListCommits());
            Assert.Equal(new byte[] { 1, 2, 3 }, file.GetCommitMetadata(1));
            Assert.Equal(new byte[] { 4, 5, 6, 7 }, file.GetCommitMetadata(2));
        }
        // The next commit goes after the newest (to the first slot), keeping commit 2.
        using (var file = new FasterCommitFile(_dir.Path))
        {
            file.Commit(0, 300, [8], 3, false);
            Assert.Equal([3L, 2L], file.ListCommits());
        }
    }
}
