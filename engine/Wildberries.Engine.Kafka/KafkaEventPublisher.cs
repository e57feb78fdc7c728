using System.Text;
using Confluent.Kafka;
using Wildberries.Engine.Events;

namespace Wildberries.Engine.Kafka;

/// <summary>The publisher's settings. Immutable; validated once at start.</summary>
public sealed record KafkaEventPublisherOptions
{
    /// <summary>The cluster's bootstrap servers (<c>host:port,...</c>).</summary>
    public required string BootstrapServers { get; init; }

    /// <summary><c>wb.events</c>: the topic the warehouse, notifications, search and caches read.</summary>
    public string Topic { get; init; } = "wb.events";

    /// <summary>The CloudEvents <c>source</c> of every event.</summary>
    public Uri Source { get; init; } = new("urn:wildberries:reservations");

    /// <summary>
    /// The event feed slot this publisher reads through (each shard keeps its journal for it until Kafka has the
    /// events): <c>kafka</c>. Two publishers to two clusters need two names.
    /// </summary>
    public string SlotName { get; init; } = "kafka";

    /// <summary>1,000 events per read of a shard's feed: one produce burst, one acknowledgement of the slot.</summary>
    public int BatchSize { get; init; } = 1_000;

    /// <summary>More librdkafka settings, passed through as they are (security.protocol, sasl.*, ssl.*, linger.ms, ...).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Where the publisher's meter (<see cref="KafkaEventPublisher.MeterName"/>: its lag) comes from: the embedding
    /// service's <see cref="System.Diagnostics.Metrics.IMeterFactory"/>, or null for a meter of its own.
    /// </summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public KafkaEventPublisherOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(BootstrapServers)) throw new ArgumentException("KafkaEventPublisherOptions.BootstrapServers must be set.", nameof(BootstrapServers));
        if (string.IsNullOrWhiteSpace(Topic) || Topic.Length > 249) throw new ArgumentException("KafkaEventPublisherOptions.Topic must be 1 to 249 characters.", nameof(Topic));
        if (string.IsNullOrWhiteSpace(SlotName)) throw new ArgumentException("KafkaEventPublisherOptions.SlotName must be set.", nameof(SlotName));
        if (BatchSize is < 1 or > 100_000) throw new ArgumentException("KafkaEventPublisherOptions.BatchSize must be 1 to 100000.", nameof(BatchSize));
        return this;
    }
}

/// <summary>How far one shard's events are from Kafka.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Published">The last event Kafka acknowledged.</param>
/// <param name="LagEntries">Committed journal entries not yet read for publishing.</param>
/// <param name="LagSeconds">Age of the oldest event read but not yet acknowledged by Kafka (0 when none waits).</param>
/// <param name="LastError">The last error Kafka reported, if any (the publisher keeps trying).</param>
public sealed record PublisherLag(int Shard, EventPosition Published, long LagEntries, double LagSeconds, string? LastError);

/// <summary>
/// Publishes every shard's events to Kafka, derived from the durable journal through a named event feed (the
/// journal is the outbox: no dual write, an event exists exactly when its command was committed). It never slows the
/// writer; while Kafka is down the engine serves on, the lag grows, and it catches up when Kafka returns. Delivery is
/// at least once with a stable id: an idempotent producer (<c>acks=all</c>) retries in order, and a shard's slot is
/// acknowledged only after Kafka acknowledged every event up to it, so a restart re-publishes at most what was in
/// flight, under the same ids.
/// </summary>
public sealed class KafkaEventPublisher : IAsyncDisposable
{
    /// <summary>The header carrying the CloudEvent id, for consumers that de-duplicate without parsing the body.</summary>
    public const string IdHeader = "ce_id";

    /// <summary>
    /// The publisher's meter: the package's name. Its gauges, per shard: <c>wb.events.lag.entries</c> and
    /// <c>wb.events.lag</c> (seconds).
    /// </summary>
    public const string MeterName = "Wildberries.Engine.Kafka";

    private readonly IProducer<string, byte[]> _producer;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _loops;
    private readonly ShardState[] _shards;
    private readonly TimeProvider _time;
    private readonly FeedLagMetrics _metrics;

