using Microsoft.AspNetCore.Connections;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Wildberries.Host.Http;
using Wildberries.Host.Payments;
using Wildberries.Host.Security;

namespace Wildberries.Host;

/// <summary>Builds the reservation server: one way to start it, used by Program and by the tests.</summary>
public static partial class ServerApp
{
    // Every switch and WB_* variable comes from ServerOptions' [Switch] attributes (ServerSettings).
    private static readonly Dictionary<string, string> Switches = ServerSettings.SwitchMappings;

    private static readonly Dictionary<string, string> Environment = ServerSettings.EnvironmentMappings;

    /// <summary>Builds the application from command-line arguments (see <see cref="ServerOptions"/>).</summary>
    public static WebApplication Build(string[] args, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddJsonFile("appsettings.json", optional: true);
        var fromEnvironment = Environment
            .Select(e => (Key: $"{ServerOptions.Section}:{e.Value}", Value: System.Environment.GetEnvironmentVariable(e.Key)))
            .Where(e => e.Value is not null)
            .ToDictionary(e => e.Key, e => e.Value);
        builder.Configuration.AddInMemoryCollection(fromEnvironment);
        builder.Configuration.AddCommandLine(ExpandFlags(args), Switches);

        ServerOptions options;
        try
        {
            options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
        }
        catch (InvalidOperationException ex)
        {
            // A value of the wrong type ("--shards abc"): said as a configuration error, not a stack trace.
            throw new ArgumentException(ex.InnerException is null ? ex.Message : $"{ex.Message} {ex.InnerException.Message}", ex);
        }
        options.Validate();
        var tcp = new Protocol.ProtocolEndpoint();
        builder.Services.AddSingleton(tcp);
        if (options.TcpEndPoint is { } tcpEndPoint)
        {
            // Kestrel ignores UseUrls once any endpoint is listed by hand: every HTTP URL is listed too, first (the
            // first address is the public URL's default), then the binary protocol's.
            builder.WebHost.ConfigureKestrel(k =>
            {
                foreach (var url in options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) ListenHttp(k, BindingAddress.Parse(url));
                k.Listen(tcpEndPoint, l =>
                {
                    tcp.Listen = l;
                    l.UseConnectionHandler<Protocol.ProtocolHandler>();
                });
            });
        }
        else
        {
            builder.WebHost.UseUrls(options.Urls);
        }
        builder.WebHost.ConfigureKestrel(k =>
        {
            // The body limit is enforced while reading (413); Kestrel's own cap is a little above it as a backstop.
            k.Limits.MaxRequestBodySize = options.BodyBytesMax + 1024;
            k.AddServerHeader = false;
        });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        // ASP.NET Core makes an Activity and a log scope for every request whenever this category logs at all (even
        // at Critical, which it never uses): 0.5 KB and an ExecutionContext a request for "Request starting/finished"
        // lines the server never shows. Off; with traces exported (OTLP) the ActivitySource's listener still gets its
        // activities; Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics brings the lines back.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);

        var credentials = Credentials.Load(options);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(credentials);
        builder.Services.AddSingleton(time ?? TimeProvider.System);
        builder.Services.AddSingleton<EngineService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EngineService>());
        builder.Services.AddSingleton<Metrics>();
        Telemetry.Add(builder);
        // The order history reads the projected tables (any role of node may serve it, a standby too).
        if (options.Postgres is { } postgres) builder.Services.AddSingleton(_ => new Wildberries.Engine.Postgres.PostgresOrderHistory(postgres));
        builder.Services.AddSingleton<ServerOptionsAccessor>();
        if (options.PaymentProviderUrl is null)
        {
            builder.Services.AddSingleton(sp => new SandboxPaymentProvider(() => sp.GetRequiredService<ServerOptionsAccessor>().PublicUrl, credentials.WebhookSecrets[0]));
            builder.Services.AddSingleton<IPaymentProvider>(sp => sp.GetRequiredService<SandboxPaymentProvider>());
        }
        else
        {
            HttpPaymentProvider.AddClient(builder.Services, new Uri(options.PaymentProviderUrl.TrimEnd('/') + "/"));
            builder.Services.AddSingleton<IPaymentProvider>(sp => new HttpPaymentProvider(sp.GetRequiredService<IHttpClientFactory>(), options.PaymentProviderSecret!));
        }
        builder.Services.AddSingleton<CheckoutFlow>();
        builder.Services.AddHttpClient("sandbox", c => c.Timeout = TimeSpan.FromSeconds(10));
        // A standby's first start downloads every shard's snapshot from the primary: minutes for a big catalog.
        builder.Services.AddHttpClient("bootstrap", c => c.Timeout = TimeSpan.FromMinutes(30));
        // The API reads numbers only as numbers (Json.Options); the OpenAPI schemas say so only if the framework's options agree.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict);
        builder.Services.AddOpenApi(o => OpenApiContract.Configure(o, options));
        builder.Services.AddRateLimiter(r =>
        {
            // The keyed partitions are made once: nothing allocated per request to name a request's bucket.
            var storefrontPartition = RateLimitPartition.GetTokenBucketLimiter("storefront", _ => Bucket(options.RateLimitPerSecond, options.RateLimitPerSecond));
            var adminPartition = RateLimitPartition.GetTokenBucketLimiter("admin", _ => Bucket(options.RateLimitPerSecond, options.RateLimitPerSecond));
            r.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
            {
                // Keyed requests: one bucket per role. Everything else (no key, a wrong key, webhooks, the sandbox
                // page, probes): one bucket per client address, hashed into a fixed number of buckets so that
                // spoofed or rotating addresses cannot grow the table. Health probes are never limited.
                var role = credentials.Authenticate(http.Request.Headers.Authorization);
                if (role is not null) return role == Role.Admin ? adminPartition : storefrontPartition;
                if (http.Request.Path.StartsWithSegments("/health", StringComparison.Ordinal)) return RateLimitPartition.GetNoLimiter("probes");
                return RateLimitPartition.GetTokenBucketLimiter(AnonymousPartition(http), _ => Bucket(options.AnonymousRateLimitPerSecond, options.AnonymousBurstEffective));
            });
            r.OnRejected = async (context, cancellation) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await Problems.Of(429, "rate_limited", "Too many requests from this API key or client address.", $"Retry after {retryAfter} s.").ExecuteAsync(context.HttpContext).ConfigureAwait(false);
            };
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(30));
        // Under systemd (Type=notify): readiness and stopping notifications, journald-friendly logs; nothing elsewhere.
        builder.Services.AddSystemd();

        var app = builder.Build();
        app.Use((context, next) =>
        {
            // An endpoint that answers its own failures (the checkout) goes straight through, not awaited here.
            if (context.GetEndpoint()?.Metadata.GetMetadata<AnswersItsFailures>() is not null) return next(context);
            // A request already finished when the pipeline returns costs nothing more here; one still running is
            // awaited, so that its failure can be answered (AnswerFailureAsync).
            Task pending;
            try
            {
                pending = next(context);
            }
            catch (Exception ex)
            {
                pending = Task.FromException(ex);
            }
            return pending.IsCompletedSuccessfully ? Task.CompletedTask : AnswerFailureAsync(context, pending);
        });
        app.UseRateLimiter();
        Api.Map(app);
        Telemetry.MapMetrics(app, options);
        var openApi = app.MapOpenApi("/openapi/{documentName}.json");
        if (!options.OpenOperationalEndpoints) openApi.AddEndpointFilter(Api.RequireAnyKey);
        // The sandbox's routes exist only while it is the payment provider: with a real acquirer, /sandbox is a 404.
        if (options.PaymentProviderUrl is null) Sandbox.Map(app);
        app.MapFallback(() => Problems.Of(404, "not_found", "No such endpoint."));

        var dataDirectory = Path.GetFullPath(options.DataDirectory);
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Wildberries.Host");
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var accessor = app.Services.GetRequiredService<ServerOptionsAccessor>();
            LogListening(log, accessor.PublicUrl, dataDirectory);
            if (credentials.GeneratedFile is not null) LogKeys(log, credentials.GeneratedFile);
        });
        return app;
    }

    /// <summary>
    /// Waits for a request still running and answers the failures that have a problem document of their own
    /// (<see cref="FailureProblem"/>).
    /// </summary>
    private static async Task AnswerFailureAsync(HttpContext context, Task pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (FailureProblem(context, ex) is { } problem)
        {
            await problem.ExecuteAsync(context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The answer to a failure that has a problem document of its own, with the response cleared for it (a body that
    /// cannot be read: 413 or 400; an engine that cannot take the request: 503 with Retry-After), or null for any other
    /// failure, or once the response has started.
    /// </summary>
    internal static IResult? FailureProblem(HttpContext context, Exception exception)
    {
        if (context.Response.HasStarted) return null;
        if (exception is BadHttpRequestException ex)
        {
            context.Response.Clear();
            return Problems.Of(ex.StatusCode, ex.StatusCode == 413 ? "body_too_large" : "bad_request", "The request could not be read.", ex.Message);
        }
        // A standby, a fenced primary, Kafka not acknowledging, a dead journal or a stopping engine: nothing was
        // acknowledged; the code says which, the detail what to do.
        if (Problems.Unavailable(exception) is not { } unavailable) return null;
        context.Response.Clear();
        context.Response.Headers.RetryAfter = "1";
        return Problems.Of(unavailable);
    }

    /// <summary>
    /// Starts a built server, waits (up to <paramref name="readyTimeout"/>) until its engine has recovered, and returns
    /// the address Kestrel bound (with port 0, the one it picked): how tests and benchmarks run a server in-process.
    /// </summary>
    public static async Task<Uri> StartAsync(WebApplication app, TimeSpan readyTimeout)
    {
        ArgumentNullException.ThrowIfNull(app);
        await app.StartAsync().ConfigureAwait(false);
        await app.Services.GetRequiredService<EngineService>().Ready.WaitAsync(readyTimeout).ConfigureAwait(false);
        return new Uri(app.Services.GetRequiredService<ServerOptionsAccessor>().PublicUrl);
    }

    /// <summary>The binary protocol's bound address (with port 0, the one picked), or null without <c>--tcp</c>.</summary>
    public static Uri? TcpAddress(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<Protocol.ProtocolEndpoint>().Listen?.IPEndPoint is { } bound ? new Uri($"tcp://{bound}") : null;
    }

    private static void ListenHttp(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions kestrel, BindingAddress url)
    {
        if (url.Host is "localhost") kestrel.ListenLocalhost(url.Port);
        else if (url.Host is "*" or "+" || !System.Net.IPAddress.TryParse(url.Host.Trim('[', ']'), out var ip)) kestrel.ListenAnyIP(url.Port);
        else kestrel.Listen(ip, url.Port);
    }

    /// <summary>
    /// 4,096 buckets for requests without a valid key: bounded memory whatever the addresses, and few enough
    /// clients share one that a webhook sender is not starved by a stranger.
    /// </summary>
    private const int AnonymousPartitions = 4_096;

    private static string AnonymousPartition(HttpContext http)
    {
        var address = http.Connection.RemoteIpAddress;
        var bucket = address is null ? 0 : (int)((uint)address.GetHashCode() % AnonymousPartitions);
        return "anonymous-" + bucket.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static TokenBucketRateLimiterOptions Bucket(int perSecond, int burst) => new()
    {
        TokenLimit = burst,
        TokensPerPeriod = Math.Max(1, perSecond / 10),
        ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    /// <summary>Flags (<c>--demo</c>, <c>--accept-data-loss</c>, ...) may be given without a value.</summary>
    private static string[] ExpandFlags(string[] args)
    {
        var result = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            // A mistyped switch must stop the start: silently ignored, "--shardz 3" would run one shard. Configuration
            // paths (--Section:Key, such as --Logging:LogLevel:Default) go through as they are.
            var name = args[i].Split('=', 2)[0];
            if (name.StartsWith("--", StringComparison.Ordinal) && !name.Contains(':', StringComparison.Ordinal) && !Switches.ContainsKey(name))
            {
                throw new ArgumentException($"Unknown option {name}. Options: {string.Join(", ", Switches.Keys.Order(StringComparer.Ordinal))}, or a configuration path such as --Wildberries:KafkaSettings:NAME.");
            }
            var flag = ServerSettings.Flags.Contains(args[i]);
            var hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            result.Add(flag && !hasValue ? args[i] + "=true" : args[i]);
        }
        return [.. result];
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Wildberries reservation server listening on {Url}; data in {DataDirectory}")]
    private static partial void LogListening(ILogger logger, string url, string dataDirectory);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Generated API keys and the webhook secret into {File} (storefront, admin, webhook); set them with --storefront-key/--admin-key/--webhook-secret or WB_* variables to choose your own")]
    private static partial void LogKeys(ILogger logger, string file);
}
