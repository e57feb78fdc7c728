using System.Globalization;
using System.Runtime.InteropServices;

namespace Wildberries.KafkaMock;

/// <summary>
/// The few librdkafka C functions the mock cluster needs, bound to the very native library Confluent.Kafka loaded:
/// two copies of librdkafka in one process would be two sets of globals, and the one Confluent picked is the one
/// known to load on this machine (its default build needs libsasl2.so.3; without it Confluent falls back to its
/// centos8 build).
/// </summary>
internal static unsafe partial class RdKafka
{
    /// <summary>A logical name, resolved by <see cref="BindToConfluentsLibrary"/>; never probed on disk.</summary>
    private const string Lib = "wildberries-confluent-librdkafka";

    public const int Producer = 0;
    public const int ConfOk = 0;

    /// <summary>The path of the native library Confluent.Kafka loaded, which these imports now call.</summary>
    public static string LibraryPath { get; private set; } = "";

    /// <summary>
    /// Makes Confluent.Kafka load its native library (with its own fallbacks), finds which file it mapped, and
    /// resolves this assembly's imports to that file's handle. Then checks both see the same version.
    /// </summary>
    public static void BindToConfluentsLibrary()
    {
        var confluentVersion = Confluent.Kafka.Library.VersionString; // loads it, as the first client would
        var path = MappedLibrary() ?? throw new InvalidOperationException(
            "Confluent.Kafka loaded librdkafka, but no mapped file named like librdkafka is in /proc/self/maps.");
        var handle = NativeLibrary.Load(path); // the same file again: dlopen hands back the same handle
        NativeLibrary.SetDllImportResolver(typeof(RdKafka).Assembly, (name, _, _) => name == Lib ? handle : IntPtr.Zero);
        LibraryPath = path;
        var ours = Utf8(rd_kafka_version_str());
        if (ours != confluentVersion)
        {
            throw new InvalidOperationException($"{path} says librdkafka {ours}, Confluent.Kafka says {confluentVersion}.");
        }
    }

    /// <summary>The one file in this process's memory map whose name holds "librdkafka".</summary>
    private static string? MappedLibrary()
    {
        if (!File.Exists("/proc/self/maps")) return null;
        var paths = File.ReadLines("/proc/self/maps")
            .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var at and >= 0 ? line[at..] : "")
            .Where(p => Path.GetFileName(p).Contains("librdkafka", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .ToList();
        return paths.Count switch
        {
            0 => null,
            1 => paths[0],
            _ => throw new InvalidOperationException($"More than one librdkafka is mapped: {string.Join(", ", paths)}."),
        };
    }

    public static string Utf8(nint text) => Marshal.PtrToStringUTF8(text) ?? "";

    public static string ErrorName(int err) => $"{Utf8(rd_kafka_err2name(err))} ({err.ToString(CultureInfo.InvariantCulture)})";

    [LibraryImport(Lib)]
    public static partial nint rd_kafka_version_str();

    [LibraryImport(Lib)]
    public static partial nint rd_kafka_err2name(int err);

    [LibraryImport(Lib)]
    public static partial nint rd_kafka_conf_new();

    [LibraryImport(Lib)]
    public static partial void rd_kafka_conf_destroy(nint conf);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_conf_set(nint conf, string name, string value, byte* errstr, nuint errstrSize);

    /// <summary>On success the handle owns <paramref name="conf"/>; on failure the caller still does.</summary>
    [LibraryImport(Lib)]
    public static partial nint rd_kafka_new(int type, nint conf, byte* errstr, nuint errstrSize);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_destroy(nint rk);

    [LibraryImport(Lib)]
    public static partial nint rd_kafka_mock_cluster_new(nint rk, int brokerCount);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_mock_cluster_destroy(nint mcluster);

    [LibraryImport(Lib)]
    public static partial nint rd_kafka_mock_cluster_bootstraps(nint mcluster);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_mock_group_initial_rebalance_delay_ms(nint mcluster, int delayMs);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_mock_topic_create(nint mcluster, string topic, int partitions, int replicationFactor);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_mock_partition_set_leader(nint mcluster, string topic, int partition, int brokerId);

    /// <summary>Makes <paramref name="brokerId"/> the coordinator of <paramref name="key"/> ("transaction" or "group" keys).</summary>
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_mock_coordinator_set(nint mcluster, string keyType, string key, int brokerId);

    [LibraryImport(Lib)]
    public static partial int rd_kafka_mock_broker_set_down(nint mcluster, int brokerId);

    [LibraryImport(Lib)]
    public static partial int rd_kafka_mock_broker_set_up(nint mcluster, int brokerId);

    /// <summary>Delays every answer of <paramref name="brokerId"/> (-1: every broker) by <paramref name="rttMs"/>: a slow or distant cluster.</summary>
    [LibraryImport(Lib)]
    public static partial int rd_kafka_mock_broker_set_rtt(nint mcluster, int brokerId, int rttMs);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_mock_push_request_errors_array(nint mcluster, short apiKey, nuint count, int* errors);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_mock_clear_request_errors(nint mcluster, short apiKey);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_mock_start_request_tracking(nint mcluster);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_mock_clear_requests(nint mcluster);

    /// <summary>The requests tracked so far (an array the caller destroys), their number in <paramref name="count"/>.</summary>
    [LibraryImport(Lib)]
    public static partial nint* rd_kafka_mock_get_requests(nint mcluster, nuint* count);

    [LibraryImport(Lib)]
    public static partial short rd_kafka_mock_request_api_key(nint request);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_mock_request_destroy_array(nint* requests, nuint count);
}
