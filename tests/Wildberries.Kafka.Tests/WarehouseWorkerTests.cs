using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Confluent.Kafka;
using Wildberries.Host;
using Wildberries.Testing;
using Wildberries.Warehouse;

namespace Wildberries.Kafka.Tests;

/// <summary>
/// The seed's loop closed: the server publishes to the mock cluster, the warehouse worker (in-process) consumes
/// OrderPaid and ships through the admin API. Paid orders become FULFILLED, an unpaid one is left alone, and a
/// replayed OrderPaid (the same CloudEvent bytes produced again) ships nothing twice.
/// </summary>
public class WarehouseWorkerTests(ITestOutputHelper output)
{
    private const string Admin = PublishingServer.AdminKey;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact(Timeout = 60_000)]
    public async Task Paid_orders_are_shipped_once_and_an_unpaid_one_is_not()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var total = Stopwatch.StartNew();
        await using var kafka = await KafkaMockCluster.StartAsync(brokers: 1, cancellationToken: cancellation);
        await kafka.CreateTopicAsync("wb.events", partitions: 3, cancellationToken: cancellation);
        await using var server = await PublishingServer.StartAsync(kafka.Bootstrap);
        using var stopWorker = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        Task? worker = null;
        var log = new List<string>();
        try
        {
            var (address, admin, storefront) = (server.Address, server.Admin, server.Storefront);
            (await admin.PutAsync("/v1/admin/items/42", Body(new { name = "kettle", price = 1990, maxPerOrder = 5 }), cancellation)).EnsureSuccessStatusCode();
            (await admin.PostAsync("/v1/admin/stock", Body(new { reason = "receipt", adjustments = new[] { new { sku = 42, warehouseId = 1, onHand = 10 } } }), cancellation)).EnsureSuccessStatusCode();

            // The worker, in-process, as `dotnet run --project samples/Wildberries.Warehouse` would run it.
            var handled = Channel.CreateUnbounded<Handled>();
            var (options, errors) = WarehouseOptions.Parse(
                ["--kafka-bootstrap", kafka.Bootstrap, "--server", address.ToString(), "--admin-key", Admin, "--kafka-setting", "session.timeout.ms=6000"],
                _ => null);
            Assert.Empty(errors);
            using var warehouse = new WarehouseWorker(options! with { InitialBackoff = TimeSpan.FromMilliseconds(50) },
                line => { lock (log) log.Add(line); }, h => handled.Writer.TryWrite(h));
            worker = warehouse.RunAsync(stopWorker.Token);

            var alice = await CheckoutAsync(storefront, "alice", qty: 2, cancellation);
            var bob = await CheckoutAsync(storefront, "bob", qty: 3, cancellation);
            var carol = await CheckoutAsync(storefront, "carol", qty: 1, cancellation);
            var browser = server.Browser;
            foreach (var paid in new[] { alice, bob })
            {
                var pay = new Uri(paid.PaymentUrl).AbsolutePath + "/pay";
                Assert.Contains("PAID", await (await browser.PostAsync(pay, null, cancellation)).Content.ReadAsStringAsync(cancellation), StringComparison.Ordinal);
            }

            // The worker ships both paid orders (bounded), the server says FULFILLED.
            var shipped = new Dictionary<string, Handled>();
            await foreach (var h in Read(handled, Bound, cancellation))
            {
                if (h.Outcome == Outcome.Shipped) shipped[h.OrderId!] = h;
                if (shipped.Count == 2) break;
            }
            Assert.Equal([alice.OrderId, bob.OrderId], shipped.Keys.Order(StringComparer.Ordinal));
            Assert.All(shipped.Values, h => Assert.Equal("FULFILLED", h.Status));
            Assert.Equal("FULFILLED", await StatusAsync(storefront, alice, cancellation));
            Assert.Equal("FULFILLED", await StatusAsync(storefront, bob, cancellation));
            Assert.Equal("PENDING_PAYMENT", await StatusAsync(storefront, carol, cancellation));
            Assert.Equal(5, await OnHandAsync(admin, 5, cancellation)); // 10 - 2 - 3: shipping takes the committed units off the shelf

            // Replay alice's OrderPaid: the same bytes (and ce_id header) produced again.
            var (messages, _) = await ReadAllAsync(kafka.Bootstrap, cancellation);
            var original = messages.Single(m => Type(m) == ("OrderPaid", alice.OrderId));
            using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = kafka.Bootstrap, MessageTimeoutMs = 20_000 }).Build())
            {
                await producer.ProduceAsync("wb.events", new Message<string, byte[]> { Key = original.Message.Key, Value = original.Message.Value, Headers = original.Message.Headers }, cancellation);
            }
            Handled? replay = null;
            await foreach (var h in Read(handled, Bound, cancellation))
            {
                if (h.Outcome == Outcome.Ignored) continue;
                replay = h;
                break;
            }
            Assert.NotNull(replay);
            Assert.Equal((Outcome.Duplicate, alice.OrderId), (replay.Outcome, replay.OrderId));
            Assert.Equal(JsonDocument.Parse(original.Message.Value).RootElement.GetProperty("id").GetString(), replay.EventId);
            Assert.Equal("FULFILLED", await StatusAsync(storefront, alice, cancellation));
            Assert.Equal(5, await OnHandAsync(admin, 5, cancellation));

            // The topic agrees: one OrderFulfilled per paid order, none for the unpaid one.
            var (after, _) = await ReadAllAsync(kafka.Bootstrap, cancellation);
            var fulfilled = after.Select(Type).Where(t => t.Type == "OrderFulfilled").Select(t => t.OrderId).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal([alice.OrderId, bob.OrderId], fulfilled);
            Assert.Equal(2, after.Count(m => Type(m) == ("OrderPaid", alice.OrderId))); // the original and the replay

            await stopWorker.CancelAsync();
            await worker.WaitAsync(TimeSpan.FromSeconds(15), cancellation);
            output.WriteLine($"test took {total.ElapsedMilliseconds} ms");
        }
        finally
        {
            await stopWorker.CancelAsync();
            if (worker is not null) await Task.WhenAny(worker, Task.Delay(TimeSpan.FromSeconds(15), CancellationToken.None));
            lock (log) foreach (var line in log) output.WriteLine($"worker: {line}");
        }
    }

    private sealed record Order(string OrderId, string Customer, string PaymentUrl);

    private static async Task<Order> CheckoutAsync(HttpClient storefront, string customer, int qty, CancellationToken cancellation)
    {
        using var checkout = new HttpRequestMessage(HttpMethod.Post, "/v1/checkout") { Content = Body(new { customerId = customer, lines = new[] { new { sku = 42, qty } } }) };
        checkout.Headers.Add("Idempotency-Key", $"warehouse-{customer}");
        using var response = await storefront.SendAsync(checkout, cancellation);
        response.EnsureSuccessStatusCode();
        var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellation)).RootElement;
        return new Order(created.GetProperty("orderId").GetString()!, customer, created.GetProperty("paymentUrl").GetString()!);
    }

    private static async Task<string?> StatusAsync(HttpClient storefront, Order order, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/orders/{order.OrderId}");
        request.Headers.Add("X-Customer-Id", order.Customer);
        using var response = await storefront.SendAsync(request, cancellation);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellation)).RootElement.GetProperty("status").GetString();
    }

    /// <summary>
    /// The on-hand count of SKU 42 in warehouse 1, read by a compare-and-set that changes nothing: onHand =
    /// expectedOnHand = <paramref name="expected"/> answers the count it set, or on a mismatch the current one.
    /// </summary>
    private static async Task<long> OnHandAsync(HttpClient admin, long expected, CancellationToken cancellation)
    {
        using var response = await admin.PostAsync("/v1/admin/stock",
            Body(new { reason = "audit", adjustments = new[] { new { sku = 42, warehouseId = 1, onHand = expected, expectedOnHand = expected } } }), cancellation);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellation)).RootElement.GetProperty("results")[0].GetProperty("onHand").GetInt64();
    }

    private static (string? Type, string? OrderId) Type(ConsumeResult<string, byte[]> message)
    {
        WarehouseWorker.TryRead(message.Message.Value, out _, out var type, out var orderId);
        return (type, orderId);
    }

    /// <summary>The worker's handled messages as they come, until <paramref name="bound"/> has passed.</summary>
    private static async IAsyncEnumerable<Handled> Read(Channel<Handled> handled, TimeSpan bound, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(bound);
        while (true)
        {
            Handled h;
            try
            {
                h = await handled.Reader.ReadAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
            {
                yield break;
            }
            yield return h;
        }
    }

    /// <summary>Every message of wb.events, read from the beginning up to each partition's end by a fresh group.</summary>
    private static Task<(List<ConsumeResult<string, byte[]>> Messages, int Partitions)> ReadAllAsync(string bootstrap, CancellationToken cancellation) =>
        Task.Run(() =>
        {
            var config = new ConsumerConfig
            {
                BootstrapServers = bootstrap,
                GroupId = $"test-{Guid.NewGuid():N}",
                AutoOffsetReset = AutoOffsetReset.Earliest,
                EnableAutoCommit = false,
                EnablePartitionEof = true,
                SessionTimeoutMs = 6_000,
                FetchWaitMaxMs = 100,
            };
            using var consumer = new ConsumerBuilder<string, byte[]>(config).Build();
            consumer.Subscribe("wb.events");
            var messages = new List<ConsumeResult<string, byte[]>>();
            var ended = new HashSet<int>();
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < Bound && (consumer.Assignment.Count == 0 || ended.Count < consumer.Assignment.Count))
            {
                cancellation.ThrowIfCancellationRequested();
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is not { } result) continue;
                if (result.IsPartitionEOF) ended.Add(result.Partition.Value);
                else messages.Add(result);
            }
            var partitions = ended.Count;
            consumer.Close();
            return (messages, partitions);
        }, cancellation);

    private static StringContent Body(object body) => PublishingServer.Body(body);
}
