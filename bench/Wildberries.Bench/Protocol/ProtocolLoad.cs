using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using HdrHistogram;
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
            Console.WriteLine("| transport | in flight | checkouts/s | p50 ms | p99 ms | allocated KB/checkout (process) |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|");
            foreach (var inFlight in new[] { 64, 256 })
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

    private static async Task RunOneAsync(string transport, int inFlight, int seconds, Wildberries.Core.CheckoutLine[][][] carts, Func<int, int, Wildberries.Core.CheckoutLine[], Task> checkout)
    {
        // A short warm-up (JIT, connections), then the measured run.
        await LoopsAsync(inFlight, 1, carts, checkout, null, null);
        var histograms = Enumerable.Range(0, inFlight).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
        var counts = new long[inFlight];
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var start = Stopwatch.GetTimestamp();
        await LoopsAsync(inFlight, seconds, carts, checkout, histograms, counts);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var total = counts.Sum();
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var all = new LongHistogram(60_000_000, 3);
        foreach (var h in histograms) all.Add(h);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {transport} | {inFlight} | {total / elapsed:N0} | {all.GetValueAtPercentile(50) / 1000.0:F2} | {all.GetValueAtPercentile(99) / 1000.0:F2} | {bytes / 1024.0 / Math.Max(1, total):F1} |"));
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
