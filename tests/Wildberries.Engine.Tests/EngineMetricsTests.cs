using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests;

/// <summary>The engine's System.Diagnostics.Metrics: what an embedding service's OpenTelemetry pipeline would collect.</summary>
public class EngineMetricsTests
{
    [Fact]
    public async Task Commits_checkouts_by_result_expirations_and_gauges_are_published_on_the_engine_meter()
    {
        var clock = new ManualClock();
        var journal = new InMemoryJournal();
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => journal, clock);
        var sums = new ConcurrentDictionary<string, double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this engine's meter: other tests' engines publish on meters of the same name in parallel.
            if (instrument.Meter.Name == EngineMetrics.MeterName && ReferenceEquals(instrument.Meter, engine.Metrics.Meter)) l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var result = "";
            foreach (var t in tags) if (t.Key == "result") result = "{" + t.Value + "}";
            sums.AddOrUpdate(instrument.Name + result, value, (_, v) => v + value);
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        await engine.UpsertItemAsync(1, "kettle", 100);
        await engine.AdjustStockAsync(1, 1, 3);
        for (var i = 0; i < 3; i++) Assert.True((await engine.CheckoutAsync($"k{i}", "c", [new CheckoutLine(1, 1)])).IsOk);
        Assert.False((await engine.CheckoutAsync("k-none", "c", [new CheckoutLine(1, 1)])).IsOk);
        clock.Advance(TimeSpan.FromHours(1));
        await engine.TickAsync();
        listener.RecordObservableInstruments();

        Assert.Equal(3, sums.GetValueOrDefault("wb.checkouts{ok}"));
        Assert.Equal(1, sums.GetValueOrDefault("wb.checkouts{insufficient_stock}"));
        Assert.Equal(3, sums.GetValueOrDefault("wb.reservations.expired"));
        Assert.True(sums.GetValueOrDefault("wb.journal.commits") >= 1);
        Assert.Equal(journal.LastLsn, sums.GetValueOrDefault("wb.journal.batch.size"));
        Assert.True(sums.ContainsKey("wb.journal.commit.duration"));
        Assert.True(sums.ContainsKey("wb.ring.backlog") && sums.ContainsKey("wb.reservations.live"));
    }
}
