using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using HdrHistogram;
using Wildberries.Host;

namespace Wildberries.Bench.Http;

/// <summary>
/// The HTTP load benchmark: the real server (durable journal, Kestrel on loopback) and the load generator in one
/// process on this machine; Zipf-skewed carts of 1 to 5 lines over many keep-alive connections.
/// Run: <c>dotnet run -c Release --project bench/Wildberries.Bench -- http [--seconds 10] [--connections 256]</c>.
/// </summary>
public static class HttpLoad
{
    internal const int Skus = 10_000;
    internal const string Storefront = "bench-storefront-key-0123456789";
    internal const string Admin = "bench-admin-key-0123456789abcdef";

    public static async Task RunAsync(string[] args)
    {
        var seconds = CommandLine.Option(args, "--seconds", 10);
        var connections = CommandLine.Option(args, "--connections", 256);
        var data = Directory.CreateTempSubdirectory("wb-http-").FullName;
        var app = ServerApp.Build(["--urls", "http://127.0.0.1:0", "--data", data, "--storefront-key", Storefront, "--admin-key", Admin,
            "--webhook-secret", "bench-webhook-secret-0123", "--rate-limit", "10000000", "--anonymous-rate-limit", "1000000", "--Logging:LogLevel:Default", "Warning"]);
        try
        {
            var address = await ServerApp.StartAsync(app, TimeSpan.FromMinutes(1));
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
            using var client = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            await SeedAsync(client);

            var carts = Enumerable.Range(1, 5).Select(lines => Workload.Carts(1 << 14, lines, Skus, SkuMix.Zipf, seed: lines)).ToArray();
            var histograms = Enumerable.Range(0, connections).Select(_ => new LongHistogram(60_000_000, 3)).ToArray();
            var created = new long[connections];
            var refused = new long[connections];
            var start = Stopwatch.GetTimestamp();
            var end = start + (seconds * Stopwatch.Frequency);
            Console.WriteLine($"HTTP load: {connections} keep-alive connections for {seconds} s, durable journal, carts of 1-5 lines, Zipf over {Skus:N0} SKUs");
            await Task.WhenAll(Enumerable.Range(0, connections).Select(c => Task.Run(async () =>
            {
                var auth = new AuthenticationHeaderValue("Bearer", Storefront);
                for (var i = 0; Stopwatch.GetTimestamp() < end; i++)
                {
                    var cart = carts[i % 5][(c * 131 + i) & ((1 << 14) - 1)];
                    var json = new StringBuilder("{\"customerId\":\"c").Append(c).Append("\",\"lines\":[");
                    for (var l = 0; l < cart.Length; l++) json.Append(l == 0 ? "" : ",").Append("{\"sku\":").Append(cart[l].Sku).Append(",\"qty\":1}");
                    json.Append("]}");
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/checkout") { Content = new StringContent(json.ToString(), Encoding.UTF8, "application/json") };
                    request.Headers.Authorization = auth;
                    request.Headers.Add("Idempotency-Key", string.Create(CultureInfo.InvariantCulture, $"b{c}-{i}"));
                    var t0 = Stopwatch.GetTimestamp();
                    using var response = await client.SendAsync(request);
                    histograms[c].RecordValue((Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency);
                    if (response.StatusCode == HttpStatusCode.Created) created[c]++;
                    else if (response.StatusCode == HttpStatusCode.Conflict) refused[c]++;
                    else throw new InvalidOperationException($"unexpected {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
            })));
            var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var all = new LongHistogram(60_000_000, 3);
            foreach (var h in histograms) all.Add(h);
            var total = created.Sum() + refused.Sum();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{total / elapsed:N0} checkouts/s ({created.Sum() / elapsed:N0}/s created, {refused.Sum() / elapsed:N0}/s out of stock), p50 {all.GetValueAtPercentile(50) / 1000.0:F2} ms, p99 {all.GetValueAtPercentile(99) / 1000.0:F2} ms, p99.9 {all.GetValueAtPercentile(99.9) / 1000.0:F2} ms"));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    internal static async Task SeedAsync(HttpClient client)
    {
        var auth = new AuthenticationHeaderValue("Bearer", Admin);
        for (var sku = 1; sku <= Skus; sku++)
        {
            using var put = new HttpRequestMessage(HttpMethod.Put, $"/v1/admin/items/{sku}")
            {
                Content = new StringContent($"{{\"name\":\"item {sku}\",\"price\":{100 + sku},\"maxPerOrder\":10}}", Encoding.UTF8, "application/json"),
            };
            put.Headers.Authorization = auth;
            (await client.SendAsync(put)).EnsureSuccessStatusCode();
        }
        for (var from = 1; from <= Skus; from += 500)
        {
            var lines = string.Join(",", Enumerable.Range(from, 500).Select(s => $"{{\"sku\":{s},\"warehouseId\":{1 + (s % 3)},\"onHand\":1000000}}"));
            using var post = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/stock")
            {
                Content = new StringContent($"{{\"reason\":\"bench\",\"adjustments\":[{lines}]}}", Encoding.UTF8, "application/json"),
            };
            post.Headers.Authorization = auth;
            (await client.SendAsync(post)).EnsureSuccessStatusCode();
        }
    }
}
