using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Wildberries.Engine;
using Wildberries.Host.Http;

namespace Wildberries.Host;

/// <summary>
/// OpenTelemetry for the server (docs/telemetry.md): the engine's, the publisher's, the projector's and the host's
/// meters, ASP.NET Core, HttpClient and .NET runtime metrics, scraped in Prometheus text at <c>/metrics</c>; with the
/// standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, metrics, traces (the engine's checkout activities under the HTTP
/// request's) and log records also go to that collector over OTLP.
/// </summary>
internal static class Telemetry
{
    /// <summary>The standard variable (or configuration key) that turns OTLP export on.</summary>
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The <c>service.name</c> resource attribute unless <c>OTEL_SERVICE_NAME</c> says otherwise.</summary>
    public const string ServiceName = "wildberries-reservations";

    /// <summary>Registers the meter provider (and, with OTLP, the tracer provider) in the server's container.</summary>
    public static void Add(WebApplicationBuilder builder)
    {
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointKey]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? ServiceName, serviceVersion: typeof(Telemetry).Assembly.GetName().Version?.ToString()))
            .WithMetrics(m => m
                .AddMeter(Metrics.MeterName, EngineMetrics.MeterName, Wildberries.Engine.Kafka.KafkaEventPublisher.MeterName, Wildberries.Engine.Postgres.PostgresProjector.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter(o =>
                {
                    // Every scrape collects afresh (no response cache): a scrape right after a request sees it.
                    o.ScrapeResponseCacheDurationMilliseconds = 0;
                    // Series are told apart by their wb_ names; the otel_scope_* labels on every line add nothing.
                    o.ScopeInfoEnabled = false;
                }));
        builder.Services.ConfigureOpenTelemetryMeterProvider((services, m) =>
        {
            var own = services.GetRequiredService<IMeterFactory>();
            m.AddView(instrument => Foreign(instrument.Meter, own) ? MetricStreamConfiguration.Drop : null);
        });
        if (!otlp) return;
        // Traces only with a collector to send them to: without one, nobody listens and the engine records nothing.
        telemetry.WithTracing(t => t
            .AddSource(EngineTracing.SourceName)
            .AddAspNetCoreInstrumentation()
            .AddHttpClientInstrumentation());
        telemetry.UseOtlpExporter();
    }

    /// <summary>
    /// A meter of another container's <see cref="IMeterFactory"/> (another server in this process: tests, or a service
    /// embedding two), or one of ours made without a factory: not this server's. OpenTelemetry listens by meter name
    /// only, and would add every engine's checkouts and every server's requests into this server's series.
    /// </summary>
    private static bool Foreign(Meter meter, IMeterFactory own) =>
        !ReferenceEquals(meter.Scope, own) && (meter.Scope is not null || meter.Name.StartsWith("Wildberries.", StringComparison.Ordinal));

    /// <summary>
    /// <c>/metrics</c>: the Prometheus text of the OpenTelemetry meter provider, behind any valid API key unless
    /// <see cref="ServerOptions.OpenOperationalEndpoints"/> (the same rule and the same 401 as before).
    /// </summary>
    public static void MapMetrics(WebApplication app, ServerOptions options) =>
        app.MapPrometheusScrapingEndpoint("/metrics", meterProvider: null, configureBranchedPipeline: options.OpenOperationalEndpoints ? null : branch => branch.Use(RequireAnyKey), optionsName: null);

    private static async Task RequireAnyKey(HttpContext http, RequestDelegate next)
    {
        // The same check and the same 401 as every keyed endpoint.
        var (_, refused) = Api.Authenticate(http);
        if (refused is null) await next(http).ConfigureAwait(false);
        else await refused.ExecuteAsync(http).ConfigureAwait(false);
    }
}
