namespace Wildberries.Engine;

/// <summary>What recovery of one shard found and did: for the startup log and for operators.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="SnapshotFile">The snapshot it started from, if any.</param>
/// <param name="SnapshotLsn">The log sequence number that snapshot covers (0 without one).</param>
/// <param name="ReplayedEntries">Journal entries applied after the snapshot.</param>
/// <param name="LastLsn">The last log sequence number recovered.</param>
/// <param name="StateHash">The state hash after recovery, comparable across replicas.</param>
/// <param name="Duration">How long recovery took in all.</param>
/// <param name="ReplayDuration">Of that, how long the journal replay took (read, verify, apply).</param>
/// <param name="DataLoss">With AcceptDataLoss: the damage that was skipped, and where the damaged files went.</param>
/// <param name="RejectedSnapshots">Snapshot files passed over, and why.</param>
public sealed record RecoveryReport(
    int Shard, string? SnapshotFile, long SnapshotLsn, long ReplayedEntries, long LastLsn, ulong StateHash, TimeSpan Duration,
    TimeSpan ReplayDuration, string? DataLoss, IReadOnlyList<string> RejectedSnapshots);
