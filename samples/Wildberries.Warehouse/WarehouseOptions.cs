using System.Globalization;

namespace Wildberries.Warehouse;

/// <summary>
/// The worker's settings: from the command line, else the environment (<c>WB_*</c>), else the defaults. Parse
/// collects every problem at once so the operator fixes them in one go.
/// </summary>
public sealed record WarehouseOptions
{
    /// <summary>The default topic the server publishes to.</summary>
    public const string DefaultTopic = "wb.events";

    /// <summary>The default consumer group.</summary>
    public const string DefaultGroup = "wb-warehouse";

    /// <summary>The Kafka bootstrap servers, "host:port,...".</summary>
    public required string Bootstrap { get; init; }

    /// <summary>The topic of the server's CloudEvents.</summary>
    public string Topic { get; init; } = DefaultTopic;

    /// <summary>The consumer group: its committed offsets are where a restarted worker goes on.</summary>
    public string Group { get; init; } = DefaultGroup;

    /// <summary>The base URL of the reservation server, e.g. http://127.0.0.1:8080.</summary>
    public required Uri Server { get; init; }

    /// <summary>The admin API key (Bearer) the ship endpoint requires.</summary>
    public required string AdminKey { get; init; }

    /// <summary>How long one ship call may take before it counts as failed and is retried.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The first retry's wait; it doubles per attempt up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait between two attempts.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How many recent event ids the worker remembers to skip redeliveries.</summary>
    public int RecentIds { get; init; } = 100_000;

    /// <summary>librdkafka settings passed through to the consumer (security.protocol, sasl.*, session.timeout.ms, ...).</summary>
    public IReadOnlyDictionary<string, string> KafkaSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>The usage text.</summary>
    public const string Usage = """
        Wildberries.Warehouse: consumes OrderPaid from Kafka and ships each order through the admin API.

          --kafka-bootstrap HOST:PORT[,...]  (WB_KAFKA_BOOTSTRAP)   required
          --server URL                       (WB_SERVER)            required, the reservation server, e.g. http://127.0.0.1:8080
          --admin-key KEY                    (WB_ADMIN_KEY)         required, the server's admin key
          --topic NAME                       (WB_KAFKA_TOPIC)       default wb.events
          --group NAME                       (WB_WAREHOUSE_GROUP)   default wb-warehouse
          --attempt-timeout SECONDS                                 default 5, per ship call
          --kafka-setting KEY=VALUE                                 any librdkafka consumer setting, repeatable
          --help
        """;

    /// <summary>
    /// Reads the options from <paramref name="args"/>, falling back to <paramref name="environment"/>; returns null
    /// and the problems when any value is missing or invalid.
    /// </summary>
    public static (WarehouseOptions? Options, IReadOnlyList<string> Errors) Parse(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        var errors = new List<string>();
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        string[] known = ["--kafka-bootstrap", "--server", "--admin-key", "--topic", "--group", "--attempt-timeout", "--kafka-setting"];
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string name, value;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 2)
            {
                (name, value) = (arg[..eq], arg[(eq + 1)..]);
            }
            else
            {
                name = arg;
                if (!known.Contains(name, StringComparer.Ordinal))
                {
                    errors.Add($"Unknown argument '{arg}' (--help lists the options).");
                    continue;
                }
                if (i + 1 >= args.Count)
                {
                    errors.Add($"{name} needs a value.");
                    continue;
                }
                value = args[++i];
            }
            if (!known.Contains(name, StringComparer.Ordinal))
            {
                errors.Add($"Unknown argument '{name}' (--help lists the options).");
                continue;
            }
            if (name == "--kafka-setting")
            {
                var split = value.IndexOf('=', StringComparison.Ordinal);
                if (split <= 0) errors.Add($"--kafka-setting '{value}' must be KEY=VALUE.");
                else settings[value[..split]] = value[(split + 1)..];
            }
            else
            {
                values[name] = value;
            }
        }

        string? Get(string flag, string variable) =>
            values.TryGetValue(flag, out var v) ? v : environment(variable) is { Length: > 0 } e ? e : null;

        var bootstrap = Get("--kafka-bootstrap", "WB_KAFKA_BOOTSTRAP");
        if (string.IsNullOrWhiteSpace(bootstrap)) errors.Add("The Kafka bootstrap servers are required: --kafka-bootstrap HOST:PORT or WB_KAFKA_BOOTSTRAP.");
        var serverText = Get("--server", "WB_SERVER");
        Uri? server = null;
        if (string.IsNullOrWhiteSpace(serverText)) errors.Add("The reservation server's URL is required: --server http://HOST:PORT or WB_SERVER.");
        else if (!Uri.TryCreate(serverText, UriKind.Absolute, out server) || server.Scheme is not ("http" or "https"))
        {
            errors.Add($"--server '{serverText}' is not an absolute http(s) URL.");
        }
        var adminKey = Get("--admin-key", "WB_ADMIN_KEY");
        if (string.IsNullOrWhiteSpace(adminKey)) errors.Add("The admin key is required: --admin-key KEY or WB_ADMIN_KEY (see the server's data/keys.json).");
        var topic = Get("--topic", "WB_KAFKA_TOPIC") ?? DefaultTopic;
        if (string.IsNullOrWhiteSpace(topic)) errors.Add("--topic must not be empty.");
        var group = Get("--group", "WB_WAREHOUSE_GROUP") ?? DefaultGroup;
        if (string.IsNullOrWhiteSpace(group)) errors.Add("--group must not be empty.");
        var timeout = TimeSpan.FromSeconds(5);
        if (values.TryGetValue("--attempt-timeout", out var t))
        {
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds is <= 0 or > 300)
            {
                errors.Add($"--attempt-timeout '{t}' must be a number of seconds, above 0 and at most 300.");
            }
            else
            {
                timeout = TimeSpan.FromSeconds(seconds);
            }
        }
        if (errors.Count > 0) return (null, errors);
        return (new WarehouseOptions
        {
            Bootstrap = bootstrap!, Server = server!, AdminKey = adminKey!, Topic = topic, Group = group, AttemptTimeout = timeout,
            KafkaSettings = settings,
        }, errors);
    }
}
