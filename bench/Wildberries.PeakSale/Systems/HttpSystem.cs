using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Wildberries.Client;
using Wildberries.Host;
using Wildberries.Protocol;
using Wildberries.Host.Security;

namespace Wildberries.PeakSale.Systems;

/// <summary>
/// The reservation server on loopback (durable journal), driven as a storefront and a provider would: checkouts over
/// HTTP+JSON, or with <c>binaryProtocol</c> over the binary protocol through <see cref="ReservationClient"/> (its
/// payment webhooks stay HTTP, as a provider's do).
/// </summary>
public sealed class HttpSystem(bool binaryProtocol = false) : IReservationSystem
{
    private const string Key = "peak-storefront-key-0123456789";
    private const string Secret = "peak-webhook-secret";
    private readonly string _directory = Directory.CreateTempSubdirectory("wb-peak-http-").FullName;
    private readonly ConcurrentDictionary<string, long> _amounts = new(StringComparer.Ordinal);
    private WebApplication? _app;
    private HttpClient? _client;
    private ReservationClient? _binary;

    public string Name => binaryProtocol ? "host over the binary protocol (durable)" : "host over HTTP (durable)";

    public async Task LoadAsync(FlashSaleOptions sale)
    {
        ArgumentNullException.ThrowIfNull(sale);
        string[] tcp = binaryProtocol ? ["--tcp", "tcp://127.0.0.1:0"] : [];
        _app = ServerApp.Build([.. tcp, "--urls", "http://127.0.0.1:0", "--data", _directory, "--storefront-key", Key, "--admin-key", "peak-admin-key-0123456789abcdef",
            "--webhook-secret", Secret, "--rate-limit", "10000000", "--anonymous-rate-limit", "1000000", "--Logging:LogLevel:Default", "Warning"]);
        var address = await ServerApp.StartAsync(_app, TimeSpan.FromMinutes(1));
        var engine = _app.Services.GetRequiredService<EngineService>().Engine!;
        await Task.WhenAll(Catalog.Commands(sale).Select(c => engine.SubmitAsync(c).AsTask()));
        _client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = sale.Concurrency }) { BaseAddress = address };
        if (binaryProtocol)
        {
            _binary = new ReservationClient(new ReservationClientOptions { Endpoint = ServerApp.TcpAddress(_app), ApiKey = Key, RequestTimeoutMs = 30_000 });
            await _binary.ConnectAsync();
        }
    }

    public async Task<string?> CheckoutAsync(string idempotencyKey, Visit visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        if (_binary is not null) return await BinaryCheckoutAsync(idempotencyKey, visit);
        var json = new StringBuilder("{\"customerId\":\"c").Append(visit.Customer).Append("\",\"lines\":[");
        for (var i = 0; i < visit.Lines.Length; i++) json.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $"{{\"sku\":{visit.Lines[i].Sku},\"qty\":{visit.Lines[i].Qty}}}");
        json.Append("]}");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/checkout") { Content = new StringContent(json.ToString(), Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await _client!.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.Conflict) return null;
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"checkout failed: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        var id = doc.RootElement.GetProperty("orderId").GetString()!;
        _amounts[id] = doc.RootElement.GetProperty("amount").GetInt64();
        return id;
    }

    private async Task<string?> BinaryCheckoutAsync(string idempotencyKey, Visit visit)
    {
        try
        {
            var order = await _binary!.CheckoutAsync(new CheckoutRequest(idempotencyKey, $"c{visit.Customer}", [.. visit.Lines.Select(l => new CartLine(l.Sku, l.Qty))]));
            _amounts[order.OrderId] = order.Amount;
            return order.OrderId;
        }
        catch (ReservationException ex) when (ex.Code == "insufficient_stock")
        {
            return null;
        }
    }

    public async Task PayAsync(string orderId, bool succeeded)
    {
        var body = Wildberries.Host.Http.Api.WebhookBody("evt-" + orderId, "tx-" + orderId, orderId, succeeded ? "succeeded" : "failed", _amounts[orderId], "RUB");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments/callback") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("Webhook-Signature", WebhookSignature.Sign(body, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), Secret));
        using var response = await _client!.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"payment failed: {(int)response.StatusCode}");
    }

    public async Task<Audit> AuditAsync() =>
        EngineSystem.ToAudit(await _app!.Services.GetRequiredService<EngineService>().Engine!.AuditAsync());

    public async ValueTask DisposeAsync()
    {
        if (_binary is not null) await _binary.DisposeAsync();
        _client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Directory.Delete(_directory, recursive: true);
    }
}