    private sealed class ShardState(EventFeed feed)
    {
        public EventFeed Feed { get; } = feed;
        public EventPosition Published;
        public long OldestWaitingMs;
        public string? LastError;
    }

    private KafkaEventPublisher(ReservationEngine engine, KafkaEventPublisherOptions options, TimeProvider time)
    {
        _time = time;
        var config = new ProducerConfig
        {
            BootstrapServers = options.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            // 0: never give up on an event; it waits in order while Kafka is away (the lag says so).
            MessageTimeoutMs = 0,
            LingerMs = 2,
            CompressionType = CompressionType.Lz4,
        };
        foreach (var (key, value) in options.Settings) config.Set(key, value);
        _producer = new ProducerBuilder<string, byte[]>(config)
            .SetErrorHandler((_, error) =>
            {
                // librdkafka may report before the feeds are open (a cluster down at start).
                if (_shards is { } shards) Array.ForEach(shards, s => s.LastError = error.Reason);
            })
            .Build();
        _shards = [.. Enumerable.Range(0, engine.ShardCount).Select(s => new ShardState(engine.OpenEventFeed(s, options.SlotName)))];
        var currency = engine.Options.StateMachine.Currency;
        _loops = [.. _shards.Select(s => Task.Run(() => PublishAsync(s, options, currency, _stop.Token)))];
        _metrics = new FeedLagMetrics(options.MeterFactory, MeterName, "wb.events", "Kafka publisher", () => Lag.Select(l => new FeedLag(l.Shard, l.LagEntries, l.LagSeconds)));
    }

    /// <summary>Starts publishing every shard of <paramref name="engine"/> (a durable engine keeps each shard's place across restarts).</summary>
    public static KafkaEventPublisher Start(ReservationEngine engine, KafkaEventPublisherOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new KafkaEventPublisher(engine, options, time ?? TimeProvider.System);
    }

    /// <summary>How far each shard's events are from Kafka: for metrics and readiness detail.</summary>
    public IReadOnlyList<PublisherLag> Lag
    {
        get
        {
            var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            return [.. _shards.Select((s, i) =>
            {
                var oldest = Volatile.Read(ref s.OldestWaitingMs);
                return new PublisherLag(i, s.Published, s.Feed.LagEntries, oldest == 0 ? 0 : Math.Max(0, nowMs - oldest) / 1000.0, s.LastError);
            })];
        }
    }

    /// <summary>
    /// 8 batches of one shard in flight at once: the next batch is read and encoded while Kafka acknowledges the
    /// previous ones (waiting for each batch before reading the next left the publisher idle half the time), and the
    /// memory of what is not yet acknowledged stays bounded.
    /// </summary>
    private const int BatchesInFlight = 8;

    /// <summary>5 seconds: how long a stopping publisher waits for Kafka to acknowledge what is in flight.</summary>
    private static readonly TimeSpan StopWait = TimeSpan.FromSeconds(5);

    private sealed record InFlight(EventPosition Last, long FirstMs, Message<string, byte[]>[] Messages)
    {
        public Task Delivered { get; set; } = Task.CompletedTask;
    }

