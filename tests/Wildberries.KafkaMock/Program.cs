using System.Globalization;
using System.Text;
using Wildberries.KafkaMock;

// librdkafka's mock cluster, hosted in a process of its own so that code under test connects to it over loopback TCP
// exactly as to a real cluster (and kcat can read it).
//
// Usage: dotnet Wildberries.KafkaMock.dll [BROKERS]        (default 3 brokers, ids 1..BROKERS, listening on 127.0.0.1)
// Prints "BOOTSTRAP 127.0.0.1:port,..." as its first stdout line, then reads one command per line on stdin and answers
// each with "OK" or "ERR message":
//   topic NAME PARTITIONS [REPLICATION]   create a topic (replication defaults to min(3, BROKERS))
//   leader TOPIC PARTITION BROKERID       move a partition's leader (set_down does not move leadership)
//   coordinator TYPE KEY BROKERID         make a broker the coordinator of a transactional.id (TYPE transaction)
//                                         or a group (TYPE group); by default the mock hashes the key
//   down BROKERID | up BROKERID           disconnect a broker and refuse connections / accept them again (-1: all)
//   rtt BROKERID MS                       delay every answer of a broker by MS (-1: all; 0: no delay again)
//   errors APIKEY COUNT ERRORCODE         the next COUNT requests of that type (0 = Produce) fail with ERRORCODE
//                                         (a Kafka error code, or librdkafka's -195 to make the broker disconnect)
//   clear APIKEY                          drop the errors still queued for that request type
//   track                                 start counting requests (again from zero)
//   requests APIKEY                       answers "OK N": requests of that type received since "track"
//   quit                                  destroy the cluster and exit
// End of stdin means quit, so a test run that dies does not leave the cluster behind.
var brokers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3;
if (brokers is < 1 or > 32)
{
    await Console.Error.WriteLineAsync("BROKERS must be 1..32");
    return 2;
}

RdKafka.BindToConfluentsLibrary();
using var cluster = MockCluster.Start(brokers);
await Console.Error.WriteLineAsync($"kafka mock: librdkafka {RdKafka.Utf8(RdKafka.rd_kafka_version_str())} from {RdKafka.LibraryPath}, {brokers} brokers");

var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
await stdout.WriteLineAsync($"BOOTSTRAP {cluster.Bootstraps}");
while (await Console.In.ReadLineAsync() is { } line)
{
    var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    if (words.Length == 0) continue;
    if (words[0] == "quit")
    {
        await stdout.WriteLineAsync("OK");
        break;
    }
    string? error;
    string? value = null;
    try
    {
        error = cluster.Execute(words, out value);
    }
    catch (FormatException e)
    {
        error = e.Message;
    }
    catch (OverflowException e)
    {
        error = e.Message;
    }
    await stdout.WriteLineAsync(error is null ? (value is null ? "OK" : $"OK {value}") : $"ERR {error.ReplaceLineEndings(" ")}");
}
return 0;

/// <summary>A producer handle (librdkafka's book-keeping for the cluster) and the mock cluster it owns.</summary>
internal sealed unsafe class MockCluster : IDisposable
{
    private readonly nint handle;
    private readonly nint cluster;
    private readonly int brokers;

    private MockCluster(nint handle, nint cluster, int brokers)
    {
        this.handle = handle;
        this.cluster = cluster;
        this.brokers = brokers;
        Bootstraps = RdKafka.Utf8(RdKafka.rd_kafka_mock_cluster_bootstraps(cluster));
    }

    public string Bootstraps { get; }

    public static MockCluster Start(int brokers)
    {
        var errstr = stackalloc byte[512];
        var conf = RdKafka.rd_kafka_conf_new();
        // The handle only owns the cluster; it produces nothing. Quiet its "no bootstrap.servers" warning.
        Set(conf, "client.id", "wildberries-kafka-mock", errstr);
        Set(conf, "log_level", "3", errstr);
        var handle = RdKafka.rd_kafka_new(RdKafka.Producer, conf, errstr, 512);
        if (handle == 0)
        {
            RdKafka.rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException($"rd_kafka_new: {RdKafka.Utf8((nint)errstr)}");
        }
        var cluster = RdKafka.rd_kafka_mock_cluster_new(handle, brokers);
        if (cluster == 0)
        {
            RdKafka.rd_kafka_destroy(handle);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed (see librdkafka's log on stderr)");
        }
        // A consumer group's first join waits group.initial.rebalance.delay.ms (3 s in the mock): none in tests.
        RdKafka.rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);
        return new MockCluster(handle, cluster, brokers);
    }

