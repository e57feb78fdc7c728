using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Wildberries.Host;
using Wildberries.Host.Http;

namespace Wildberries.Bench.Http;

/// <summary>
/// The server measured by an external load generator, <c>wrk</c> (Debian package <c>wrk</c>), with the scripts in
/// <c>bench/wrk/</c>: durable checkouts, catalog reads on the same server, and a bare Kestrel endpoint in this
/// process that reads the same checkout bodies with the server's JSON rules and answers a small JSON object (the
/// ceiling HTTP and JSON set on this machine). The three alternate round by round in one run, so their ratios are
/// measured side by side. Each measurement also prints what this process (the server and the bare endpoint; wrk runs
/// apart) spent per request: bytes allocated and CPU time, the costs the hot path's code controls.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- http-wrk [--seconds 10] [--connections 64] [--rounds 3]</c>.
/// </summary>
public static partial class WrkLoad
{
    public static async Task RunAsync(string[] args)
    {
        var seconds = CommandLine.Option(args, "--seconds", 10);
        var connections = CommandLine.Option(args, "--connections", 64);
        var rounds = CommandLine.Option(args, "--rounds", 3);
        // --alloc-types N: the N types allocated most during the checkout rounds, from the runtime's allocation
        // samples (one GCAllocationTick event about every 100 KB), as shares of the bytes sampled.
        var allocTypes = CommandLine.Option(args, "--alloc-types", 0);
        var scripts = FindScripts();
        if (!File.Exists("/usr/bin/wrk") && !File.Exists("/usr/local/bin/wrk"))
        {
            await Console.Error.WriteLineAsync("wrk is not installed: apt-get install wrk");
            Environment.ExitCode = 1;
            return;
        }

        var data = Directory.CreateTempSubdirectory("wb-wrk-").FullName;
        var server = ServerApp.Build(["--urls", "http://127.0.0.1:0", "--data", data, "--storefront-key", HttpLoad.Storefront, "--admin-key", HttpLoad.Admin,
            "--webhook-secret", "bench-webhook-secret-0123", "--rate-limit", "10000000", "--anonymous-rate-limit", "1000000", "--Logging:LogLevel:Default", "Warning"]);
        var bare = BuildBare();
        try
        {
            var address = await ServerApp.StartAsync(server, TimeSpan.FromMinutes(1));
            await bare.StartAsync();
            var bareAddress = bare.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using (var client = new HttpClient { BaseAddress = address })
            {
                await HttpLoad.SeedAsync(client);
            }

            Console.WriteLine($"GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, {System.Runtime.GCSettings.LatencyMode}");
            Console.WriteLine($"wrk: 1 thread, {connections} connections, {seconds} s per measurement, {rounds} rounds; durable journal; carts of 1-5 lines over {HttpLoad.Skus:N0} SKUs");
            var targets = new (string Name, string Script, string Url, string[] Args)[]
            {
                ("bare Kestrel endpoint (same body, no engine)", "bare.lua", bareAddress, [HttpLoad.Skus.ToString(CultureInfo.InvariantCulture)]),
                ("catalog reads, GET /v1/catalog/items/{sku}", "catalog.lua", address.ToString().TrimEnd('/'), [HttpLoad.Storefront, HttpLoad.Skus.ToString(CultureInfo.InvariantCulture)]),
                ("checkouts, POST /v1/checkout", "checkout.lua", address.ToString().TrimEnd('/'), [HttpLoad.Storefront, HttpLoad.Skus.ToString(CultureInfo.InvariantCulture)]),
            };
            // A short unmeasured pass of each warms the JIT and the connections.
            foreach (var t in targets) await WrkAsync(Path.Combine(scripts, t.Script), t.Url, connections, 2, t.Args);

            var results = targets.Select(_ => new List<WrkResult>()).ToArray();
            for (var round = 1; round <= rounds; round++)
            {
                for (var i = 0; i < targets.Length; i++)
                {
                    using var sampler = allocTypes > 0 && i == 2 ? new AllocationSampler() : null;
                    var journaled = await JournaledAsync(server);
                    var r = await WrkAsync(Path.Combine(scripts, targets[i].Script), targets[i].Url, connections, seconds, targets[i].Args);
                    // Journal entries per request (the engine's LSNs, every shard): 1 a checkout is the issue's "one journaled command".
                    r = r with { JournaledPerRequest = (await JournaledAsync(server) - journaled) / r.Requests };
                    results[i].Add(r);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"round {round}: {targets[i].Name,-48} {r.PerSecond,10:N0}/s  p50 {r.P50Us / 1000.0:F2} ms  p99 {r.P99Us / 1000.0:F2} ms  non-2xx {r.Errors}  {r.BytesPerRequest / 1024.0:F2} KB/request  {r.CpuUsPerRequest:F1} CPU µs/request  {r.JournaledPerRequest:F2} journal entries/request"));
                    sampler?.Print(allocTypes, r.BytesPerRequest);
                }
            }

