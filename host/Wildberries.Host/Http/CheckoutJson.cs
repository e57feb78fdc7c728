using System.Text.Json;

namespace Wildberries.Host.Http;

/// <summary>
/// The checkout body's common shape read by hand with a <see cref="Utf8JsonReader"/>: <c>{"customerId": "...",
/// "lines": [{"sku": N, "qty": N}, ...]}</c>, each name once, in any order, as the API spells it. Anything else (other
/// or differently cased names, a field twice, a number that is no integer of its type, a null, warehouses, a payment
/// method, more than <see cref="LinesMax"/> lines, malformed JSON) is not read here: the caller parses the body with the
/// generated code, which accepts it the same way or answers with the field's path. So this only ever accepts what the
/// generated code accepts, with the same result (<c>CheckoutJsonTests</c> hold both to that), without the serializer's
/// per-call state (its frame stack, constructor argument state and required-property bits: about 0.85 KB a checkout).
/// </summary>
internal static class CheckoutJson
{
    /// <summary>Lines read here at most (a bigger cart goes the general way).</summary>
    public const int LinesMax = 32;

    private static readonly JsonReaderOptions Options = new() { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 16 };

    /// <summary>The body as <see cref="ApiJson"/>'s code would read it, or false when it is not of the common shape.</summary>
    public static bool TryRead(ReadOnlySpan<byte> body, out CheckoutBody? checkout)
    {
        checkout = null;
        try
        {
            return TryReadCore(body, out checkout);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Malformed (or a string that is no valid UTF-8): the general reader says where.
            return false;
        }
    }

    private static bool TryReadCore(ReadOnlySpan<byte> body, out CheckoutBody? checkout)
    {
        checkout = null;
        var reader = new Utf8JsonReader(body, Options);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
        string? customerId = null;
        Span<long> skus = stackalloc long[LinesMax];
        Span<int> quantities = stackalloc int[LinesMax];
        var count = -1;
        while (true)
        {
            if (!reader.Read()) return false;
            if (reader.TokenType == JsonTokenType.EndObject) break;
            if (reader.TokenType != JsonTokenType.PropertyName) return false;
            if (reader.ValueTextEquals("customerId"u8))
            {
                if (customerId is not null || !reader.Read() || reader.TokenType != JsonTokenType.String) return false;
                customerId = reader.GetString();
            }
            else if (reader.ValueTextEquals("lines"u8))
            {
                if (count >= 0 || !reader.Read() || reader.TokenType != JsonTokenType.StartArray) return false;
                count = 0;
                while (true)
                {
                    if (!reader.Read()) return false;
                    if (reader.TokenType == JsonTokenType.EndArray) break;
                    if (reader.TokenType != JsonTokenType.StartObject || count == LinesMax || !TryReadLine(ref reader, out skus[count], out quantities[count])) return false;
                    count++;
                }
            }
            else
            {
                return false;
            }
        }
        // Both required; nothing after the object but whitespace.
        if (customerId is null || count < 0 || reader.Read()) return false;
        var lines = new CheckoutLineBody[count];
        for (var i = 0; i < count; i++) lines[i] = new CheckoutLineBody(skus[i], quantities[i]);
        checkout = new CheckoutBody(customerId, lines);
        return true;
    }

    private static bool TryReadLine(ref Utf8JsonReader reader, out long sku, out int qty)
    {
        sku = 0;
        qty = 0;
        bool hasSku = false, hasQty = false;
        while (true)
        {
            if (!reader.Read()) return false;
            if (reader.TokenType == JsonTokenType.EndObject) return hasSku && hasQty;
            if (reader.TokenType != JsonTokenType.PropertyName) return false;
            if (reader.ValueTextEquals("sku"u8))
            {
                if (hasSku || !reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out sku)) return false;
                hasSku = true;
            }
            else if (reader.ValueTextEquals("qty"u8))
            {
                if (hasQty || !reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out qty)) return false;
                hasQty = true;
            }
            else
            {
                return false;
            }
        }
    }
}
