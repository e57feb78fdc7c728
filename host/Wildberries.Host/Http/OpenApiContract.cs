using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Wildberries.Host.Http;

/// <summary>Who may call an endpoint: the OpenAPI document's security requirement and <c>x-roles</c> come from this.</summary>
public enum ApiAccess
{
    /// <summary>No credentials: health probes, the sandbox payment page (and metrics with open operational endpoints).</summary>
    Anonymous,

    /// <summary>An API key of the storefront role.</summary>
    Storefront,

    /// <summary>An API key of the admin role.</summary>
    Admin,

    /// <summary>An API key of either role (the operational endpoints).</summary>
    AnyKey,

    /// <summary>A body signed by the payment provider with a webhook secret (<c>Webhook-Signature</c>).</summary>
    ProviderSigned,
}

/// <summary>Endpoint metadata: the access an endpoint needs (the last one given wins, so an endpoint can override its group).</summary>
public sealed record ApiAccessMetadata(ApiAccess Access);

/// <summary>Endpoint metadata: a request header or query parameter the handler reads itself (so the binder cannot describe it).</summary>
public sealed record ApiParameterMetadata(string Name, ParameterLocation In, string Description, bool Required);

/// <summary>Endpoint metadata: the JSON body the handler reads itself (not <c>Accepts</c>, which routing would enforce before the handler's own 415).</summary>
public sealed record ApiRequestBodyMetadata(Type Type);

/// <summary>
/// The OpenAPI contract's conventions: the bearer and webhook-signature security schemes, each operation's required
/// role, its problem answers as the <see cref="Problem"/> schema, and tag descriptions. Redocly's recommended
/// rules pass on the result (<c>OpenApiContractTests</c>).
/// </summary>
public static class OpenApiContract
{
    /// <summary>The bearer API key scheme (both roles present their key this way).</summary>
    public const string BearerScheme = "bearer";

    /// <summary>The payment provider's signature scheme.</summary>
    public const string WebhookScheme = "webhookSignature";

    /// <summary>The <c>x-roles</c> extension: the roles an operation accepts, in words a generator can carry into code.</summary>
    public const string RolesExtension = "x-roles";

