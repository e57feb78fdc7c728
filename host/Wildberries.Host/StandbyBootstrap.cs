using System.Globalization;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Host;

/// <summary>
/// A new standby's first start: each shard's latest snapshot, fetched from the primary's
/// <c>GET /v1/admin/snapshots/{shard}</c>, checked, and saved as this node's own snapshot (its journal starts empty
/// after it); the standby then follows the command log from the snapshot's log sequence number.
/// </summary>
public static class StandbyBootstrap
{
    /// <summary>The header that carries the primary's shard count (a standby must partition stock the same way).</summary>
    public const string ShardCountHeader = "X-Wb-Shard-Count";

    /// <summary>The header that carries the snapshot's log sequence number.</summary>
    public const string LsnHeader = "X-Wb-Lsn";

    /// <summary>
    /// The header that carries the primary's reservation time-to-live: it enters every checkout's deadline, so a
    /// standby with another one would compute another state from the same log.
    /// </summary>
    public const string ReservationTtlHeader = "X-Wb-Reservation-Ttl-Ms";

    /// <summary>Whether the data directory already holds a shard's journal or snapshot.</summary>
    public static bool HasData(string dataDirectory) =>
        Directory.Exists(dataDirectory)
        && Directory.EnumerateDirectories(dataDirectory, "shard-*").Any(d => Directory.EnumerateFileSystemEntries(d).Any());

    /// <summary>Fetches every shard's snapshot into <paramref name="dataDirectory"/>; returns each shard's log sequence number.</summary>
    public static async Task<IReadOnlyList<(int Shard, long Lsn)>> FetchAsync(HttpClient http, Uri primary, string adminKey, string dataDirectory, int shards, long reservationTtlMs, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(primary);
        var fetched = new List<(int, long)>();
        for (var shard = 0; shard < shards; shard++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(primary, $"/v1/admin/snapshots/{shard.ToString(CultureInfo.InvariantCulture)}"));
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", adminKey);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
            if (response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable) throw new PrimaryNotReadyException($"The primary at {primary} is not ready yet (503).");
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"The primary at {primary} answered {(int)response.StatusCode} for the snapshot of shard {shard}: {await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false)}");
            }
            if (!response.Headers.TryGetValues(ShardCountHeader, out var counts) || counts.FirstOrDefault() != shards.ToString(CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException($"The primary at {primary} has {counts?.FirstOrDefault() ?? "an unknown number of"} shards; start this standby with the same --shards.");
            }
            if (!response.Headers.TryGetValues(ReservationTtlHeader, out var ttls) || ttls.FirstOrDefault() != reservationTtlMs.ToString(CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException($"The primary at {primary} holds reservations for {ttls?.FirstOrDefault() ?? "an unknown number of"} ms; start this standby with the same --reservation-ttl-minutes (it enters every deadline, so the replicas would differ).");
            }
            var directory = Path.Combine(dataDirectory, $"shard-{shard.ToString(CultureInfo.InvariantCulture)}");
            Directory.CreateDirectory(directory);
            var download = Path.Combine(directory, "snapshot.download");
            await using (var file = new FileStream(download, FileMode.Create, FileAccess.Write))
            {
                await response.Content.CopyToAsync(file, cancellation).ConfigureAwait(false);
            }
            // Read back with every check a recovery makes; saved anew so that it names this node's (empty) journal.
            var (state, snapshot) = SnapshotStore.Read(download);
            new SnapshotStore(directory).Save(state, 0, snapshot.StateHash);
            File.Delete(download);
            fetched.Add((shard, snapshot.Lsn));
        }
        return fetched;
    }

    /// <summary>The primary answered 503: it is starting; a standby tries again.</summary>
    public sealed class PrimaryNotReadyException : Exception
    {
        /// <summary>Creates the exception.</summary>
        public PrimaryNotReadyException()
        {
        }

        /// <summary>Creates the exception.</summary>
        public PrimaryNotReadyException(string message) : base(message)
        {
        }

        /// <summary>Creates the exception.</summary>
        public PrimaryNotReadyException(string message, Exception inner) : base(message, inner)
        {
        }
    }
}
