using System.CommandLine;
using System.CommandLine.Parsing;
using Wildberries.Engine;
using Wildberries.Host.Import;
using Wildberries.Host.Operator;

namespace Wildberries.Host;

/// <summary>
/// The operator's command line (System.CommandLine): the root command is the server, one option per
/// <see cref="ServerOptions"/> setting (<see cref="ServerSettings"/>), documented with its default in <c>--help</c>;
/// beside it <c>import</c>, <c>verify</c>, <c>inspect</c>, <c>backup</c> and <c>snapshot</c>. A switch that is not
/// known, a value of the wrong type or a missing required option is refused before anything starts, with exit code 2
/// and the close matches. The switches the operator gave are then handed, as they are, to the configuration binding
/// (<see cref="ServerApp.Build"/>), so appsettings.json &lt; WB_* variables &lt; the command line still holds.
/// </summary>
public static class HostCommandLine
{
    /// <summary>The command line is wrong (or a setting is out of range): nothing started.</summary>
    public const int ExitUsage = 2;

    /// <summary>The default server address of the <c>snapshot</c> command: the server's own default listen URL.</summary>
    public const string SnapshotUrlDefault = "http://127.0.0.1:8080";

    private static readonly string[] Subcommands = ["import", "verify", "inspect", "backup", "snapshot"];

