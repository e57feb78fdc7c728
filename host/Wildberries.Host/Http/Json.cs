using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Wildberries.Host.Http;

/// <summary>
/// Strict JSON: camelCase, unknown (and server-owned) fields rejected with their path, numbers only as numbers.
/// One reader for every request body, so every endpoint answers bad input the same way.
/// </summary>
public static class Json
{
    /// <summary>The default of <c>--body-bytes-max</c>, 64 KiB: a 100-line cart is about 5 KiB; anything far larger is a mistake or an attack.</summary>
    public const int BodyBytesMax = 64 * 1024;

    /// <summary>
    /// The serializer options of the API: <see cref="ApiJson"/>'s rules (declared once, on it), its generated code for
    /// the API's own bodies, and reflection for other types (a test's anonymous objects, the operator's output).
    /// </summary>
    public static readonly JsonSerializerOptions Options = new(ApiJson.Default.Options)
    {
        TypeInfoResolver = JsonTypeInfoResolver.Combine(ApiJson.Default, new DefaultJsonTypeInfoResolver()),
    };

    /// <summary>
    /// For JSON that third parties write (provider webhooks and responses): unknown fields are ignored, since
    /// providers add fields without notice; everything else as strict as our own API.
    /// </summary>
    public static readonly JsonSerializerOptions ThirdParty = new(Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip };

    /// <summary>The raw body, bounded; a problem when it is too large or not JSON.</summary>
    public static ValueTask<(byte[]? Body, IResult? Problem)> ReadBodyAsync(HttpRequest request, bool requireJson = true) =>
        ReadWholeAsync(request, requireJson, BodyBytesMaxOf(request), 0, static (body, _) => (body.ToArray(), (IResult?)null));

