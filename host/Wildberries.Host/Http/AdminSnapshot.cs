namespace Wildberries.Host.Http;

#pragma warning disable CA1819 // JSON contracts carry arrays.

/// <summary>The answer to <c>POST /v1/admin/snapshot</c>: one snapshot per shard, taken now.</summary>
public sealed record SnapshotsTakenBody(SnapshotTakenBody[] Snapshots);

/// <summary>One shard's new snapshot: the log sequence number it covers, its state hash and its file on the server.</summary>
public sealed record SnapshotTakenBody(int Shard, long Lsn, string StateHash, string Path);

/// <summary>
/// <c>POST /v1/admin/snapshot</c>: takes a snapshot of every shard now (off the writer threads, as the periodic ones),
/// so that a restart replays from here and <c>GET /v1/admin/snapshots/{shard}</c> serves it. The operator's
/// <c>snapshot</c> command calls it.
/// </summary>
internal static class AdminSnapshot
{
    public static async Task<IResult> TakeAsync(EngineService service, CancellationToken cancellation)
    {
        var engine = service.Engine!;
        var files = await engine.SnapshotAsync(cancellation).ConfigureAwait(false);
        if (files.Any(f => f is null)) return Problems.Of(409, "no_snapshots", "This engine keeps no snapshots (an in-memory journal).");
        return Results.Json(new SnapshotsTakenBody([.. files.Select((f, shard) => new SnapshotTakenBody(
            shard, f!.Lsn, f.StateHash.ToString("x16", System.Globalization.CultureInfo.InvariantCulture), f.Path))]), ApiJson.Default.SnapshotsTakenBody);
    }
}
