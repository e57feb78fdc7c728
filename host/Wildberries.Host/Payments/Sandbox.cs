using System.Globalization;
using System.Net;
using Wildberries.Core;
using Wildberries.Host.Http;
using Wildberries.Host.Security;

namespace Wildberries.Host.Payments;

/// <summary>
/// The sandbox payment page: shows the order and its amount with Pay and Decline buttons; each sends a correctly
/// signed webhook over HTTP to this host's <c>/v1/payments/callback</c>, exactly as a provider would.
/// </summary>
public static class Sandbox
{
    /// <summary>Maps the page and its two actions.</summary>
    public static void Map(WebApplication app)
    {
        app.MapGet("/sandbox/pay/{sessionId}", Page);
        app.MapPost("/sandbox/pay/{sessionId}/{action}", Act).DisableAntiforgery();
    }

    private static async Task<IResult> Page(string sessionId, EngineService service, string? result)
    {
        if (!SandboxPaymentProvider.TryParseSession(sessionId, out var id) || service.Engine is not { } engine) return Problems.Of(404, "unknown_session", "No such payment session.");
        var order = await engine.GetOrderAsync(id);
        if (order is null) return Problems.Of(404, "unknown_session", "No such payment session.");
        var amount = (order.Amount / 100m).ToString("N2", CultureInfo.InvariantCulture);
        var status = OrderTransitions.ToWire(order.Status);
        var buttons = order.Status == OrderStatus.PendingPayment || order.Status is OrderStatus.Expired or OrderStatus.Cancelled
            ? $"""
              <form method="post" action="/sandbox/pay/{sessionId}/pay"><button id="pay" type="submit">Pay {amount} {order.Currency}</button></form>
              <form method="post" action="/sandbox/pay/{sessionId}/decline"><button id="decline" type="submit">Decline</button></form>
              """
            : "";
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

    private static async Task<IResult> Act(string sessionId, string action, EngineService service, Credentials credentials, IHttpClientFactory clients, TimeProvider time, ServerOptionsAccessor self)
    {
        if (action is not ("pay" or "decline")) return Problems.Of(404, "unknown_action", "Use pay or decline.");
        if (!SandboxPaymentProvider.TryParseSession(sessionId, out var id) || service.Engine is not { } engine) return Problems.Of(404, "unknown_session", "No such payment session.");
        var order = await engine.GetOrderAsync(id);
        if (order is null) return Problems.Of(404, "unknown_session", "No such payment session.");

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
        using var json = System.Text.Json.JsonDocument.Parse(answer);
        var result = json.RootElement.TryGetProperty("result", out var r) ? r.GetString() : json.RootElement.TryGetProperty("code", out var c) ? c.GetString() : "error";
        return Results.Redirect($"/sandbox/pay/{sessionId}?result={Uri.EscapeDataString(result ?? "error")}");
    }
}

/// <summary>Resolves the public base URL once Kestrel has bound its addresses (port 0 in tests).</summary>
public sealed class ServerOptionsAccessor(ServerOptions options, Microsoft.AspNetCore.Hosting.Server.IServer server)
{
    /// <summary>The configured public URL, or the first address Kestrel listens on.</summary>
    public string PublicUrl =>
        options.PublicUrl
        ?? server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.FirstOrDefault()
        ?? options.Urls.Split(';')[0];
}
