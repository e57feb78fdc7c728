using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Confluent.Kafka;

namespace Wildberries.Warehouse;

/// <summary>What the worker did with one message of the topic.</summary>
public enum Outcome
{
    /// <summary>Not an OrderPaid event: nothing to do.</summary>
    Ignored,

    /// <summary>Not a CloudEvent the worker can read (no id, type or data.orderId): skipped, a retry would not change it.</summary>
    Malformed,

    /// <summary>An event id seen recently: a redelivery, not shipped again.</summary>
    Duplicate,

    /// <summary>The server answered 200: the order is FULFILLED (now, or already before).</summary>
    Shipped,

    /// <summary>The server refused for a reason a retry would not change (404 no such order, 409 not PAID).</summary>
    Refused,
}

/// <summary>One handled message: the event id, the order, what happened, the order's status as the server said, the attempts.</summary>
public sealed record Handled(Outcome Outcome, string? EventId, string? OrderId, string? Status, int Attempts, TopicPartitionOffset Position);

/// <summary>
/// The warehouse worker: a consumer of the server's CloudEvents that ships every paid order through
/// <c>POST /v1/admin/orders/{orderId}/ship</c>. At least once: a message's offset is committed only after its
/// shipment succeeded or was refused for good, so a crash or a stop in between redelivers it; redeliveries are skipped
/// by event id (a bounded set of recent ids) and, beyond that, by the ship endpoint itself (a second ship answers the
/// FULFILLED order). 5xx, 408, 429, timeouts and connection errors are retried with exponential backoff and jitter,
/// without end: committing past an order that was not shipped would lose it. A refused admin key (401/403) stops the
/// worker, since no retry would fix it.
/// </summary>
public sealed class WarehouseWorker : IDisposable
{
    private readonly WarehouseOptions _options;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Action<string> _log;
    private readonly Action<Handled>? _observer;
    private readonly RecentIds _recent;

    /// <summary>A worker with <paramref name="options"/>, logging to <paramref name="log"/> (the console if null).</summary>
    /// <param name="options">The settings.</param>
    /// <param name="log">Where each line of the log goes.</param>
    /// <param name="observer">Told of every handled message (tests await it).</param>
    /// <param name="http">The client for the server, else one of the worker's own.</param>
    public WarehouseWorker(WarehouseOptions options, Action<string>? log = null, Action<Handled>? observer = null, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _log = log ?? Console.WriteLine;
        _observer = observer;
        _recent = new RecentIds(options.RecentIds);
        _ownsHttp = http is null;
        _http = http ?? new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>
    /// Consumes until <paramref name="cancellationToken"/> is cancelled, then leaves the group cleanly (the offsets
    /// committed so far are where the next run goes on). Throws when the server refuses the admin key.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        // Consume blocks its thread: the loop gets one of its own from the pool.
        Task.Run(() => LoopAsync(cancellationToken), CancellationToken.None);

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = _options.Bootstrap,
            GroupId = _options.Group,
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            ClientId = "wb-warehouse",
        };
        foreach (var (key, value) in _options.KafkaSettings) config.Set(key, value);
        using var consumer = new ConsumerBuilder<Ignore, byte[]>(config)
            .SetErrorHandler((_, e) => _log($"kafka: {e.Code} {e.Reason}"))
            .SetPartitionsAssignedHandler((_, partitions) => _log($"assigned {string.Join(", ", partitions.Select(p => $"{p.Topic}[{p.Partition.Value}]"))}"))
            .SetPartitionsRevokedHandler((_, partitions) => _log($"revoked {string.Join(", ", partitions.Select(p => $"{p.Topic}[{p.Partition.Value}]"))}"))
            .Build();
        consumer.Subscribe(_options.Topic);
        _log($"consuming {_options.Topic} as group {_options.Group} from {_options.Bootstrap}; shipping through {_options.Server}");
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                ConsumeResult<Ignore, byte[]> message;
                try
                {
                    message = consumer.Consume(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (ConsumeException ex)
                {
                    _log($"consume failed: {ex.Error.Code} {ex.Error.Reason}");
                    continue;
                }
                if (message is null) continue;
                Handled handled;
                try
                {
                    handled = await HandleAsync(message, cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    break; // not committed: the next run ships it
                }
                try
                {
                    consumer.Commit(message);
                }
                catch (KafkaException ex)
                {
                    // The partition may have moved to another member: it gets the message again (at least once).
                    _log($"commit of {message.TopicPartitionOffset} failed: {ex.Error.Reason}");
                }
                _observer?.Invoke(handled);
            }
        }
        finally
        {
            consumer.Close();
            _log("stopped: left the group");
        }
    }

