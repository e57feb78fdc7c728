using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Wildberries.Engine.Replication;

namespace Wildberries.Engine.Kafka;

/// <summary>
/// One shard's command log on Kafka: partition 0 of the topic <c>wb.journal.&lt;shard&gt;</c>, written by a
/// transactional producer (transactional.id <c>wb-journal-&lt;shard&gt;</c>, idempotent, <c>acks=all</c>) and read by
/// consumers that assign the partition by hand (no group membership, no committed offsets) at <c>read_committed</c>.
/// </summary>
/// <remarks>
/// <para>
/// Wire format: one Kafka message per record, no key. The value is the journal entry's bytes (empty for an epoch
/// marker). Three headers say what it is: <see cref="KindHeader"/> (ASCII <c>entry</c> or <c>epoch</c>),
/// <see cref="EpochHeader"/> (the writer's epoch, int32 big-endian) and <see cref="LsnHeader"/> (the LSN, int64
/// big-endian, 0 for a marker). A message without them is damage: reads throw <see cref="InvalidDataException"/>.
/// </para>
/// <para>
/// Positions are Kafka offsets. Every committed transaction is followed by one control record (its commit marker),
/// which takes an offset but is never delivered to a reader: positions grow by one per record plus one per batch.
/// An append's <see cref="CommandLogAppend.NextPosition"/> is its last record's offset + 1 (the commit marker's offset);
/// the end position (<see cref="EndPosition"/>) is one further, and reads report a next position past control records.
/// </para>
/// <para>
/// The fence of <see cref="Append"/>: after the commit, the records between the caller's verified position and the
/// batch (and, when another writer's records landed among the batch's, inside it too) are read back and checked for
/// a higher epoch. In the steady state there is nothing to read: when the batch starts exactly one offset after this
/// writer's previous batch ended, that one offset is the previous commit marker, so no other writer's record lies
/// between.
/// </para>
/// <para>
/// When an append fails it aborts its transaction, or, when that fails too, drops its producer; the next append
/// starts a new one (InitTransactions, which on a real cluster aborts what the old one left open). A commit that
/// timed out is still in progress inside librdkafka (an abort then fails with "conflicting commit_transaction call"),
/// so a batch reported unavailable may still become visible: whoever appends it again appends a duplicate, which a
/// reader skips by its LSN.
/// </para>
/// <para>
/// Measured on librdkafka's mock cluster (2.16.0, the tests' broker): a commit marker takes exactly one offset. The
/// mock does not fence a second producer with the same transactional.id, and it ignores read_committed: a reader gets
/// the records of open and aborted transactions, and the end position (the high watermark; a real cluster answers the
/// last stable offset at read_committed) counts them. So on the mock only the epoch check fences, and a batch is not
/// atomic for readers; a real cluster does both. The mock has no CreateTopics (its metadata names no controller):
/// creating the topic times out and the adapter falls back to the broker's auto-creation (the mock creates 4
/// partitions; only partition 0 is used). It answers a fetch only when fetch.wait.max.ms runs out, so a reader there
/// sees a new record up to 100 ms late; a real broker answers as soon as a record arrives.
/// </para>
/// </remarks>
public sealed class KafkaCommandLog : ICommandLog
{
    /// <summary>The header naming a record's kind: ASCII <c>entry</c> or <c>epoch</c> (an epoch marker).</summary>
    public const string KindHeader = "wb-kind";

    /// <summary>The header holding the writer's epoch, a big-endian int32.</summary>
    public const string EpochHeader = "wb-epoch";

    /// <summary>The header holding the entry's LSN, a big-endian int64 (0 for an epoch marker).</summary>
    public const string LsnHeader = "wb-lsn";

    private static readonly byte[] EntryKind = "entry"u8.ToArray();
    private static readonly byte[] MarkerKind = "epoch"u8.ToArray();

    /// <summary>
    /// 1 second: how long an abort may take when the append's own time is spent. An abort is one round trip to the
    /// transaction coordinator; a second tells a blip from an outage and spares initialising a new producer.
    /// </summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(1);

    /// <summary>100 ms: the longest a blocking poll runs before checking the deadline and the cancellation again.</summary>
    private static readonly TimeSpan PollSlice = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// 5 seconds at most for CreateTopics: a real controller answers in milliseconds; a cluster without one (the mock)
    /// should not cost more before the adapter falls back to auto-creation.
    /// </summary>
    private static readonly TimeSpan TopicCreateWaitMax = TimeSpan.FromSeconds(5);

