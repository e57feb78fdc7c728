using System.Diagnostics.Metrics;

namespace Wildberries.Engine.Events;

/// <summary>How far one shard's consumer of an event feed is behind: journal entries not yet read, and the age of the
/// oldest event read but not yet delivered.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Entries">Committed journal entries not yet read.</param>
/// <param name="Seconds">Age of the oldest event read but not yet delivered (0 when none waits).</param>
public readonly record struct FeedLag(int Shard, long Entries, double Seconds);

/// <summary>
/// The lag of an event feed's consumer (the Kafka publisher, the PostgreSQL projector) as two observable gauges per
/// shard, <c>{prefix}.lag.entries</c> and <c>{prefix}.lag</c> (seconds), on a <see cref="Meter"/> named after the
/// consumer's package; from the embedder's <see cref="IMeterFactory"/> when it gives one.
/// </summary>
public sealed class FeedLagMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private volatile bool _disposed;

    /// <summary>Publishes <paramref name="lag"/>, read whenever a listener collects, on the meter <paramref name="meterName"/>.</summary>
    public FeedLagMetrics(IMeterFactory? factory, string meterName, string prefix, string what, Func<IEnumerable<FeedLag>> lag)
    {
        ArgumentNullException.ThrowIfNull(lag);
        var version = typeof(FeedLagMetrics).Assembly.GetName().Version?.ToString();
        _ownsMeter = factory is null;
        _meter = factory?.Create(new MeterOptions(meterName) { Version = version }) ?? new Meter(meterName, version);
        _meter.CreateObservableGauge(prefix + ".lag.entries", () => Observe(lag, l => new Measurement<long>(l.Entries, Shard(l))), "{entry}", $"Committed journal entries not yet read by the {what}.");
        _meter.CreateObservableGauge(prefix + ".lag", () => Observe(lag, l => new Measurement<double>(l.Seconds, Shard(l))), "s", $"Age of the oldest event read but not yet delivered by the {what} (0 when none waits).");
    }

    /// <summary>The meter the gauges are on.</summary>
    public Meter Meter => _meter;

    private static KeyValuePair<string, object?> Shard(FeedLag l) => new("shard", l.Shard);

    // A meter of an IMeterFactory outlives the consumer (the factory disposes it): a stopped one reports nothing.
    private IEnumerable<Measurement<T>> Observe<T>(Func<IEnumerable<FeedLag>> lag, Func<FeedLag, Measurement<T>> measure)
        where T : struct => _disposed ? [] : lag().Select(measure);

    /// <summary>Stops publishing; a meter of the embedder's factory is left to the factory.</summary>
    public void Dispose()
    {
        _disposed = true;
        if (_ownsMeter) _meter.Dispose();
    }
}
