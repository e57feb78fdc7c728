using Wildberries.Core;

namespace Wildberries.Host;

/// <summary>
/// The server's settings, from appsettings.json, then WB_* environment variables, then the command line. Each
/// setting's <see cref="SwitchAttribute"/> names its switch (and so its variable) and says what it does in
/// <c>--help</c> (<see cref="ServerSettings"/>). Validated once at start.
/// </summary>
public sealed class ServerOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Wildberries";

    /// <summary>Where the journal, snapshots and generated keys live (default ./data).</summary>
    [Switch("--data", "Where the journal, snapshots and generated keys live.", Value = "DIR")]
    public string DataDirectory { get; set; } = "data";

    /// <summary>Where Kestrel listens (default http://127.0.0.1:8080: loopback until an operator says otherwise).</summary>
    [Switch("--urls", "Where HTTP listens, ;-separated; loopback until an operator says otherwise.", Value = "URL")]
    public string Urls { get; set; } = "http://127.0.0.1:8080";

    /// <summary>
    /// Shards: single-writer pipelines the stock is partitioned over by SKU (default 1, the fast path; at most 64, two
    /// threads each). A data directory keeps the count it was created with.
    /// </summary>
    [Switch("--shards", "Single-writer pipelines the stock is partitioned over by SKU, 1 to 64 (two threads each); 1 is the fast path. A data directory keeps the count it was created with.", Value = "N")]
    public int Shards { get; set; } = 1;

    /// <summary>
    /// Kafka's bootstrap servers: every committed event goes to <see cref="KafkaTopic"/> as a CloudEvent. Unset (the
    /// default): nothing is published.
    /// </summary>
    [Switch("--kafka-bootstrap", "Kafka bootstrap servers: every committed event is published to --kafka-topic as a CloudEvent. Unset: nothing is published, no replication.", Value = "HOSTS")]
    public string? KafkaBootstrap { get; set; }

    /// <summary>
    /// The Npgsql connection string of the PostgreSQL read model: the primary projects every committed event into it
    /// (orders, lines, allocations, status history, stock), and <c>GET /v1/orders</c> serves the order history from
    /// it. Unset (the default): no projection, and the history answers 503 <c>history_unavailable</c>.
    /// </summary>
    [Switch("--postgres", "Npgsql connection string of the PostgreSQL read model (orders, history, stock). Unset: no projection, GET /v1/orders answers 503 history_unavailable.", Value = "CONNECTION-STRING")]
    public string? Postgres { get; set; }

    /// <summary>The events topic (default <c>wb.events</c>).</summary>
    [Switch("--kafka-topic", "The events topic.", Value = "TOPIC")]
    public string KafkaTopic { get; set; } = "wb.events";

    /// <summary>
    /// librdkafka settings passed through to the producer as they are (security.protocol, sasl.mechanism,
    /// sasl.username, ssl.ca.location, ...): <c>--Wildberries:KafkaSettings:security.protocol=SASL_SSL</c>.
    /// </summary>
    [Switch(ServerSettings.KafkaSettingSwitch, "A librdkafka setting passed to the producer as it is (security.protocol=SASL_SSL, sasl.username=...); repeat for more. Same as --Wildberries:KafkaSettings:NAME=VALUE.", Value = "NAME=VALUE", Environment = false)]
    public Dictionary<string, string> KafkaSettings { get; set; } = [];

    /// <summary>
    /// <c>primary</c> (the default: takes writes) or <c>standby</c> (applies the primary's command log from Kafka,
    /// serves reads, refuses writes with 503 <c>standby</c> until promoted with <c>POST /v1/admin/promote</c>).
    /// </summary>
    [Switch("--role", "primary (takes writes) or standby (applies the primary's command log from Kafka, serves reads, refuses writes until promoted).", Value = "primary|standby")]
    public string Role { get; set; } = "primary";

    /// <summary>
    /// <c>replicated</c> (acknowledge after the local fsync and Kafka's <c>acks=all</c>; the default when
    /// <see cref="KafkaBootstrap"/> is set), <c>local</c> (acknowledge after the local fsync; Kafka follows, the lag
    /// is a metric) or <c>none</c> (no command log; the default without Kafka).
    /// </summary>
    [Switch("--replication", "replicated (answer after the local fsync and Kafka acks=all), local (answer after the local fsync; Kafka follows) or none. Unset: replicated with Kafka, none without.", Value = "MODE")]
    public string? Replication { get; set; }

    /// <summary>The replication mode in force: <see cref="Replication"/>, or its default.</summary>
    public string ReplicationEffective => Replication ?? (KafkaBootstrap is null ? "none" : "replicated");

    /// <summary>
    /// 5,000 ms: how long a replicated write waits for Kafka before its caller hears 503 <c>replication_unavailable</c>
    /// (Kafka's own request timeout is 30 s; a checkout should fail over sooner).
    /// </summary>
    [Switch("--replication-ack-timeout-ms", "How long a replicated write waits for Kafka before answering 503 replication_unavailable, 100 to 300000: a checkout should fail over sooner than Kafka's own 30 s timeout.", Value = "MS")]
    public int ReplicationAckTimeoutMs { get; set; } = 5_000;

    /// <summary>
    /// A standby with an empty data directory first fetches each shard's snapshot from this primary
    /// (<c>GET /v1/admin/snapshots/{shard}</c>), then follows the command log from there.
    /// </summary>
    [Switch("--bootstrap-from", "A standby with an empty data directory first fetches every shard's snapshot from this primary, then follows the command log.", Value = "URL")]
    public string? BootstrapFrom { get; set; }

    /// <summary>The primary's admin key, for <see cref="BootstrapFrom"/> (better given as WB_BOOTSTRAP_KEY than on the command line).</summary>
    [Switch("--bootstrap-key", "The primary's admin key for --bootstrap-from (better given as WB_BOOTSTRAP_KEY than on the command line).", Value = "KEY")]
    public string? BootstrapKey { get; set; }

    /// <summary>Loads a demo catalog when the data directory is empty, so the README walk-through works at once.</summary>
    [Switch("--demo", "Load a demo catalog (5,000 SKUs over 3 warehouses) when the data directory is empty.")]
    public bool Demo { get; set; }

    /// <summary>The storefront role's API key; generated into the data directory when not set.</summary>
    [Switch("--storefront-key", "The storefront role's API key (at least 16 characters). Unset: generated into DIR/keys.json.", Value = "KEY")]
    public string? StorefrontKey { get; set; }

    /// <summary>The admin role's API key; generated into the data directory when not set.</summary>
    [Switch("--admin-key", "The admin role's API key (at least 16 characters). Unset: generated into DIR/keys.json.", Value = "KEY")]
    public string? AdminKey { get; set; }

    /// <summary>The webhook signing secrets of the payment provider, comma-separated during rotation; generated when not set.</summary>
    [Switch("--webhook-secret", "The payment provider's webhook signing secrets, comma-separated during rotation (at least 16 characters each). Unset: generated into DIR/keys.json.", Value = "S1,S2")]
    public string? WebhookSecret { get; set; }

    /// <summary>Start from the valid prefix of a damaged journal instead of refusing (loses acknowledged data).</summary>
    [Switch("--accept-data-loss", "Start from the valid prefix of a damaged journal instead of refusing (loses acknowledged data; the damaged files are kept aside).")]
    public bool AcceptDataLoss { get; set; }

    /// <summary>Reservation time-to-live, 1 minute to 24 hours (default 15: time to pay with 3-D Secure).</summary>
    [Switch("--reservation-ttl-minutes", "Reservation time-to-live, 1 to 1440 minutes: 15 is time to pay with 3-D Secure, short enough that abandoned carts return stock quickly.", Value = "N")]
    public int ReservationTtlMinutes { get; set; } = 15;

    /// <summary>
    /// Requests per second per API key (default 20,000: a whole storefront fleet shares one key; above that one
    /// runaway client would starve the others of the engine's few hundred thousand durable checkouts a second).
    /// </summary>
    [Switch("--rate-limit", "Requests per second per API key, 1 to 10000000 (429 with Retry-After above it): a whole storefront fleet shares one key; above 20,000 one runaway client would starve the others.", Value = "N")]
    public int RateLimitPerSecond { get; set; } = 20_000;

    /// <summary>
    /// Requests per second per client address for requests without a valid key (default 50, burst
    /// <see cref="AnonymousBurst"/>): enough for a provider's webhooks and a browser on the sandbox page, too few
    /// to guess keys or flood the server with 401s.
    /// </summary>
    [Switch("--anonymous-rate-limit", "Requests per second per client address without a valid key, 1 to 1000000: enough for a provider's webhooks and the sandbox page, too few to guess keys.", Value = "N")]
    public int AnonymousRateLimitPerSecond { get; set; } = 50;

    /// <summary>
    /// The burst allowed for requests without a valid key (default twice <see cref="AnonymousRateLimitPerSecond"/>,
    /// so 100: a provider's webhook retry storm after an outage).
    /// </summary>
    [Switch("--anonymous-burst", "The burst allowed above --anonymous-rate-limit (at least the rate, at most 10000000): a provider's webhook retry storm after an outage. Unset: twice the rate (100).", Value = "N")]
    public int? AnonymousBurst { get; set; }

    /// <summary>The burst in force: <see cref="AnonymousBurst"/>, or twice the anonymous rate.</summary>
    public int AnonymousBurstEffective => AnonymousBurst ?? (int)Math.Min(10_000_000L, 2L * AnonymousRateLimitPerSecond);

    /// <summary>Serve <c>/metrics</c> and <c>/openapi</c> without a key (default off: they describe the server to anyone who asks).</summary>
    [Switch("--open-operational-endpoints", "Serve /metrics and /openapi without a key (off: they describe the server to anyone who asks).")]
    public bool OpenOperationalEndpoints { get; set; }

    /// <summary>16 characters: the shortest API key or webhook secret accepted (about 96 bits when random).</summary>
    public const int SecretLengthMin = 16;

    /// <summary>The real acquirer's session API base URL; the built-in sandbox is used when it is not set.</summary>
    [Switch("--payment-provider-url", "The real acquirer's session API base URL. Unset: the built-in sandbox.", Value = "URL")]
    public string? PaymentProviderUrl { get; set; }

    /// <summary>The secret requests to the acquirer are signed with.</summary>
    [Switch("--payment-provider-secret", "The secret requests to the acquirer are signed with (required with --payment-provider-url).", Value = "SECRET")]
    public string? PaymentProviderSecret { get; set; }

    /// <summary>The externally visible base URL used in payment links (default: the first listen URL).</summary>
    [Switch("--public-url", "The externally visible base URL used in payment links. Unset: the first listen URL.", Value = "URL")]
    public string? PublicUrl { get; set; }

    /// <summary>
    /// Where the binary protocol (docs/protocol.md) listens, <c>tcp://IP:port</c> (for example <c>tcp://127.0.0.1:8081</c>;
    /// port 0: any free port). Unset (the default): no binary endpoint, HTTP only.
    /// </summary>
    [Switch("--tcp", "Where the binary protocol listens, tcp://IP:port (port 0: any free port). Unset: HTTP only.", Value = "tcp://IP:PORT")]
    public string? Tcp { get; set; }

    /// <summary>
    /// The largest binary frame accepted, in bytes (default 1 MiB, <see cref="Wildberries.Protocol.Frame.BytesMaxDefault"/>:
    /// ten times the largest legitimate frame; bounds what one connection can make the server buffer).
    /// </summary>
    [Switch("--tcp-frame-bytes-max", "The largest binary frame accepted, 1024 to 67108864 bytes: ten times the largest legitimate frame; bounds what one connection can make the server buffer.", Value = "BYTES")]
    public int TcpFrameBytesMax { get; set; } = Wildberries.Protocol.Frame.BytesMaxDefault;

    /// <summary>
    /// Requests one binary connection may have in flight (default 256: enough to fill group commits from one
    /// connection, few enough that one client cannot take the writer's whole queue). At the limit the server stops
    /// reading that connection: TCP backpressure, not refusals.
    /// </summary>
    [Switch("--tcp-in-flight-max", "Requests one binary connection may have in flight, 1 to 65536: enough to fill group commits, too few for one client to take the writer's queue; at the limit the server stops reading (backpressure).", Value = "N")]
    public int TcpInFlightMax { get; set; } = 256;

    /// <summary>The state machine's limits as nothing configured them: where the defaults below come from.</summary>
    private static readonly StateMachineOptions Limits = new();

    /// <summary>Lines per checkout (PRODUCT.md's limits; <see cref="StateMachineOptions.LinesPerCheckoutMax"/>).</summary>
    [Switch("--lines-per-checkout-max", "Lines per checkout, 1 to 10000 (more: 400 invalid_argument on lines): larger than any real cart, small enough that one checkout cannot hold the writer long.", Value = "N")]
    public int LinesPerCheckoutMax { get; set; } = Limits.LinesPerCheckoutMax;

    /// <summary>Units per checkout line (<see cref="StateMachineOptions.QuantityPerLineMax"/>).</summary>
    [Switch("--quantity-per-line-max", "Units per checkout line, 1 to 1000000 (more: 400 invalid_argument on lines[i].qty), and the highest maxPerOrder an item may set: a wholesale pallet; above that it is an error or an attack.", Value = "N")]
    public int QuantityPerLineMax { get; set; } = Limits.QuantityPerLineMax;

    /// <summary>The per-order cap of an item that sets none (<see cref="StateMachineOptions.MaxPerOrderDefault"/>).</summary>
    [Switch("--max-per-order-default", "The anti-scalper cap per order of an item that does not set maxPerOrder, 1 to --quantity-per-line-max (more: 422 over_max_per_order).", Value = "N")]
    public int MaxPerOrderDefault { get; set; } = Limits.MaxPerOrderDefault;

    /// <summary>The longest idempotency key, payment session id, transaction id and webhook event id (<see cref="StateMachineOptions.IdempotencyKeyLengthMax"/>).</summary>
    [Switch("--idempotency-key-length-max", "The longest Idempotency-Key (and payment session, transaction and webhook event id), 64 to 255 printable ASCII characters: what the HTTP Idempotency-Key draft and common providers allow; below 64 a provider's ids may not fit.", Value = "N")]
    public int IdempotencyKeyLengthMax { get; set; } = Limits.IdempotencyKeyLengthMax;

    /// <summary>The default of <see cref="IdempotencyKeyLengthMax"/>.</summary>
    public static int IdempotencyKeyLengthMaxDefault => Limits.IdempotencyKeyLengthMax;

    /// <summary>The largest request body (<see cref="Http.Json.BodyBytesMax"/> by default).</summary>
    [Switch("--body-bytes-max", "The largest request body, 1024 to 16777216 bytes (more: 413 body_too_large): a 100-line cart is about 5 KiB; anything far larger is a mistake or an attack.", Value = "BYTES")]
    public int BodyBytesMax { get; set; } = Http.Json.BodyBytesMax;

    /// <summary>SKUs per availability query (<see cref="Http.Api.AvailabilitySkusMax"/> by default, also its ceiling).</summary>
    [Switch("--availability-skus-max", "SKUs per GET /v1/catalog/availability, 1 to 1000 (more: 400 on skus): a full search-results page many times over, bounded work per request.", Value = "N")]
    public int AvailabilitySkusMax { get; set; } = Http.Api.AvailabilitySkusMax;

    /// <summary>Units per stock row (<see cref="StateMachineOptions.OnHandMax"/>).</summary>
    [Switch("--on-hand-max", "Units per stock row, and the largest stock delta, 1 to 10^12 (more: 400 out_of_range): keeps every sum of rows far from 64-bit overflow.", Value = "N")]
    public long OnHandMax { get; set; } = Limits.OnHandMax;

    /// <summary>The highest price in minor units (<see cref="StateMachineOptions.PriceMax"/>).</summary>
    [Switch("--price-max", "The highest item price in minor units, 1 to 10^12 (more: 400 out_of_range): price x quantity x lines stays below 2^63.", Value = "N")]
    public long PriceMax { get; set; } = Limits.PriceMax;

    /// <summary>The state machine's limits these settings make (capacity hints left at their defaults).</summary>
    public StateMachineOptions StateMachineLimits() => new()
    {
        ReservationTtlMs = ReservationTtlMinutes * 60_000L,
        LinesPerCheckoutMax = LinesPerCheckoutMax,
        QuantityPerLineMax = QuantityPerLineMax,
        MaxPerOrderDefault = MaxPerOrderDefault,
        IdempotencyKeyLengthMax = IdempotencyKeyLengthMax,
        OnHandMax = OnHandMax,
        PriceMax = PriceMax,
    };

    /// <summary>The IP endpoint of <see cref="Tcp"/>, or null when it is unset.</summary>
    public System.Net.IPEndPoint? TcpEndPoint =>
        Tcp is null ? null
        : Uri.TryCreate(Tcp, UriKind.Absolute, out var uri) && uri.Scheme == "tcp" && System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && uri.Port >= 0
            ? new System.Net.IPEndPoint(ip, uri.Port)
            : throw new ArgumentException("Wildberries:Tcp (--tcp, WB_TCP) must be tcp://IP:port, for example tcp://127.0.0.1:8081.");

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDirectory)) throw new ArgumentException("Wildberries:DataDirectory (--data, WB_DATA) must be set.");
        if (string.IsNullOrWhiteSpace(Urls)) throw new ArgumentException("Wildberries:Urls (--urls, WB_URLS) must be set.");
        if (PaymentProviderUrl is not null && (!Uri.TryCreate(PaymentProviderUrl, UriKind.Absolute, out var provider) || provider.Scheme is not ("http" or "https")))
        {
            throw new ArgumentException("Wildberries:PaymentProviderUrl (--payment-provider-url) must be an absolute http(s) URL.");
        }
        if (PaymentProviderUrl is not null && string.IsNullOrEmpty(PaymentProviderSecret))
        {
            throw new ArgumentException("Wildberries:PaymentProviderSecret (--payment-provider-secret) must be set with a payment provider URL.");
        }
        if (Shards is < 1 or > 64) throw new ArgumentException("Wildberries:Shards (--shards, WB_SHARDS) must be 1 to 64.");
        if (RateLimitPerSecond is < 1 or > 10_000_000) throw new ArgumentException("Wildberries:RateLimitPerSecond (--rate-limit) must be 1 to 10000000.");
        if (ReservationTtlMinutes is < 1 or > 1440) throw new ArgumentException("Wildberries:ReservationTtlMinutes (--reservation-ttl-minutes) must be 1 to 1440.");
        if (AnonymousRateLimitPerSecond is < 1 or > 1_000_000) throw new ArgumentException("Wildberries:AnonymousRateLimitPerSecond (--anonymous-rate-limit) must be 1 to 1000000.");
        if (AnonymousBurstEffective < AnonymousRateLimitPerSecond || AnonymousBurstEffective > 10_000_000) throw new ArgumentException("Wildberries:AnonymousBurst (--anonymous-burst) must be at least the anonymous rate limit and at most 10000000.");
        var secrets = new List<(string, string?)> { ("StorefrontKey (--storefront-key)", StorefrontKey), ("AdminKey (--admin-key)", AdminKey), ("PaymentProviderSecret (--payment-provider-secret)", PaymentProviderSecret) };
        secrets.AddRange((WebhookSecret ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => ("WebhookSecret (--webhook-secret)", (string?)s)));
        foreach (var (name, secret) in secrets)
        {
            if (secret is not null && secret.Length < SecretLengthMin) throw new ArgumentException($"Wildberries:{name} must be at least {SecretLengthMin} characters; a short secret can be guessed.");
        }
        if (WebhookSecret is not null && string.IsNullOrWhiteSpace(WebhookSecret.Replace(",", "", StringComparison.Ordinal))) throw new ArgumentException("Wildberries:WebhookSecret (--webhook-secret) lists no secret.");
        if (Role is not ("primary" or "standby")) throw new ArgumentException("Wildberries:Role (--role, WB_ROLE) must be primary or standby.");
        if (ReplicationEffective is not ("none" or "local" or "replicated")) throw new ArgumentException("Wildberries:Replication (--replication, WB_REPLICATION) must be local, replicated or none.");
        if (ReplicationEffective != "none" && KafkaBootstrap is null) throw new ArgumentException("Wildberries:Replication (--replication) needs Kafka: set --kafka-bootstrap (WB_KAFKA_BOOTSTRAP).");
        if (Role == "standby" && ReplicationEffective == "none") throw new ArgumentException("Wildberries:Role standby follows a primary's command log: set --kafka-bootstrap, and --replication local or replicated.");
        if (ReplicationAckTimeoutMs is < 100 or > 300_000) throw new ArgumentException("Wildberries:ReplicationAckTimeoutMs (--replication-ack-timeout-ms) must be 100 to 300000.");
        if (BootstrapFrom is not null && (!Uri.TryCreate(BootstrapFrom, UriKind.Absolute, out var primary) || primary.Scheme is not ("http" or "https")))
        {
            throw new ArgumentException("Wildberries:BootstrapFrom (--bootstrap-from) must be the primary's absolute http(s) URL.");
        }
        if (BootstrapFrom is not null && (Role != "standby" || string.IsNullOrEmpty(BootstrapKey))) throw new ArgumentException("Wildberries:BootstrapFrom (--bootstrap-from) is for a standby and needs the primary's admin key (WB_BOOTSTRAP_KEY).");
        if (Postgres is not null)
        {
            try
            {
                new Wildberries.Engine.Postgres.PostgresProjectorOptions { ConnectionString = Postgres }.Validate();
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException($"Wildberries:Postgres (--postgres, WB_POSTGRES) must be an Npgsql connection string (Host=...;Database=...;Username=...): {ex.Message}", ex);
            }
        }
        _ = TcpEndPoint;
        if (Tcp is not null && Urls.Split(';').Any(u => !u.StartsWith("http://", StringComparison.OrdinalIgnoreCase))) throw new ArgumentException("Wildberries:Urls (--urls) must be http:// URLs when --tcp is set (the endpoints are then listed to Kestrel one by one).");
        if (TcpFrameBytesMax is < 1024 or > 64 * 1024 * 1024) throw new ArgumentException("Wildberries:TcpFrameBytesMax (--tcp-frame-bytes-max) must be 1024 to 67108864 bytes.");
        if (TcpInFlightMax is < 1 or > 65_536) throw new ArgumentException("Wildberries:TcpInFlightMax (--tcp-in-flight-max) must be 1 to 65536 (the ring's size).");
        if (IdempotencyKeyLengthMax is < 64 or > 255) throw new ArgumentException("Wildberries:IdempotencyKeyLengthMax (--idempotency-key-length-max) must be 64 to 255.");
        if (BodyBytesMax is < 1024 or > 16 * 1024 * 1024) throw new ArgumentException("Wildberries:BodyBytesMax (--body-bytes-max) must be 1024 to 16777216 bytes.");
        if (AvailabilitySkusMax is < 1 or > Http.Api.AvailabilitySkusMax) throw new ArgumentException($"Wildberries:AvailabilitySkusMax (--availability-skus-max) must be 1 to {Http.Api.AvailabilitySkusMax}.");
        try
        {
            StateMachineLimits().Validate();
        }
        catch (ArgumentException ex)
        {
            // The state machine names its own option; the operator needs the setting and its switch.
            var setting = ServerSettings.All.FirstOrDefault(s => s.Property.Name == ex.ParamName);
            var message = ex.Message.Replace($" (Parameter '{ex.ParamName}')", "", StringComparison.Ordinal);
            throw new ArgumentException(setting is null ? message : $"{setting.ConfigurationKey} ({setting.Switch.Name}): {message}", ex);
        }
        if (StorefrontKey is not null && StorefrontKey == AdminKey) throw new ArgumentException("Wildberries:StorefrontKey and AdminKey must differ: a storefront key must not be an admin key.");
    }
}
