using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Wildberries.Client;
using Wildberries.Testing;

namespace Wildberries.Protocol.Tests;

/// <summary>
/// The server as the README starts it (<c>-- --demo</c>, default data directory, generated keys) plus <c>--tcp</c>, in a
/// process of its own: the client drives the whole flow (catalog read, checkout, replay, payment through the sandbox
/// over HTTP, order read, ship), then SIGTERM stops it cleanly.
/// </summary>
public class ReadmeServerTests
{
    [Fact]
    public async Task The_README_command_plus_tcp_serves_the_whole_flow_through_the_client()
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = Directory.CreateTempSubdirectory("wb-readme-").FullName;
        var http = new Uri($"http://127.0.0.1:{LocalProcess.FreePort()}");
        var tcp = new Uri($"tcp://127.0.0.1:{LocalProcess.FreePort()}");
        var log = new StringBuilder();
        // `dotnet run -c Release --project host/Wildberries.Host -- --demo` runs this dll with these arguments; the
        // working directory is the temp directory, so the default ./data is a fresh one.
        var start = new ProcessStartInfo(CrashChildProcess.DotnetHost())
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "Wildberries.Host.dll"), "--demo", "--urls", http.ToString().TrimEnd('/'), "--tcp", tcp.ToString().TrimEnd('/') })
        {
            start.ArgumentList.Add(a);
        }
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var web = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = http };
            await WaitReadyAsync(web, process, log, ct);
            using var keys = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(directory, "data", "keys.json"), ct));
            await using var storefront = new ReservationClient(new ReservationClientOptions { Endpoint = tcp, ApiKey = keys.RootElement.GetProperty("storefront").GetString() });
            await using var admin = new ReservationClient(new ReservationClientOptions { Endpoint = tcp, ApiKey = keys.RootElement.GetProperty("admin").GetString() });

            var before = (await storefront.GetItemAsync(42, ct)).Available;
            Assert.True(before >= 2, $"the demo catalog stocks SKU 42 ({before})");
            var order = await storefront.CheckoutAsync(new CheckoutRequest("readme-1", "alice", [new CartLine(42, 2)]), ct);
            Assert.Equal("PENDING_PAYMENT", order.Status);
            Assert.Equal(order.OrderId, (await storefront.CheckoutAsync(new CheckoutRequest("readme-1", "alice", [new CartLine(42, 2)]), ct)).OrderId);
            Assert.Equal(before - 2, (await storefront.GetItemAsync(42, ct)).Available);

            // Payment stays HTTP: what the sandbox page's Pay button does.
            using var paid = await web.PostAsync(new Uri(order.PaymentUrl!).PathAndQuery + "/pay", null, ct);
            Assert.Contains("result=ok", paid.Headers.Location!.ToString(), StringComparison.Ordinal);
            Assert.Equal("PAID", (await storefront.GetOrderAsync(order.OrderId, "alice", ct)).Status);
            Assert.Equal("FULFILLED", (await admin.ShipOrderAsync(order.OrderId, ct)).Status);

            // SIGTERM: the server drains and exits 0.
            await LocalProcess.RunAsync("kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}:\n{Snapshot(log)}");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task WaitReadyAsync(HttpClient web, Process process, StringBuilder log, CancellationToken ct)
    {
        // Recovery and the demo catalog take a few seconds; readiness is the server's own signal that it serves.
        var ready = await Eventually.TryUntilAsync(async () =>
        {
            if (process.HasExited) Assert.Fail($"the server exited ({process.ExitCode}):\n{Snapshot(log)}");
            try
            {
                using var answer = await web.GetAsync(new Uri("/health/ready", UriKind.Relative), ct);
                return answer.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromMinutes(1), ct);
        if (!ready) Assert.Fail($"the server was not ready within a minute:\n{Snapshot(log)}");
    }

    private static string Snapshot(StringBuilder log)
    {
        lock (log) return log.ToString();
    }
}
