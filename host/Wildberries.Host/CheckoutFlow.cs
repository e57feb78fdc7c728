using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Host.Http;
using Wildberries.Host.Payments;

namespace Wildberries.Host;

/// <summary>
/// A checkout after its fields are read, over HTTP or the binary protocol: one journaled command the caller waits
/// for. The reservation is committed, the payment session is opened at the provider, and the answer goes out; the
/// session is recorded in the journal (<see cref="CommandKind.AttachPayment"/>) without the caller waiting for that
/// second commit. That is safe because a session is a function of the order id: the sandbox's is computed from it
/// (<c>ps_{orderId}_{mac}</c>) and a real provider is idempotent on it, so an order whose session is not (yet, or
/// ever, after a crash) recorded gets the same session again from the provider when it is replayed or read. The
/// record is submitted before the answer is written, so anything a caller does with the answer (a payment, a
/// cancel) reaches the order's shard after it: the ring keeps their order. The sandbox's sessions, computed from the
/// order id alone (<see cref="IPaymentProvider.SessionsAreDerived"/>), are not recorded at all: one journal entry a checkout.
/// </summary>
public sealed partial class CheckoutFlow(IPaymentProvider payments, Metrics metrics, ILogger<CheckoutFlow> log)
{
    /// <summary>5 s for the provider to open a session: a checkout that waits longer is worse than a 503.</summary>
    private static readonly TimeSpan ProviderTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How a session is recorded: the engine's submit. The checkout does not wait for it; tests replace it to hold
    /// the record back (or drop it) and show that.
    /// </summary>
    internal Func<ReservationEngine, Command, ValueTask<CommandResult>> Record { get; init; } = static (engine, command) => engine.SubmitAsync(command);

    /// <summary>
    /// The reservation, then the payment session (or, if the provider cannot be reached, the stock released and the
    /// failure kept for every replay of the key). The order, or the problem to answer.
    /// </summary>
    public async Task<(OrderBody? Order, Problem? Problem)> CheckoutAsync(
        ReservationEngine engine, string key, string customerId, CheckoutLine[] lines, int[]? warehouses, string? paymentMethod, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (KeyProblem(engine, key) is { } badKey) return (null, badKey);
        // One trip through the writer: the result and the order it made (or, on a replay, made before).
        var (r, order) = await engine.SubmitWithOrderAsync(Command.Checkout(key, customerId, lines, warehouses, paymentMethod)).ConfigureAwait(false);
        metrics.Checkout(ResultCodes.ToWire(r.Code));
        if (!r.IsOk) return (null, Problems.Describe(r));
        if (order!.CheckoutAborted) return (null, ProviderUnavailable); // the first answer to this key, again

        var paymentUrl = order.PaymentUrl;
        if (order.PaymentSessionId is null)
        {
            // Not an order (yet, or any more: its other shards were still being asked): as it stands, nothing to pay.
            if (order.Status is OrderStatus.Preparing or OrderStatus.Aborted) return (Api.ToBody(order, null), null);
            // A new checkout, or the replay of one whose session is not recorded (its record still in flight, lost
            // in a crash, or its first attempt never got as far as the provider): the provider, idempotent on the
            // order id, gives the session the first answer carried.
            PaymentSession session;
            try
            {
                session = await OpenSessionAsync(order, cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsProviderFailure(ex))
            {
                // An order that moved on (paid, cancelled) is not released: only this answer fails, until the provider is back.
                if (order.Status != OrderStatus.PendingPayment) return (null, ProviderUnavailableNow);
                // Never a dangling reservation: the stock goes back before the caller hears of the failure, and the
                // order remembers why, so every replay of this key answers the same 503.
                await engine.SubmitAsync(Command.AbortCheckout(order.OrderId)).ConfigureAwait(false);
                return (null, ProviderUnavailable);
            }
            paymentUrl = session.PaymentUrl;
            if (order.Status == OrderStatus.PendingPayment && !payments.SessionsAreDerived) RecordSession(engine, order.OrderId, session);
        }

        // The same key and body get the same answer: the order as this checkout created it, whatever happened since.
        var answer = Api.ToBody(order, paymentUrl, OrderStatus.PendingPayment,
            DateTimeOffset.FromUnixTimeMilliseconds(order.CreatedAtMs + engine.Options.StateMachine.ReservationTtlMs));
        return (answer, null);
    }

    /// <summary>
    /// The Idempotency-Key checked at the edge against the configured limit (<c>--idempotency-key-length-max</c>), so the
    /// answer names the header; null when it is well-formed.
    /// </summary>
    public static Problem? KeyProblem(ReservationEngine engine, string key)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var max = engine.Options.StateMachine.IdempotencyKeyLengthMax;
        return Validate.IsKey(key, max) ? null : Problems.DescribeInvalid("Idempotency-Key", $"The Idempotency-Key header is required: 1 to {max} printable ASCII characters.");
    }

