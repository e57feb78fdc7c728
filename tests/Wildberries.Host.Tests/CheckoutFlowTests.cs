using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Host.Http;
using Wildberries.Host.Payments;

namespace Wildberries.Host.Tests;

/// <summary>One journaled command per checkout: the payment session's record is not waited for, and not needed.</summary>
public class CheckoutFlowTests
{
    private static async Task<JsonElement> Json(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    // The sandbox as a provider whose sessions are recorded, like a real one's: these tests hold the record back or drop it.
    private static CheckoutFlow Flow(TestServer server, Func<ReservationEngine, Command, ValueTask<CommandResult>> record) =>
        new(new RecordedSessions(server.Services.GetRequiredService<IPaymentProvider>()), server.Services.GetRequiredService<Metrics>(), server.Services.GetRequiredService<ILogger<CheckoutFlow>>())
        {
            Record = record,
        };

    private sealed class RecordedSessions(IPaymentProvider inner) : IPaymentProvider
    {
        public Task<PaymentSession> CreateSessionAsync(OrderId orderId, long amount, string currency, CancellationToken cancellation) =>
            inner.CreateSessionAsync(orderId, amount, currency, cancellation);
    }

    /// <summary>Entries applied over every shard, read through each shard's ring (after everything submitted before).</summary>
    private static async Task<long> AppliedAsync(ReservationEngine engine)
    {
        long sum = 0;
        for (var s = 0; s < engine.ShardCount; s++) sum += (await engine.GetAppliedStateAsync(s)).Lsn;
        return sum;
    }

    private static OrderId Id(string text)
    {
        Assert.True(OrderId.TryParse(text, out var id));
        return id;
    }

    private static async Task<JsonElement> GetOrderAsync(TestServer server, string id)
    {
        using var get = new HttpRequestMessage(HttpMethod.Get, $"/v1/orders/{id}");
        get.Headers.Add("X-Customer-Id", "c");
        var r = await server.Storefront.SendAsync(get);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return await Json(r);
    }

    // The timeout is the failure of a checkout that waits for its session's record: it would wait for ever here.
    [Fact(Timeout = 60_000)]
    public async Task A_checkout_answers_after_one_journaled_command_while_its_session_record_is_held_back()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        var engine = server.Engine;
        var submitted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var recorded = new TaskCompletionSource<CommandResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var flow = Flow(server, async (e, command) =>
        {
            Assert.Equal(CommandKind.AttachPayment, command.Kind);
            submitted.SetResult();
            await gate.Task;
            var result = await e.SubmitAsync(command);
            recorded.SetResult(result);
            return result;
        });

        var before = await AppliedAsync(engine);
        var (order, problem) = await flow.CheckoutAsync(engine, "k", "c", [new CheckoutLine(1, 2)], null, null, TestContext.Current.CancellationToken);
        Assert.Null(problem);
        // Answered with its payment page while the record has not even reached the engine: one journaled command.
        Assert.True(submitted.Task.IsCompleted, "the record is started before the answer");
        Assert.False(recorded.Task.IsCompleted);
        Assert.Equal(1, await AppliedAsync(engine) - before);
        Assert.Equal("PENDING_PAYMENT", order!.Status);
        Assert.NotNull(order.PaymentUrl);
        var view = await engine.GetOrderAsync(Id(order.OrderId));
        Assert.Null(view!.PaymentSessionId);

        // Meanwhile a read and a replay show the same page: the provider gives the same session for the same order.
        Assert.Equal(order.PaymentUrl, (await GetOrderAsync(server, order.OrderId)).GetProperty("paymentUrl").GetString());
        var answer = JsonSerializer.Serialize(order, Http.Json.Options);
        var (replay, _) = await server.Services.GetRequiredService<CheckoutFlow>().CheckoutAsync(engine, "k", "c", [new CheckoutLine(1, 2)], null, null, default);
        Assert.Equal(answer, JsonSerializer.Serialize(replay, Http.Json.Options));

        // Let the record go: the second journaled command, and the session is the one the answer carried.
        var afterAnswer = await AppliedAsync(engine);
        gate.SetResult();
        Assert.True((await recorded.Task).IsOk);
        Assert.Equal(1, await AppliedAsync(engine) - afterAnswer);
        view = await engine.GetOrderAsync(Id(order.OrderId));
        Assert.Equal(order.PaymentUrl, view!.PaymentUrl);
        Assert.EndsWith("/" + view.PaymentSessionId, order.PaymentUrl, StringComparison.Ordinal);
        var (again, _) = await flow.CheckoutAsync(engine, "k", "c", [new CheckoutLine(1, 2)], null, null, default);
        Assert.Equal(answer, JsonSerializer.Serialize(again, Http.Json.Options));
    }

    [Fact]
    public async Task With_the_sandbox_a_checkout_journals_one_command_and_nothing_after_it()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        var before = await AppliedAsync(server.Engine);
        var created = await server.CheckoutAsync("one", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        // A record would have entered the ring before the answer was written, so this read would count it.
        Assert.Equal(before + 1, await AppliedAsync(server.Engine));
        var body = await Json(created);
        var read = await GetOrderAsync(server, body.GetProperty("orderId").GetString()!);
        Assert.Equal(body.GetProperty("paymentUrl").GetString(), read.GetProperty("paymentUrl").GetString());
        Assert.Equal(before + 1, await AppliedAsync(server.Engine));
    }

    [Fact]
    public async Task An_order_whose_session_record_was_lost_is_read_paid_and_replayed_with_the_same_page()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        var engine = server.Engine;
        // The record never reaches the journal (as after a crash right after the answer).
        var flow = Flow(server, (_, _) => ValueTask.FromResult(new CommandResult { Code = ResultCode.Ok }));
        var (order, problem) = await flow.CheckoutAsync(engine, "lost", "c", [new CheckoutLine(1, 1)], null, null, TestContext.Current.CancellationToken);
        Assert.Null(problem);
        var answer = JsonSerializer.Serialize(order, Http.Json.Options);
        Assert.Null((await engine.GetOrderAsync(Id(order!.OrderId)))!.PaymentSessionId);

        var read = await GetOrderAsync(server, order.OrderId);
        Assert.Equal(order.PaymentUrl, read.GetProperty("paymentUrl").GetString());
        // The sandbox's page takes the session the order was answered with, and pays it.
        var page = new Uri(order.PaymentUrl!).PathAndQuery;
        Assert.Contains("PENDING_PAYMENT", await server.Anonymous.GetStringAsync(page), StringComparison.Ordinal);
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = server.Address };
        Assert.Equal(HttpStatusCode.Redirect, (await noRedirect.PostAsync(page + "/pay", null)).StatusCode);
        Assert.Equal("PAID", (await GetOrderAsync(server, order.OrderId)).GetProperty("status").GetString());

        // A replay of the key answers the first answer, byte for byte, over HTTP too.
        var replay = await server.CheckoutAsync("lost", new { customerId = "c", lines = new[] { new { sku = 1, qty = 1 } } });
        Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
        Assert.Equal(answer, await replay.Content.ReadAsStringAsync());
    }
}
