using System.Collections.Concurrent;
using System.Diagnostics;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests;

/// <summary>The engine's ActivitySource: what an embedding service's OpenTelemetry tracing would collect.</summary>
public class EngineTracingTests
{
    [Fact]
    public async Task A_checkout_emits_an_activity_with_ring_journal_and_apply_stages_under_the_callers_activity()
    {
        using var callerSource = new ActivitySource("Wildberries.Engine.Tests.Caller");
        var stopped = new ConcurrentQueue<Activity>();
        var checkoutStopped = new TaskCompletionSource<Activity>(TaskCreationOptions.RunContinuationsAsynchronously);
        ActivityTraceId trace = default;
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == EngineTracing.SourceName || ReferenceEquals(s, callerSource),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                // Other tests' engines trace too while this listener is attached: only this test's trace counts.
                if (a.TraceId != trace || a.Source.Name != EngineTracing.SourceName) return;
                stopped.Enqueue(a);
                if (a.OperationName == EngineTracing.CheckoutActivity) checkoutStopped.TrySetResult(a);
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => new InMemoryJournal(), new ManualClock());

        Activity caller;
        using (caller = callerSource.StartActivity("POST /v1/checkout")!)
        {
            trace = caller.TraceId;
            await engine.UpsertItemAsync(1, "kettle", 100);
            await engine.AdjustStockAsync(1, 1, 3);
            Assert.True((await engine.CheckoutAsync("k", "c", [new CheckoutLine(1, 1)])).IsOk);
        }

        // The writer creates the activities after it answered the caller.
        var checkout = await checkoutStopped.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(caller.SpanId, checkout.ParentSpanId);
        Assert.Equal("ok", checkout.GetTagItem("wb.result"));
        Assert.Equal(0, checkout.GetTagItem("wb.shard"));
        Assert.Equal(3L, checkout.GetTagItem("wb.lsn"));
        Assert.Equal(ActivityStatusCode.Unset, checkout.Status);

        // Only the checkout is traced (not the item and the stock), with its three stages back to back inside it.
        var stages = stopped.Where(a => a.ParentSpanId == checkout.SpanId).OrderBy(a => a.StartTimeUtc).ToList();
        Assert.Equal(4, stopped.Count);
        Assert.Equal(["ring", "journal", "apply"], stages.Select(s => s.OperationName));
        Assert.Equal(checkout.StartTimeUtc, stages[0].StartTimeUtc);
        Assert.Equal(stages[0].StartTimeUtc + stages[0].Duration, stages[1].StartTimeUtc);
        Assert.Equal(stages[1].StartTimeUtc + stages[1].Duration, stages[2].StartTimeUtc);
        Assert.Equal(checkout.StartTimeUtc + checkout.Duration, stages[2].StartTimeUtc + stages[2].Duration);
        Assert.All(stages, s => Assert.True(s.Duration >= TimeSpan.Zero, $"{s.OperationName} {s.Duration}"));
        Assert.True(checkout.StartTimeUtc >= caller.StartTimeUtc && checkout.StartTimeUtc <= caller.StartTimeUtc + caller.Duration);
    }

    [Fact]
    public async Task A_ring_slot_that_once_carried_a_traced_checkout_does_not_trace_the_commands_that_reuse_it()
    {
        using var callerSource = new ActivitySource("Wildberries.Engine.Tests.Reuse");
        var checkouts = 0;
        ActivityTraceId trace = default;
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == EngineTracing.SourceName || ReferenceEquals(s, callerSource),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if (a.TraceId == trace && a.OperationName == EngineTracing.CheckoutActivity) Interlocked.Increment(ref checkouts);
            },
        };
        ActivitySource.AddActivityListener(listener);
        // The smallest ring: every slot is reused after 64 commands.
        await using var engine = ReservationEngine.Start(new EngineOptions { RingSize = 64 }, _ => new InMemoryJournal(), new ManualClock());
        await engine.UpsertItemAsync(1, "kettle", 100);
        await engine.AdjustStockAsync(1, 1, 3);
        using (var caller = callerSource.StartActivity("POST /v1/checkout")!)
        {
            trace = caller.TraceId;
            Assert.True((await engine.CheckoutAsync("k", "c", [new CheckoutLine(1, 1)])).IsOk);
        }
        // 200 untraced commands (no caller activity): three laps of the ring over the slot the checkout used.
        for (var i = 0; i < 200; i++) await engine.UpsertItemAsync(2 + i, "item", 100);
        await engine.GetAppliedStateAsync(0); // after every activity the writer made for them

        Assert.Equal(1, Volatile.Read(ref checkouts));
    }
}
