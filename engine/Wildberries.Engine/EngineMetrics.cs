using System.Diagnostics.Metrics;
using Wildberries.Core;

namespace Wildberries.Engine;

/// <summary>
/// The engine's measurements through <see cref="System.Diagnostics.Metrics"/>, on a <see cref="Meter"/> named
/// <see cref="MeterName"/>, so a service that embeds the engine sees them in its own OpenTelemetry (or dotnet-counters)
/// pipeline: journal commits, their latency and batch size, checkouts by result, expirations, and, observed when read,
/// ring backlog, live reservations and replication lag, every one tagged with its shard. Recording costs a flag check
/// while nobody listens.
/// </summary>
public sealed class EngineMetrics : IDisposable
{
    /// <summary>The meter's name: the package's.</summary>
    public const string MeterName = "Wildberries.Engine";

    private readonly Meter _meter;
    private readonly Counter<long> _commits;
    private readonly Histogram<double> _commitSeconds;
    private readonly Histogram<long> _batchEntries;
    private readonly Counter<long> _checkouts;
    private readonly Counter<long> _expirations;
    private readonly KeyValuePair<string, object?>[] _shardTags;

    internal EngineMetrics(ReservationEngine engine, int shards)
    {
        _meter = new Meter(MeterName, typeof(EngineMetrics).Assembly.GetName().Version?.ToString());
        _shardTags = [.. Enumerable.Range(0, shards).Select(s => new KeyValuePair<string, object?>("shard", s))];
        _commits = _meter.CreateCounter<long>("wb.journal.commits", "{commit}", "Journal commits (one fsync each, a batch of commands).");
        _commitSeconds = _meter.CreateHistogram<double>("wb.journal.commit.duration", "s", "Time of one journal commit, fsync included.");
        _batchEntries = _meter.CreateHistogram<long>("wb.journal.batch.size", "{entry}", "Commands made durable by one commit (group commit).");
        _checkouts = _meter.CreateCounter<long>("wb.checkouts", "{checkout}", "Checkouts applied, by result code.");
        _expirations = _meter.CreateCounter<long>("wb.reservations.expired", "{reservation}", "Reservations released because their deadline passed.");
        _meter.CreateObservableGauge("wb.ring.backlog", () => PerShard(engine.ShardBacklogs), "{command}", "Commands claimed in a shard's ring and not yet applied.");
        _meter.CreateObservableGauge("wb.reservations.live", () => PerShard(engine.ShardPendingOrders), "{reservation}", "Orders holding a reservation (pending payment).");
        _meter.CreateObservableGauge("wb.replication.lag", () => engine.Replication.Select(r => new Measurement<long>(r.LagEntries, _shardTags[r.Shard])), "{entry}", "Entries between this node and its command log (primary: not yet acknowledged; standby: not yet applied).");
        _meter.CreateObservableGauge("wb.replication.lag.duration", () => engine.Replication.Select(r => new Measurement<double>(r.LagMs / 1000, _shardTags[r.Shard])), "s", "Age of the oldest entry not yet in the command log (primary) or behind it (standby).");
    }

    /// <summary>This engine's meter (one per engine; a listener that wants one engine of several compares it).</summary>
    public Meter Meter => _meter;

    private IEnumerable<Measurement<long>> PerShard(IReadOnlyList<long> values) => values.Select((v, shard) => new Measurement<long>(v, _shardTags[shard]));

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

    /// <summary>Stops publishing (the engine disposes it).</summary>
    public void Dispose() => _meter.Dispose();
}
