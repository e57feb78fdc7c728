using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Wildberries.Engine.Kafka;
using Wildberries.Engine.Replication;
using Wildberries.Testing;

namespace Wildberries.Kafka.Tests;

/// <summary>
/// The command log on Kafka (the mock cluster over loopback, the real client): what is appended reads back record for
/// record at the positions the append reported, a writer learns from the log itself that a newer epoch wrote there,
/// and an outage makes appends fail in bounded time and recover by themselves.
/// </summary>
public sealed class CommandLogTests(ITestOutputHelper output)
{
    private const int Shard = 0;
    private const string Topic = "wb.journal.0";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static KafkaCommandLogOptions Options(KafkaMockCluster kafka) => new()
    {
        BootstrapServers = kafka.Bootstrap,
        Settings = new Dictionary<string, string>
        {
            ["reconnect.backoff.ms"] = "50",
            ["reconnect.backoff.max.ms"] = "500",
            ["retry.backoff.ms"] = "50",
            ["retry.backoff.max.ms"] = "500",
        },
    };

    private static async Task<KafkaMockCluster> StartWithTopic(CancellationToken cancellation)
    {
        var kafka = await KafkaMockCluster.StartAsync(brokers: 3, cancellationToken: cancellation);
        await kafka.CreateTopicAsync(Topic, partitions: 1, cancellationToken: cancellation);
        return kafka;
    }

    private static CommandLogWrite Entry(long lsn) =>
        new(lsn, Encoding.UTF8.GetBytes($"entry {lsn.ToString(CultureInfo.InvariantCulture)} " + new string('x', (int)(lsn % 50))));

    private static CommandLogWrite[] Entries(long fromLsn, int count) => [.. Enumerable.Range(0, count).Select(i => Entry(fromLsn + i))];

    private static readonly CommandLogWrite Marker = new(0, ReadOnlyMemory<byte>.Empty);

