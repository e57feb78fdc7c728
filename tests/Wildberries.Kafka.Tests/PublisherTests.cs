using System.Collections.Concurrent;
using System.Text.Json;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Kafka;
using Wildberries.Testing;

namespace Wildberries.Kafka.Tests;

/// <summary>
/// The engine's events on Kafka (the mock cluster over loopback, the real client): every committed command's events
/// arrive as CloudEvents, each id once after de-duplication, in order per key, through outages and restarts.
/// </summary>
public class PublisherTests
{
    private const string Topic = "wb.events";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(40);

    /// <summary>Every event the writer produced, as the published ids and keys must be.</summary>
    private sealed class Recorder : IEngineEventListener
    {
        public ConcurrentQueue<EngineEvent> Events { get; } = new();

        public void OnEvents(ReadOnlySpan<EngineEvent> events)
        {
            foreach (var e in events) Events.Enqueue(e);
        }
    }

    private static (long A, long B) SkusOnTwoShards() =>
        (Enumerable.Range(1, 100).First(s => ShardRouter.ShardOf(s, 2) == 0), Enumerable.Range(1, 100).First(s => ShardRouter.ShardOf(s, 2) == 1));

    private static async Task Workload(ReservationEngine engine, long a, long b, int from, int count)
    {
        for (var i = from; i < from + count; i++)
        {
            CheckoutLine[] cart = (i % 3) switch { 0 => [new(a, 1)], 1 => [new(b, 1)], _ => [new(a, 1), new(b, 1)] };
            var r = await engine.CheckoutAsync($"k{i}", $"c{i % 5}", cart);
            Assert.True(r.IsOk, $"{r}");
            if (i % 2 == 0) Assert.True((await engine.ApplyPaymentAsync(r.OrderId, $"tx{i}", true, r.Amount, "RUB")).IsOk);
        }
    }

    private static async Task<ReservationEngine> Seeded(Recorder recorder, long a, long b)
    {
        var engine = ReservationEngine.Start(new EngineOptions { ShardCount = 2 }, _ => new InMemoryJournal(), listener: recorder);
        foreach (var sku in new[] { a, b })
        {
            await engine.UpsertItemAsync(sku, $"item {sku}", 100);
            await engine.AdjustStockAsync(sku, 1, 10_000, "seed");
        }
        return engine;
    }

    private static KafkaEventPublisherOptions Options(KafkaMockCluster cluster) => new()
    {
        BootstrapServers = cluster.Bootstrap,
        Topic = Topic,
        Settings = new Dictionary<string, string> { ["reconnect.backoff.max.ms"] = "500", ["retry.backoff.max.ms"] = "500" },
    };

    /// <summary>Reads the topic until every expected id has arrived; returns the CloudEvents in arrival order per partition.</summary>
    private static async Task<List<(string Key, JsonElement Event, int Partition, long Offset)>> ConsumeUntil(KafkaMockCluster cluster, int expected)
    {
        var clients = new KafkaClients(cluster.Bootstrap);
        var (messages, _) = await clients.ConsumeAsync(Topic, expected, Patience);
        return [.. messages.Select(m => (m.Message.Key, JsonDocument.Parse(m.Message.Value).RootElement.Clone(), m.Partition.Value, m.Offset.Value))];
    }

    private static void AssertExactlyTheWritersEvents(Recorder recorder, List<(string Key, JsonElement Event, int Partition, long Offset)> consumed)
    {
        var expected = recorder.Events.Where(e => !e.IsInternal).ToList();
        var byId = consumed.GroupBy(c => c.Event.GetProperty("id").GetString()!).ToDictionary(g => g.Key, g => g.First());
        // Each id once after de-duplication, and no id the writer did not produce.
        Assert.Equal(expected.Select(e => $"{e.Shard}-{e.Lsn}-{e.Index}").Order(), byId.Keys.Order());
        foreach (var e in expected)
        {
            var (key, cloudEvent, _, _) = byId[$"{e.Shard}-{e.Lsn}-{e.Index}"];
            Assert.Equal(e.Kind.ToString(), cloudEvent.GetProperty("type").GetString());
            Assert.Equal(e.Sku != 0 ? e.Sku.ToString(System.Globalization.CultureInfo.InvariantCulture) : e.OrderId.ToString(), key);
            Assert.Equal("1.0", cloudEvent.GetProperty("specversion").GetString());
        }
        // In order per key: within a partition, one key's events come in log order (per shard).
        foreach (var partition in consumed.GroupBy(c => (c.Partition, c.Key)))
        {
            var positions = partition.OrderBy(c => c.Offset)
                .Select(c => c.Event.GetProperty("id").GetString()!.Split('-').Select(long.Parse).ToArray())
                .GroupBy(p => p[0]);
            foreach (var shard in positions)
            {
                var seen = shard.Select(p => (p[1], p[2])).ToList();
                Assert.Equal(seen.Order(), seen);
            }
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Every_committed_event_arrives_once_as_a_CloudEvent_in_order_per_key()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var cluster = await KafkaMockCluster.StartAsync(cancellationToken: cancellation);
        await cluster.CreateTopicAsync(Topic, 4, cancellationToken: cancellation);
        var recorder = new Recorder();
        var (a, b) = SkusOnTwoShards();
        await using var engine = await Seeded(recorder, a, b);
        await using (KafkaEventPublisher.Start(engine, Options(cluster)))
        {
            await Workload(engine, a, b, 0, 60);
            await engine.SettleAsync();
            var consumed = await ConsumeUntil(cluster, recorder.Events.Count(e => !e.IsInternal));
            AssertExactlyTheWritersEvents(recorder, consumed);
            var paid = consumed.First(c => c.Event.GetProperty("type").GetString() == "OrderPaid").Event.GetProperty("data");
            Assert.Equal("PAID", paid.GetProperty("status").GetString());
            Assert.True(paid.GetProperty("lines").GetArrayLength() >= 1);
            Assert.True(OrderId.TryParse(paid.GetProperty("orderId").GetString(), out var paidId));
            var order = (await engine.GetOrderAsync(paidId))!;
            Assert.Equal((order.CustomerId, order.Amount), (paid.GetProperty("customerId").GetString(), paid.GetProperty("orderAmount").GetInt64()));
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Kafka_down_under_load_then_back_and_a_publisher_restart_leave_no_gap()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var cluster = await KafkaMockCluster.StartAsync(brokers: 1, cancellationToken: cancellation);
        await cluster.CreateTopicAsync(Topic, 2, cancellationToken: cancellation);
        var recorder = new Recorder();
        var (a, b) = SkusOnTwoShards();
        await using var engine = await Seeded(recorder, a, b);
        var publisher = KafkaEventPublisher.Start(engine, Options(cluster));
        await Workload(engine, a, b, 0, 20);

        // Kafka goes away: the engine keeps serving and the lag grows.
        await cluster.SetBrokerDownAsync(1, cancellation);
        await Workload(engine, a, b, 20, 40);
        Assert.Contains(publisher.Lag, l => l.LagSeconds > 0 || l.LagEntries > 0);

        // A restart of the publisher while Kafka is away: the next one starts where Kafka had it.
        await publisher.DisposeAsync();
        await cluster.SetBrokerUpAsync(1, cancellation);
        await using (KafkaEventPublisher.Start(engine, Options(cluster)))
        {
            await Workload(engine, a, b, 60, 20);
            await engine.SettleAsync();
            var consumed = await ConsumeUntil(cluster, recorder.Events.Count(e => !e.IsInternal));
            AssertExactlyTheWritersEvents(recorder, consumed);
        }
    }
}