    /// <summary>
    /// 1 second at least for a read's round trips other than the fetch (finding the topic, asking the leader whether it
    /// is there after an error): a read's wait may be zero, a round trip is not.
    /// </summary>
    private static readonly TimeSpan ReadRoundTripMin = TimeSpan.FromSeconds(1);

    private readonly KafkaCommandLogOptions _options;
    private readonly TopicPartition _partition;

    // The producer and what an append reuses: one message, and two header sets whose epoch and LSN arrays are
    // rewritten before each produce. Produce copies the value and the headers into librdkafka before it returns, so
    // rewriting them for the next record is safe.
    private IProducer<Null, byte[]>? _producer;
    private bool _transactionsReady;
    private bool _inTransaction;
    private volatile bool _producerFatal;
    private readonly Message<Null, byte[]> _message = new();
    private readonly byte[] _epochBytes = new byte[sizeof(int)];
    private readonly byte[] _lsnBytes = new byte[sizeof(long)];
    private readonly Headers _entryHeaders;
    private readonly Headers _markerHeaders;

    // [_cleanFrom, _cleanUntil) holds no record of an epoch above _cleanEpoch: checked or written by this writer.
    private bool _clean;
    private long _cleanFrom;
    private long _cleanUntil;
    private int _cleanEpoch;

    private IConsumer<Ignore, byte[]>? _reader;
    private long _readerNext = -1; // where the reader's next record comes from; -1: reassign before reading
    private volatile string? _readerError; // the last error librdkafka reported for the reader, until a round trip succeeds
    private IConsumer<Ignore, byte[]>? _verifier;
    private IAdminClient? _admin;
    private bool _topicReady;

    // The cluster answered and the topic does not exist yet (nothing was ever written: the first append creates it
    // through the broker's auto-creation); CreateTopics is tried once, then only the metadata is asked again.
    private bool _topicMissing;
    private bool _createTried;
    private bool _disposed;

    private KafkaCommandLog(KafkaCommandLogOptions options, int shard)
    {
        _options = options;
        _partition = new TopicPartition(options.TopicOf(shard), 0);
        TransactionalId = options.TransactionalIdOf(shard);
        _entryHeaders = new Headers { { KindHeader, EntryKind }, { EpochHeader, _epochBytes }, { LsnHeader, _lsnBytes } };
        _markerHeaders = new Headers { { KindHeader, MarkerKind }, { EpochHeader, _epochBytes }, { LsnHeader, _lsnBytes } };
    }

