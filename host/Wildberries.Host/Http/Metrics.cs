using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Wildberries.Engine;
using Wildberries.Engine.Reads;

namespace Wildberries.Host.Http;

/// <summary>Counters in Prometheus text format: requests by route and status, checkout outcomes, engine backlog.</summary>
public sealed class Metrics
{
    private readonly ConcurrentDictionary<(string Route, int Status), long> _requests = new();
    private readonly ConcurrentDictionary<string, long> _checkouts = new();
    private readonly ConcurrentDictionary<string, long> _payments = new();

    /// <summary>Counts a finished request.</summary>
    public void Request(string route, int status) => _requests.AddOrUpdate((route, status), 1, (_, n) => n + 1);

    /// <summary>Counts a checkout outcome by its result code.</summary>
    public void Checkout(string code) => _checkouts.AddOrUpdate(code, 1, (_, n) => n + 1);

    /// <summary>Counts a payment webhook's outcome by its result code (<c>refund_required</c>: money to send back).</summary>
    public void Payment(string code) => _payments.AddOrUpdate(code, 1, (_, n) => n + 1);

    /// <summary>The exposition text.</summary>
    public string Render(ReservationEngine? engine, Wildberries.Engine.Kafka.KafkaEventPublisher? publisher = null, Wildberries.Engine.Postgres.PostgresProjector? projector = null)
    {
        var s = new StringBuilder();
        s.AppendLine("# TYPE wb_http_requests_total counter");
        foreach (var ((route, status), n) in _requests.OrderBy(k => k.Key.Route, StringComparer.Ordinal).ThenBy(k => k.Key.Status))
        {
            s.Append(CultureInfo.InvariantCulture, $"wb_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n");
        }
        s.AppendLine("# TYPE wb_checkouts_total counter");
        foreach (var (code, n) in _checkouts.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            s.Append(CultureInfo.InvariantCulture, $"wb_checkouts_total{{result=\"{code}\"}} {n}\n");
        }
        s.AppendLine("# TYPE wb_payments_total counter");
        foreach (var (code, n) in _payments.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            s.Append(CultureInfo.InvariantCulture, $"wb_payments_total{{result=\"{code}\"}} {n}\n");
        }
        s.AppendLine("# TYPE wb_engine_ready gauge");
        s.Append(CultureInfo.InvariantCulture, $"wb_engine_ready {(engine is null ? 0 : 1)}\n");
        if (engine is not null)
        {
            s.AppendLine("# TYPE wb_ring_backlog gauge");
            s.Append(CultureInfo.InvariantCulture, $"wb_ring_backlog {engine.Backlog}\n");
            s.AppendLine("# TYPE wb_reservations_live gauge");
            s.Append(CultureInfo.InvariantCulture, $"wb_reservations_live {engine.PendingReservations}\n");
            s.AppendLine("# TYPE wb_reservations_expired_total counter");
            s.Append(CultureInfo.InvariantCulture, $"wb_reservations_expired_total {engine.ExpiredReservations}\n");
            s.AppendLine("# TYPE wb_journal_commit_seconds histogram");
            for (var shard = 0; shard < engine.CommitLatency.Count; shard++)
            {
                var (counts, sum) = engine.CommitLatency[shard].Read();
                long cumulative = 0;
                for (var b = 0; b < LatencyHistogram.BoundsMicros.Length; b++)
                {
                    cumulative += counts[b];
                    s.Append(CultureInfo.InvariantCulture, $"wb_journal_commit_seconds_bucket{{shard=\"{shard}\",le=\"{LatencyHistogram.BoundsMicros[b] / 1e6}\"}} {cumulative}\n");
                }
                cumulative += counts[^1];
                s.Append(CultureInfo.InvariantCulture, $"wb_journal_commit_seconds_bucket{{shard=\"{shard}\",le=\"+Inf\"}} {cumulative}\n");
                s.Append(CultureInfo.InvariantCulture, $"wb_journal_commit_seconds_sum{{shard=\"{shard}\"}} {sum / 1e6}\n");
                s.Append(CultureInfo.InvariantCulture, $"wb_journal_commit_seconds_count{{shard=\"{shard}\"}} {cumulative}\n");
            }
            if (publisher is not null)
            {
                s.AppendLine("# TYPE wb_events_lag_entries gauge");
                foreach (var l in publisher.Lag) s.Append(CultureInfo.InvariantCulture, $"wb_events_lag_entries{{shard=\"{l.Shard}\"}} {l.LagEntries}\n");
                s.AppendLine("# TYPE wb_events_lag_seconds gauge");
                foreach (var l in publisher.Lag) s.Append(CultureInfo.InvariantCulture, $"wb_events_lag_seconds{{shard=\"{l.Shard}\"}} {l.LagSeconds:F3}\n");
            }
            if (projector is not null)
            {
                s.AppendLine("# TYPE wb_projection_lag_entries gauge");
                foreach (var l in projector.Lag) s.Append(CultureInfo.InvariantCulture, $"wb_projection_lag_entries{{shard=\"{l.Shard}\"}} {l.LagEntries}\n");
                s.AppendLine("# TYPE wb_projection_lag_seconds gauge");
                foreach (var l in projector.Lag) s.Append(CultureInfo.InvariantCulture, $"wb_projection_lag_seconds{{shard=\"{l.Shard}\"}} {l.LagSeconds:F3}\n");
            }
            if (engine.Replication.Count > 0)
            {
                s.AppendLine("# TYPE wb_replication_primary gauge");
                s.Append(CultureInfo.InvariantCulture, $"wb_replication_primary {(engine.Replication[0].Role == Wildberries.Engine.Replication.NodeRole.Primary ? 1 : 0)}\n");
                s.AppendLine("# TYPE wb_replication_epoch gauge");
                s.Append(CultureInfo.InvariantCulture, $"wb_replication_epoch {engine.Replication[0].Epoch}\n");
                s.AppendLine("# TYPE wb_replication_lsn gauge");
                foreach (var r in engine.Replication) s.Append(CultureInfo.InvariantCulture, $"wb_replication_lsn{{shard=\"{r.Shard}\"}} {r.Lsn}\n");
                s.AppendLine("# TYPE wb_replication_lag_entries gauge");
                foreach (var r in engine.Replication) s.Append(CultureInfo.InvariantCulture, $"wb_replication_lag_entries{{shard=\"{r.Shard}\"}} {r.LagEntries}\n");
                s.AppendLine("# TYPE wb_replication_lag_seconds gauge");
                foreach (var r in engine.Replication) s.Append(CultureInfo.InvariantCulture, $"wb_replication_lag_seconds{{shard=\"{r.Shard}\"}} {r.LagMs / 1000:F3}\n");
                s.AppendLine("# TYPE wb_replication_refusing gauge");
                foreach (var r in engine.Replication) s.Append(CultureInfo.InvariantCulture, $"wb_replication_refusing{{shard=\"{r.Shard}\",reason=\"{r.Refusal.ToString().ToLowerInvariant()}\"}} {(r.Refusal == Wildberries.Engine.Replication.WriteRefusal.None ? 0 : 1)}\n");
                s.AppendLine("# TYPE wb_replication_dropped_stale_total counter");
                foreach (var r in engine.Replication) s.Append(CultureInfo.InvariantCulture, $"wb_replication_dropped_stale_total{{shard=\"{r.Shard}\"}} {r.DroppedStale}\n");
            }
            s.AppendLine("# TYPE wb_recovery_seconds gauge");
            foreach (var r in engine.Recovery) s.Append(CultureInfo.InvariantCulture, $"wb_recovery_seconds{{shard=\"{r.Shard}\"}} {r.Duration.TotalSeconds:F3}\n");
        }
        return s.ToString();
    }
}
