using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Wildberries.Host.Operator;

namespace Wildberries.Host.Tests;

/// <summary>
/// The operator's command line: every setting is a documented switch, a wrong switch stops the start with exit 2 and
/// the close match, each limit given on the command line reaches the engine, and the subcommands explain themselves.
/// </summary>
public partial class CommandLineTests
{
    private sealed record Outcome(int Code, string Output, string Error, string[]? ServerArgs);

    /// <summary>Runs the command line; the server, when asked for, is not started: its arguments are kept.</summary>
    private static async Task<Outcome> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[]? serverArgs = null;
        var code = await HostCommandLine.RunAsync(args, output, error, (a, _) =>
        {
            serverArgs = a;
            return Task.FromResult(0);
        }, TestContext.Current.CancellationToken);
        return new Outcome(code, output.ToString(), error.ToString(), serverArgs);
    }

    // The help wraps long lines to the terminal: compared with runs of white space as one space.
    private static string OneLine(string text) => Spaces().Replace(text, " ");

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [Fact]
    public async Task Help_lists_every_setting_with_its_switch_variable_and_default()
    {
        var help = await RunAsync("--help");
        Assert.Equal(0, help.Code);
        Assert.Null(help.ServerArgs);
        var text = OneLine(help.Output);
        // Every setting an operator can configure, found on ServerOptions itself: a new one without a switch fails here.
        var settable = typeof(ServerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToList();
        Assert.True(settable.Count >= 36, $"only {settable.Count} settings found");
        foreach (var property in settable)
        {
            var setting = ServerSettings.All.SingleOrDefault(s => s.Property.Name == property.Name);
            Assert.True(setting is not null, $"ServerOptions.{property.Name} has no [Switch]: it cannot be set from the command line or listed in --help");
            Assert.Contains($" {setting.Switch.Name} ", text, StringComparison.Ordinal);
            Assert.Contains(setting.Switch.Help, text, StringComparison.Ordinal);
            if (setting.EnvironmentVariable is { } variable) Assert.Contains($"(env {variable})", text, StringComparison.Ordinal);
            if (setting.Default is { } value && !setting.IsFlag) Assert.Contains($"{setting.Switch.Help} (env {setting.EnvironmentVariable}) [default: {value}]", text, StringComparison.Ordinal);
        }
        // The defaults printed are the ones the server runs with.
        Assert.Contains("--lines-per-checkout-max <N> ", text, StringComparison.Ordinal);
        Assert.Contains("(env WB_LINES_PER_CHECKOUT_MAX) [default: 100]", text, StringComparison.Ordinal);
        Assert.Contains("(env WB_SHARDS) [default: 1]", text, StringComparison.Ordinal);
        foreach (var command in HostCommandLine.SubcommandNames) Assert.Contains($" {command} ", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--typo-flag", "1", null)]
    [InlineData("--shrads", "2", "--shards")]
    [InlineData("--reservation-ttl-minute", "5", "--reservation-ttl-minutes")]
    public async Task An_unknown_or_misspelled_switch_is_refused_with_exit_2_the_close_match_and_the_valid_ones(string name, string value, string? match)
    {
        var run = await RunAsync("--data", "unused", name, value);
        Assert.Equal(HostCommandLine.ExitUsage, run.Code);
        Assert.Null(run.ServerArgs); // nothing started
        Assert.Contains($"'{name}'", run.Error, StringComparison.Ordinal);
        if (match is not null) Assert.Contains($"'{name}' was not matched. Did you mean one of the following?{Environment.NewLine}{match}", run.Error, StringComparison.Ordinal);
        Assert.Contains("Valid options of the server: ", run.Error, StringComparison.Ordinal);
        foreach (var setting in ServerSettings.All) Assert.Matches($" {Regex.Escape(setting.Switch.Name)}[,;]", run.Error);
    }

    [Fact]
    public async Task A_wrong_value_type_or_an_unknown_path_into_the_server_section_is_refused_with_exit_2()
    {
        var wrongType = await RunAsync("--shards", "abc");
        Assert.Equal((2, null), (wrongType.Code, wrongType.ServerArgs));
        Assert.Contains("'abc'", wrongType.Error, StringComparison.Ordinal);
        Assert.Contains("'--shards'", wrongType.Error, StringComparison.Ordinal);

        var path = await RunAsync("--Wildberries:Shardz=2");
        Assert.Equal((2, null), (path.Code, path.ServerArgs));
        Assert.Contains("--Wildberries:Shardz", path.Error, StringComparison.Ordinal);

        var kafka = await RunAsync("--kafka-setting", "security.protocol");
        Assert.Equal((2, null), (kafka.Code, kafka.ServerArgs));
        Assert.Contains("NAME=VALUE", kafka.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_readme_command_and_the_switches_in_use_reach_the_configuration_as_given()
    {
        var demo = await RunAsync("--demo");
        Assert.Equal(0, demo.Code);
        Assert.Equal(["--demo=true"], demo.ServerArgs!);

        // What the tests, the failover nodes and the docs pass: flags, values, --name=value, configuration paths in
        // both forms, and librdkafka settings. Only what was given goes on, so WB_* and appsettings.json still apply.
        var run = await RunAsync("--data", "d", "--urls=http://127.0.0.1:0", "--accept-data-loss", "--open-operational-endpoints", "false",
            "--Logging:LogLevel:Default", "Warning", "--Wildberries:KafkaSettings:linger.ms=5", "--kafka-setting", "security.protocol=SASL_SSL",
            "--kafka-bootstrap", "k:9092", "--replication", "local", "--role", "standby", "--tcp", "tcp://127.0.0.1:0", "--postgres", "Host=h;Database=d");
        Assert.Equal(0, run.Code);
        Assert.Equal(
            [
                "--data=d", "--urls=http://127.0.0.1:0", "--kafka-bootstrap=k:9092", "--postgres=Host=h;Database=d",
                "--Wildberries:KafkaSettings:security.protocol=SASL_SSL", "--role=standby", "--replication=local", "--accept-data-loss=true",
                "--open-operational-endpoints=false", "--tcp=tcp://127.0.0.1:0",
                "--Logging:LogLevel:Default", "Warning", "--Wildberries:KafkaSettings:linger.ms=5",
            ],
            run.ServerArgs!);
        // Bound as the server binds them (the same switch mappings; these arguments need no flag expansion).
        var options = new ConfigurationBuilder().AddCommandLine(run.ServerArgs!, ServerSettings.SwitchMappings).Build()
            .GetSection(ServerOptions.Section).Get<ServerOptions>()!;
        Assert.Equal(("d", "standby", "local", true, false), (options.DataDirectory, options.Role, options.Replication, options.AcceptDataLoss, options.OpenOperationalEndpoints));
        Assert.Equal(new Dictionary<string, string> { ["security.protocol"] = "SASL_SSL", ["linger.ms"] = "5" }, options.KafkaSettings);
    }

    [Fact]
    public async Task Each_limit_given_on_the_command_line_reaches_the_engine_and_the_api()
    {
        var run = await RunAsync(
            "--lines-per-checkout-max", "2", "--quantity-per-line-max", "50", "--max-per-order-default", "7", "--idempotency-key-length-max", "64",
            "--body-bytes-max", "2048", "--availability-skus-max", "3", "--on-hand-max", "1000", "--price-max", "100000", "--reservation-ttl-minutes", "3");
        Assert.Equal(0, run.Code);
        await using var server = await TestServer.StartAsync(run.ServerArgs!);
        var limits = server.Engine.Options.StateMachine;
        Assert.Equal((2, 50, 7, 64, 1000L, 100_000L, 180_000L),
            (limits.LinesPerCheckoutMax, limits.QuantityPerLineMax, limits.MaxPerOrderDefault, limits.IdempotencyKeyLengthMax, limits.OnHandMax, limits.PriceMax, limits.ReservationTtlMs));

        foreach (var sku in new long[] { 1, 2, 3 }) await server.SeedAsync(sku, 100, (1, 20));
        // A cart of 3 lines is refused by the lower limit, with its problem code and field; 2 lines pass.
        var three = await server.CheckoutAsync("k-3", new { customerId = "c", lines = new[] { new { sku = 1L, qty = 1 }, new { sku = 2L, qty = 1 }, new { sku = 3L, qty = 1 } } });
        await AssertProblemAsync(three, HttpStatusCode.BadRequest, "invalid_argument", "lines");
        var two = await server.CheckoutAsync("k-2", new { customerId = "c", lines = new[] { new { sku = 1L, qty = 1 }, new { sku = 2L, qty = 1 } } });
        Assert.Equal(HttpStatusCode.Created, two.StatusCode);
        // A key longer than 64 characters, a price above the maximum, a stock row above the maximum.
        await AssertProblemAsync(await server.CheckoutAsync(new string('k', 65), new { customerId = "c", lines = new[] { new { sku = 1L, qty = 1 } } }), HttpStatusCode.BadRequest, "invalid_argument", "Idempotency-Key");
        await AssertProblemAsync(await server.Admin.PutAsync("/v1/admin/items/9", TestServer.JsonBody(new { name = "dear", price = 100_001 })), HttpStatusCode.BadRequest, "out_of_range", "price");
        var stock = await server.Admin.PostAsync("/v1/admin/stock", TestServer.JsonBody(new { reason = "t", adjustments = new[] { new { sku = 1L, warehouseId = 1, onHand = 1001L } } }));
        Assert.Contains("out_of_range", await stock.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        // The HTTP layer's limits: 4 SKUs per availability query, a body over 2 KiB.
        await AssertProblemAsync(await server.Storefront.GetAsync(new Uri("/v1/catalog/availability?skus=1,2,3,4", UriKind.Relative)), HttpStatusCode.BadRequest, "invalid_argument", "skus");
        Assert.Equal(HttpStatusCode.OK, (await server.Storefront.GetAsync(new Uri("/v1/catalog/availability?skus=1,2,3", UriKind.Relative))).StatusCode);
        var big = await server.CheckoutAsync("k-big", new { customerId = new string('c', 3000), lines = new[] { new { sku = 1L, qty = 1 } } });
        await AssertProblemAsync(big, HttpStatusCode.RequestEntityTooLarge, "body_too_large", null);
    }

    [Theory]
    [InlineData("--lines-per-checkout-max", "0", "LinesPerCheckoutMax")]
    [InlineData("--max-per-order-default", "20000", "MaxPerOrderDefault")]
    [InlineData("--idempotency-key-length-max", "8", "IdempotencyKeyLengthMax")]
    [InlineData("--body-bytes-max", "10", "BodyBytesMax")]
    [InlineData("--availability-skus-max", "1001", "AvailabilitySkusMax")]
    [InlineData("--price-max", "0", "PriceMax")]
    public async Task A_limit_out_of_range_stops_the_start_with_exit_2_naming_the_setting(string name, string value, string property)
    {
        var data = Path.Combine(Path.GetTempPath(), $"wb-cli-{Guid.NewGuid():N}");
        using var output = new StringWriter();
        using var error = new StringWriter();
        // The real server path: built, validated, refused before anything is created or listened on (a server that
        // starts anyway is stopped after a while, and the test fails on its exit code).
        using var started = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        started.CancelAfter(TimeSpan.FromSeconds(30));
        var code = await HostCommandLine.RunAsync(["--data", data, "--urls", "http://127.0.0.1:0", name, value], output, error, cancellation: started.Token);
        var created = Directory.Exists(data);
        if (created) Directory.Delete(data, recursive: true);
        Assert.Equal(HostCommandLine.ExitUsage, code);
        Assert.Contains($"Invalid configuration: Wildberries:{property} ({name})", error.ToString(), StringComparison.Ordinal);
        Assert.False(created);
    }

    [Theory]
    [InlineData("import", "--csv <FILE> (REQUIRED)", "[default: 10000]")]
    [InlineData("verify", "--data <DIR> (REQUIRED)", "Exit 0 whole, 1 damaged")]
    [InlineData("inspect", "--from <LSN>", "[default: 1000]")]
    [InlineData("backup", "--to <DIR> (REQUIRED)", "OFFLINE")]
    [InlineData("snapshot", "--admin-key <KEY>", "[default: http://127.0.0.1:8080]")]
    public async Task Each_subcommand_explains_itself_and_refuses_a_misspelled_option_with_exit_2(string command, string option, string detail)
    {
        var help = await RunAsync(command, "--help");
        Assert.Equal(0, help.Code);
        var text = OneLine(help.Output);
        Assert.Contains($" {command} [options]", text, StringComparison.Ordinal);
        Assert.Contains(option, text, StringComparison.Ordinal);
        Assert.Contains(detail, text, StringComparison.Ordinal);

        var typo = await RunAsync(command, "--dta", "x");
        Assert.Equal(HostCommandLine.ExitUsage, typo.Code);
        Assert.Contains($"Valid options of {command}: ", typo.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Snapshot_takes_one_of_every_shard_on_a_running_server()
    {
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(1, 100, (1, 5));
        var (lsn, hash) = await server.Engine.GetAppliedStateAsync(0);
        var taken = await RunAsync("snapshot", "--url", server.Address.ToString(), "--admin-key", TestServer.AdminKey);
        Assert.Equal(0, taken.Code);
        var lines = taken.Output.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(server.Engine.ShardCount, lines.Length);
        Assert.StartsWith(string.Create(CultureInfo.InvariantCulture, $"shard 0: snapshot at log sequence number {lsn}, state hash {hash:x16}, "), lines[0], StringComparison.Ordinal);
        Assert.True(File.Exists(lines[0].Split(", ")[^1]));

        // The endpoint answers every shard as JSON, and only to the admin role.
        var answer = await server.Admin.PostAsync(new Uri("/v1/admin/snapshot", UriKind.Relative), null, TestContext.Current.CancellationToken);
        var json = await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(answer.StatusCode == HttpStatusCode.OK, json);
        using var body = JsonDocument.Parse(json);
        Assert.Equal(server.Engine.ShardCount, body.RootElement.GetProperty("snapshots").GetArrayLength());
        Assert.Equal(HttpStatusCode.Forbidden, (await server.Storefront.PostAsync(new Uri("/v1/admin/snapshot", UriKind.Relative), null, TestContext.Current.CancellationToken)).StatusCode);
        var refused = await RunAsync("snapshot", "--url", server.Address.ToString(), "--admin-key", TestServer.StorefrontKey);
        Assert.Equal(1, refused.Code);
        Assert.Contains("403", refused.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backup_is_refused_while_a_server_runs_on_the_directory_and_copies_nothing()
    {
        await using var server = await TestServer.StartAsync();
        var to = Path.Combine(Path.GetTempPath(), $"wb-cli-backup-{Guid.NewGuid():N}");
        var run = await RunAsync("backup", "--data", server.Data, "--to", to);
        Assert.Equal(OperatorCommands.ExitInUse, run.Code);
        Assert.Contains("a server runs on", run.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(to));
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? field)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {text}");
        using var problem = JsonDocument.Parse(text);
        Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
        if (field is not null) Assert.Equal(field, problem.RootElement.GetProperty("field").GetString());
    }
}
