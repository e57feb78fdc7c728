using System.Diagnostics.Metrics;

namespace Wildberries.Host.Http;

/// <summary>
/// The host's own measurements, on the <see cref="MeterName"/> meter (System.Diagnostics.Metrics): checkout and payment
/// outcomes as answered to callers, and whether the engine is ready. Requests by route and status are ASP.NET Core's
/// own <c>http.server.request.duration</c> (one count per request, with its duration), not counted again here. The engine, the
/// Kafka publisher and the PostgreSQL projector publish theirs on meters of their own packages; OpenTelemetry exports
/// all of them (<c>/metrics</c>, OTLP; see docs/telemetry.md).
/// </summary>
public sealed class Metrics
{
    /// <summary>The host's meter: the package's name.</summary>
    public const string MeterName = "Wildberries.Host";

    private readonly Counter<long> _checkouts;
    private readonly Counter<long> _payments;

    /// <summary>Creates the host's instruments on a meter of <paramref name="meters"/> (the host's container's).</summary>
    public Metrics(IMeterFactory meters, EngineService engine)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(engine);
        var meter = meters.Create(new MeterOptions(MeterName) { Version = typeof(Metrics).Assembly.GetName().Version?.ToString() });
        _checkouts = meter.CreateCounter<long>("wb.api.checkouts", "{checkout}", "Checkouts answered to callers (HTTP and the binary protocol), by result code.");
        _payments = meter.CreateCounter<long>("wb.payments", "{payment}", "Payment webhooks applied, by result code (refund_required: money to send back).");
        meter.CreateObservableGauge("wb.engine.ready", () => engine.Engine is null ? 0 : 1, "{engine}", "1 once the engine has recovered and serves, 0 before.");
    }

    /// <summary>Counts a checkout outcome by its result code.</summary>
    public void Checkout(string code) => _checkouts.Add(1, new KeyValuePair<string, object?>("result", code));

    /// <summary>Counts a payment webhook's outcome by its result code (<c>refund_required</c>: money to send back).</summary>
    public void Payment(string code) => _payments.Add(1, new KeyValuePair<string, object?>("result", code));
}
