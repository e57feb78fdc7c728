using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Journal;

public sealed class CommitMarkTests : IDisposable
{
    // Where the two slots sit in the file (4 KiB apart, 64 bytes each); odd record sequences go to the second.
    private const int SlotStride = 4096;
    private const int SlotSize = 64;

    private readonly TempDirectory _dir = new("mark");

    private string MarkPath => Path.Combine(_dir.Path, CommitMark.FileName);

    public void Dispose() => _dir.Dispose();

    private CommitMark.Record? Reopen(out bool damaged, out bool existed)
    {
        using var mark = CommitMark.Open(MarkPath);
        (damaged, existed) = (mark.Damaged, mark.Existed);
        return mark.Current;
    }

    private void Damage(int slot, int offset)
    {
        using var file = File.Open(MarkPath, FileMode.Open, FileAccess.ReadWrite);
        file.Position = (slot * SlotStride) + offset;
        var b = file.ReadByte();
        file.Position = (slot * SlotStride) + offset;
        file.WriteByte((byte)(b ^ 0x10));
    }

    [Fact]
    public void A_new_file_holds_no_record_and_is_not_damaged()
    {
        using (var mark = CommitMark.Open(MarkPath))
        {
            Assert.Null(mark.Current);
            Assert.False(mark.Existed);
            Assert.False(mark.Damaged);
        }
        // An empty file left by a crash before the first write is still "new", not damage.
        Assert.Null(Reopen(out var damaged, out var existed));
        Assert.False(damaged);
        Assert.False(existed);
    }

    [Fact]
    public void What_was_written_is_read_back_after_reopening()
    {
        using (var mark = CommitMark.Open(MarkPath))
        {
            mark.Write(lsn: 17, beginAddress: 64, untilAddress: 4_096);
            Assert.Equal(new CommitMark.Record(1, 17, 64, 4_096), mark.Current);
            mark.Write(lsn: long.MaxValue, beginAddress: long.MaxValue - 1, untilAddress: long.MaxValue);
            Assert.Equal(new CommitMark.Record(2, long.MaxValue, long.MaxValue - 1, long.MaxValue), mark.Current);
        }
        Assert.Equal(new CommitMark.Record(2, long.MaxValue, long.MaxValue - 1, long.MaxValue), Reopen(out var damaged, out var existed));
        Assert.False(damaged);
        Assert.True(existed);
    }

    [Fact]
    public void Records_only_move_forward_across_writes_and_reopens()
    {
        var previous = 0L;
        for (var round = 0; round < 3; round++)
        {
            using var mark = CommitMark.Open(MarkPath);
            for (var i = 0; i < 5; i++)
            {
                var lsn = (round * 100) + i;
                mark.Write(lsn, 0, lsn * 10);
                var current = mark.Current!.Value;
                Assert.True(current.Sequence > previous, $"record {current.Sequence} after {previous}");
                Assert.Equal(lsn, current.Lsn);
                previous = current.Sequence;
            }
        }
        // After 15 writes over three opens the newest one wins, whichever slot it sits in.
        Assert.Equal(new CommitMark.Record(15, 204, 0, 2_040), Reopen(out _, out _));
    }

    [Theory]
    [InlineData(0)] // the magic
    [InlineData(8)] // the record sequence
    [InlineData(16)] // the log sequence number
    [InlineData(33)] // the until-address
    [InlineData(48)] // reserved bytes, still under the checksum
    [InlineData(61)] // the checksum itself
    public void A_damaged_newest_slot_falls_back_to_the_other(int offset)
    {
        using (var mark = CommitMark.Open(MarkPath))
        {
            mark.Write(10, 0, 100); // record 1, second slot
            mark.Write(20, 0, 200); // record 2, first slot
        }
        Damage(slot: 0, offset);
        Assert.Equal(new CommitMark.Record(1, 10, 0, 100), Reopen(out var damaged, out _));
        Assert.False(damaged);

        // The next write replaces the damaged slot, and wins over the older one.
        using (var mark = CommitMark.Open(MarkPath)) mark.Write(30, 0, 300);
        Assert.Equal(new CommitMark.Record(2, 30, 0, 300), Reopen(out _, out _));
    }

    [Fact]
    public void A_damaged_older_slot_does_not_hide_the_newest()
    {
        using (var mark = CommitMark.Open(MarkPath))
        {
            mark.Write(10, 0, 100);
            mark.Write(20, 0, 200);
            mark.Write(30, 0, 300); // record 3, second slot: the first slot holds the older record 2
        }
        Damage(slot: 0, offset: 20);
        Assert.Equal(new CommitMark.Record(3, 30, 0, 300), Reopen(out var damaged, out _));
        Assert.False(damaged);
    }

    [Fact]
    public void Both_slots_damaged_is_reported_as_damage()
    {
        using (var mark = CommitMark.Open(MarkPath))
        {
            mark.Write(10, 0, 100);
            mark.Write(20, 0, 200);
        }
        Damage(slot: 0, offset: 16);
        Damage(slot: 1, offset: 16);
        Assert.Null(Reopen(out var damaged, out var existed));
        Assert.True(existed);
        Assert.True(damaged);
    }

    [Fact]
    public void A_file_cut_inside_the_second_slot_keeps_the_first()
    {
        using (var mark = CommitMark.Open(MarkPath))
        {
            mark.Write(10, 0, 100);
            mark.Write(20, 0, 200);
            mark.Write(30, 0, 300); // second slot
        }
        using (var file = File.Open(MarkPath, FileMode.Open, FileAccess.ReadWrite)) file.SetLength(SlotStride + (SlotSize / 2));
        Assert.Equal(new CommitMark.Record(2, 20, 0, 200), Reopen(out var damaged, out _));
        Assert.False(damaged);
    }
}