    /// <summary>Reads from <paramref name="from"/> until the next position reaches the end position.</summary>
    private static List<CommandLogRecord> ReadToEnd(KafkaCommandLog log, long from, out long next)
    {
        var end = log.EndPosition(Timeout);
        var records = new List<CommandLogRecord>();
        var clock = Stopwatch.StartNew();
        next = from;
        while (next < end)
        {
            Assert.True(clock.Elapsed < Bound, $"reading stalled at {next}, the end is {end}");
            var batch = log.Read(next, TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
            records.AddRange(batch.Records);
            Assert.True(batch.NextPosition >= next, "the next position never goes back");
            next = batch.NextPosition;
        }
        return records;
    }

    private static void AssertRecords(IReadOnlyList<(CommandLogAppend Append, int Epoch, CommandLogWrite[] Writes)> appended, List<CommandLogRecord> read)
    {
        var expected = appended.SelectMany(a => a.Writes.Select((w, i) => (Position: a.Append.FirstPosition + i, a.Epoch, w))).ToList();
        Assert.Equal(expected.Count, read.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var (position, epoch, write) = expected[i];
            var record = read[i];
            Assert.Equal(position, record.Position);
            Assert.Equal(write.IsMarker ? CommandLogRecordKind.EpochMarker : CommandLogRecordKind.Entry, record.Kind);
            Assert.Equal(epoch, record.Epoch);
            Assert.Equal(write.Lsn, record.Lsn);
            Assert.Equal(write.Entry.ToArray(), record.Entry.ToArray());
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Appended_entries_and_markers_read_back_at_the_positions_the_append_reported()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var kafka = await StartWithTopic(cancellation);
        using var writer = KafkaCommandLog.Open(Options(kafka), Shard);
        Assert.Equal((Topic, "wb-journal-0"), (writer.Topic, writer.TransactionalId));

        var appended = new List<(CommandLogAppend Append, int Epoch, CommandLogWrite[] Writes)>();
        CommandLogAppend Append(int epoch, CommandLogWrite[] writes)
        {
            var verifiedFrom = appended.Count == 0 ? 0 : appended[^1].Append.NextPosition;
            var result = writer.Append(writes, epoch, verifiedFrom, Timeout);
            appended.Add((result, epoch, writes));
            return result;
        }

        var clock = Stopwatch.StartNew();
        var first = Append(1, [Marker]);
        output.WriteLine($"first append (finding the topic, InitTransactions, one marker): {clock.Elapsed.TotalMilliseconds:F1} ms");
        Append(1, Entries(1, 3));
        Append(2, [Marker, .. Entries(4, 2)]);
        Append(2, Entries(6, 1000));
        Assert.Equal(new CommandLogAppend(0, 1), first);
        foreach (var ((append, _, writes), previous) in appended.Skip(1).Zip(appended))
        {
            // One offset per record, plus one for the commit marker between transactions (measured on the mock).
            Assert.Equal(writes.Length, append.NextPosition - append.FirstPosition);
            Assert.Equal(previous.Append.NextPosition + 1, append.FirstPosition);
        }

        var lsn = 1006L;
        foreach (var size in new[] { 1, 1000 })
        {
            clock.Restart();
            const int Rounds = 5;
            for (var round = 0; round < Rounds; round++)
            {
                Append(2, Entries(lsn, size));
                lsn += size;
            }
            output.WriteLine($"append of {size} entries: {clock.Elapsed.TotalMilliseconds / Rounds:F1} ms on average");
        }

        // A reader of its own (as a standby would be), reading to the end.
        using var reader = KafkaCommandLog.Open(Options(kafka), Shard);
        var end = reader.EndPosition(Timeout);
        Assert.True(end >= appended[^1].Append.NextPosition, $"the end position {end} is before the last append's next position {appended[^1].Append.NextPosition}");
        var read = ReadToEnd(reader, 0, out var next);
        AssertRecords(appended, read);
        Assert.Equal(end, next);

        // At the end, a read waits and returns nothing, at the same position.
        clock.Restart();
        var empty = reader.Read(next, TimeSpan.FromMilliseconds(300), cancellation);
        Assert.Empty(empty.Records);
        Assert.Equal(next, empty.NextPosition);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(250), $"an empty read returned after {clock.ElapsedMilliseconds} ms");

        // A read from the middle starts exactly there.
        var middle = appended[2].Append.FirstPosition + 1;
        var part = reader.Read(middle, TimeSpan.FromSeconds(5), cancellation);
        Assert.Equal(middle, part.Records[0].Position);
        Assert.Equal(4, part.Records[0].Lsn);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_writer_learns_from_the_log_that_a_newer_epoch_wrote_and_is_fenced()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var kafka = await StartWithTopic(cancellation);
        // Same shard, same transactional.id: a real cluster would fence A's producer when B initialises; the mock
        // does not, so only the epoch check stands between A and a log that B now owns.
        using var a = KafkaCommandLog.Open(Options(kafka), Shard);
        using var b = KafkaCommandLog.Open(Options(kafka), Shard);

        var a1 = a.Append([Marker], 1, 0, Timeout);
        // While A alone writes, its appends read nothing back: each starts one offset (its commit marker) after the last.
        await kafka.TrackRequestsAsync(cancellation);
        var a2 = a.Append(Entries(1, 2), 1, a1.NextPosition, Timeout);
        var a3 = a.Append(Entries(3, 1), 1, a2.NextPosition, Timeout);
        Assert.Equal(0, await kafka.CountRequestsAsync(KafkaApiKey.Fetch, cancellation));

        // B was promoted: it read A's records and writes its marker.
        var b1 = b.Append([Marker], 2, a3.NextPosition, Timeout);

        var fenced = Assert.Throws<CommandLogFencedException>(() => a.Append(Entries(4, 1), 1, a3.NextPosition, Timeout));
        Assert.Equal(2, fenced.Epoch);
        Assert.Equal(b1.FirstPosition, fenced.Position);
        output.WriteLine($"{fenced.Message}; {await kafka.CountRequestsAsync(KafkaApiKey.Fetch, cancellation)} fetch request(s) to find it");

        // B goes on: A's fenced record is of an older epoch.
        var b2 = b.Append(Entries(4, 1), 2, b1.NextPosition, Timeout);
        Assert.True(b2.FirstPosition > b1.NextPosition);

        // And A stays fenced however it retries from where it stood.
        Assert.Equal(2, Assert.Throws<CommandLogFencedException>(() => a.Append(Entries(4, 1), 1, a3.NextPosition, Timeout)).Epoch);
    }

    [Fact(Timeout = 30_000)]
    public async Task Appends_fail_in_bounded_time_while_every_broker_is_down_and_recover_by_themselves()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var kafka = await StartWithTopic(cancellation);
        using var log = KafkaCommandLog.Open(Options(kafka), Shard);
        var before = log.Append([Marker, .. Entries(1, 10)], 1, 0, Timeout);

        await kafka.SetBrokerDownAsync(-1, cancellation);
        var shortTimeout = TimeSpan.FromSeconds(3);
        var clock = Stopwatch.StartNew();
        var failed = Task.Run(() => log.Append(Entries(11, 10), 1, before.NextPosition, shortTimeout), cancellation);
        var unavailable = await Assert.ThrowsAsync<CommandLogUnavailableException>(() => failed.WaitAsync(TimeSpan.FromSeconds(30), cancellation));
        output.WriteLine($"append with every broker down: {unavailable.Message} after {clock.ElapsedMilliseconds} ms");

        clock.Restart();
        var end = Task.Run(() => log.EndPosition(shortTimeout), cancellation);
        await Assert.ThrowsAsync<CommandLogUnavailableException>(() => end.WaitAsync(TimeSpan.FromSeconds(30), cancellation));
        output.WriteLine($"end position with every broker down: unavailable after {clock.ElapsedMilliseconds} ms");

        // An empty read does not pass for "nothing new" while nobody answers.
        clock.Restart();
        var read = Task.Run(() => log.Read(before.NextPosition, TimeSpan.FromSeconds(1), cancellation), cancellation);
        await Assert.ThrowsAsync<CommandLogUnavailableException>(() => read.WaitAsync(TimeSpan.FromSeconds(30), cancellation));
        output.WriteLine($"read with every broker down: unavailable after {clock.ElapsedMilliseconds} ms");

        await kafka.SetBrokerUpAsync(-1, cancellation);
        clock.Restart();
        var after = await Task.Run(() => log.Append(Entries(11, 10), 1, before.NextPosition, Timeout), cancellation).WaitAsync(TimeSpan.FromSeconds(30), cancellation);
        output.WriteLine($"first append after the brokers came back: {clock.ElapsedMilliseconds} ms, at {after.FirstPosition}..{after.NextPosition}");

        // The same instance reads again too; what the failed append sent never reached a broker: the log holds the
        // two good batches only.
        var records = ReadToEnd(log, 0, out _);
        Assert.Equal(Enumerable.Range(0, 21).Select(i => (long)i), records.Select(r => r.Lsn));
    }

