using System.Globalization;
using System.Net;
using Wildberries.Core;
using Wildberries.Host.Http;
using Wildberries.Host.Security;

namespace Wildberries.Host.Payments;

/// <summary>
/// The sandbox payment page: shows the order and its amount with Pay and Decline buttons; each sends a correctly
/// signed webhook over HTTP to this host's <c>/v1/payments/callback</c>, exactly as a provider would. Mapped only
/// while the sandbox is the payment provider; a session id must carry its MAC, and only an order waiting for its
/// payment can be paid or declined here.
/// </summary>
public static class Sandbox
{
    /// <summary>Maps the page and its two actions.</summary>
    public static void Map(WebApplication app)
    {
        app.MapGet("/sandbox/pay/{sessionId}", Page)
            .WithName("SandboxPaymentPage").WithSummary("The sandbox payment page (HTML) with Pay and Decline buttons").WithTags("Sandbox")
            .RequiresAccess(ApiAccess.Anonymous).Produces<string>(StatusCodes.Status200OK, "text/html").ProducesProblems(404, 429);
        app.MapPost("/sandbox/pay/{sessionId}/{action}", Act).DisableAntiforgery()
            .WithName("SandboxPaymentAction").WithSummary("Pay or decline on the sandbox page: sends the signed webhook, then redirects back to the page").WithTags("Sandbox")
            .RequiresAccess(ApiAccess.Anonymous).Produces(StatusCodes.Status302Found).ProducesProblems(404, 409, 429);
    }

    private static IResult UnknownSession() => Problems.Of(404, "unknown_session", "No such payment session.");

    private static async Task<OrderView?> FindAsync(string sessionId, EngineService service, SandboxPaymentProvider sandbox)
    {
        if (!sandbox.TryOpenSession(sessionId, out var id) || service.Engine is not { } engine) return null;
        var order = await engine.GetOrderAsync(id);
        // The session must be the one the order was given, not merely a valid MAC of its id. Its record is written
        // after the checkout answers (CheckoutFlow): until it is, the MAC of this order's id is that session, exactly
        // as the checkout computed it; an order whose checkout was aborted never had one.
        if (order is null) return null;
        return order.PaymentSessionId is null ? (order.CheckoutAborted ? null : order) : string.Equals(order.PaymentSessionId, sessionId, StringComparison.Ordinal) ? order : null;
    }

    private static async Task<IResult> Page(string sessionId, EngineService service, SandboxPaymentProvider sandbox, string? result)
    {
        var order = await FindAsync(sessionId, service, sandbox);
        if (order is null) return UnknownSession();
        var amount = (order.Amount / 100m).ToString("N2", CultureInfo.InvariantCulture);
        var status = OrderTransitions.ToWire(order.Status);
        var session = WebUtility.HtmlEncode(sessionId);
        var buttons = order.Status == OrderStatus.PendingPayment
            ? $"""
              <form method="post" action="/sandbox/pay/{session}/pay"><button id="pay" type="submit">Pay {amount} {order.Currency}</button></form>
              <form method="post" action="/sandbox/pay/{session}/decline"><button id="decline" type="submit">Decline</button></form>
              """
            : $"<p id=\"closed\">This order is {status}: it is not waiting for a payment, so there is nothing to pay here.</p>\n";
        const string Style = "body{font-family:sans-serif;max-width:32rem;margin:3rem auto} button{font-size:1.2rem;margin:.5rem 0;padding:.5rem 1rem}";
        var orderText = WebUtility.HtmlEncode(order.OrderId.ToString());
        var answered = result is null ? "" : " &mdash; the provider answered <b id=\"result\">" + WebUtility.HtmlEncode(result) + "</b>";
        var html =
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sandbox payment " + orderText + "</title><style>" + Style + "</style></head>\n<body>\n" +
            "<h1>Sandbox payment</h1>\n" +
            $"<p>Order <b id=\"order\">{orderText}</b>: <b id=\"amount\">{amount} {order.Currency}</b>, {order.Lines.Length} line(s).</p>\n" +
            $"<p>Status: <b id=\"status\">{status}</b>{answered}</p>\n" +
            buttons +
            "<p><small>This page stands in for a bank's payment page in development and tests. No money moves.</small></p>\n</body></html>\n";
        return Results.Content(html, "text/html; charset=utf-8");
    }

    private static async Task<IResult> Act(string sessionId, string action, EngineService service, SandboxPaymentProvider sandbox, Credentials credentials, IHttpClientFactory clients, TimeProvider time, ServerOptionsAccessor self)
    {
        if (action is not ("pay" or "decline")) return Problems.Of(404, "unknown_action", "Use pay or decline.");
        var order = await FindAsync(sessionId, service, sandbox);
        if (order is null) return UnknownSession();
        if (order.Status != OrderStatus.PendingPayment)
        {
            return Problems.Of(409, "invalid_state", "The order is not waiting for a payment.", $"The order is {OrderTransitions.ToWire(order.Status)}.");
        }

        var tx = $"sbx_{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}";
        var body = Api.WebhookBody("evt_" + tx, tx, order.OrderId.ToString(), action == "pay" ? "succeeded" : "failed", order.Amount, order.Currency);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{self.PublicUrl.TrimEnd('/')}/v1/payments/callback")
        {
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add("Webhook-Signature", WebhookSignature.Sign(body, time.GetUtcNow().ToUnixTimeSeconds(), credentials.WebhookSecrets[0]));
        using var response = await clients.CreateClient("sandbox").SendAsync(request);
        var answer = await response.Content.ReadAsStringAsync();
        string? result;
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(answer);
            result = json.RootElement.TryGetProperty("result", out var r) ? r.GetString() : json.RootElement.TryGetProperty("code", out var c) ? c.GetString() : "error";
        }
        catch (System.Text.Json.JsonException)
        {
            result = "error";
        }
        return Results.Redirect($"/sandbox/pay/{Uri.EscapeDataString(sessionId)}?result={Uri.EscapeDataString(result ?? "error")}");
    }
}

/// <summary>Resolves the public base URL once Kestrel has bound its addresses (port 0 in tests).</summary>
public sealed class ServerOptionsAccessor(ServerOptions options, Microsoft.AspNetCore.Hosting.Server.IServer server, IHostApplicationLifetime lifetime)
{
    // The bound address, kept once the server has started (its addresses do not change after that): every checkout
    // of the sandbox asks for it.
    private string? _bound;

    /// <summary>The configured public URL, or the first address Kestrel listens on.</summary>
    public string PublicUrl => options.PublicUrl ?? _bound ?? Bound() ?? options.Urls.Split(';')[0];

    private string? Bound()
    {
        var addresses = server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses;
        var first = addresses?.FirstOrDefault();
        // Before the start, the list may hold the configured URLs (port 0) rather than the bound ones.
        if (first is not null && lifetime.ApplicationStarted.IsCancellationRequested) _bound = first;
        return first;
    }
}