    /// <summary>Every tag with what it groups.</summary>
    public static readonly IReadOnlyDictionary<string, string> Tags = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["Checkout"] = "Reserve stock and open a payment session, idempotent on the Idempotency-Key header.",
        ["Orders"] = "A customer's orders: read, list, cancel.",
        ["Catalog"] = "Items, prices and live availability.",
        ["Admin"] = "Catalog and stock maintenance, shipping, replication and failover (admin key).",
        ["Payments"] = "Webhooks from the payment provider, signed with the webhook secret.",
        ["Health"] = "Liveness and readiness probes: no key, never rate limited.",
        ["Operations"] = "Operational endpoints for monitoring.",
        ["Sandbox"] = "The built-in sandbox payment page (only while no real payment provider is configured).",
    };

    // The scheme each access is checked with (none for anonymous) and the roles it accepts.
    private static readonly Dictionary<ApiAccess, (string? Scheme, string[] Roles)> Access = new()
    {
        [ApiAccess.Storefront] = (BearerScheme, ["storefront"]),
        [ApiAccess.Admin] = (BearerScheme, ["admin"]),
        [ApiAccess.AnyKey] = (BearerScheme, ["storefront", "admin"]),
        [ApiAccess.ProviderSigned] = (WebhookScheme, ["provider-signed webhook"]),
        [ApiAccess.Anonymous] = (null, ["anonymous"]),
    };

    // What a problem answer of each status means, with examples of its stable codes (the document's response descriptions).
    private static readonly Dictionary<string, string> ProblemDescriptions = new(StringComparer.Ordinal)
    {
        ["400"] = "A field is missing, malformed or out of range (`invalid_argument`, `out_of_range`); `field` names it.",
        ["401"] = "No valid credential: `unauthorized` (API key) or `bad_signature` (webhook signature missing, stale or wrong).",
        ["403"] = "`forbidden`: the API key is of the other role.",
        ["404"] = "Not found, for example `order_not_found`, `unknown_sku`, `shard_not_found`, `unknown_session`.",
        ["409"] = "Conflicts with the current state, for example `insufficient_stock` (with `shortages`), `invalid_state`, `on_hand_mismatch`, `not_standby`, `fenced`, `no_snapshots`.",
        ["415"] = "`unsupported_media_type`: the body must be application/json.",
        ["422"] = "Well-formed but refused, for example `idempotency_key_reused`, `unknown_sku`, `sku_inactive`, `over_max_per_order`, `duplicate_sku`, `amount_mismatch`, `currency_mismatch`.",
        ["429"] = "`rate_limited`: too many requests from this API key or client address; retry after the Retry-After header's seconds.",
        ["503"] = "Nothing was done; retry. For example `not_ready` (recovering), `payment_provider_unavailable` (stock released), a standby or fenced node, `engine_unavailable`, `history_unavailable`.",
    };

    /// <summary>Marks the access an endpoint (or a group's endpoints) needs.</summary>
    public static TBuilder RequiresAccess<TBuilder>(this TBuilder builder, ApiAccess access)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiAccessMetadata(access));

    /// <summary>Declares the problem documents (<see cref="Problem"/>, <c>application/problem+json</c>) an endpoint can answer.</summary>
    public static TBuilder ProducesProblems<TBuilder>(this TBuilder builder, params int[] statuses)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(statuses);
        foreach (var status in statuses) builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(Problem), [Problems.ContentType]));
        return builder;
    }

    /// <summary>Declares the JSON request body the handler reads itself.</summary>
    public static RouteHandlerBuilder WithJsonBody<TBody>(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new ApiRequestBodyMetadata(typeof(TBody)));

    /// <summary>Declares a request header the handler reads itself.</summary>
    public static TBuilder WithHeader<TBuilder>(this TBuilder builder, string name, string description, bool required = true)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiParameterMetadata(name, ParameterLocation.Header, description, required));

    /// <summary>Declares a query parameter the handler reads itself.</summary>
    public static TBuilder WithQuery<TBuilder>(this TBuilder builder, string name, string description)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiParameterMetadata(name, ParameterLocation.Query, description, Required: false));

    /// <summary>Adds the document's and every operation's conventions.</summary>
    public static void Configure(OpenApiOptions options, ServerOptions server)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(server);
        // The configured body limit, not its default.
        var problemDescriptions = new Dictionary<string, string>(ProblemDescriptions, StringComparer.Ordinal)
        {
            ["413"] = $"`body_too_large`: the body is larger than {server.BodyBytesMax} bytes (--body-bytes-max, default {Json.BodyBytesMax}).",
        };
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new()
            {
                Title = "Wildberries reservation engine",
                Version = "v1",
                Description = "Checkout, payment callback, orders, catalog and admin APIs. Errors are RFC 9457 problem documents "
                    + "(application/problem+json) with a stable `code` and, for validation, the offending `field`. "
                    + "Every operation names the role it needs in its security requirement and in `x-roles`.",
            };
            // The server's own address, without the trailing slash (paths start with one).
            foreach (var server in document.Servers ?? []) server.Url = server.Url?.TrimEnd('/');
            document.Components ??= new();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>(StringComparer.Ordinal);
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "API key",
                Description = "An API key: `Authorization: Bearer <key>`. The storefront key may call the storefront endpoints, the admin key the admin ones; "
                    + "each operation lists the role it needs (as the scope of this requirement and in `x-roles`). A wrong key is 401, a key of the other role 403.",
            };
            document.Components.SecuritySchemes[WebhookScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = "Webhook-Signature",
                Description = "The payment provider's signature of the body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under a webhook secret>`. Stale or wrong: 401.",
            };
            document.Tags = new HashSet<OpenApiTag>(Tags.Select(t => new OpenApiTag { Name = t.Key, Description = t.Value }));
            return Task.CompletedTask;
        });
        options.AddOperationTransformer(async (operation, context, cancellation) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<ApiRequestBodyMetadata>().LastOrDefault() is { } body)
            {
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal)
                    {
                        ["application/json"] = new() { Schema = await NamedSchemaAsync(body.Type, context, cancellation).ConfigureAwait(false) },
                    },
                };
            }
            foreach (var p in metadata.OfType<ApiParameterMetadata>())
            {
                operation.Parameters ??= [];
                // A parameter the handler binds itself (and the framework listed) only gets the description.
                if (operation.Parameters.OfType<OpenApiParameter>().FirstOrDefault(o => o.Name == p.Name && o.In == p.In) is { } bound)
                {
                    bound.Description = p.Description;
                    continue;
                }
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = p.Name,
                    In = p.In,
                    Description = p.Description,
                    Required = p.Required,
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                });
            }
            foreach (var (status, response) in operation.Responses ?? [])
            {
                if (response is OpenApiResponse r && r.Content?.ContainsKey(Problems.ContentType) == true && problemDescriptions.TryGetValue(status, out var text)) r.Description = text;
            }
            // No access declared: the operation gets no security entry, and the contract test names it.
            if (metadata.OfType<ApiAccessMetadata>().LastOrDefault() is not { } access) return;
            var (scheme, roles) = Access[access.Access];
            // Anonymous: an empty list, which says "no credentials" (absent would mean "not declared").
            operation.Security = [];
            if (scheme == BearerScheme)
            {
                // OpenAPI 3.1 lets a non-OAuth requirement list the roles it needs; either role's key: two alternatives.
                foreach (var role in roles)
                {
                    operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, context.Document)] = [role] });
                }
            }
            else if (scheme is not null)
            {
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, context.Document)] = [] });
            }
            operation.Extensions ??= new Dictionary<string, IOpenApiExtension>(StringComparer.Ordinal);
            operation.Extensions[RolesExtension] = new JsonNodeExtension(new JsonArray([.. roles.Select(r => (JsonNode)r)]));
            var needs = "Access: " + string.Join(" or ", roles) + ".";
            operation.Description = string.IsNullOrEmpty(operation.Description) ? needs : operation.Description + "\n\n" + needs;
        });
    }

    /// <summary>
    /// A request body's schema as a reference to a component named after its record, and so for the records it holds:
    /// what the generator does by itself for response types (the schema service alone would inline them).
    /// </summary>
    private static async Task<IOpenApiSchema> NamedSchemaAsync(Type type, OpenApiOperationTransformerContext context, CancellationToken cancellation)
    {
        var element = type.IsArray ? type.GetElementType()! : type;
        if (!IsContract(element)) return await context.GetOrCreateSchemaAsync(type, null, cancellation).ConfigureAwait(false);
        if (context.Document!.Components?.Schemas?.ContainsKey(element.Name) != true)
        {
            var schema = (OpenApiSchema)await context.GetOrCreateSchemaAsync(element, null, cancellation).ConfigureAwait(false);
            context.Document.AddComponent(element.Name, schema); // before its properties: a record that holds itself ends here
            foreach (var property in element.GetProperties())
            {
                var name = Json.Options.PropertyNamingPolicy!.ConvertName(property.Name);
                var inner = property.PropertyType.IsArray ? property.PropertyType.GetElementType()! : property.PropertyType;
                if (IsContract(inner) && schema.Properties?.ContainsKey(name) == true)
                {
                    schema.Properties[name] = await NamedSchemaAsync(property.PropertyType, context, cancellation).ConfigureAwait(false);
                }
            }
        }
        var reference = new OpenApiSchemaReference(element.Name, context.Document);
        return type.IsArray ? new OpenApiSchema { Type = JsonSchemaType.Array, Items = reference } : reference;
    }

    private static bool IsContract(Type type) => type.IsClass && type.Namespace == typeof(CheckoutBody).Namespace;
}