    [Fact(Timeout = 30_000)]
    public async Task Appends_go_on_while_one_broker_of_three_is_down_and_the_leader_moves()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var kafka = await StartWithTopic(cancellation);
        // Broker 1 leads the partition and coordinates the transactions; brokers 2 and 3 only hold replicas.
        await kafka.SetTransactionCoordinatorAsync("wb-journal-0", 1, cancellation);
        await kafka.SetLeaderAsync(Topic, 0, 1, cancellation);
        using var log = KafkaCommandLog.Open(Options(kafka), Shard);
        var lsn = 1L;
        var next = log.Append([Marker], 1, 0, Timeout).NextPosition;
        void AppendSome(string phase)
        {
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < 5; i++)
            {
                next = log.Append(Entries(lsn, 20), 1, next, Timeout).NextPosition;
                lsn += 20;
            }
            output.WriteLine($"{phase}: 5 appends in {clock.ElapsedMilliseconds} ms");
        }

        AppendSome("all up");
        await kafka.SetBrokerDownAsync(2, cancellation);
        AppendSome("broker 2 down");
        // Leadership moves to broker 3 while 2 is still down: the producer follows it.
        await kafka.SetLeaderAsync(Topic, 0, 3, cancellation);
        AppendSome("broker 2 down, broker 3 leads");
        await kafka.SetBrokerUpAsync(2, cancellation);
        await kafka.SetBrokerDownAsync(1, cancellation);
        await kafka.SetTransactionCoordinatorAsync("wb-journal-0", 2, cancellation);
        AppendSome("broker 1 (the old leader and coordinator) down, broker 2 coordinates");

        using var reader = KafkaCommandLog.Open(Options(kafka), Shard);
        var read = ReadToEnd(reader, 0, out _);
        Assert.Equal(Enumerable.Range(0, (int)lsn).Select(i => (long)i), read.Select(r => r.Lsn));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_missing_topic_is_created_or_left_to_auto_creation()
    {
        var cancellation = TestContext.Current.CancellationToken;
        // No topic: the mock has no CreateTopics, so the adapter falls back to auto-creation on the first produce.
        await using var kafka = await KafkaMockCluster.StartAsync(brokers: 3, cancellationToken: cancellation);
        using var log = KafkaCommandLog.Open(Options(kafka), Shard);
        var clock = Stopwatch.StartNew();
        var appended = log.Append([Marker, .. Entries(1, 3)], 1, 0, Timeout);
        output.WriteLine($"first append to a topic that did not exist: {clock.ElapsedMilliseconds} ms");
        Assert.Equal(new CommandLogAppend(0, 4), appended);
        var read = ReadToEnd(log, 0, out _);
        Assert.Equal([0L, 1, 2, 3], read.Select(r => r.Lsn));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_message_that_is_not_a_record_is_damage_named_by_topic_and_offset()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var kafka = await StartWithTopic(cancellation);
        using var log = KafkaCommandLog.Open(Options(kafka), Shard);
        var good = log.Append([Marker, .. Entries(1, 2)], 1, 0, Timeout);
        var clients = new KafkaClients(kafka.Bootstrap);
        using (var producer = clients.Producer())
        {
            await KafkaClients.ProduceAllAsync(producer, new TopicPartition(Topic, 0), [("stray", "no headers")], Bound);
        }

        // The good records come first; the read that reaches the stray message throws, naming it, every time.
        var records = new List<CommandLogRecord>();
        var next = 0L;
        var clock = Stopwatch.StartNew();
        InvalidDataException? damage = null;
        while (damage is null && clock.Elapsed < Bound)
        {
            try
            {
                var batch = log.Read(next, TimeSpan.FromMilliseconds(200), cancellation);
                records.AddRange(batch.Records);
                next = batch.NextPosition;
            }
            catch (InvalidDataException e)
            {
                damage = e;
            }
        }
        Assert.NotNull(damage);
        output.WriteLine(damage.Message);
        Assert.Equal([0L, 1, 2], records.Select(r => r.Lsn));
        var stray = good.NextPosition + 1;
        Assert.Contains($"{Topic} partition 0 offset {stray}", damage.Message, StringComparison.Ordinal);
        // Every time: the read that reaches it again throws again (it returns as soon as the message comes).
        Assert.Throws<InvalidDataException>(() => log.Read(next, Bound, cancellation));
    }
}
