using System.Globalization;
using System.Text.Json.Nodes;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using Wildberries.Core;
using Wildberries.Engine.Events;

namespace Wildberries.Engine.Kafka;

/// <summary>
/// An engine event as a CloudEvents 1.0 structured JSON document: <c>id</c> = <c>shard-lsn-index</c> (consumers
/// de-duplicate by it), <c>type</c> = the event name of PRODUCT.md (<c>OrderPaid</c>), <c>time</c> = the command's
/// journaled time, <c>data</c> = the order (id, customer, status, amount, currency, transaction, lines with
/// allocations) or the stock row. The Kafka key keeps one order's (or one SKU's) events in order.
/// </summary>
public static class CloudEventMapper
{
    private static readonly JsonEventFormatter Formatter = new();

    /// <summary>The Kafka key of an event: the order id, or for stock events the SKU.</summary>
    public static string KeyOf(EngineEvent e) =>
        e.Sku != 0 ? e.Sku.ToString(CultureInfo.InvariantCulture) : e.OrderId.ToString();

    /// <summary>The CloudEvent of <paramref name="feedEvent"/>, from <paramref name="source"/>.</summary>
    public static CloudEvent ToCloudEvent(FeedEvent feedEvent, Uri source, string currency)
    {
        ArgumentNullException.ThrowIfNull(feedEvent);
        var e = feedEvent.Event;
        return new CloudEvent
        {
            Id = feedEvent.Position.Id(e.Shard),
            Source = source,
            Type = e.Kind.ToString(),
            Time = DateTimeOffset.FromUnixTimeMilliseconds(e.TimestampMs),
            DataContentType = "application/json",
            Subject = KeyOf(e),
            Data = Data(feedEvent, currency),
        };
    }

    /// <summary>The structured-mode JSON bytes of a CloudEvent, through the CloudEvents SDK.</summary>
    public static byte[] Encode(CloudEvent cloudEvent) => Formatter.EncodeStructuredModeMessage(cloudEvent, out _).ToArray();

    /// <summary>
    /// The same document written straight to UTF-8 (no attribute objects, no JSON tree): what the publisher sends.
    /// The SDK path above allocated about 11 KiB per event and made encoding most of the cost of publishing (see
    /// docs/benchmarks/events.md); tests check that the SDK reads these bytes back as the event it would have written.
    /// </summary>
    public static void Write(FeedEvent feedEvent, Uri source, string currency, System.Buffers.IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(feedEvent);
        ArgumentNullException.ThrowIfNull(source);
        var e = feedEvent.Event;
        using var w = new System.Text.Json.Utf8JsonWriter(output);
        w.WriteStartObject();
        w.WriteString("specversion", "1.0");
        w.WriteString("id", feedEvent.Position.Id(e.Shard));
        w.WriteString("source", source.OriginalString);
        w.WriteString("type", TypeNames[(int)e.Kind]);
        w.WriteString("datacontenttype", "application/json");
        w.WriteString("subject", KeyOf(e));
        w.WriteString("time", DateTimeOffset.FromUnixTimeMilliseconds(e.TimestampMs));
        w.WritePropertyName("data");
        w.WriteStartObject();
        if (e.Sku != 0)
        {
            w.WriteNumber("sku", e.Sku);
            w.WriteNumber("warehouseId", e.WarehouseId);
            w.WriteNumber("onHand", e.OnHand);
            w.WriteNumber("reserved", e.Reserved);
            w.WriteNumber("committed", e.Committed);
            w.WriteNumber("available", e.Available);
        }
        else
        {
            w.WriteString("orderId", e.OrderId.ToString());
            w.WriteNumber("amount", e.Amount);
            w.WriteString("currency", currency);
            if (e.TransactionId is not null) w.WriteString("transactionId", e.TransactionId);
            if (feedEvent.Order is { } o)
            {
                w.WriteString("customerId", o.CustomerId);
                w.WriteString("status", OrderTransitions.ToWire(o.Status));
                w.WriteNumber("orderAmount", o.Amount);
                w.WriteStartArray("lines");
                foreach (var l in o.Lines)
                {
                    w.WriteStartObject();
                    w.WriteNumber("sku", l.Sku);
                    w.WriteNumber("qty", l.Quantity);
                    w.WriteNumber("price", l.UnitPrice);
                    w.WriteStartArray("allocations");
                    foreach (var a in l.Allocations)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("warehouseId", a.WarehouseId);
                        w.WriteNumber("qty", a.Quantity);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                if (o.RemoteShards is { Length: > 0 } remote)
                {
                    w.WriteStartArray("linesOnOtherShards");
                    foreach (var shard in remote) w.WriteNumberValue(shard);
                    w.WriteEndArray();
                }
            }
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    // Event type names by kind, made once (EventKind.ToString() allocates and reflects on every call).
    private static readonly string[] TypeNames = BuildTypeNames();

    private static string[] BuildTypeNames()
    {
        var names = new string[256];
        foreach (var kind in Enum.GetValues<EventKind>()) names[(int)kind] = kind.ToString();
        return names;
    }

    private static JsonObject Data(FeedEvent feedEvent, string currency)
    {
        var e = feedEvent.Event;
        if (e.Sku != 0)
        {
            return new JsonObject
            {
                ["sku"] = e.Sku, ["warehouseId"] = e.WarehouseId, ["onHand"] = e.OnHand, ["reserved"] = e.Reserved,
                ["committed"] = e.Committed, ["available"] = e.Available,
            };
        }
        var data = new JsonObject { ["orderId"] = e.OrderId.ToString(), ["amount"] = e.Amount, ["currency"] = currency };
        if (e.TransactionId is not null) data["transactionId"] = e.TransactionId;
        if (feedEvent.Order is { } o)
        {
            data["customerId"] = o.CustomerId;
            data["status"] = OrderTransitions.ToWire(o.Status);
            data["orderAmount"] = o.Amount;
            data["lines"] = new JsonArray([.. o.Lines.Select(l => (JsonNode)new JsonObject
            {
                ["sku"] = l.Sku, ["qty"] = l.Quantity, ["price"] = l.UnitPrice,
                ["allocations"] = new JsonArray([.. l.Allocations.Select(a => (JsonNode)new JsonObject { ["warehouseId"] = a.WarehouseId, ["qty"] = a.Quantity })]),
            })]);
            if (o.RemoteShards is { Length: > 0 } remote) data["linesOnOtherShards"] = new JsonArray([.. remote.Select(s => (JsonNode)s)]);
        }
        return data;
    }
}