    /// <summary>
    /// Parses <paramref name="args"/> and runs the command; returns the exit code. <paramref name="server"/> starts the
    /// server with the normalized switches (the tests replace it; by default <see cref="ServerApp.Build"/> and run).
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string[], CancellationToken, Task<int>>? server = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        // Configuration paths (--Logging:LogLevel:Default Warning, --Wildberries:KafkaSettings:NAME=VALUE) are not
        // switches: they go to the configuration binding as they are, after a check of the server's own section.
        var (tokens, paths, refused) = args.Length > 0 && Subcommands.Contains(args[0]) ? (args, [], null) : SplitConfigurationPaths(args);
        if (refused is not null)
        {
            await error.WriteLineAsync(refused).ConfigureAwait(false);
            return ExitUsage;
        }
        var root = Create(output, error, paths, server ?? ((a, c) => RunServerAsync(a, error, c)));
        var parsed = root.Parse(tokens);
        var invocation = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            // The host drains on SIGTERM and Ctrl+C itself (30 s); System.CommandLine would kill it after 2 s.
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        };
        if (parsed.Errors.Count > 0)
        {
            // The parse error action prints each error and, for an unknown switch, the close matches ("Did you mean");
            // the whole help would bury them, so the list of valid options follows instead. All of it on standard error.
            if (parsed.Action is System.CommandLine.Invocation.ParseErrorAction action) action.ShowHelp = false;
            await parsed.InvokeAsync(new InvocationConfiguration { Output = error, Error = error }, cancellation).ConfigureAwait(false);
            var command = parsed.CommandResult.Command;
            await error.WriteLineAsync($"Valid options of {(command is RootCommand ? "the server" : command.Name)}: {string.Join(", ", command.Options.Where(o => !o.Hidden).Select(o => o.Name))}; see --help.").ConfigureAwait(false);
            return ExitUsage;
        }
        return await parsed.InvokeAsync(invocation, cancellation).ConfigureAwait(false);
    }

    /// <summary>The command tree (for help and for tests): the server and its subcommands.</summary>
    public static RootCommand Create(TextWriter output, TextWriter error, IReadOnlyList<string> configurationPaths, Func<string[], CancellationToken, Task<int>> server)
    {
        ArgumentNullException.ThrowIfNull(configurationPaths);
        ArgumentNullException.ThrowIfNull(server);
        var root = new RootCommand(
            "The Wildberries reservation server. Settings come from appsettings.json, then WB_* environment variables, then these " +
            "switches; configuration paths such as --Logging:LogLevel:Default=Warning or --Wildberries:KafkaSettings:NAME=VALUE are passed on as they are.");
        var options = ServerSettings.All.Select(s => (Setting: s, Option: ServerOption(s))).ToList();
        foreach (var (_, option) in options) root.Options.Add(option);
        root.SetAction((parsed, cancellation) => server([.. ServerArguments(parsed, options), .. configurationPaths], cancellation));
        root.Subcommands.Add(ImportCommand(output, error));
        root.Subcommands.Add(VerifyCommand(output, error));
        root.Subcommands.Add(InspectCommand(output, error));
        root.Subcommands.Add(BackupCommand(output, error));
        root.Subcommands.Add(SnapshotCommand(output, error));
        return root;
    }

    private static async Task<int> RunServerAsync(string[] args, TextWriter error, CancellationToken cancellation)
    {
        WebApplication app;
        try
        {
            app = ServerApp.Build(args);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"Invalid configuration: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        // Until SIGTERM or Ctrl+C (the host drains then), or the caller's cancellation.
        await HostingAbstractionsHostExtensions.RunAsync(app, cancellation).ConfigureAwait(false);
        return 0;
    }

    /// <summary>The option of a setting: typed as its property, its default and WB_* variable in the help.</summary>
    private static Option ServerOption(ServerSetting setting)
    {
        var type = Nullable.GetUnderlyingType(setting.Property.PropertyType) ?? setting.Property.PropertyType;
        var help = setting.Switch.Help + (setting.EnvironmentVariable is { } variable ? $" (env {variable})" : "");
        var current = setting.Property.GetValue(ServerSettings.Defaults);
        Option option = type == typeof(int) ? Typed(setting.Switch.Name, help, (int?)current)
            : type == typeof(long) ? Typed(setting.Switch.Name, help, (long?)current)
            : type == typeof(bool) ? Typed(setting.Switch.Name, help, (bool?)current)
            : type == typeof(string) ? new Option<string>(setting.Switch.Name) { Description = help, DefaultValueFactory = current is string s ? _ => s : null }
            : new Option<string[]>(setting.Switch.Name) { Description = help, Validators = { KafkaSettingFormat } };
        option.HelpName = setting.Switch.Value;
        return option;
    }

    private static Option<T> Typed<T>(string name, string help, T? current)
        where T : struct => new(name) { Description = help, DefaultValueFactory = current is { } value ? _ => value : null };

    private static void KafkaSettingFormat(OptionResult result)
    {
        foreach (var token in result.Tokens)
        {
            if (token.Value.IndexOf('=', StringComparison.Ordinal) < 1) result.AddError($"{ServerSettings.KafkaSettingSwitch} takes NAME=VALUE (for example security.protocol=SASL_SSL), not '{token.Value}'.");
        }
    }

    /// <summary>
    /// The switches the operator gave, as <c>--name=value</c> for the configuration binding (a flag without a value
    /// is <c>true</c>); options left at their defaults are not passed, so appsettings.json and WB_* still apply.
    /// </summary>
    private static List<string> ServerArguments(ParseResult parsed, List<(ServerSetting Setting, Option Option)> options)
    {
        var result = new List<string>();
        foreach (var (setting, option) in options)
        {
            if (parsed.GetResult(option) is not { Implicit: false } given) continue;
            if (setting.Switch.Name == ServerSettings.KafkaSettingSwitch)
            {
                result.AddRange(given.Tokens.Select(t => $"--{setting.ConfigurationKey}:{t.Value}"));
                continue;
            }
            var value = given.Tokens.Count == 0 ? "true" : given.Tokens[^1].Value;
            result.Add($"{setting.Switch.Name}={value}");
        }
        return result;
    }

    /// <summary>
    /// Takes the configuration paths (<c>--Section:Key=value</c> or <c>--Section:Key value</c>) out of the server's
    /// command line. A path into the server's own section must name one of its settings (<c>--Wildberries:Shardz</c>
    /// would otherwise be ignored); other sections (Logging, Kestrel) are the framework's.
    /// </summary>
    private static (string[] Tokens, string[] Paths, string? Refused) SplitConfigurationPaths(string[] args)
    {
        var tokens = new List<string>();
        var paths = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i].Split('=', 2)[0];
            if (!name.StartsWith("--", StringComparison.Ordinal) || !name.Contains(':', StringComparison.Ordinal))
            {
                tokens.Add(args[i]);
                continue;
            }
            var segments = name[2..].Split(':');
            if (string.Equals(segments[0], ServerOptions.Section, StringComparison.OrdinalIgnoreCase)
                && !ServerSettings.All.Any(s => string.Equals(s.Property.Name, segments[1], StringComparison.OrdinalIgnoreCase)))
            {
                return ([], [], $"Unknown configuration path {name}: the settings of {ServerOptions.Section} are {string.Join(", ", ServerSettings.All.Select(s => s.Property.Name))}; see --help.");
            }
            paths.Add(args[i]);
            if (!args[i].Contains('=', StringComparison.Ordinal))
            {
                if (i + 1 >= args.Length) return ([], [], $"The configuration path {name} needs a value: {name}=VALUE.");
                paths.Add(args[++i]);
            }
        }
        return ([.. tokens], [.. paths], null);
    }

    private static Option<string> Required(string name, string help, string value) => new(name) { Description = help, Required = true, HelpName = value };

    /// <summary>The given options of a subcommand as <c>--name value</c> (a flag alone when on), for its runner's own parser.</summary>
    private static List<string> Forward(ParseResult parsed)
    {
        var result = new List<string> { parsed.CommandResult.Command.Name };
        foreach (var option in parsed.CommandResult.Command.Options)
        {
            if (parsed.GetResult(option) is not { Implicit: false } given) continue;
            if (option is Option<bool> flag)
            {
                if (parsed.GetValue(flag)) result.Add(option.Name);
                continue;
            }
            result.Add(option.Name);
            result.Add(given.Tokens[^1].Value);
        }
        return result;
    }

    private static Command ImportCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("import", "Load catalog items and stock from a CSV into a data directory, offline (the server must not run on it; docs/import.md). Exit 0 done, 1 bad rows (nothing imported), 2 usage, 3 cannot open, 4 incomplete.")
        {
            Required("--csv", "The CSV to load: header sku,name,price,max_per_order,warehouse_id,on_hand.", "FILE"),
            new Option<string>("--data") { Description = "The server's data directory.", DefaultValueFactory = _ => ServerSettings.Defaults.DataDirectory, HelpName = "DIR" },
            new Option<int>("--shards") { Description = $"The shard count the directory was created with, 1 to {EngineOptions.ShardCountMax}.", DefaultValueFactory = _ => 1, HelpName = "N" },
            new Option<int>("--batch") { Description = $"Commands in flight at once, 1 to {CatalogImport.InFlightMax}: several group commits' worth.", DefaultValueFactory = _ => CatalogImport.InFlightDefault, HelpName = "N" },
            new Option<bool>("--skip-bad-rows") { Description = "Import the good rows and report the bad ones, instead of refusing the file." },
        };
        command.SetAction(async (parsed, _) =>
        {
            using var stop = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                // The first Ctrl+C stops submitting and reports how far the import got; a second one kills the process.
                if (stop.IsCancellationRequested) return;
                e.Cancel = true;
                stop.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                return await CatalogImport.RunAsync([.. Forward(parsed)], output, error, progressBar: ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected, cancellation: stop.Token).ConfigureAwait(false);
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        });
        return command;
    }

    private static Command VerifyCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("verify", "Check a stopped server's data directory offline: every snapshot, every journal entry's checksum and contiguity, the commit mark; prints each shard's last log sequence number and state hash. Writes nothing. Exit 0 whole, 1 damaged.")
        {
            Required("--data", "The data directory.", "DIR"),
        };
        command.SetAction(parsed => OperatorCommands.Run([.. Forward(parsed)], output, error));
        return command;
    }

    private static Command InspectCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("inspect", "Print a stopped server's journal entries as JSON lines. Writes nothing.")
        {
            Required("--data", "The data directory.", "DIR"),
            new Option<int>("--shard") { Description = "The shard.", DefaultValueFactory = _ => 0, HelpName = "N" },
            new Option<long>("--from") { Description = "Entries after this log sequence number (0: from the first kept).", DefaultValueFactory = _ => 0, HelpName = "LSN" },
            new Option<int>("--count") { Description = "At most this many entries: a screenful piped through jq.", DefaultValueFactory = _ => OperatorCommands.InspectCountDefault, HelpName = "N" },
        };
        command.SetAction(parsed => OperatorCommands.Run([.. Forward(parsed)], output, error));
        return command;
    }

    private static Command BackupCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("backup", "OFFLINE: copy a stopped server's data directory (or a stopped standby's) into a new directory, then verify the copy. Refused (exit 3) while a server runs on it; to snapshot a running server use `snapshot`. Restore: docs/operations.md. Exit 0 copied and whole, 1 damaged, 2 usage, 3 in use.")
        {
            Required("--data", "The data directory to copy.", "DIR"),
            Required("--to", "A new (or empty) directory for the copy.", "DIR"),
        };
        command.SetAction(parsed => OperatorCommands.Run([.. Forward(parsed)], output, error));
        return command;
    }

    private static Command SnapshotCommand(TextWriter output, TextWriter error)
    {
        var url = new Option<string>("--url") { Description = "The running server.", DefaultValueFactory = _ => SnapshotUrlDefault, HelpName = "URL" };
        var key = new Option<string>("--admin-key") { Description = "The admin API key (env WB_ADMIN_KEY; better there than on the command line).", HelpName = "KEY" };
        var command = new Command("snapshot", "Ask a running server to take a snapshot of every shard now (POST /v1/admin/snapshot); prints each shard's log sequence number, state hash and file. Exit 0 taken, 1 refused or unreachable, 2 usage.")
        {
            url,
            key,
        };
        command.SetAction(async (parsed, cancellation) =>
        {
            var adminKey = parsed.GetValue(key) ?? Environment.GetEnvironmentVariable("WB_ADMIN_KEY");
            if (string.IsNullOrEmpty(adminKey))
            {
                await error.WriteLineAsync("snapshot: give the admin key with --admin-key KEY or WB_ADMIN_KEY.").ConfigureAwait(false);
                return ExitUsage;
            }
            if (!Uri.TryCreate(parsed.GetValue(url), UriKind.Absolute, out var server) || server.Scheme is not ("http" or "https"))
            {
                await error.WriteLineAsync("snapshot: --url must be the server's absolute http(s) URL.").ConfigureAwait(false);
                return ExitUsage;
            }
            return await SnapshotClient.TakeAsync(server, adminKey, output, error, cancellation).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The subcommands' names, in the order the help lists them.</summary>
    public static IReadOnlyList<string> SubcommandNames => Subcommands;
}
