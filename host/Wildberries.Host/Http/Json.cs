using System.Text.Json;
using System.Text.Json.Serialization;

namespace Wildberries.Host.Http;

/// <summary>
/// Strict JSON: camelCase, unknown (and server-owned) fields rejected with their path, numbers only as numbers.
/// One reader for every request body, so every endpoint answers bad input the same way.
/// </summary>
public static class Json
{
    /// <summary>The default of <c>--body-bytes-max</c>, 64 KiB: a 100-line cart is about 5 KiB; anything far larger is a mistake or an attack.</summary>
    public const int BodyBytesMax = 64 * 1024;

    /// <summary>The serializer options of the API.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        AllowTrailingCommas = false,
        ReadCommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 16,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>
    /// For JSON that third parties write (provider webhooks and responses): unknown fields are ignored, since
    /// providers add fields without notice; everything else as strict as our own API.
    /// </summary>
    public static readonly JsonSerializerOptions ThirdParty = new(Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip };

    /// <summary>The raw body, bounded; a problem when it is too large or not JSON.</summary>
    public static async Task<(byte[]? Body, IResult? Problem)> ReadBodyAsync(HttpRequest request, bool requireJson = true)
    {
        if (requireJson && !IsJson(request.ContentType))
        {
            return (null, Problems.Of(415, "unsupported_media_type", "The body must be application/json."));
        }
        // --body-bytes-max (ServerOptions.BodyBytesMax); this constant is its default.
        var max = request.HttpContext.RequestServices.GetService<ServerOptions>()?.BodyBytesMax ?? BodyBytesMax;
        if (request.ContentLength > max) return (null, TooLarge(max));
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(8192);
        try
        {
            using var buffer = new MemoryStream();
            while (true)
            {
                int read;
                try
                {
                    read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted).ConfigureAwait(false);
                }
                catch (BadHttpRequestException)
                {
                    return (null, TooLarge(max));
                }
                if (read == 0) break;
                if (buffer.Length + read > max) return (null, TooLarge(max));
                buffer.Write(chunk, 0, read);
            }
            return (buffer.ToArray(), null);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Parses a body into <typeparamref name="T"/>; a 400 problem naming the field when it does not fit.</summary>
    public static (T? Value, IResult? Problem) Parse<T>(byte[] body, JsonSerializerOptions? options = null)
        where T : class
    {
        try
        {
            var value = JsonSerializer.Deserialize<T>(body, options ?? Options);
            return value is null ? (null, Problems.Invalid("$", "The body must be a JSON object.")) : (value, null);
        }
        catch (JsonException ex)
        {
            var path = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "$" : ex.Path.StartsWith("$.", StringComparison.Ordinal) ? ex.Path[2..] : ex.Path;
            return (null, Problems.Invalid(path, Describe(ex.Message)));
        }
    }

    private static IResult TooLarge(int max) => Problems.Of(413, "body_too_large", $"The body is larger than {max} bytes.");

    private static bool IsJson(string? contentType) =>
        contentType is not null && (contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) || contentType.Contains("+json", StringComparison.OrdinalIgnoreCase));

    // The serializer's own messages name .NET types; callers get our words instead.
    private static string Describe(string message) =>
        message.Contains("could not be mapped", StringComparison.Ordinal) ? "This field is not part of the request (prices, amounts and statuses are never accepted from clients)."
        : message.Contains("could not be converted", StringComparison.Ordinal) ? "The value has the wrong type or is out of range."
        : message.Contains("missing required properties", StringComparison.Ordinal) || message.Contains("required", StringComparison.OrdinalIgnoreCase) ? "A required field is missing."
        : "The body is not well-formed JSON.";
}
