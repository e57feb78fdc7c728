using System.Globalization;

namespace Wildberries.Engine.Kafka;

/// <summary>The command log's settings: where the cluster is and how shards map to topics. Immutable; validated at open.</summary>
public sealed record KafkaCommandLogOptions
{
    /// <summary>The cluster's bootstrap servers (<c>host:port,...</c>).</summary>
    public required string BootstrapServers { get; init; }

    /// <summary><c>wb.journal.</c>: shard N's log is the topic <c>wb.journal.N</c> (one partition, partition 0).</summary>
    public string TopicPrefix { get; init; } = "wb.journal.";

    /// <summary>
    /// <c>wb-journal-</c>: shard N's producer uses the transactional.id <c>wb-journal-N</c>, so on a real cluster a newer
    /// primary's producer fences an older one's.
    /// </summary>
    public string TransactionalIdPrefix { get; init; } = "wb-journal-";

    /// <summary>
    /// 10,000 records per read at most: enough to drain a burst of batches in one call, few enough that a standby
    /// catching up still returns often (to apply, to report its lag, to notice cancellation).
    /// </summary>
    public int ReadRecordsMax { get; init; } = 10_000;

    /// <summary>
    /// More librdkafka settings, passed through as they are to the producer, the consumers and the admin client
    /// (security.protocol, sasl.*, ssl.*, reconnect.backoff.max.ms, ...).
    /// </summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>The topic of <paramref name="shard"/>'s log.</summary>
    public string TopicOf(int shard) => TopicPrefix + shard.ToString(CultureInfo.InvariantCulture);

    /// <summary>The transactional.id of <paramref name="shard"/>'s producer.</summary>
    public string TransactionalIdOf(int shard) => TransactionalIdPrefix + shard.ToString(CultureInfo.InvariantCulture);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public KafkaCommandLogOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(BootstrapServers)) throw new ArgumentException("KafkaCommandLogOptions.BootstrapServers must be set.", nameof(BootstrapServers));
        // Kafka topic names: 1 to 249 of [a-zA-Z0-9._-]; the prefix leaves room for a shard number.
        if (string.IsNullOrEmpty(TopicPrefix) || TopicPrefix.Length > 240 || !TopicPrefix.All(IsTopicChar))
        {
            throw new ArgumentException("KafkaCommandLogOptions.TopicPrefix must be 1 to 240 of the characters a-z A-Z 0-9 . _ -.", nameof(TopicPrefix));
        }
        if (string.IsNullOrWhiteSpace(TransactionalIdPrefix)) throw new ArgumentException("KafkaCommandLogOptions.TransactionalIdPrefix must be set.", nameof(TransactionalIdPrefix));
        if (ReadRecordsMax is < 1 or > 1_000_000) throw new ArgumentException("KafkaCommandLogOptions.ReadRecordsMax must be 1 to 1000000.", nameof(ReadRecordsMax));
        ArgumentNullException.ThrowIfNull(Settings, nameof(Settings));
        return this;
    }

    private static bool IsTopicChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-';
}