    /// <summary>
    /// Reads and parses a JSON body into <typeparamref name="T"/> straight from the request's pipe, without copying
    /// it into an array (a body in more than one of Kestrel's buffers is copied once, into a pooled one): the hot
    /// endpoints' reader. The same answers as <see cref="ReadBodyAsync"/> and <see cref="Parse{T}(byte[], JsonSerializerOptions?)"/>.
    /// </summary>
    public static ValueTask<(T? Value, IResult? Problem)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type)
        where T : class =>
        ReadWholeAsync(request, requireJson: true, BodyBytesMaxOf(request), type, static (body, t) => Parse(body, t));

    /// <summary>The same, with <c>--body-bytes-max</c> given (a hot endpoint that took it once, not from the request's services).</summary>
    public static ValueTask<(T? Value, IResult? Problem)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type, int bodyBytesMax)
        where T : class =>
        ReadWholeAsync(request, requireJson: true, bodyBytesMax, type, static (body, t) => Parse(body, t));

    /// <summary>
    /// The checkout's body: its common shape read by hand (<see cref="CheckoutJson"/>), anything else by the generated
    /// code (the same value, or the same 400 with the field); the same answers as <see cref="ReadAsync{T}(HttpRequest, JsonTypeInfo{T}, int)"/>.
    /// </summary>
    public static ValueTask<(CheckoutBody? Value, IResult? Problem)> ReadCheckoutAsync(HttpRequest request, int bodyBytesMax) =>
        ReadWholeAsync(request, requireJson: true, bodyBytesMax, 0, static (body, _) => ParseCheckout(body));

    private static (CheckoutBody? Value, IResult? Problem) ParseCheckout(in ReadOnlySequence<byte> body) =>
        body.IsSingleSegment && CheckoutJson.TryRead(body.FirstSpan, out var checkout) ? (checkout, null) : Parse(body, ApiJson.Default.CheckoutBody);

    // --body-bytes-max (ServerOptions.BodyBytesMax); the constant is its default.
    private static int BodyBytesMaxOf(HttpRequest request) => request.HttpContext.RequestServices.GetService<ServerOptions>()?.BodyBytesMax ?? BodyBytesMax;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_answer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>
    /// Writes <paramref name="value"/> as the response (status, <c>application/json</c>, its Content-Length) through the
    /// generated code, serialized first into a buffer of this thread that is reused: no writer, no result object and
    /// no chunked framing per answer. The bytes go into the response's pipe; Kestrel sends them as the request ends.
    /// </summary>
    public static void Write<T>(HttpResponse response, int status, T value, JsonTypeInfo<T> type)
    {
        ArgumentNullException.ThrowIfNull(response);
        var buffer = t_answer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        writer.Reset(buffer);
        JsonSerializer.Serialize(writer, value, type);
        writer.Flush();
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = buffer.WrittenCount;
        response.BodyWriter.Write(buffer.WrittenSpan);
        // A rare large answer does not keep its buffer on the thread.
        if (buffer.Capacity > 64 * 1024) t_answer = null;
    }

    /// <summary>
    /// The one body reader: the media type, <c>--body-bytes-max</c> (declared or counted; 413 either way), then
    /// <paramref name="finish"/> over the whole body while it is still in the request's pipe.
    /// </summary>
    private static async ValueTask<(TResult? Value, IResult? Problem)> ReadWholeAsync<TResult, TState>(
        HttpRequest request, bool requireJson, int max, TState state, Func<ReadOnlySequence<byte>, TState, (TResult?, IResult?)> finish)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (requireJson && !IsJson(request.ContentType)) return (default, UnsupportedMediaType);
        if (request.ContentLength > max) return (default, TooLarge(request, max));
        var reader = request.BodyReader;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await reader.ReadAsync(request.HttpContext.RequestAborted).ConfigureAwait(false);
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return (default, TooLarge(request, max));
            }
            catch (BadHttpRequestException ex)
            {
                // A body Kestrel cannot read (a bad chunk size, a body cut short): the client's fault, not its size.
                // Kestrel drops the connection after a bad body, so say so.
                request.HttpContext.Response.Headers.Connection = "close";
                return (default, Problems.Of(400, "bad_request", "The request body could not be read.", ex.Message));
            }
            var buffer = read.Buffer;
            if (buffer.Length > max)
            {
                reader.AdvanceTo(buffer.End);
                return (default, TooLarge(request, max));
            }
            if (!read.IsCompleted)
            {
                // Not all here yet: ask for more, keeping what came.
                reader.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }
            try
            {
                return finish(buffer, state);
            }
            finally
            {
                reader.AdvanceTo(buffer.End);
            }
        }
    }

    private static (T? Value, IResult? Problem) Parse<T>(in ReadOnlySequence<byte> body, JsonTypeInfo<T> type)
        where T : class
    {
        if (body.IsSingleSegment) return Parse(body.FirstSpan, type);
        var length = (int)body.Length;
        var copy = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            body.CopyTo(copy);
            return Parse(copy.AsSpan(0, length), type);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>Parses a body into <typeparamref name="T"/>; a 400 problem naming the field when it does not fit.</summary>
    public static (T? Value, IResult? Problem) Parse<T>(ReadOnlySpan<byte> body, JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            var value = JsonSerializer.Deserialize(body, type);
            return value is null ? (null, NotAnObject) : (value, null);
        }
        catch (JsonException ex)
        {
            return (null, Invalid(ex));
        }
    }

    /// <summary>Parses a body into <typeparamref name="T"/>; a 400 problem naming the field when it does not fit.</summary>
    public static (T? Value, IResult? Problem) Parse<T>(byte[] body, JsonSerializerOptions? options = null)
        where T : class
    {
        try
        {
            var value = JsonSerializer.Deserialize<T>(body, options ?? Options);
            return value is null ? (null, NotAnObject) : (value, null);
        }
        catch (JsonException ex)
        {
            return (null, Invalid(ex));
        }
    }

    private static IResult NotAnObject => Problems.Invalid("$", "The body must be a JSON object.");

    private static IResult UnsupportedMediaType => Problems.Of(415, "unsupported_media_type", "The body must be application/json.");

    private static IResult Invalid(JsonException ex)
    {
        var path = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "$" : ex.Path.StartsWith("$.", StringComparison.Ordinal) ? ex.Path[2..] : ex.Path;
        return Problems.Invalid(path, Describe(ex.Message));
    }

    private static IResult TooLarge(HttpRequest request, int max)
    {
        // The rest of the body is never read: close the connection after the answer, so the client does not send
        // its next request on a connection the server is about to drop.
        request.HttpContext.Response.Headers.Connection = "close";
        return Problems.Of(413, "body_too_large", $"The body is larger than {max} bytes.");
    }

    private static bool IsJson(string? contentType) =>
        contentType is not null && (contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) || contentType.Contains("+json", StringComparison.OrdinalIgnoreCase));

    // The serializer's own messages name .NET types; callers get our words instead.
    private static string Describe(string message) =>
        message.Contains("could not be mapped", StringComparison.Ordinal) ? "This field is not part of the request (prices, amounts and statuses are never accepted from clients)."
        : message.Contains("could not be converted", StringComparison.Ordinal) ? "The value has the wrong type or is out of range."
        : message.Contains("missing required properties", StringComparison.Ordinal) || message.Contains("required", StringComparison.OrdinalIgnoreCase) ? "A required field is missing."
        : "The body is not well-formed JSON.";
}