    private async Task<Handled> HandleAsync(ConsumeResult<Ignore, byte[]> message, CancellationToken cancellationToken)
    {
        var position = message.TopicPartitionOffset;
        if (!TryRead(message.Message.Value, out var id, out var type, out var orderId))
        {
            _log($"{position}: not a CloudEvent with id, type and data.orderId; skipped");
            return new Handled(Outcome.Malformed, id, orderId, null, 0, position);
        }
        if (type != "OrderPaid") return new Handled(Outcome.Ignored, id, orderId, null, 0, position);
        if (_recent.Contains(id!))
        {
            _log($"event {id} (order {orderId}) seen before: not shipped again");
            return new Handled(Outcome.Duplicate, id, orderId, null, 0, position);
        }
        var (outcome, status, attempts) = await ShipAsync(orderId!, cancellationToken);
        _recent.Add(id!);
        return new Handled(outcome, id, orderId, status, attempts, position);
    }

    private async Task<(Outcome Outcome, string? Status, int Attempts)> ShipAsync(string orderId, CancellationToken cancellationToken)
    {
        var uri = new Uri(_options.Server, $"/v1/admin/orders/{Uri.EscapeDataString(orderId)}/ship");
        var watch = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            string failure;
            using (var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                attemptTimeout.CancelAfter(_options.AttemptTimeout);
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, uri);
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.AdminKey);
                    using var response = await _http.SendAsync(request, attemptTimeout.Token);
                    var body = await response.Content.ReadAsStringAsync(attemptTimeout.Token);
                    var code = (int)response.StatusCode;
                    if (response.IsSuccessStatusCode)
                    {
                        var status = Field(body, "status");
                        _log($"shipped order {orderId}: {status} ({attempt} attempt{(attempt == 1 ? "" : "s")}, {watch.ElapsedMilliseconds} ms)");
                        return (Outcome.Shipped, status, attempt);
                    }
                    if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                    {
                        throw new InvalidOperationException($"The server refused the admin key ({code}): check --admin-key / WB_ADMIN_KEY.");
                    }
                    if (code >= 500 || response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests)
                    {
                        failure = $"{code} {Field(body, "code")}";
                    }
                    else
                    {
                        _log($"order {orderId} not shipped: {code} {Field(body, "code")} {Field(body, "detail")}".TrimEnd());
                        return (Outcome.Refused, null, attempt);
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    failure = $"no answer in {_options.AttemptTimeout.TotalSeconds:0.#} s";
                }
                catch (HttpRequestException ex)
                {
                    failure = ex.Message;
                }
            }
            var backoff = Backoff(attempt);
            _log($"ship of order {orderId} failed (attempt {attempt}: {failure}); retrying in {backoff.TotalMilliseconds:0} ms");
            await Task.Delay(backoff, cancellationToken);
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        var exponential = _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 20));
        var capped = Math.Min(exponential, _options.MaxBackoff.TotalMilliseconds);
#pragma warning disable CA5394 // jitter spreads the retries of many workers; it needs no secure randomness
        return TimeSpan.FromMilliseconds(capped * (0.5 + (Random.Shared.NextDouble() / 2)));
#pragma warning restore CA5394
    }

    /// <summary>Reads a structured-mode CloudEvent's id, type and data.orderId; false when any is missing or it is not JSON.</summary>
    public static bool TryRead(byte[]? value, out string? id, out string? type, out string? orderId)
    {
        (id, type, orderId) = (null, null, null);
        if (value is null || value.Length == 0) return false;
        try
        {
            using var document = JsonDocument.Parse(value);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return false;
            if (root.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String) id = i.GetString();
            if (root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String) type = t.GetString();
            if (root.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.Object
                && d.TryGetProperty("orderId", out var o) && o.ValueKind == JsonValueKind.String) orderId = o.GetString();
            // Stock events carry no order: they are well-formed, just not for us.
            return !string.IsNullOrEmpty(id) && !string.IsNullOrEmpty(type) && (type != "OrderPaid" || !string.IsNullOrEmpty(orderId));
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string? Field(string body, string name)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(name, out var v)
                && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Disposes the worker's own HTTP client.</summary>
    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }
}
