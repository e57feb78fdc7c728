using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using HdrHistogram;
using Microsoft.Extensions.DependencyInjection;
using Wildberries.Client;
using Wildberries.Host;
using Wildberries.Protocol;

namespace Wildberries.Bench.Protocol;

/// <summary>
/// Durable checkouts through the binary protocol's client against the same checkouts over HTTP+JSON, in one run, one
/// server (durable journal, Kestrel on loopback, load generator in the same process), at 64 and 256 requests in
/// flight; Zipf-skewed carts of 1 to 5 lines. Allocations are the whole process's (server and client) per checkout.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- protocol [--quick] [--seconds 10] [--connections 2]</c>.
/// </summary>
public static class ProtocolLoad
{
    private const int Skus = 10_000;
    private const string Storefront = "bench-storefront-key-0123456789";
    private const string Admin = "bench-admin-key-0123456789abcdef";

    public static async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var seconds = CommandLine.Option(args, "--seconds", quick ? 3 : 10);
        var tcpConnections = CommandLine.Option(args, "--connections", 2);
        var only = CommandLine.Option(args, "--in-flight", 0);
        var data = Directory.CreateTempSubdirectory("wb-proto-").FullName;
        var app = ServerApp.Build(["--urls", "http://127.0.0.1:0", "--tcp", "tcp://127.0.0.1:0", "--data", data, "--storefront-key", Storefront, "--admin-key", Admin,
            "--webhook-secret", "bench-webhook-secret-0123", "--rate-limit", "10000000", "--anonymous-rate-limit", "1000000", "--Logging:LogLevel:Default", "Warning"]);
        try
        {
            var http = await ServerApp.StartAsync(app, TimeSpan.FromMinutes(1));
            var tcp = ServerApp.TcpAddress(app)!;
            await using (var admin = new ReservationClient(new ReservationClientOptions { Endpoint = tcp, ApiKey = Admin, Connections = 1 }))
            {
                for (var sku = 1; sku <= Skus; sku++) await admin.PutItemAsync(new ItemUpsert(sku, $"item {sku}", 100 + sku, 10));
                for (var from = 1; from <= Skus; from += 1_000)
                {
                    await admin.AdjustStockAsync(new StockBatch("bench", [.. Enumerable.Range(from, 1_000).Select(s => new StockAdjustment(s, 1 + (s % 3), OnHand: 100_000_000))]));
                }
            }
            var carts = Enumerable.Range(1, 5).Select(lines => Workload.Carts(1 << 14, lines, Skus, SkuMix.Zipf, seed: lines)).ToArray();
            Console.WriteLine($"Protocol load: durable journal, carts of 1-5 lines, Zipf over {Skus:N0} SKUs, {seconds} s per run; client pool {tcpConnections} connection(s); {Environment.ProcessorCount} cores");
            Console.WriteLine("| transport | in flight | checkouts/s | p50 ms | p99 ms | allocated KB/checkout (process) | CPU us/checkout (process) | journal entries/checkout | commits/s | commit ms (mean) | entries/commit |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            var flow = app.Services.GetRequiredService<CheckoutFlow>();
            var engine = app.Services.GetRequiredService<EngineService>().Engine!;
            _engine = engine;
            foreach (var inFlight in only > 0 ? new[] { only } : new[] { 64, 256 })
            {
                using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = inFlight, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
                using var client = new HttpClient(handler) { BaseAddress = http, Timeout = TimeSpan.FromSeconds(30) };
                var auth = new AuthenticationHeaderValue("Bearer", Storefront);
                await RunOneAsync("HTTP+JSON", inFlight, seconds, carts, async (loop, i, cart) =>
                {
                    var json = new StringBuilder("{\"customerId\":\"c").Append(loop).Append("\",\"lines\":[");
                    for (var l = 0; l < cart.Length; l++) json.Append(l == 0 ? "" : ",").Append("{\"sku\":").Append(cart[l].Sku).Append(",\"qty\":1}");
                    json.Append("]}");
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/checkout") { Content = new StringContent(json.ToString(), Encoding.UTF8, "application/json") };
                    request.Headers.Authorization = auth;
                    request.Headers.Add("Idempotency-Key", string.Create(CultureInfo.InvariantCulture, $"h{inFlight}-{loop}-{i}"));
                    using var response = await client.SendAsync(request);
                    if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.Conflict)) throw new InvalidOperationException($"unexpected {(int)response.StatusCode}");
                });
                await using var binary = new ReservationClient(new ReservationClientOptions { Endpoint = tcp, ApiKey = Storefront, Connections = tcpConnections, RequestTimeoutMs = 30_000 });
                await binary.ConnectAsync();
                await RunOneAsync("binary (client)", inFlight, seconds, carts, async (loop, i, cart) =>
                {
                    var lines = new CartLine[cart.Length];
                    for (var l = 0; l < lines.Length; l++) lines[l] = new CartLine(cart[l].Sku, 1);
                    try
                    {
                        await binary.CheckoutAsync(new CheckoutRequest(string.Create(CultureInfo.InvariantCulture, $"b{inFlight}-{loop}-{i}"), string.Create(CultureInfo.InvariantCulture, $"c{loop}"), lines));
                    }
                    catch (ReservationException ex) when (ex.Code == "insufficient_stock")
                    {
                    }
                });
                // The same checkouts without a transport: the server's checkout flow (engine and sandbox provider)
                // called in-process. The ceiling of both transports at this number in flight.
                await RunOneAsync("in-process checkout flow (no transport)", inFlight, seconds, carts, async (loop, i, cart) =>
                    await InProcessAsync(flow, engine, $"e{inFlight}-{loop}-{i}", loop, cart, waitForRecord: false));
                // The flow as it was before it answered after one commit: the caller also waits for the session's
                // record (a second durable commit; here a repeat of the record, which costs the same trip).
                await RunOneAsync("in-process, waiting for a 2nd commit (before)", inFlight, seconds, carts, async (loop, i, cart) =>
                    await InProcessAsync(flow, engine, $"w{inFlight}-{loop}-{i}", loop, cart, waitForRecord: true));
                // The protocol without the journal: one availability read per request, answered from memory. What
                // the transport and the client can carry, against which the checkouts' figures are read.
                await RunOneAsync("binary (client), availability read", inFlight, seconds, carts, async (loop, i, cart) =>
                    await binary.GetAvailabilityAsync([cart[0].Sku]));
            }
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    private static async Task InProcessAsync(CheckoutFlow flow, Wildberries.Engine.ReservationEngine engine, string key, int loop, Wildberries.Core.CheckoutLine[] cart, bool waitForRecord)
    {
        var lines = new Wildberries.Core.CheckoutLine[cart.Length];
        for (var l = 0; l < lines.Length; l++) lines[l] = new Wildberries.Core.CheckoutLine(cart[l].Sku, 1);
        var (order, _) = await flow.CheckoutAsync(engine, key, string.Create(CultureInfo.InvariantCulture, $"c{loop}"), lines, null, null, default);
        if (waitForRecord && order is { PaymentUrl: { } url } && Wildberries.Core.OrderId.TryParse(order.OrderId, out var id))
        {
            await engine.SubmitAsync(Wildberries.Core.Command.AttachPayment(id, url[(url.LastIndexOf('/') + 1)..], url));
        }
    }