    /// <summary>
    /// The payment page of an order for a read (GET of the order): the recorded one, or, while its session is not
    /// recorded, the provider's (idempotent on the order id); null when it is not waiting for a payment or the
    /// provider cannot be reached now (the read is still answered).
    /// </summary>
    public async Task<string?> PaymentUrlAsync(OrderView order, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(order);
        if (order.Status != OrderStatus.PendingPayment) return null;
        if (order.PaymentUrl is not null || order.PaymentSessionId is not null || order.CheckoutAborted) return order.PaymentUrl;
        try
        {
            return (await OpenSessionAsync(order, cancellation).ConfigureAwait(false)).PaymentUrl;
        }
        catch (Exception ex) when (IsProviderFailure(ex))
        {
            LogReadWithoutSession(log, ex, order.OrderId.ToString());
            return null;
        }
    }

    // A session computed from the order id (the sandbox) is made at once, with nothing to time out: no timer per
    // checkout. A real provider gets ProviderTimeout.
    private Task<PaymentSession> OpenSessionAsync(OrderView order, CancellationToken cancellation) =>
        payments.SessionsAreDerived ? payments.CreateSessionAsync(order.OrderId, order.Amount, order.Currency, cancellation) : OpenRemoteSessionAsync(order, cancellation);

    private async Task<PaymentSession> OpenRemoteSessionAsync(OrderView order, CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(ProviderTimeout);
        return await payments.CreateSessionAsync(order.OrderId, order.Amount, order.Currency, timeout.Token).ConfigureAwait(false);
    }

    private static bool IsProviderFailure(Exception ex) => ex is PaymentProviderUnavailableException or OperationCanceledException or HttpRequestException;

    /// <summary>Submits the session's record now (before the answer is written) and logs its failure; nobody waits for it.</summary>
    private void RecordSession(ReservationEngine engine, OrderId orderId, PaymentSession session)
    {
        ValueTask<CommandResult> pending;
        try
        {
            pending = Record(engine, Command.AttachPayment(orderId, session.SessionId, session.PaymentUrl));
        }
        catch (Exception ex)
        {
            LogRecordFailed(log, ex, orderId.ToString());
            return;
        }
        if (pending.IsCompletedSuccessfully)
        {
            Check(pending.Result, orderId);
            return;
        }
        _ = ObserveAsync(pending, orderId);
    }

    private async Task ObserveAsync(ValueTask<CommandResult> pending, OrderId orderId)
    {
        try
        {
            Check(await pending.ConfigureAwait(false), orderId);
        }
        catch (Exception ex)
        {
            // The order keeps working without it: its session is asked of the provider again when it is read.
            LogRecordFailed(log, ex, orderId.ToString());
        }
    }

    private void Check(CommandResult result, OrderId orderId)
    {
        // Not recorded because the order moved on first (paid, cancelled) is no loss: nobody needs its session now.
        if (!result.IsOk && result.Code != ResultCode.InvalidState) LogRecordRefused(log, orderId.ToString(), ResultCodes.ToWire(result.Code));
    }

    private static readonly Problem ProviderUnavailable =
        Problems.Describe(503, "payment_provider_unavailable", "The payment provider could not be reached; nothing was reserved.", "Retry with a new Idempotency-Key.");

    private static readonly Problem ProviderUnavailableNow =
        Problems.Describe(503, "payment_provider_unavailable", "The payment provider could not be reached to repeat this order's payment session.", "Retry this request shortly.");

    [LoggerMessage(EventId = 50, Level = LogLevel.Warning, Message = "The payment session of order {OrderId} was not recorded; it is asked of the provider again when the order is read")]
    private static partial void LogRecordFailed(ILogger logger, Exception exception, string orderId);

    [LoggerMessage(EventId = 51, Level = LogLevel.Warning, Message = "The payment session of order {OrderId} was not recorded: {Code}")]
    private static partial void LogRecordRefused(ILogger logger, string orderId, string code);

    [LoggerMessage(EventId = 52, Level = LogLevel.Warning, Message = "Order {OrderId} was read without its payment page: its session is not recorded and the provider did not answer")]
    private static partial void LogReadWithoutSession(ILogger logger, Exception exception, string orderId);
}
