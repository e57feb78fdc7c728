using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

namespace Wildberries.Host;

/// <summary>
/// Owns the engine: recovers it after Kestrel is listening (so liveness answers during a long recovery and
/// readiness flips when it is done), loads the demo catalog when asked, and drains it on shutdown.
/// </summary>
public sealed partial class EngineService(ServerOptions options, TimeProvider time, ILogger<EngineService> logger, IHttpClientFactory httpClients, System.Diagnostics.Metrics.IMeterFactory meters) : IHostedService, IAsyncDisposable
{
    /// <summary>2 seconds between start attempts while Kafka cannot tell this node whether it may take writes.</summary>
    private static readonly TimeSpan StartRetry = TimeSpan.FromSeconds(2);

    private readonly TaskCompletionSource<ReservationEngine> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private ReservationEngine? _engine;
    private Wildberries.Engine.Kafka.KafkaEventPublisher? _publisher;
    private Wildberries.Engine.Postgres.PostgresProjector? _projector;
    private Task? _monitor;

    /// <summary>The engine once recovery is done; null before.</summary>
    public ReservationEngine? Engine => _engine;

    /// <summary>Completes when the engine is ready (or faults when it refused to start).</summary>
    public Task<ReservationEngine> Ready => _ready.Task;

    /// <summary>The Kafka event publisher, when <see cref="ServerOptions.KafkaBootstrap"/> is set.</summary>
    public Wildberries.Engine.Kafka.KafkaEventPublisher? Publisher => _publisher;

    /// <summary>The PostgreSQL projector, when <see cref="ServerOptions.Postgres"/> is set and this node is the primary.</summary>
    public Wildberries.Engine.Postgres.PostgresProjector? Projector => _projector;

