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

    /// <summary>The structured-mode JSON bytes of a CloudEvent.</summary>
    public static byte[] Encode(CloudEvent cloudEvent) => Formatter.EncodeStructuredModeMessage(cloudEvent, out _).ToArray();

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