    private async Task PublishAsync(ShardState shard, KafkaEventPublisherOptions options, string currency, CancellationToken cancellation)
    {
        var inFlight = new Queue<InFlight>();
        try
        {
            while (!cancellation.IsCancellationRequested)
            {
                // Acknowledge, in order, every batch Kafka has whole; wait for the oldest when the window is full.
                while (inFlight.Count > 0 && (inFlight.Peek().Delivered.IsCompleted || inFlight.Count >= BatchesInFlight))
                {
                    var oldest = inFlight.Peek();
                    try
                    {
                        await oldest.Delivered.WaitAsync(cancellation).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is ProduceException<string, byte[]> or KafkaException)
                    {
                        // Kafka refused some events for good (the producer gave up on them): once every batch in flight
                        // has its answer, the batches with a refusal go again, in order, under the same ids.
                        shard.LastError = ex.Message;
                        foreach (var batch in inFlight)
                        {
                            try
                            {
                                await batch.Delivered.WaitAsync(cancellation).ConfigureAwait(false);
                            }
                            catch (Exception again) when (again is ProduceException<string, byte[]> or KafkaException)
                            {
                            }
                        }
                        await Task.Delay(TimeSpan.FromSeconds(1), cancellation).ConfigureAwait(false);
                        foreach (var batch in inFlight.Where(b => b.Delivered.IsFaulted)) batch.Delivered = Produce(batch.Messages, options.Topic);
                        continue;
                    }
                    inFlight.Dequeue();
                    // The slot moves only over events Kafka has: a restart publishes again what was in flight.
                    shard.Published = oldest.Last;
                    shard.Feed.Acknowledge(oldest.Last);
                    shard.LastError = null;
                    Volatile.Write(ref shard.OldestWaitingMs, inFlight.Count > 0 ? inFlight.Peek().FirstMs : 0);
                }

                IReadOnlyList<FeedEvent> next;
                if (inFlight.Count == 0)
                {
                    next = await shard.Feed.ReadAsync(options.BatchSize, cancellation).ConfigureAwait(false);
                }
                else
                {
                    // Wait for new events only until the oldest batch in flight is acknowledged (the feed is cancelled
                    // only while it idles between reads, never in the middle of one).
                    using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
                    var read = shard.Feed.ReadAsync(options.BatchSize, wake.Token).AsTask();
                    if (await Task.WhenAny(read, inFlight.Peek().Delivered).ConfigureAwait(false) != read) await wake.CancelAsync().ConfigureAwait(false);
                    try
                    {
                        next = await read.ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                    {
                        continue;
                    }
                }
                var messages = next.Select(e => ToMessage(e, options.Source, currency)).ToArray();
                var sent = new InFlight(next[^1].Position, next[0].Event.TimestampMs, messages) { Delivered = Produce(messages, options.Topic) };
                if (inFlight.Count == 0) Volatile.Write(ref shard.OldestWaitingMs, sent.FirstMs);
                inFlight.Enqueue(sent);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Stopping: what Kafka acknowledges within a moment is acknowledged in the slot too, so the next start
            // sends again as little as possible (what is left goes again under the same ids).
            var until = _time.GetTimestamp();
            while (inFlight.TryPeek(out var oldest))
            {
                var left = StopWait - _time.GetElapsedTime(until);
                if (left <= TimeSpan.Zero) break;
                try
                {
                    await oldest.Delivered.WaitAsync(left, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is TimeoutException or ProduceException<string, byte[]> or KafkaException)
                {
                    break;
                }
                inFlight.Dequeue();
                shard.Published = oldest.Last;
                shard.Feed.Acknowledge(oldest.Last);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The journal no longer reaches back to where this slot stands (it was created after a truncation, or the
            // data was damaged), or a bug: this shard publishes nothing more, and says why in the lag's last error.
            shard.LastError = "publishing stopped: " + ex.Message;
        }
    }

    private Task<DeliveryResult<string, byte[]>[]> Produce(Message<string, byte[]>[] messages, string topic) =>
        Task.WhenAll(messages.Select(m => _producer.ProduceAsync(topic, m, CancellationToken.None)));

    [ThreadStatic]
    private static System.Buffers.ArrayBufferWriter<byte>? t_buffer;

    private static Message<string, byte[]> ToMessage(FeedEvent e, Uri source, string currency)
    {
        var buffer = t_buffer ??= new System.Buffers.ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        CloudEventMapper.Write(e, source, currency, buffer);
        return new Message<string, byte[]>
        {
            Key = CloudEventMapper.KeyOf(e.Event),
            Value = buffer.WrittenSpan.ToArray(),
            Headers = new Headers { { IdHeader, Encoding.UTF8.GetBytes(e.Position.Id(e.Event.Shard)) } },
            Timestamp = new Timestamp(DateTimeOffset.FromUnixTimeMilliseconds(e.Event.TimestampMs)),
        };
    }

    /// <summary>Stops reading, waits for what is in flight (bounded), and closes the producer.</summary>
    public async ValueTask DisposeAsync()
    {
        _metrics.Dispose();
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or ProduceException<string, byte[]> or KafkaException)
        {
            // Unacknowledged events are published again by the next start, under the same ids.
        }
        foreach (var shard in _shards) shard.Feed.Dispose();
        _producer.Dispose();
        _stop.Dispose();
    }
}
