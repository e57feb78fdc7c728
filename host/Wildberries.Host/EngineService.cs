using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;

namespace Wildberries.Host;

/// <summary>
/// Owns the engine: recovers it after Kestrel is listening (so liveness answers during a long recovery and
/// readiness flips when it is done), loads the demo catalog when asked, and drains it on shutdown.
/// </summary>
public sealed partial class EngineService(ServerOptions options, TimeProvider time, ILogger<EngineService> logger) : IHostedService, IAsyncDisposable
{
    private readonly TaskCompletionSource<ReservationEngine> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ReservationEngine? _engine;
    private Wildberries.Engine.Kafka.KafkaEventPublisher? _publisher;

    /// <summary>The engine once recovery is done; null before.</summary>
    public ReservationEngine? Engine => _engine;

    /// <summary>Completes when the engine is ready (or faults when it refused to start).</summary>
    public Task<ReservationEngine> Ready => _ready.Task;

    /// <summary>The Kafka event publisher, when <see cref="ServerOptions.KafkaBootstrap"/> is set.</summary>
    public Wildberries.Engine.Kafka.KafkaEventPublisher? Publisher => _publisher;

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
                StateMachine = new StateMachineOptions { ReservationTtlMs = options.ReservationTtlMinutes * 60_000L, OrdersCapacityHint = 1 << 16, SkusCapacityHint = 1 << 14 },
            };
            var journal = new JournalOptions { Directory = options.DataDirectory, AcceptDataLoss = options.AcceptDataLoss };
            var engine = ReservationEngine.Open(engineOptions, journal, time);
            foreach (var r in engine.Recovery)
            {
                LogRecovered(r.Shard, r.LastLsn, r.SnapshotLsn, r.ReplayedEntries, r.Duration.TotalMilliseconds, r.StateHash);
                if (r.DataLoss is not null) LogDataLoss(r.Shard, r.DataLoss);
            }
            if (options.Demo && engine.Recovery.All(r => r.LastLsn == 0)) await LoadDemoAsync(engine).ConfigureAwait(false);
            if (options.KafkaBootstrap is { } bootstrap)
            {
                _publisher = Wildberries.Engine.Kafka.KafkaEventPublisher.Start(engine, new Wildberries.Engine.Kafka.KafkaEventPublisherOptions
                {
                    BootstrapServers = bootstrap, Topic = options.KafkaTopic, Settings = options.KafkaSettings,
                }, time);
                LogPublishing(bootstrap, options.KafkaTopic);
            }
            _engine = engine;
            _ready.TrySetResult(engine);
        }
        catch (Exception ex)
        {
            // Whatever stopped the start (a damaged journal, a disk, a bug), the log says it and readiness stays 503.
            StartupError = ex.Message;
            LogRefused(ex.Message);
            _ready.TrySetException(ex);
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
        // The publisher first: it reads the engine's journal until it stops.
        var publisher = Interlocked.Exchange(ref _publisher, null);
        if (publisher is not null) await publisher.DisposeAsync().ConfigureAwait(false);
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

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Loaded the demo catalog: {Skus} SKUs over 3 warehouses")]
    private partial void LogDemo(int skus);
}
