using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>
/// Damage to journal, commit and snapshot files (bit flips, truncation, zeroed sectors, deleted files). Each
/// mutation must end in a verified recovery that holds every acknowledged command, or in a clear refusal:
/// never a silent loss, never another kind of exception, never a hang.
/// </summary>
public class CorruptionFuzzTests(ITestOutputHelper output)
{
    private const int Mutations = 500;

    private static (string Directory, long AckLsn, ulong[] Hashes, Command[] Commands) BuildTemplate(TempDirectory root, int seed)
    {
        var commands = FaultWorkload.Commands(seed, 1_200);
        var hashes = FaultWorkload.Hashes(commands);
        var shard = root.Shard0;
        var store = new SnapshotStore(shard);
        using var journal = new FasterJournal(shard, FaultWorkload.Tiny);
        foreach (var _ in journal.ReadAfter(0))
        {
        }
        var machine = new ReservationStateMachine();
        var events = new EventBuffer();
        var snapshots = new List<SnapshotFile>();
        for (var i = 0; i < commands.Length; i++)
        {
            journal.Append(commands[i]);
            machine.Apply(commands[i], events);
            if (i % 25 == 24) journal.Commit();
            if (i is 400 or 800)
            {
                journal.Commit();
                var address = journal.CommittedUntilAddress; // just after the entry of machine.LastLsn
                snapshots.Add(store.Save(machine.CaptureSnapshot(), address, machine.ComputeStateHash()));
                if (snapshots.Count == 2) journal.TruncateBefore(snapshots[0].JournalAddress);
            }
        }
        journal.Commit();
        return (shard, journal.LastLsn, hashes, commands);
    }

    [Fact]
    public async Task Damaged_files_end_in_a_verified_recovery_or_a_clear_refusal_never_a_silent_loss()
    {
        var seed = (int)(FaultWorkload.SeedFromEnvironment("WB_FUZZ_SEED") % int.MaxValue);
        output.WriteLine($"Corruption fuzz: seed {seed} (replay: WB_FUZZ_SEED={seed}), {Mutations} mutations");
        using var root = new TempDirectory("fuzz");
        var (template, ackLsn, hashes, _) = BuildTemplate(root, seed);
        var files = Directory.GetFiles(template, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(template, f)).Order(StringComparer.Ordinal).ToArray();
        output.WriteLine($"template: {ackLsn} acknowledged commands in {files.Length} files: {string.Join(", ", files)}");
#pragma warning disable CA5394 // Test data, not security.
        var random = new Random(seed);
        int recovered = 0, refused = 0, verifyFlagged = 0, snapshotsFlagged = 0;
        for (var m = 0; m < Mutations; m++)
        {
            using var copy = new TempDirectory("fuzz-case");
            CopyDirectory(template, copy.Shard0);
            // Pick from what the copy holds: FASTER may still be removing an outdated commit file from the template.
            var present = Directory.GetFiles(copy.Shard0, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
            var target = present[random.Next(present.Length)];
            var description = Mutate(target, random);
            var where = $"mutation {m}: {description} of {Path.GetRelativePath(copy.Shard0, target)}; replay with WB_FUZZ_SEED={seed}";

            var attempt = Task.Run(() => FaultWorkload.Recover(copy.Shard0, FaultWorkload.Tiny), TestContext.Current.CancellationToken);
            try
            {
                var (machine, _) = await attempt.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
                Assert.True(machine.LastLsn >= ackLsn, $"{where}: silent loss, recovered only through {machine.LastLsn} of {ackLsn}");
                Assert.True(hashes[machine.LastLsn] == machine.ComputeStateHash(), $"{where}: recovered state differs from the log through {machine.LastLsn}");
                recovered++;
                // The offline check agrees: the same last entry and state, and a damaged snapshot the recovery stepped over is named.
                var check = VerifyOffline(copy.Path);
                Assert.True(check.Damage is null, $"{where}: verify reports damage ({check.Damage}) where recovery succeeded");
                Assert.Equal(machine.LastLsn, check.Recovery!.LastLsn);
                Assert.Equal(machine.ComputeStateHash(), check.Recovery.StateHash);
                if (IsUnreadableSnapshot(target))
                {
                    Assert.False(check.IsWhole, $"{where}: verify calls the directory whole with an unreadable snapshot");
                    Assert.Contains(check.Snapshots, s => s.File == target && s.Damage is not null);
                    snapshotsFlagged++;
                }
            }
            catch (JournalCorruptException ex)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message), where);
                Assert.Contains("Refusing to start", ex.Message, StringComparison.Ordinal);
                refused++;
                // Every damage that stops a start is found offline too (exit 1 from the verify command).
                var check = VerifyOffline(copy.Path);
                Assert.False(check.IsWhole, $"{where}: verify calls the directory whole where recovery refuses");
                Assert.NotNull(check.Damage);
                verifyFlagged++;
            }
            catch (TimeoutException)
            {
                Assert.Fail($"{where}: recovery hung");
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"{where}: unclear failure {ex.GetType().Name}: {ex.Message}");
            }
        }
#pragma warning restore CA5394
        output.WriteLine($"{recovered} verified recoveries, {refused} refusals, 0 silent losses; verify flagged all {verifyFlagged} refusals and {snapshotsFlagged} unreadable snapshots recovery stepped over");
        Assert.Equal(Mutations, recovered + refused);
    }

    private static Durability.ShardCheck VerifyOffline(string dataDirectory) =>
        Assert.Single(Durability.DataDirectoryCheck.Verify(dataDirectory, journalOptions: FaultWorkload.Tiny));

    // A snapshot file still there that does not read back (a deleted one leaves nothing to name).
    private static bool IsUnreadableSnapshot(string path)
    {
        if (!path.Contains("snapshot", StringComparison.OrdinalIgnoreCase) || !File.Exists(path)) return false;
        try
        {
            SnapshotStore.Read(path);
            return false;
        }
        catch (Exception ex) when (ex is JournalCorruptException or InvalidDataException or IOException or MessagePack.MessagePackSerializationException)
        {
            return true;
        }
    }

    private static string Mutate(string path, Random random)
    {
#pragma warning disable CA5394
        var length = new FileInfo(path).Length;
        switch (random.Next(4))
        {
            case 0 when length > 0:
            {
                var bytes = File.ReadAllBytes(path);
                var at = random.Next(bytes.Length);
                var bit = random.Next(8);
                bytes[at] ^= (byte)(1 << bit);
                File.WriteAllBytes(path, bytes);
                return $"bit {bit} flipped at byte {at}";
            }
            case 1 when length > 0:
            {
                var to = random.NextInt64(length);
                using (var f = new FileStream(path, FileMode.Open)) f.SetLength(to);
                return $"truncated from {length} to {to} bytes";
            }
            case 2 when length >= 512:
            {
                var sector = random.NextInt64(length / 512) * 512;
                using (var f = new FileStream(path, FileMode.Open))
                {
                    f.Position = sector;
                    f.Write(new byte[512]);
                }
                return $"sector at {sector} zeroed";
            }
            default:
                File.Delete(path);
                return "deleted";
        }
#pragma warning restore CA5394
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            try
            {
                File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
            }
            catch (FileNotFoundException)
            {
                // An outdated commit file FASTER removed meanwhile: the copy is as the directory is now.
            }
        }
    }
}
