using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;

namespace Wildberries.Kafka.Tests;

/// <summary>
/// Confluent.Kafka clients set up for the mock cluster: short reconnect and retry backoffs and a bounded message
/// timeout (so a test fails in seconds rather than minutes), librdkafka's log kept for the test's output.
/// </summary>
internal sealed class KafkaClients(string bootstrap)
{
    private readonly ConcurrentQueue<string> log = new();
    private readonly Stopwatch clock = Stopwatch.StartNew();

    /// <summary>
    /// Reads <paramref name="topic"/> from the beginning to its end with kcat (a client that is not librdkafka under
    /// .NET), each message as <paramref name="format"/> (kcat's -f); killed after <paramref name="bound"/>.
    /// </summary>
    public static async Task<(int ExitCode, string[] Lines, string Error)> KcatReadAllAsync(
        string kcat, string bootstrap, string topic, string format, TimeSpan bound, CancellationToken cancellation)
    {
        var start = new ProcessStartInfo(kcat)
        {
            ArgumentList = { "-b", bootstrap, "-t", topic, "-C", "-e", "-o", "beginning", "-q", "-f", format },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellation);
        var stderr = process.StandardError.ReadToEndAsync(cancellation);
        try
        {
            await process.WaitForExitAsync(cancellation).WaitAsync(bound, cancellation);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
        return (process.ExitCode, (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries), await stderr);
    }

    public ProducerConfig IdempotentProducer() => new()
    {
        BootstrapServers = bootstrap,
        EnableIdempotence = true,
        Acks = Acks.All,
        LingerMs = 5,
        MessageTimeoutMs = 20_000,
        ReconnectBackoffMs = 50,
        ReconnectBackoffMaxMs = 500,
        RetryBackoffMs = 50,
        RetryBackoffMaxMs = 500,
    };

    public IProducer<string, string> Producer(ProducerConfig? config = null) =>
        new ProducerBuilder<string, string>(config ?? IdempotentProducer())
            .SetLogHandler((_, m) => log.Enqueue($"{clock.ElapsedMilliseconds,6} ms producer {m.Level} {m.Facility}: {m.Message}"))
            .SetErrorHandler((_, e) => log.Enqueue($"{clock.ElapsedMilliseconds,6} ms producer error {e.Code}: {e.Reason}"))
            .Build();

    /// <summary>Produces every message concurrently and awaits each delivery report (bounded).</summary>
    public static async Task<DeliveryResult<string, string>[]> ProduceAllAsync(
        IProducer<string, string> producer, TopicPartition target, IEnumerable<(string Key, string Value)> messages, TimeSpan timeout)
    {
        var tasks = messages.Select(m => producer.ProduceAsync(target, new Message<string, string> { Key = m.Key, Value = m.Value })).ToArray();
        return await Task.WhenAll(tasks).WaitAsync(timeout, TestContext.Current.CancellationToken);
    }

    public static async Task<DeliveryResult<string, string>[]> ProduceAllAsync(
        IProducer<string, string> producer, string topic, IEnumerable<(string Key, string Value)> messages, TimeSpan timeout)
    {
        var tasks = messages.Select(m => producer.ProduceAsync(topic, new Message<string, string> { Key = m.Key, Value = m.Value })).ToArray();
        return await Task.WhenAll(tasks).WaitAsync(timeout, TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// Reads <paramref name="count"/> messages of <paramref name="topic"/> from the beginning, as a member of a fresh
    /// group, then returns them with each partition's high watermark (what the topic holds in all).
    /// </summary>
    public Task<(List<ConsumeResult<string, string>> Messages, Dictionary<int, long> HighWatermarks)> ConsumeAsync(
        string topic, int count, TimeSpan timeout)
    {
        var cancellation = TestContext.Current.CancellationToken;
        return Task.Run(() =>
        {
            var config = new ConsumerConfig
            {
                BootstrapServers = bootstrap,
                GroupId = $"test-{Guid.NewGuid():N}",
                AutoOffsetReset = AutoOffsetReset.Earliest,
                EnableAutoCommit = false,
                SessionTimeoutMs = 6_000,
                FetchWaitMaxMs = 100,
                ReconnectBackoffMaxMs = 500,
                Debug = Environment.GetEnvironmentVariable("WB_KAFKA_DEBUG"),
            };
            using var consumer = new ConsumerBuilder<string, string>(config)
                .SetLogHandler((_, m) => log.Enqueue($"{clock.ElapsedMilliseconds,6} ms consumer {m.Level} {m.Facility}: {m.Message}"))
                .SetErrorHandler((_, e) => log.Enqueue($"{clock.ElapsedMilliseconds,6} ms consumer error {e.Code}: {e.Reason}"))
                .Build();
            consumer.Subscribe(topic);
            var received = new List<ConsumeResult<string, string>>();
            var polling = Stopwatch.StartNew();
            while (received.Count < count && polling.Elapsed < timeout)
            {
                cancellation.ThrowIfCancellationRequested();
                // A bounded poll of librdkafka's queue: returns as soon as a message is there.
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result) received.Add(result);
            }
            // The high watermarks the last fetches reported (no round trip, which would queue behind a fetch's long
            // poll), else asked of the leader.
            var watermarks = consumer.Assignment.ToDictionary(
                tp => tp.Partition.Value,
                tp => consumer.GetWatermarkOffsets(tp).High is { IsSpecial: false } high
                    ? high.Value
                    : consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(5)).High.Value);
            consumer.Close();
            return (received, watermarks);
        }, cancellation);
    }

    /// <summary>librdkafka's log lines so far, for the test's output.</summary>
    public void WriteLog(ITestOutputHelper output)
    {
        while (log.TryDequeue(out var line)) output.WriteLine(line);
    }
}
