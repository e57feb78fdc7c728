using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Wildberries.Testing;

namespace Wildberries.Kafka.Tests;

/// <summary>
/// The Kafka test infrastructure itself: librdkafka's mock cluster in a process of its own, reached over loopback by
/// the real Confluent.Kafka client (and by kcat), with brokers set down and up and request errors injected.
/// </summary>
public sealed class MockClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact(Timeout = 30_000)]
    public async Task Keyed_messages_come_back_in_order_per_partition()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var kafka = await KafkaMockCluster.StartAsync(brokers: 3, cancellationToken: cancellation);
        Assert.All(kafka.Bootstrap.Split(','), address => Assert.StartsWith("127.0.0.1:", address, StringComparison.Ordinal));
        await kafka.CreateTopicAsync("orders", partitions: 4, cancellationToken: cancellation);
        var clients = new KafkaClients(kafka.Bootstrap);
        var clock = Stopwatch.StartNew();
        try
        {
            const int Count = 400;
            using var producer = clients.Producer();
            var sent = await KafkaClients.ProduceAllAsync(
                producer, "orders", Enumerable.Range(0, Count).Select(i => ($"order-{i % 17}", $"{i}")), Bound);
            Assert.All(sent, d => Assert.Equal(PersistenceStatus.Persisted, d.Status));
            Assert.True(sent.Select(d => d.Partition.Value).Distinct().Count() > 1, "the keys should spread over partitions");
            output.WriteLine($"{Count} produced in {clock.ElapsedMilliseconds} ms");

            var (received, watermarks) = await clients.ConsumeAsync("orders", Count, Bound);
            output.WriteLine($"{received.Count} consumed after {clock.ElapsedMilliseconds} ms");

            Assert.Equal(Count, received.Count);
            Assert.Equal(Count, watermarks.Values.Sum());
            foreach (var partition in sent.GroupBy(d => d.Partition.Value))
            {
                // Each partition reads back exactly what it acknowledged, offset by offset.
                var expected = partition.OrderBy(d => d.Offset.Value).Select(d => (d.Offset.Value, d.Message.Key, d.Message.Value));
                var actual = received.Where(r => r.Partition.Value == partition.Key).Select(r => (r.Offset.Value, r.Message.Key, r.Message.Value));
                Assert.Equal(expected, actual);
            }
            foreach (var key in received.GroupBy(r => r.Message.Key))
            {
                // One key, one partition, in the order produced.
                Assert.Single(key.Select(r => r.Partition.Value).Distinct());
                var values = key.Select(r => int.Parse(r.Message.Value, CultureInfo.InvariantCulture)).ToList();
                Assert.Equal(values.Order(), values);
            }
        }
        finally
        {
            clients.WriteLog(output);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task An_idempotent_producer_keeps_delivering_across_a_broker_down_and_up()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var kafka = await KafkaMockCluster.StartAsync(brokers: 3, cancellationToken: cancellation);
        await kafka.CreateTopicAsync("journal", partitions: 3, cancellationToken: cancellation);
        // Partition p is led by broker p + 1: setting broker 2 down strands partition 1 only (leadership never moves).
        for (var p = 0; p < 3; p++) await kafka.SetLeaderAsync("journal", p, p + 1, cancellation);
        var clients = new KafkaClients(kafka.Bootstrap);
        var clock = Stopwatch.StartNew();
        try
        {
            using var producer = clients.Producer();
            var batches = new Dictionary<int, List<string>> { [0] = [], [1] = [], [2] = [] };
            Task<DeliveryResult<string, string>[]> Batch(int partition, string name)
            {
                var values = Enumerable.Range(0, 30).Select(i => $"{name}-{i}").ToList();
                batches[partition].AddRange(values);
                return KafkaClients.ProduceAllAsync(
                    producer, new TopicPartition("journal", partition), values.Select(v => ($"k{partition}", v)), Bound);
            }

            for (var p = 0; p < 3; p++) await Batch(p, "before");
            output.WriteLine($"before: delivered after {clock.ElapsedMilliseconds} ms");

            await kafka.SetBrokerDownAsync(2, cancellation);
            var stranded = Batch(1, "while-down");
            await Task.WhenAll(Batch(0, "while-down"), Batch(2, "while-down"));
            output.WriteLine($"while broker 2 is down: partitions 0 and 2 delivered after {clock.ElapsedMilliseconds} ms");
            Assert.False(stranded.IsCompleted, "partition 1's leader is down: its messages cannot have been acknowledged");

            await kafka.SetBrokerUpAsync(2, cancellation);
            var late = await stranded;
            Assert.All(late, d => Assert.Equal(PersistenceStatus.Persisted, d.Status));
            output.WriteLine($"broker 2 up: partition 1 delivered after {clock.ElapsedMilliseconds} ms");
            for (var p = 0; p < 3; p++) await Batch(p, "after");
            output.WriteLine($"after: delivered after {clock.ElapsedMilliseconds} ms");

            var (received, watermarks) = await clients.ConsumeAsync("journal", 270, Bound);
            for (var p = 0; p < 3; p++)
            {
                // Exactly once and in order: no retry duplicated or reordered a message.
                Assert.Equal(batches[p], received.Where(r => r.Partition.Value == p).Select(r => r.Message.Value));
                Assert.Equal(90, watermarks[p]);
            }
            output.WriteLine($"consumed after {clock.ElapsedMilliseconds} ms");
        }
        finally
        {
            clients.WriteLog(output);
        }
    }

    [Theory(Timeout = 30_000)]
    [InlineData((int)ErrorCode.NotEnoughReplicas)]
    [InlineData((int)ErrorCode.NotLeaderForPartition)]
    [InlineData((int)ErrorCode.Local_Transport)] // the broker drops the connection instead of answering
    public async Task Injected_produce_errors_are_retried_and_every_message_arrives_once(int errorCode)
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var kafka = await KafkaMockCluster.StartAsync(brokers: 3, cancellationToken: cancellation);
        await kafka.CreateTopicAsync("events", partitions: 1, cancellationToken: cancellation);
        var clients = new KafkaClients(kafka.Bootstrap);
        var clock = Stopwatch.StartNew();
        try
        {
            using var producer = clients.Producer();
            // Connected, producer id acquired: what follows meets only the injected errors.
            await KafkaClients.ProduceAllAsync(producer, "events", [("k", "warm-up")], Bound);
            await kafka.TrackRequestsAsync(cancellation);
            await kafka.InjectErrorsAsync(KafkaApiKey.Produce, count: 3, errorCode, cancellation);

            var values = Enumerable.Range(0, 50).Select(i => $"event-{i}").ToList();
            var sent = await KafkaClients.ProduceAllAsync(producer, "events", values.Select(v => ("k", v)), Bound);
            Assert.All(sent, d => Assert.Equal(PersistenceStatus.Persisted, d.Status));
            var produceRequests = await kafka.CountRequestsAsync(KafkaApiKey.Produce, cancellation);
            output.WriteLine($"{(ErrorCode)errorCode} x3: delivered after {clock.ElapsedMilliseconds} ms, {produceRequests} produce requests");
            Assert.True(produceRequests >= 4, $"three produce requests should have failed and been retried, saw {produceRequests}");

            var (received, watermarks) = await clients.ConsumeAsync("events", values.Count + 1, Bound);
            Assert.Equal(["warm-up", .. values], received.Select(r => r.Message.Value));
            Assert.Equal(values.Count + 1, watermarks[0]);
        }
        finally
        {
            clients.WriteLog(output);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Kcat_reads_what_the_client_produced()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var kcat = Tools.Find("kcat") ?? throw new InvalidOperationException("kcat is not installed: run scripts/install-deps.sh (Debian's kcat).");
        await using var kafka = await KafkaMockCluster.StartAsync(brokers: 1, cancellationToken: cancellation);
        await kafka.CreateTopicAsync("stock", partitions: 2, cancellationToken: cancellation);
        var clients = new KafkaClients(kafka.Bootstrap);
        try
        {
            using var producer = clients.Producer();
            var messages = Enumerable.Range(0, 20).Select(i => ($"sku-{i % 5}", $"level-{i}")).ToList();
            await KafkaClients.ProduceAllAsync(producer, "stock", messages, Bound);

            var (exitCode, lines, error) = await KafkaClients.KcatReadAllAsync(kcat, kafka.Bootstrap, "stock", "%k=%s\\n", Bound, cancellation);
            output.WriteLine($"kcat exited {exitCode}, {lines.Length} lines; stderr: {error}");
            Assert.Equal(0, exitCode);
            Assert.Equal(messages.Select(m => $"{m.Item1}={m.Item2}").Order(), lines.Order());
        }
        finally
        {
            clients.WriteLog(output);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Commands_report_the_mocks_errors_and_the_process_exits_when_its_stdin_closes()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using (var kafka = await KafkaMockCluster.StartAsync(brokers: 1, cancellationToken: cancellation))
        {
            await kafka.CreateTopicAsync("once", partitions: 1, cancellationToken: cancellation);
            var twice = await Assert.ThrowsAsync<InvalidOperationException>(() => kafka.CreateTopicAsync("once", partitions: 1, cancellationToken: cancellation));
            Assert.Contains("TOPIC_ALREADY_EXISTS", twice.Message, StringComparison.Ordinal);
            Assert.Contains("librdkafka", kafka.Log, StringComparison.Ordinal);
            output.WriteLine(kafka.Log);
        }

        // A test run that dies closes the child's stdin: the child must go too, cleanly.
        var start = new ProcessStartInfo(Tools.Find("dotnet") ?? "dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, KafkaMockCluster.ProgramFile), "1" },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var first = await process.StandardOutput.ReadLineAsync(cancellation).AsTask().WaitAsync(Bound, cancellation);
        Assert.StartsWith("BOOTSTRAP 127.0.0.1:", first, StringComparison.Ordinal);
        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync(cancellation).WaitAsync(TimeSpan.FromSeconds(10), cancellation);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
        Assert.Equal(0, process.ExitCode);
    }
}

internal static class Tools
{
    /// <summary>The full path of a program on PATH, or null.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
