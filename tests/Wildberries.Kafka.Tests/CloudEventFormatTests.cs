using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Kafka;

namespace Wildberries.Kafka.Tests;

/// <summary>The publisher writes CloudEvents itself (for speed): the CloudEvents SDK must read them as the events it would write.</summary>
public class CloudEventFormatTests
{
    [Fact]
    public async Task What_the_publisher_writes_is_what_the_CloudEvents_SDK_reads_and_would_write()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await using var engine = ReservationEngine.Start(new EngineOptions(), _ => new InMemoryJournal());
        await engine.UpsertItemAsync(7, "kettle", 1990);
        await engine.AdjustStockAsync(7, 1, 3, "receipt");
        await engine.AdjustStockAsync(7, 2, 3, "receipt");
        var r = await engine.CheckoutAsync("k", "alice \"the buyer\"", [new CheckoutLine(7, 4)]);
        await engine.ApplyPaymentAsync(r.OrderId, "tx-1", true, r.Amount, "RUB");
        await engine.ApplyPaymentAsync(OrderId.Create(0, 999), "tx-orphan", true, 500, "RUB");
        using var feed = engine.OpenEventFeed(0, "format");
        var events = await feed.ReadAsync(100, cancellation);
        Assert.Contains(events, e => e.Event.Kind == EventKind.OrderPaid);
        Assert.Contains(events, e => e.Event.Kind == EventKind.RefundRequired && e.Order is null);

        var source = new Uri("urn:wildberries:reservations");
        var formatter = new JsonEventFormatter();
        foreach (var e in events)
        {
            var written = new ArrayBufferWriter<byte>();
            CloudEventMapper.Write(e, source, "RUB", written);
            var read = formatter.DecodeStructuredModeMessage(written.WrittenMemory, null, null);
            var expected = CloudEventMapper.ToCloudEvent(e, source, "RUB");
            Assert.Equal(CloudEventsSpecVersion.V1_0, read.SpecVersion);
            Assert.Equal((expected.Id, expected.Type, expected.Source, expected.Subject, expected.DataContentType, expected.Time),
                (read.Id, read.Type, read.Source, read.Subject, read.DataContentType, read.Time));
            var expectedData = JsonNode.Parse(Encoding(formatter, expected))!["data"];
            Assert.True(JsonNode.DeepEquals(expectedData, JsonNode.Parse(((JsonElement)read.Data!).GetRawText())), $"{e.Event.Kind}: data differs");
        }
    }

    private static string Encoding(JsonEventFormatter formatter, CloudEvent e) =>
        System.Text.Encoding.UTF8.GetString(formatter.EncodeStructuredModeMessage(e, out _).Span);
}
