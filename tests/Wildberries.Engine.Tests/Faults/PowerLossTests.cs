using FASTER.core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>
/// Power loss at any device write: every write not covered by a completed commit is dropped and the write in
/// flight is torn at a 512-byte boundary. The metadata files (FASTER's commit file and our commit mark, both
/// written without an fsync on the commit path) are as of any commit up to the last completed one. Recovery
/// must give exactly a prefix of the log that holds every acknowledged command.
/// </summary>
public class PowerLossTests(ITestOutputHelper output)
{
    private const int CrashPoints = 200;

    [Fact]
    public void Recovery_after_power_loss_at_any_write_keeps_every_acknowledged_command()
    {
        var seed = (int)(FaultWorkload.SeedFromEnvironment("WB_POWER_SEED") % int.MaxValue);
        output.WriteLine($"Power-loss test: seed {seed} (replay: WB_POWER_SEED={seed}), {CrashPoints} crash points");
        var commands = FaultWorkload.Commands(seed, 1_500);
        var hashes = FaultWorkload.Hashes(commands);
#pragma warning disable CA5394 // Test data, not security.
        var random = new Random(seed);

        using var dir = new TempDirectory("power");
        RecordingDevice? device = null;
        var markers = new List<(int Writes, long AckLsn, Dictionary<string, byte[]> Meta)>();
        using (var journal = new FasterJournal(dir.Shard0, FaultWorkload.Tiny, path => device = new RecordingDevice(new SyncFileDevice(path))))
        {
            foreach (var _ in journal.ReadAfter(0))
            {
            }
            markers.Add((device!.WriteCount, 0, CopyMeta(dir.Shard0)));
            var i = 0;
            while (i < commands.Length)
            {
                var batch = Math.Min(random.Next(1, 40), commands.Length - i);
                for (var b = 0; b < batch; b++) journal.Append(commands[i++]);
                journal.Commit();
                markers.Add((device.WriteCount, journal.LastLsn, CopyMeta(dir.Shard0)));
            }
        }
        var writes = device!.Writes();
        output.WriteLine($"{commands.Length} commands, {markers.Count - 1} commits, {writes.Length} device writes");

        var recoveredAtLeastAcked = 0;
        for (var p = 0; p < CrashPoints; p++)
        {
            var k = random.Next(0, writes.Length + 1);
            var marker = markers.Last(m => m.Writes <= k);
            var torn = k > marker.Writes ? random.Next(0, (writes[k - 1].Data.Length / 512) + 1) * 512 : 0;
            using var image = new TempDirectory("power-image");
            Directory.CreateDirectory(image.Shard0);
            var segments = new Dictionary<int, FileStream>();
            try
            {
                for (var w = 0; w < marker.Writes; w++) Apply(image.Shard0, segments, writes[w], writes[w].Data.Length);
                if (torn > 0) Apply(image.Shard0, segments, writes[k - 1], torn);
            }
            finally
            {
                foreach (var s in segments.Values) s.Dispose();
            }
            // Metadata is not synced with each commit: after a power loss it may be as old as any earlier commit.
            var metaAt = random.Next(0, markers.IndexOf(marker) + 1);
            foreach (var (name, bytes) in markers[metaAt].Meta)
            {
                var path = Path.Combine(image.Shard0, name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, bytes);
            }

            var where = $"crash point {p}: after write {k} of {writes.Length} (last commit at write {marker.Writes}, acknowledged through {marker.AckLsn}, torn to {torn} bytes, metadata as of commit {metaAt}); replay with WB_POWER_SEED={seed}";
            try
            {
                var (machine, _) = FaultWorkload.Recover(image.Shard0, FaultWorkload.Tiny);
                Assert.True(machine.LastLsn >= marker.AckLsn, $"{where}: recovered only through {machine.LastLsn}");
                Assert.True(hashes[machine.LastLsn] == machine.ComputeStateHash(), $"{where}: the state is not the prefix through {machine.LastLsn}");
                recoveredAtLeastAcked++;
            }
            catch (JournalCorruptException ex)
            {
                Assert.Fail($"{where}: a power loss must recover, but recovery refused: {ex.Message}");
            }
        }
#pragma warning restore CA5394
        output.WriteLine($"{recoveredAtLeastAcked} of {CrashPoints} crash points recovered a prefix holding every acknowledged command");
        Assert.Equal(CrashPoints, recoveredAtLeastAcked);
    }

    private static void Apply(string directory, Dictionary<int, FileStream> segments, (int Segment, ulong Offset, byte[] Data) write, int length)
    {
        if (!segments.TryGetValue(write.Segment, out var file))
        {
            file = new FileStream(Path.Combine(directory, $"{FasterJournal.LogFileName}.{write.Segment}"), FileMode.OpenOrCreate, FileAccess.ReadWrite);
            segments[write.Segment] = file;
        }
        file.Position = (long)write.Offset;
        file.Write(write.Data, 0, length);
    }

    private static Dictionary<string, byte[]> CopyMeta(string shardDirectory)
    {
        var meta = new Dictionary<string, byte[]>();
        var mark = Path.Combine(shardDirectory, "journal.mark");
        if (File.Exists(mark)) meta["journal.mark"] = File.ReadAllBytes(mark);
        var commits = Path.Combine(shardDirectory, "commits");
        if (Directory.Exists(commits))
        {
            foreach (var f in Directory.EnumerateFiles(commits, "*", SearchOption.AllDirectories))
            {
                try
                {
                    meta[Path.GetRelativePath(shardDirectory, f)] = File.ReadAllBytes(f);
                }
                catch (FileNotFoundException)
                {
                    // An outdated commit file FASTER removed meanwhile.
                }
            }
        }
        return meta;
    }
}