    /// <summary>The reason the engine refused to start, if it did.</summary>
    public string? StartupError { get; private set; }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(() => Open(), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task Open()
    {
        try
        {
            var engineOptions = new EngineOptions
            {
                ShardCount = options.Shards,
                MeterFactory = meters,
                StateMachine = options.StateMachineLimits() with { OrdersCapacityHint = 1 << 16, SkusCapacityHint = 1 << 14 },
            };
            var journal = new JournalOptions { Directory = options.DataDirectory, AcceptDataLoss = options.AcceptDataLoss };
            if (options.BootstrapFrom is { } primary && !StandbyBootstrap.HasData(options.DataDirectory))
            {
                while (true)
                {
                    try
                    {
                        var fetched = await StandbyBootstrap.FetchAsync(httpClients.CreateClient("bootstrap"), new Uri(primary), options.BootstrapKey!, options.DataDirectory, options.Shards, engineOptions.StateMachine.ReservationTtlMs, _stopping.Token).ConfigureAwait(false);
                        foreach (var (shard, lsn) in fetched) LogBootstrapped(shard, lsn, primary);
                        break;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or StandbyBootstrap.PrimaryNotReadyException)
                    {
                        // The primary is starting, restarting or unreachable: a standby waits for it, it does not give up.
                        StartupError = ex.Message;
                        LogWaitingForPrimary(primary, ex.Message);
                        await Task.Delay(StartRetry, time, _stopping.Token).ConfigureAwait(false);
                    }
                }
            }
            var replication = Replication();
            ReservationEngine engine;
            while (true)
            {
                try
                {
                    engine = ReservationEngine.Open(engineOptions, journal, time, replication: replication);
                    break;
                }
                catch (Wildberries.Engine.Replication.CommandLogUnavailableException ex)
                {
                    // A node that cannot read its command log cannot tell whether it was fenced: it waits, ready never.
                    StartupError = ex.Message;
                    LogWaitingForLog(ex.Message);
                    await Task.Delay(StartRetry, time, _stopping.Token).ConfigureAwait(false);
                }
            }
            StartupError = null;
            foreach (var r in engine.Recovery)
            {
                LogRecovered(r.Shard, r.LastLsn, r.SnapshotLsn, r.ReplayedEntries, r.Duration.TotalMilliseconds, r.StateHash);
                if (r.DataLoss is not null) LogDataLoss(r.Shard, r.DataLoss);
            }
            var isPrimary = engine.Replication.All(r => r.Role == Wildberries.Engine.Replication.NodeRole.Primary);
            if (options.Demo && isPrimary && engine.Replication.All(r => r.Refusal == Wildberries.Engine.Replication.WriteRefusal.None) && engine.Recovery.All(r => r.LastLsn == 0)) await LoadDemoAsync(engine).ConfigureAwait(false);
            if (isPrimary) StartPublishing(engine);
            if (replication is not null)
            {
                LogReplication(options.Role, options.ReplicationEffective, engine.Replication[0].Epoch);
                if (options.Role == "standby" && engine.Replication[0].Role == Wildberries.Engine.Replication.NodeRole.Primary) LogStillPrimary(engine.Replication[0].Epoch);
                foreach (var r in engine.Replication)
                {
                    // A node that starts fenced says so at once (the monitor logs changes only).
                    if (r.Refusal is Wildberries.Engine.Replication.WriteRefusal.Fenced) LogReplicationStopped(r.Shard, r.Refusal, r.LastError ?? "");
                }
                _monitor = Task.Run(() => MonitorAsync(engine, _stopping.Token));
            }
            _engine = engine;
            _ready.TrySetResult(engine);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            _ready.TrySetCanceled();
        }
        catch (Exception ex)
        {
            // Whatever stopped the start (a damaged journal, a disk, a bug), the log says it and readiness stays 503.
            StartupError = ex.Message;
            LogRefused(ex.Message);
            _ready.TrySetException(ex);
        }
    }

    /// <summary>The command log's settings, or null without replication.</summary>
    private Wildberries.Engine.Replication.ReplicationOptions? Replication()
    {
        if (options.ReplicationEffective == "none") return null;
        var log = new Wildberries.Engine.Kafka.KafkaCommandLogOptions { BootstrapServers = options.KafkaBootstrap!, Settings = options.KafkaSettings }.Validate();
        return new Wildberries.Engine.Replication.ReplicationOptions
        {
            CommandLog = shard => Wildberries.Engine.Kafka.KafkaCommandLog.Open(log, shard),
            Mode = options.ReplicationEffective == "local" ? Wildberries.Engine.Replication.ReplicationMode.Local : Wildberries.Engine.Replication.ReplicationMode.Replicated,
            Role = options.Role == "standby" ? Wildberries.Engine.Replication.NodeRole.Standby : Wildberries.Engine.Replication.NodeRole.Primary,
            AckTimeout = TimeSpan.FromMilliseconds(options.ReplicationAckTimeoutMs),
        };
    }

    /// <summary>
    /// Events go to Kafka, and into PostgreSQL, from the primary only (a standby's would be the same events again).
    /// </summary>
    private void StartPublishing(ReservationEngine engine)
    {
        if (options.Postgres is { } postgres && _projector is null)
        {
            _projector = Wildberries.Engine.Postgres.PostgresProjector.Start(engine, new Wildberries.Engine.Postgres.PostgresProjectorOptions { ConnectionString = postgres, MeterFactory = meters }, time);
            var where = new Npgsql.NpgsqlConnectionStringBuilder(postgres);
            LogProjecting(where.Host ?? "", where.Database ?? "");
        }
        if (options.KafkaBootstrap is not { } bootstrap || _publisher is not null) return;
        _publisher = Wildberries.Engine.Kafka.KafkaEventPublisher.Start(engine, new Wildberries.Engine.Kafka.KafkaEventPublisherOptions
        {
            BootstrapServers = bootstrap, Topic = options.KafkaTopic, Settings = options.KafkaSettings, MeterFactory = meters,
        }, time);
        LogPublishing(bootstrap, options.KafkaTopic);
    }

    /// <summary>
    /// Promotes this standby (see <see cref="ReservationEngine.PromoteAsync"/>) and starts publishing events.
    /// </summary>
    public async Task<IReadOnlyList<Wildberries.Engine.Replication.ReplicationStatus>> PromoteAsync(CancellationToken cancellation)
    {
        var engine = _engine ?? throw new InvalidOperationException("The engine is not running yet.");
        var status = await engine.PromoteAsync(cancellation).ConfigureAwait(false);
        if (logger.IsEnabled(LogLevel.Warning)) LogPromoted(status[0].Epoch, string.Join(", ", status.Select(s => $"shard {s.Shard} at {s.Lsn}")));
        StartPublishing(engine);
        return status;
    }

    /// <summary>Says in the log, once per change, why a shard stopped or resumed taking writes.</summary>
    private async Task MonitorAsync(ReservationEngine engine, CancellationToken stop)
    {
        var last = engine.Replication.Select(r => r.Refusal).ToArray();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                foreach (var r in engine.Replication)
                {
                    if (r.Refusal == last[r.Shard]) continue;
                    last[r.Shard] = r.Refusal;
                    switch (r.Refusal)
                    {
                        case Wildberries.Engine.Replication.WriteRefusal.Fenced:
                        case Wildberries.Engine.Replication.WriteRefusal.Stopped:
                            LogReplicationStopped(r.Shard, r.Refusal, r.LastError ?? "");
                            break;
                        case Wildberries.Engine.Replication.WriteRefusal.ReplicationUnavailable:
                            LogReplicationUnavailable(r.Shard, r.LastError ?? "");
                            break;
                        case Wildberries.Engine.Replication.WriteRefusal.None:
                            LogReplicationResumed(r.Shard, r.Lsn);
                            break;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>5,000 SKUs over 3 warehouses with prices and stock, so the README's curl examples work at once.</summary>
    private async Task LoadDemoAsync(ReservationEngine engine)
    {
        const int Skus = 5_000;
        var pending = new List<Task<CommandResult>>(Skus * 4);
        for (long sku = 1; sku <= Skus; sku++)
        {
            pending.Add(engine.UpsertItemAsync(sku, $"Demo item {sku}", 100_00 + (sku * 37 % 9_900_00), maxPerOrder: 10).AsTask());
            for (var w = 1; w <= 3; w++) pending.Add(engine.AdjustStockAsync(sku, w, 10 + ((sku * w) % 90), "demo").AsTask());
        }
        await Task.WhenAll(pending).ConfigureAwait(false);
        LogDemo(Skus);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested) await _stopping.CancelAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _monitor, null) is { } monitor) await monitor.ConfigureAwait(false);
        // The publisher first: it reads the engine's journal until it stops.
        var publisher = Interlocked.Exchange(ref _publisher, null);
        if (publisher is not null) await publisher.DisposeAsync().ConfigureAwait(false);
        var projector = Interlocked.Exchange(ref _projector, null);
        if (projector is not null) await projector.DisposeAsync().ConfigureAwait(false);
        var engine = Interlocked.Exchange(ref _engine, null);
        if (engine is not null) await engine.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Shard {Shard} recovered through log sequence number {Lsn} (snapshot at {SnapshotLsn}, {Replayed} entries replayed) in {Milliseconds:F0} ms; state hash {Hash:x16}")]
    private partial void LogRecovered(int shard, long lsn, long snapshotLsn, long replayed, double milliseconds, ulong hash);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Critical, Message = "Shard {Shard} started with data loss accepted: {Loss}")]
    private partial void LogDataLoss(int shard, string loss);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Critical, Message = "The engine refused to start: {Reason}")]
    private partial void LogRefused(string reason);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "Publishing every committed event to Kafka at {Bootstrap}, topic {Topic}")]
    private partial void LogPublishing(string bootstrap, string topic);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Information, Message = "Projecting every committed event into PostgreSQL at {Server}, database {Database}")]
    private partial void LogProjecting(string server, string database);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Waiting for the command log before taking writes: {Reason}")]
    private partial void LogWaitingForLog(string reason);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "Replication: role {Role}, mode {Mode}, epoch {Epoch}")]
    private partial void LogReplication(string role, string mode, int epoch);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Warning, Message = "Promoted to primary with epoch {Epoch}: {Shards}")]
    private partial void LogPromoted(int epoch, string shards);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Critical, Message = "Shard {Shard} takes no writes ({Reason}): {Detail}")]
    private partial void LogReplicationStopped(int shard, Wildberries.Engine.Replication.WriteRefusal reason, string detail);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Error, Message = "Shard {Shard}: Kafka does not acknowledge; writes answer 503 replication_unavailable until it has every entry: {Detail}")]
    private partial void LogReplicationUnavailable(int shard, string detail);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Warning, Message = "Shard {Shard} takes writes again; the command log has everything through log sequence number {Lsn}")]
    private partial void LogReplicationResumed(int shard, long lsn);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Warning, Message = "Waiting for the primary at {Primary} to hand out its snapshot: {Reason}")]
    private partial void LogWaitingForPrimary(string primary, string reason);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Warning, Message = "Started with --role standby, but this data directory was promoted to primary (epoch {Epoch}): it runs as the primary. To make it a standby, rebuild it from a snapshot (an empty --data with --bootstrap-from).")]
    private partial void LogStillPrimary(int epoch);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Information, Message = "Shard {Shard}: started from the snapshot at log sequence number {Lsn} fetched from {Primary}")]
    private partial void LogBootstrapped(int shard, long lsn, string primary);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Loaded the demo catalog: {Skus} SKUs over 3 warehouses")]
    private partial void LogDemo(int skus);
}