            Console.WriteLine();
            Console.WriteLine("| measure | requests/s (median of rounds) | spread | p99 (median) | checkouts are | KB allocated/request | CPU µs/request |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            var checkout = Median(results[2].Select(r => r.PerSecond));
            for (var i = 0; i < targets.Length; i++)
            {
                var rate = Median(results[i].Select(r => r.PerSecond));
                var ratio = i == 2 ? "" : string.Create(CultureInfo.InvariantCulture, $"{checkout / rate:F2} of it");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {targets[i].Name} | {rate:N0} | {results[i].Min(r => r.PerSecond):N0}-{results[i].Max(r => r.PerSecond):N0} | {Median(results[i].Select(r => (double)r.P99Us)) / 1000.0:F2} ms | {ratio} | {Median(results[i].Select(r => r.BytesPerRequest)) / 1024.0:F2} | {Median(results[i].Select(r => r.CpuUsPerRequest)):F1} |"));
            }
        }
        finally
        {
            await bare.StopAsync();
            await bare.DisposeAsync();
            await server.StopAsync();
            await server.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    private sealed record WrkResult(double PerSecond, long P50Us, long P99Us, long Errors, double BytesPerRequest, double CpuUsPerRequest, double Requests)
    {
        public double JournaledPerRequest { get; init; }
    }

    /// <summary>Commands journaled so far: the sum of every shard's applied LSN.</summary>
    private static async Task<long> JournaledAsync(WebApplication server)
    {
        var engine = server.Services.GetRequiredService<EngineService>().Engine!;
        long sum = 0;
        for (var shard = 0; shard < engine.ShardCount; shard++) sum += (await engine.GetAppliedStateAsync(shard)).Lsn;
        return sum;
    }

    /// <summary>The bare endpoint: Kestrel, the server's body reader and generated JSON code (as the checkout's), a small JSON answer.</summary>
    private static WebApplication BuildBare()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        // The checkout's own reader and writer (Json.ReadCheckoutAsync, Json.Write), as a plain Task(HttpContext) like it.
        app.MapPost("/bare/checkout", async (HttpContext http) =>
        {
            var (body, invalid) = await Json.ReadCheckoutAsync(http.Request, Json.BodyBytesMax);
            if (invalid is not null)
            {
                await invalid.ExecuteAsync(http);
                return;
            }
            var answer = new OrderBody("1", "PENDING_PAYMENT", 100, "RUB", null, null,
                [new OrderLineBody(body!.Lines[0].Sku, body.Lines[0].Qty, 100, [new AllocationBody(1, body.Lines[0].Qty)])]);
            Json.Write(http.Response, 201, answer, ApiJson.Default.OrderBody);
        });
        return app;
    }

    private static async Task<WrkResult> WrkAsync(string script, string url, int connections, int seconds, string[] scriptArgs)
    {
        var start = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-t1", $"-c{connections}", $"-d{seconds}s", "--timeout", "10s", "-s", script, url, "--" }.Concat(scriptArgs)) start.ArgumentList.Add(a);
        using var self = Process.GetCurrentProcess();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var cpu = self.TotalProcessorTime;
        using var wrk = Process.Start(start)!;
        var output = await wrk.StandardOutput.ReadToEndAsync();
        var error = await wrk.StandardError.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        self.Refresh();
        var cpuUs = (self.TotalProcessorTime - cpu).TotalMicroseconds;
        var rate = RatePattern().Match(output);
        var latency = LatencyPattern().Match(output);
        if (wrk.ExitCode != 0 || !rate.Success || !latency.Success) throw new InvalidOperationException($"wrk failed ({wrk.ExitCode}): {output}{error}");
        var errors = OtherPattern().Match(output);
        var count = CountPattern().Match(output);
        var requests = count.Success ? Math.Max(1, double.Parse(count.Groups[1].Value, CultureInfo.InvariantCulture)) : double.NaN;
        return new WrkResult(
            double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture),
            long.Parse(latency.Groups[1].Value, CultureInfo.InvariantCulture),
            long.Parse(latency.Groups[2].Value, CultureInfo.InvariantCulture),
            errors.Success ? long.Parse(errors.Groups[1].Value, CultureInfo.InvariantCulture) : 0,
            allocated / requests,
            cpuUs / requests,
            requests);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string FindScripts()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "bench", "wrk");
            if (File.Exists(Path.Combine(candidate, "checkout.lua"))) return candidate;
        }
        throw new InvalidOperationException("bench/wrk/*.lua not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RatePattern();

    [GeneratedRegex(@"LATENCY p50_us=(\d+) p99_us=(\d+)")]
    private static partial Regex LatencyPattern();

    [GeneratedRegex(@"(\d+) requests in ")]
    private static partial Regex CountPattern();

    [GeneratedRegex(@"other=(\d+)")]
    private static partial Regex OtherPattern();

    /// <summary>The runtime's allocation samples (GCAllocationTick: type and bytes, about one per 100 KB allocated) added up by type.</summary>
    private sealed class AllocationSampler : System.Diagnostics.Tracing.EventListener
    {
        private readonly Dictionary<string, long> _bytes = new(StringComparer.Ordinal);
        private readonly Lock _lock = new();

        protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(eventSource, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1);
        }

        protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
        {
            if (e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null) return;
            var type = e.Payload![e.PayloadNames.IndexOf("TypeName")] as string ?? "?";
            var amountIndex = e.PayloadNames.IndexOf("AllocationAmount64");
            var amount = amountIndex >= 0 ? Convert.ToInt64(e.Payload[amountIndex], CultureInfo.InvariantCulture) : Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("AllocationAmount")], CultureInfo.InvariantCulture);
            lock (_lock) _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
        }

        public void Print(int top, double bytesPerRequest)
        {
            KeyValuePair<string, long>[] rows;
            lock (_lock) rows = [.. _bytes.OrderByDescending(b => b.Value)];
            var total = Math.Max(1, rows.Sum(r => r.Value));
            foreach (var (type, bytes) in rows.Take(top))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {100.0 * bytes / total,5:F1} %  ~{bytesPerRequest * bytes / total,6:F0} B/request  {type}"));
            }
        }
    }
}