    private static void Set(nint conf, string name, string value, byte* errstr)
    {
        if (RdKafka.rd_kafka_conf_set(conf, name, value, errstr, 512) != RdKafka.ConfOk)
        {
            RdKafka.rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException($"{name}={value}: {RdKafka.Utf8((nint)errstr)}");
        }
    }

    /// <summary>Runs one command; null when it succeeded, else why not.</summary>
    public string? Execute(string[] words, out string? value)
    {
        value = null;
        switch (words[0])
        {
            case "topic" when words.Length is 3 or 4:
                var replication = words.Length == 4 ? Int(words[3]) : Math.Min(3, brokers);
                return Result(RdKafka.rd_kafka_mock_topic_create(cluster, words[1], Int(words[2]), replication));
            case "leader" when words.Length == 4:
                return Result(RdKafka.rd_kafka_mock_partition_set_leader(cluster, words[1], Int(words[2]), Int(words[3])));
            case "coordinator" when words.Length == 4:
                return Result(RdKafka.rd_kafka_mock_coordinator_set(cluster, words[1], words[2], Int(words[3])));
            case "down" when words.Length == 2:
                return Result(RdKafka.rd_kafka_mock_broker_set_down(cluster, Int(words[1])));
            case "up" when words.Length == 2:
                return Result(RdKafka.rd_kafka_mock_broker_set_up(cluster, Int(words[1])));
            case "rtt" when words.Length == 3:
                return Result(RdKafka.rd_kafka_mock_broker_set_rtt(cluster, Int(words[1]), Int(words[2])));
            case "errors" when words.Length == 4:
                var count = Int(words[2]);
                if (count is < 1 or > 10_000) return "COUNT must be 1..10000";
                var codes = Enumerable.Repeat(Int(words[3]), count).ToArray();
                fixed (int* errors = codes)
                {
                    RdKafka.rd_kafka_mock_push_request_errors_array(cluster, short.Parse(words[1], CultureInfo.InvariantCulture), (nuint)count, errors);
                }
                return null;
            case "clear" when words.Length == 2:
                RdKafka.rd_kafka_mock_clear_request_errors(cluster, short.Parse(words[1], CultureInfo.InvariantCulture));
                return null;
            case "track" when words.Length == 1:
                RdKafka.rd_kafka_mock_start_request_tracking(cluster);
                RdKafka.rd_kafka_mock_clear_requests(cluster);
                return null;
            case "requests" when words.Length == 2:
                value = CountRequests(short.Parse(words[1], CultureInfo.InvariantCulture)).ToString(CultureInfo.InvariantCulture);
                return null;
            default:
                return $"unknown command or wrong arguments: {string.Join(' ', words)}";
        }
    }

    private int CountRequests(short apiKey)
    {
        nuint count = 0;
        var requests = RdKafka.rd_kafka_mock_get_requests(cluster, &count);
        try
        {
            var matching = 0;
            for (nuint i = 0; i < count; i++)
            {
                if (RdKafka.rd_kafka_mock_request_api_key(requests[i]) == apiKey) matching++;
            }
            return matching;
        }
        finally
        {
            if (requests != null) RdKafka.rd_kafka_mock_request_destroy_array(requests, count);
        }
    }

    private static int Int(string word) => int.Parse(word, CultureInfo.InvariantCulture);

    private static string? Result(int err) => err == 0 ? null : RdKafka.ErrorName(err);

    public void Dispose()
    {
        RdKafka.rd_kafka_mock_cluster_destroy(cluster);
        RdKafka.rd_kafka_destroy(handle);
    }
}
