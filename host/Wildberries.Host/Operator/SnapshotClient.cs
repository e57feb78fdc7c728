using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Wildberries.Host.Http;

namespace Wildberries.Host.Operator;

/// <summary>The <c>snapshot</c> command: asks a running server to take a snapshot of every shard now.</summary>
public static class SnapshotClient
{
    /// <summary>10 minutes: a snapshot of a large catalog is written off the writer threads, but it is still a file of gigabytes.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    /// <summary>Calls <c>POST /v1/admin/snapshot</c> on <paramref name="server"/>; returns the exit code: 0 taken, 1 refused or unreachable.</summary>
    public static async Task<int> TakeAsync(Uri server, string adminKey, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        using var client = new HttpClient { BaseAddress = server, Timeout = Timeout };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
        HttpResponseMessage response;
        try
        {
            response = await client.PostAsync(new Uri("v1/admin/snapshot", UriKind.Relative), content: null, cancellation).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            await error.WriteLineAsync($"snapshot: {server} could not be reached: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var problem = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
                await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"snapshot: refused with {(int)response.StatusCode}: {problem}")).ConfigureAwait(false);
                return 1;
            }
            var taken = await response.Content.ReadFromJsonAsync<SnapshotsTakenBody>(Json.ThirdParty, cancellation).ConfigureAwait(false);
            foreach (var s in taken?.Snapshots ?? [])
            {
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"shard {s.Shard}: snapshot at log sequence number {s.Lsn}, state hash {s.StateHash}, {s.Path}")).ConfigureAwait(false);
            }
            return 0;
        }
    }
}
