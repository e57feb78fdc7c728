using System.Diagnostics.Metrics;
using Wildberries.Core;
using Wildberries.Engine.Replication;

namespace Wildberries.Engine;

/// <summary>
/// The engine's measurements through <see cref="System.Diagnostics.Metrics"/>, on a <see cref="Meter"/> named
/// <see cref="MeterName"/>, so a service that embeds the engine sees them in its own OpenTelemetry (or dotnet-counters)
/// pipeline: journal commits, their latency and batch size, checkouts by result, expirations, and, observed when read,
/// ring backlog, live reservations, replication state and lag and recovery time, every one tagged with its shard.
/// Recording costs a flag check while nobody listens. The names are chosen so that a Prometheus exporter's
/// conventions (unit and <c>_total</c> suffixes) give <c>wb_...</c> names; docs/telemetry.md lists them all.
/// </summary>
public sealed class EngineMetrics : IDisposable
{
    /// <summary>The meter's name: the package's.</summary>
    public const string MeterName = "Wildberries.Engine";

    /// <summary>Bucket bounds of the commit latency histogram, in seconds: 50 us (page cache) to 1 s (a stalled disk).</summary>
    public static readonly IReadOnlyList<double> CommitSecondsBounds = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

    /// <summary>Bucket bounds of the batch size histogram, in commands: powers of two up to a full default ring.</summary>
    public static readonly IReadOnlyList<long> BatchSizeBounds = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 4_096, 16_384, 65_536];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _commits;
    private readonly Histogram<double> _commitSeconds;
    private readonly Histogram<long> _batchEntries;
    private readonly Counter<long> _checkouts;
    private readonly Counter<long> _expirations;
    private readonly KeyValuePair<string, object?>[] _shardTags;
    private volatile bool _disposed;

    internal EngineMetrics(ReservationEngine engine, int shards)
    {
        var version = typeof(EngineMetrics).Assembly.GetName().Version?.ToString();
        // From the embedder's IMeterFactory when it gives one (its meters are its container's: an OpenTelemetry
        // pipeline of that container sees this engine's and not another's in the same process), else our own.
        _ownsMeter = engine.Options.MeterFactory is null;
        _meter = engine.Options.MeterFactory?.Create(new MeterOptions(MeterName) { Version = version }) ?? new Meter(MeterName, version);
        _shardTags = [.. Enumerable.Range(0, shards).Select(s => new KeyValuePair<string, object?>("shard", s))];
        _commits = _meter.CreateCounter<long>("wb.journal.commits", "{commit}", "Journal commits (one fsync each, a batch of commands).");
        _commitSeconds = _meter.CreateHistogram("wb.journal.commit.duration", "s", "Time of one journal commit, fsync included.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CommitSecondsBounds });
        _batchEntries = _meter.CreateHistogram("wb.journal.batch.size", "{command}", "Commands made durable by one commit (group commit).", advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = BatchSizeBounds });
        _checkouts = _meter.CreateCounter<long>("wb.checkouts", "{checkout}", "Checkouts applied by a shard, by result code (ok, insufficient_stock, ...).");
        _expirations = _meter.CreateCounter<long>("wb.reservations.expired", "{reservation}", "Reservations released because their deadline passed.");
        _meter.CreateObservableGauge("wb.ring.backlog", () => PerShard(engine.ShardBacklogs), "{command}", "Commands claimed in a shard's ring and not yet applied.");
        _meter.CreateObservableGauge("wb.reservations.live", () => PerShard(engine.ShardPendingOrders), "{reservation}", "Orders holding a reservation (pending payment).");
        _meter.CreateObservableGauge("wb.recovery.duration", () => Observe(engine.Recovery, r => new Measurement<double>(r.Duration.TotalSeconds, _shardTags[r.Shard])), "s", "How long the shard's recovery (snapshot load and journal replay) took at start.");
        _meter.CreateObservableGauge("wb.replication.lag.entries", () => Observe(engine.Replication, r => new Measurement<long>(r.LagEntries, _shardTags[r.Shard])), "{entry}", "Entries between this node and its command log (primary: not yet acknowledged; standby: not yet applied).");
        _meter.CreateObservableGauge("wb.replication.lag", () => Observe(engine.Replication, r => new Measurement<double>(r.LagMs / 1000, _shardTags[r.Shard])), "s", "Age of the oldest entry not yet in the command log (primary) or behind it (standby).");
        _meter.CreateObservableGauge("wb.replication.lsn", () => Observe(engine.Replication, r => new Measurement<long>(r.Lsn, _shardTags[r.Shard])), "{entry}", "The shard's last log sequence number (replicated nodes).");
        _meter.CreateObservableGauge("wb.replication.primary", () => Observe(engine.Replication.Take(1), r => new Measurement<int>(r.Role == NodeRole.Primary ? 1 : 0)), "{node}", "1 on a primary, 0 on a standby (replicated nodes).");
        _meter.CreateObservableGauge("wb.replication.epoch", () => Observe(engine.Replication.Take(1), r => new Measurement<long>(r.Epoch)), "{epoch}", "The node's replication epoch (raised by each promotion).");
        _meter.CreateObservableGauge("wb.replication.refusing", () => Observe(engine.Replication, r => new Measurement<int>(r.Refusal == WriteRefusal.None ? 0 : 1, _shardTags[r.Shard], new("reason", r.Refusal.ToString().ToLowerInvariant()))), "{shard}", "1 while the shard refuses writes (reason: standby, fenced, replicationunavailable, stopped).");
        _meter.CreateObservableCounter("wb.replication.dropped.stale", () => Observe(engine.Replication, r => new Measurement<long>(r.DroppedStale, _shardTags[r.Shard])), "{entry}", "Command log entries of an older epoch a standby skipped.");
    }

    /// <summary>This engine's meter (one per engine; a listener that wants one engine of several compares it).</summary>
    public Meter Meter => _meter;

    private IEnumerable<Measurement<long>> PerShard(IReadOnlyList<long> values) =>
        _disposed ? [] : values.Select((v, shard) => new Measurement<long>(v, _shardTags[shard]));

    // A meter of an IMeterFactory outlives the engine (the factory disposes it): a stopped engine reports nothing.
    private IEnumerable<Measurement<T>> Observe<TSource, T>(IEnumerable<TSource> source, Func<TSource, Measurement<T>> measure)
        where T : struct => _disposed ? [] : source.Select(measure);

    internal void Committed(int shard, long entries, double seconds)
    {
        _commits.Add(1, _shardTags[shard]);
        _commitSeconds.Record(seconds, _shardTags[shard]);
        _batchEntries.Record(entries, _shardTags[shard]);
    }

    internal void CheckoutApplied(int shard, ResultCode code)
    {
        if (_checkouts.Enabled) _checkouts.Add(1, new KeyValuePair<string, object?>("result", ResultCodes.ToWire(code)), _shardTags[shard]);
    }

    internal void Expired(int shard) => _expirations.Add(1, _shardTags[shard]);

    /// <summary>Stops publishing (the engine disposes it); a meter of the embedder's factory is left to the factory.</summary>
    public void Dispose()
    {
        _disposed = true;
        if (_ownsMeter) _meter.Dispose();
    }
}
