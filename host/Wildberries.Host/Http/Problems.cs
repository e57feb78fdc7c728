using Wildberries.Core;

namespace Wildberries.Host.Http;

/// <summary>An RFC 9457 problem document with a stable <c>code</c> and, for validation, the field path.</summary>
public sealed record Problem(string Type, string Title, int Status, string Code, string? Detail = null, string? Field = null, IReadOnlyList<ShortageBody>? Shortages = null);

/// <summary>A short line of an insufficient-stock answer.</summary>
public sealed record ShortageBody(long Sku, int Requested, long Available);

/// <summary>The one factory of problem documents: every error the API returns goes through here.</summary>
public static class Problems
{
    /// <summary>The media type of problem documents.</summary>
    public const string ContentType = "application/problem+json";

    /// <summary>A problem with the given status and stable code.</summary>
    public static IResult Of(int status, string code, string title, string? detail = null, string? field = null, IReadOnlyList<ShortageBody>? shortages = null) =>
        Of(Describe(status, code, title, detail, field, shortages));

    /// <summary>The HTTP answer for a problem described by <see cref="Describe(CommandResult)"/> or its siblings.</summary>
    public static IResult Of(Problem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return Results.Json(problem, ApiJson.Default.Problem, ContentType, problem.Status);
    }

    /// <summary>A problem with the given status and stable code, as a value (the binary protocol sends the same fields).</summary>
    public static Problem Describe(int status, string code, string title, string? detail = null, string? field = null, IReadOnlyList<ShortageBody>? shortages = null) =>
        new($"urn:wildberries:problem:{code}", title, status, code, detail, field, shortages);

    /// <summary>400 with the path of the offending field, as a value.</summary>
    public static Problem DescribeInvalid(string field, string detail) => Describe(400, "invalid_argument", "A field is missing, malformed or out of range.", detail, field);

    /// <summary>400 with the path of the offending field.</summary>
    public static IResult Invalid(string field, string detail) => Of(400, "invalid_argument", "A field is missing, malformed or out of range.", detail, field);

    /// <summary>The HTTP answer for a business result that is not a success.</summary>
    public static IResult FromResult(CommandResult r) => Of(Describe(r));

    /// <summary>The problem for a business result that is not a success: one mapping for HTTP and the binary protocol.</summary>
    public static Problem Describe(CommandResult r)
    {
        var p = Wildberries.Engine.Embedded.ResultProblems.Describe(r);
        ShortageBody[]? shortages = null;
        if (p.Shortages is { } shorts)
        {
            shortages = new ShortageBody[shorts.Count];
            for (var i = 0; i < shortages.Length; i++) shortages[i] = new ShortageBody(shorts[i].Sku, shorts[i].Requested, shorts[i].Available);
        }
        return Describe(p.Status, p.Code, p.Title, p.Detail, p.Field, shortages);
    }

    /// <summary>
    /// The 503 for an engine that cannot take the request (a standby, a fenced primary, Kafka not acknowledging, a
    /// dead journal, a stopping engine), or null for any other exception: one mapping for HTTP and the binary protocol.
    /// </summary>
    public static Problem? Unavailable(Exception exception) => exception switch
    {
        Wildberries.Engine.ShardUnavailableException ex => Describe(503, ex.Code, ex.Reason switch
        {
            Wildberries.Engine.Replication.WriteRefusal.Standby => "This node is a standby: it takes no writes.",
            Wildberries.Engine.Replication.WriteRefusal.Fenced => "This node was fenced by a newer primary: it takes no writes.",
            Wildberries.Engine.Replication.WriteRefusal.Stopped => "This standby stopped applying the primary's log.",
            _ => "Kafka did not acknowledge in time: the write is not acknowledged. Retry with the same Idempotency-Key.",
        }, ex.Message),
        Wildberries.Engine.EngineFaultedException or ObjectDisposedException =>
            Describe(503, "engine_unavailable", "The reservation engine is stopped or stopping; nothing was done.", exception.Message),
        _ => null,
    };
}
