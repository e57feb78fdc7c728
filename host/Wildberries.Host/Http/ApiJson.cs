using System.Text.Json;
using System.Text.Json.Serialization;

namespace Wildberries.Host.Http;

/// <summary>
/// The API's bodies, serialized by code the System.Text.Json source generator writes at build time (no reflection, and
/// the fast path that writes straight to the response), and the API's JSON rules, declared here once: camelCase,
/// unknown (and server-owned) fields and fields given twice rejected with their path, numbers only as numbers, nulls left out, no comments or
/// trailing commas, 16 levels at most. <see cref="Json.Options"/> copies these rules and resolves these types through
/// it first, so every endpoint answers with the same code; the hot endpoints (checkout, catalog reads, problem
/// documents) use its type information directly.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    MaxDepth = 16,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    AllowDuplicateProperties = false)]
[JsonSerializable(typeof(CheckoutBody))]
[JsonSerializable(typeof(OrderBody))]
[JsonSerializable(typeof(OrderPageBody))]
[JsonSerializable(typeof(Problem))]
[JsonSerializable(typeof(PaymentCallbackBody))]
[JsonSerializable(typeof(PaymentCallbackResultBody))]
[JsonSerializable(typeof(ItemBody))]
[JsonSerializable(typeof(ItemSavedBody))]
[JsonSerializable(typeof(StockBatchBody))]
[JsonSerializable(typeof(StockBatchResultBody))]
[JsonSerializable(typeof(ReadyBody))]
[JsonSerializable(typeof(LiveBody))]
[JsonSerializable(typeof(ReplicationBody[]))]
[JsonSerializable(typeof(CatalogItemBody))]
[JsonSerializable(typeof(AvailabilityBody))]
[JsonSerializable(typeof(CatalogPageBody))]
[JsonSerializable(typeof(SnapshotsTakenBody))]
public sealed partial class ApiJson : JsonSerializerContext;