    // The server's engine, whose journal commits each row reports beside the transport's figures.
    private static Wildberries.Engine.ReservationEngine? _engine;

    /// <summary>Journal commits so far, their summed time (microseconds) and the entries applied, over every shard.</summary>
    private static async Task<(long Commits, long Micros, long Entries)> JournalAsync()
    {
        if (_engine is null) return default;
        long commits = 0, micros = 0, entries = 0;
        for (var s = 0; s < _engine.ShardCount; s++)
        {
            var (counts, sum) = _engine.CommitLatency[s].Read();
            commits += counts.Sum();
            micros += sum;
            entries += (await _engine.GetAppliedStateAsync(s)).Lsn;
        }
        return (commits, micros, entries);
    }

    private static async Task RunOneAsync(string transport, int inFlight, int seconds, Wildberries.Core.CheckoutLine[][][] carts, Func<int, int, Wildberries.Core.CheckoutLine[], Task> checkout)
    {
        // A short warm-up (JIT, connections), then the measured run.
        await LoopsAsync(inFlight, 1, carts, checkout, null, null);
        var histograms = Enumerable.Range(0, inFlight).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
        var counts = new long[inFlight];
        var journal = await JournalAsync();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var start = Stopwatch.GetTimestamp();
        await LoopsAsync(inFlight, seconds, carts, checkout, histograms, counts);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var total = counts.Sum();
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var cpuMicros = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds;
        var after = await JournalAsync();
        var (commits, micros, entries) = (after.Commits - journal.Commits, after.Micros - journal.Micros, after.Entries - journal.Entries);
        var all = new LongHistogram(60_000_000, 3);
        foreach (var h in histograms) all.Add(h);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {transport} | {inFlight} | {total / elapsed:N0} | {all.GetValueAtPercentile(50) / 1000.0:F2} | {all.GetValueAtPercentile(99) / 1000.0:F2} | {bytes / 1024.0 / Math.Max(1, total):F1} | {cpuMicros / Math.Max(1, total):F0} | {entries / (double)Math.Max(1, total):F2} | {commits / elapsed:N0} | {micros / 1000.0 / Math.Max(1, commits):F2} | {entries / (double)Math.Max(1, commits):F1} |"));
    }

    private static async Task LoopsAsync(int inFlight, int seconds, Wildberries.Core.CheckoutLine[][][] carts, Func<int, int, Wildberries.Core.CheckoutLine[], Task> checkout, LongHistogram[]? histograms, long[]? counts)
    {
        var end = Stopwatch.GetTimestamp() + (seconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(loop => Task.Run(async () =>
        {
            for (var i = 0; Stopwatch.GetTimestamp() < end; i++)
            {
                var cart = carts[i % 5][(loop * 131 + i) & ((1 << 14) - 1)];
                var t0 = Stopwatch.GetTimestamp();
                await checkout(loop, histograms is null ? -1 - i : i, cart);
                histograms?[loop].RecordValue((Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency);
                if (counts is not null) counts[loop]++;
            }
        })));
    }
}