    /// <summary>
    /// Opens <paramref name="shard"/>'s log. Nothing is sent yet: the topic is found (or created, with one partition)
    /// and the producer's transactions initialised by the first call that needs them, within that call's time.
    /// </summary>
    public static KafkaCommandLog Open(KafkaCommandLogOptions options, int shard)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        options.Validate();
        return new KafkaCommandLog(options, shard);
    }

    /// <summary>The topic holding this shard's log (its partition 0).</summary>
    public string Topic => _partition.Topic;

    /// <summary>The producer's transactional.id.</summary>
    public string TransactionalId { get; }

    /// <inheritdoc/>
    public long EndPosition(TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        var started = Stopwatch.GetTimestamp();
        EnsureTopic(started, timeout);
        if (_topicMissing) return 0; // an empty log: nothing was ever written to it
        var reader = _reader ??= BuildConsumer("reader", error => _readerError = error.Reason);
        WatermarkOffsets watermarks;
        try
        {
            // At read_committed, "latest" is the last stable offset on a real cluster (it stops before an open
            // transaction, so reading up to it never waits on one); the mock answers the high watermark.
            watermarks = reader.QueryWatermarkOffsets(_partition, Remaining(started, timeout));
        }
        catch (KafkaException e)
        {
            NoteTopicError(e.Error);
            throw new CommandLogUnavailableException($"{Topic}: the end position was not known within {timeout}: {e.Error.Reason}", e);
        }
        if (watermarks.High.IsSpecial) throw new CommandLogUnavailableException($"{Topic}: the leader answered no end position ({watermarks.High}).");
        _readerError = null;
        return watermarks.High.Value;
    }

    /// <inheritdoc/>
    public CommandLogBatch Read(long from, TimeSpan wait, CancellationToken cancellation)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        cancellation.ThrowIfCancellationRequested();
        var started = Stopwatch.GetTimestamp();
        EnsureTopic(started, wait > ReadRoundTripMin ? wait : ReadRoundTripMin);
        if (_topicMissing)
        {
            // Nothing written yet: wait as a read would, then look for the topic again on the next call.
            cancellation.WaitHandle.WaitOne(Remaining(started, wait));
            return new CommandLogBatch([], from);
        }
        var reader = _reader ??= BuildConsumer("reader", error => _readerError = error.Reason);
        List<CommandLogRecord>? records = null;
        var whole = true; // false: the batch ended early (damage, an error), the reader's position is past its end
        try
        {
            if (from != _readerNext)
            {
                // Assigning again (rather than seeking) works whatever state the partition's fetcher is in.
                reader.Assign(new TopicPartitionOffset(_partition, from));
            }
            // Until this read ends cleanly, where the reader stands is not known: the next read assigns again.
            _readerNext = -1;
            ConsumeResult<Ignore, byte[]>? result;
            do
            {
                cancellation.ThrowIfCancellationRequested();
                var left = Remaining(started, wait);
                result = reader.Consume(left < PollSlice ? left : PollSlice);
            }
            while (result is null && Remaining(started, wait) > TimeSpan.Zero);

            if (result is not null)
            {
                // The first record may be damage: that throws. A later one ends the batch just before it, so the
                // records before it are applied and the next read starts at it (and throws).
                records = [Decode(result)];
                while (records.Count < _options.ReadRecordsMax && reader.Consume(TimeSpan.Zero) is { } more)
                {
                    try
                    {
                        records.Add(Decode(more));
                    }
                    catch (InvalidDataException)
                    {
                        whole = false;
                        break;
                    }
                }
            }
        }
        catch (ConsumeException e) when (records is null)
        {
            throw ReaderFailed(from, e.Error, e);
        }
        catch (ConsumeException)
        {
            // Records came before the error: return them; the error comes back on the next read.
            whole = false;
        }
        catch (KafkaException e)
        {
            throw ReaderFailed(from, e.Error, e);
        }

        long next = records is { Count: > 0 } ? records[^1].Position + 1 : from;
        if (whole)
        {
            // The reader's position passes commit markers and aborted records that no read returns.
            try
            {
                var position = reader.Position(_partition);
                if (!position.IsSpecial && position.Value > next) next = position.Value;
                _readerNext = next;
            }
            catch (KafkaException)
            {
                // Not known: the next read assigns again.
            }
        }
        if (records is null && _readerError is { } error) ConfirmReachable(reader, error, wait);
        return new CommandLogBatch(records ?? (IReadOnlyList<CommandLogRecord>)[], next);
    }

    /// <summary>
    /// An empty read cannot tell "nothing new" from "nobody answers" (librdkafka retries quietly): after librdkafka
    /// reported an error, an empty read asks the leader for the end position, and throws when it does not answer.
    /// </summary>
    private void ConfirmReachable(IConsumer<Ignore, byte[]> reader, string error, TimeSpan wait)
    {
        try
        {
            reader.QueryWatermarkOffsets(_partition, wait > ReadRoundTripMin ? wait : ReadRoundTripMin);
            _readerError = null;
        }
        catch (KafkaException e)
        {
            NoteTopicError(e.Error);
            throw new CommandLogUnavailableException($"{Topic}: the leader does not answer ({e.Error.Reason}; earlier: {error}).", e);
        }
    }

    private CommandLogUnavailableException ReaderFailed(long from, Error error, Exception inner)
    {
        _readerNext = -1;
        NoteTopicError(error);
        if (error.IsFatal)
        {
            _reader?.Dispose();
            _reader = null;
        }
        var why = error.Code is ErrorCode.Local_AutoOffsetReset or ErrorCode.OffsetOutOfRange
            ? $"position {from.ToString(CultureInfo.InvariantCulture)} is outside what the log holds ({error.Reason})"
            : error.Reason;
        return new CommandLogUnavailableException($"{Topic}: reading from {from.ToString(CultureInfo.InvariantCulture)} failed: {why}", inner);
    }

    /// <inheritdoc/>
    public CommandLogAppend Append(IReadOnlyList<CommandLogWrite> writes, int epoch, long verifiedFrom, TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(writes);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfNegative(verifiedFrom);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        if (writes.Count == 0) throw new ArgumentException("An append needs at least one record.", nameof(writes));
        for (var i = 0; i < writes.Count; i++)
        {
            var write = writes[i];
            if (write.Lsn < 0 || (write.IsMarker && !write.Entry.IsEmpty))
            {
                throw new ArgumentException($"Write {i}: an entry has a positive LSN, a marker LSN 0 and no bytes (LSN {write.Lsn}, {write.Entry.Length} bytes).", nameof(writes));
            }
        }

        var started = Stopwatch.GetTimestamp();
        EnsureTopic(started, timeout);
        var producer = TransactionalProducer(started, timeout);
        var deliveries = new Deliveries(writes.Count);
        try
        {
            producer.BeginTransaction();
            _inTransaction = true;
            BinaryPrimitives.WriteInt32BigEndian(_epochBytes, epoch);
            for (var i = 0; i < writes.Count; i++)
            {
                var write = writes[i];
                BinaryPrimitives.WriteInt64BigEndian(_lsnBytes, write.Lsn);
                _message.Headers = write.IsMarker ? _markerHeaders : _entryHeaders;
                _message.Value = write.IsMarker ? [] : ArrayOf(write.Entry);
                Produce(producer, deliveries.Handler, started, timeout);
            }
            // Flushes the batch (serving its delivery reports on this thread), waits for acks=all, ends the transaction.
            producer.CommitTransaction(Remaining(started, timeout));
            _inTransaction = false;
        }
        catch (KafkaException e)
        {
            Abandon(producer, e.Error, started, timeout);
            throw new CommandLogUnavailableException(
                $"{Topic}: {writes.Count.ToString(CultureInfo.InvariantCulture)} record(s) were not committed within {timeout}: {e.Error.Reason}", e);
        }
        finally
        {
            _message.Value = [];
        }

        // The commit's flush served every delivery report (a commit succeeds only when every record was delivered).
        if (!deliveries.Complete) throw new InvalidOperationException($"{Topic}: a transaction was committed before all its delivery reports came.");
        CheckFence(writes.Count, deliveries.First, deliveries.Last, epoch, verifiedFrom, started, timeout);
        return new CommandLogAppend(deliveries.First, deliveries.Last + 1);
    }

    private void Produce(IProducer<Null, byte[]> producer, Action<DeliveryReport<Null, byte[]>> handler, long started, TimeSpan timeout)
    {
        while (true)
        {
            try
            {
                producer.Produce(_partition, _message, handler);
                return;
            }
            catch (ProduceException<Null, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull && Remaining(started, timeout) > TimeSpan.Zero)
            {
                // More records than librdkafka queues (queue.buffering.max.*): let some go out, then go on.
                producer.Flush(PollSlice);
            }
        }
    }

    /// <summary>
    /// Ends a failed transaction: aborted when the producer can still do so (bounded), else the producer is dropped and
    /// the next append starts a new one (whose InitTransactions aborts whatever this one left open).
    /// </summary>
    private void Abandon(IProducer<Null, byte[]> producer, Error error, long started, TimeSpan timeout)
    {
        if (error.IsFatal || _producerFatal || !_inTransaction)
        {
            DropProducer();
            return;
        }
        try
        {
            var left = Remaining(started, timeout);
            producer.AbortTransaction(left > AbortGrace ? left : AbortGrace);
            _inTransaction = false;
        }
        catch (KafkaException)
        {
            DropProducer();
        }
    }

    /// <summary>
    /// Throws <see cref="CommandLogFencedException"/> when a record of a higher epoch than <paramref name="epoch"/> lies
    /// in [<paramref name="verifiedFrom"/>, the batch), or among the batch's records when another writer's landed there.
    /// </summary>
    private void CheckFence(int count, long first, long last, int epoch, long verifiedFrom, long started, TimeSpan timeout)
    {
        var contiguous = last - first + 1 == count;
        if (contiguous && _clean && epoch >= _cleanEpoch && verifiedFrom >= _cleanFrom && first == _cleanUntil + 1)
        {
            // The one offset between this writer's previous batch and this one is the previous commit marker.
            _cleanUntil = last + 1;
            _cleanEpoch = epoch;
            return;
        }
        _clean = false;
        var until = contiguous ? first : last + 1;
        if (verifiedFrom < until) ScanForHigherEpoch(verifiedFrom, until, epoch, started, timeout);
        _clean = true;
        _cleanFrom = Math.Min(verifiedFrom, until);
        _cleanUntil = last + 1;
        _cleanEpoch = epoch;
    }

    private void ScanForHigherEpoch(long from, long until, int epoch, long started, TimeSpan timeout)
    {
        var verifier = _verifier ??= BuildConsumer("verifier", null);
        try
        {
            verifier.Assign(new TopicPartitionOffset(_partition, from));
            while (true)
            {
                var left = Remaining(started, timeout);
                if (left <= TimeSpan.Zero)
                {
                    throw new CommandLogUnavailableException(
                        $"{Topic}: the batch was committed, but [{from.ToString(CultureInfo.InvariantCulture)}, {until.ToString(CultureInfo.InvariantCulture)}) could not be read within {timeout} to check that no newer primary wrote there.");
                }
                var result = verifier.Consume(left < PollSlice ? left : PollSlice);
                if (result is null)
                {
                    // Only commit markers or aborted records were left before the batch.
                    if (verifier.Position(_partition) is { IsSpecial: false } position && position.Value >= until) return;
                    continue;
                }
                var offset = result.Offset.Value;
                if (offset >= until) return;
                var record = Decode(result);
                if (record.Epoch > epoch) throw new CommandLogFencedException(record.Epoch, offset);
                if (offset == until - 1) return;
            }
        }
        catch (KafkaException e)
        {
            if (e.Error.IsFatal)
            {
                _verifier?.Dispose();
                _verifier = null;
            }
            NoteTopicError(e.Error);
            throw new CommandLogUnavailableException(
                $"{Topic}: the batch was committed, but reading [{from.ToString(CultureInfo.InvariantCulture)}, {until.ToString(CultureInfo.InvariantCulture)}) to check for a newer primary failed: {e.Error.Reason}", e);
        }
        finally
        {
            // Stop fetching between appends.
            if (_verifier is { } assigned)
            {
                try
                {
                    assigned.Unassign();
                }
                catch (KafkaException)
                {
                    _verifier = null;
                    assigned.Dispose();
                }
            }
        }
    }

    /// <summary>The producer with its transactions initialised (lazily, and again after it was dropped).</summary>
    private IProducer<Null, byte[]> TransactionalProducer(long started, TimeSpan timeout)
    {
        if (_producerFatal) DropProducer();
        if (_producer is { } ready && _transactionsReady) return ready;
        var producer = _producer ??= BuildProducer();
        try
        {
            producer.InitTransactions(Remaining(started, timeout));
        }
        catch (KafkaException e)
        {
            DropProducer();
            throw new CommandLogUnavailableException($"{Topic}: transactions of {TransactionalId} could not be initialised within {timeout}: {e.Error.Reason}", e);
        }
        _transactionsReady = true;
        return producer;
    }

    private void DropProducer()
    {
        var producer = _producer;
        _producer = null;
        _transactionsReady = false;
        _inTransaction = false;
        _producerFatal = false;
        producer?.Dispose();
    }

    private IProducer<Null, byte[]> BuildProducer()
    {
        var config = new ProducerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            ClientId = TransactionalId,
            TransactionalId = TransactionalId,
            EnableIdempotence = true,
            Acks = Acks.All,
            // 1 ms: a batch is produced in one go and committed at once (the commit flushes); lingering buys nothing.
            LingerMs = 1,
            CompressionType = CompressionType.Lz4,
            // Offsets and errors are all an append reads back: no copies of keys, values and headers per record.
            DeliveryReportFields = "none",
        };
        foreach (var (key, value) in _options.Settings) config.Set(key, value);
        // Not to be overridden: the append's own calls serve the delivery reports (the commit's flush polls for them),
        // so they come on the appending thread. With Confluent's poll thread taking them instead, the flush finds an
        // empty queue and sleeps in 10 ms steps until the count drops: 10 ms more per append (1 entry: 10.4 ms
        // instead of 1.5 ms on the mock).
        config.EnableBackgroundPoll = false;
        return new ProducerBuilder<Null, byte[]>(config)
            .SetErrorHandler((_, error) =>
            {
                if (error.IsFatal) _producerFatal = true;
            })
            .Build();
    }

    private IConsumer<Ignore, byte[]> BuildConsumer(string role, Action<Error>? onError)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            ClientId = $"{TransactionalId}-{role}",
            // Required by the client; never joined (the partition is assigned by hand) and no offset is committed.
            GroupId = $"{TransactionalId}-{role}-{Guid.NewGuid():N}",
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            IsolationLevel = IsolationLevel.ReadCommitted,
            // A position the log no longer holds (retention ran; a standby started from a snapshot reads from 0) moves
            // to the oldest record kept: the engine's reading rules check every record's log sequence number, so a jump
            // over missing entries stops the reader with a gap, and records read again are skipped as duplicates.
            AutoOffsetReset = AutoOffsetReset.Earliest,
            // 100 ms (librdkafka's default is 500): a read from another position, and every check of the fence,
            // waits for the fetch in flight to come back before fetching from the new position.
            FetchWaitMaxMs = 100,
        };
        foreach (var (key, value) in _options.Settings) config.Set(key, value);
        var builder = new ConsumerBuilder<Ignore, byte[]>(config);
        if (onError is not null) builder.SetErrorHandler((_, error) => onError(error));
        return builder.Build();
    }

    /// <summary>
    /// Finds the topic, or creates it with one partition (replication factor min(3, brokers)), once. When the cluster
    /// answers but will not create it (librdkafka's mock has no CreateTopics; a real cluster may deny it), the
    /// broker's auto-creation on the first produce is left to do it.
    /// </summary>
    private void EnsureTopic(long started, TimeSpan timeout)
    {
        if (_topicReady) return;
        var admin = _admin ??= BuildAdmin();
        Metadata metadata;
        try
        {
            metadata = admin.GetMetadata(Topic, Remaining(started, timeout));
        }
        catch (KafkaException e)
        {
            throw new CommandLogUnavailableException($"{Topic}: the cluster did not answer within {timeout}: {e.Error.Reason}", e);
        }
        TopicMetadata? found = null;
        foreach (var topic in metadata.Topics)
        {
            if (topic.Topic == Topic) found = topic;
        }
        if ((found is null || found.Error.Code == ErrorCode.UnknownTopicOrPart) && _createTried)
        {
            _topicMissing = true;
            return;
        }
        if (found is null || found.Error.Code == ErrorCode.UnknownTopicOrPart)
        {
            _createTried = true;
            var left = Remaining(started, timeout);
            var wait = left < TopicCreateWaitMax ? left : TopicCreateWaitMax;
            try
            {
                var topic = new TopicSpecification { Name = Topic, NumPartitions = 1, ReplicationFactor = (short)Math.Clamp(metadata.Brokers.Count, 1, 3) };
                admin.CreateTopicsAsync([topic], new CreateTopicsOptions { RequestTimeout = wait, OperationTimeout = wait }).GetAwaiter().GetResult();
            }
            catch (CreateTopicsException e) when (e.Results is [{ Error.Code: ErrorCode.TopicAlreadyExists }])
            {
                // Another writer or reader of this shard created it first.
            }
            catch (KafkaException)
            {
                // The cluster answered the metadata request but creates no topic: its auto-creation does it on the
                // first produce; until then the log is empty.
                _topicMissing = true;
                return;
            }
        }
        else if (found.Error.IsError)
        {
            throw new CommandLogUnavailableException($"{Topic}: the cluster reports {found.Error.Reason}.");
        }
        _topicReady = true;
        _topicMissing = false;
        _admin = null;
        admin.Dispose();
    }

    private IAdminClient BuildAdmin()
    {
        var config = new AdminClientConfig
        {
            BootstrapServers = _options.BootstrapServers,
            ClientId = $"{TransactionalId}-admin",
            // Asking whether the topic exists must not create it with the broker's default partition count.
            AllowAutoCreateTopics = false,
        };
        foreach (var (key, value) in _options.Settings) config.Set(key, value);
        return new AdminClientBuilder(config).Build();
    }

    /// <summary>
    /// A broker saying the topic does not exist sends the next call to find (or create) it again. librdkafka's own
    /// "unknown partition" is not enough: it says so too while no broker answers.
    /// </summary>
    private void NoteTopicError(Error error)
    {
        if (error.Code == ErrorCode.UnknownTopicOrPart) _topicReady = false;
    }

    private CommandLogRecord Decode(ConsumeResult<Ignore, byte[]> result)
    {
        var offset = result.Offset.Value;
        var headers = result.Message.Headers;
        if (headers is null
            || !headers.TryGetLastBytes(KindHeader, out var kind)
            || !headers.TryGetLastBytes(EpochHeader, out var epochBytes) || epochBytes is not { Length: sizeof(int) }
            || !headers.TryGetLastBytes(LsnHeader, out var lsnBytes) || lsnBytes is not { Length: sizeof(long) })
        {
            throw Damaged(offset, $"it lacks the {KindHeader}, {EpochHeader} (4 bytes) and {LsnHeader} (8 bytes) headers");
        }
        var epoch = BinaryPrimitives.ReadInt32BigEndian(epochBytes);
        var lsn = BinaryPrimitives.ReadInt64BigEndian(lsnBytes);
        var value = result.Message.Value;
        if (kind.AsSpan().SequenceEqual(EntryKind))
        {
            if (lsn <= 0 || value is null) throw Damaged(offset, $"an entry with LSN {lsn.ToString(CultureInfo.InvariantCulture)} and {(value is null ? "no value" : "a value")}");
            return new CommandLogRecord(offset, CommandLogRecordKind.Entry, epoch, lsn, value);
        }
        if (kind.AsSpan().SequenceEqual(MarkerKind))
        {
            if (lsn != 0 || value is { Length: > 0 }) throw Damaged(offset, $"an epoch marker with LSN {lsn.ToString(CultureInfo.InvariantCulture)} and {value?.Length ?? 0} bytes");
            return new CommandLogRecord(offset, CommandLogRecordKind.EpochMarker, epoch, 0, ReadOnlyMemory<byte>.Empty);
        }
        throw Damaged(offset, $"its {KindHeader} is neither entry nor epoch");
    }

    private InvalidDataException Damaged(long offset, string why) =>
        new($"{Topic} partition 0 offset {offset.ToString(CultureInfo.InvariantCulture)} is not a command log record: {why}.");

    private static byte[] ArrayOf(ReadOnlyMemory<byte> entry) =>
        MemoryMarshal.TryGetArray(entry, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : entry.ToArray();

    private static TimeSpan Remaining(long started, TimeSpan timeout)
    {
        var left = timeout - Stopwatch.GetElapsedTime(started);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>Aborts a transaction left open (bounded), then closes the producer and the consumers.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_producer is { } producer && _inTransaction)
        {
            try
            {
                producer.AbortTransaction(AbortGrace);
            }
            catch (KafkaException)
            {
                // The next primary's InitTransactions aborts it.
            }
        }
        _producer?.Dispose();
        _reader?.Dispose();
        _verifier?.Dispose();
        _admin?.Dispose();
        _producer = null;
        _reader = null;
        _verifier = null;
        _admin = null;
    }

    /// <summary>
    /// One append's delivery reports: how many came and the first and last offset. librdkafka hands them over inside
    /// the producer calls the append makes (the commit's flush), on the appending thread; one that comes after its
    /// append gave up lands in that append's instance, not in a later one's.
    /// </summary>
    private sealed class Deliveries
    {
        private readonly int _expected;
        private int _delivered;
        private Error? _failure;

        public Deliveries(int expected)
        {
            _expected = expected;
            Handler = OnDelivered;
        }

        public Action<DeliveryReport<Null, byte[]>> Handler { get; }

        public long First { get; private set; } = long.MaxValue;

        public long Last { get; private set; } = -1;

        /// <summary>Every record reported delivered.</summary>
        public bool Complete => _delivered == _expected && _failure is null;

        private void OnDelivered(DeliveryReport<Null, byte[]> report)
        {
            _delivered++;
            if (report.Error.IsError)
            {
                _failure ??= report.Error;
                return;
            }
            var offset = report.Offset.Value;
            if (offset < First) First = offset;
            if (offset > Last) Last = offset;
        }
    }
}
