using System.Globalization;
using System.Reflection;

namespace Wildberries.Host;

/// <summary>
/// The command-line switch of a <see cref="ServerOptions"/> setting and its help text (what it is, why its default):
/// the one place the switch, its <c>WB_*</c> environment variable and <c>--help</c> come from.
/// </summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class SwitchAttribute(string name, string help) : Attribute
{
    /// <summary>The switch, such as <c>--shards</c>.</summary>
    public string Name { get; } = name;

    /// <summary>What the setting does and why its default is what it is.</summary>
    public string Help { get; } = help;

    /// <summary>The value's placeholder in the help, such as <c>N</c> or <c>DIR</c> (none for a flag).</summary>
    public string? Value { get; init; }

    /// <summary>Whether a <c>WB_*</c> environment variable sets it too (default yes).</summary>
    public bool Environment { get; init; } = true;
}

/// <summary>One server setting: its property, switch, environment variable, default and help.</summary>
public sealed record ServerSetting(PropertyInfo Property, SwitchAttribute Switch)
{
    /// <summary>The configuration key, such as <c>Wildberries:Shards</c>.</summary>
    public string ConfigurationKey => $"{ServerOptions.Section}:{Property.Name}";

    /// <summary>The environment variable: <c>WB_</c> and the switch in capitals (<c>--kafka-bootstrap</c>: <c>WB_KAFKA_BOOTSTRAP</c>), or null.</summary>
    public string? EnvironmentVariable => Switch.Environment ? "WB_" + Switch.Name[2..].Replace('-', '_').ToUpperInvariant() : null;

    /// <summary>Whether the setting is an on/off flag (may be given without a value).</summary>
    public bool IsFlag => Property.PropertyType == typeof(bool);

    /// <summary>The default as the help prints it, or null when unset by default.</summary>
    public string? Default => Property.GetValue(ServerSettings.Defaults) switch
    {
        null => null,
        bool b => b ? "on" : "off",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        System.Collections.ICollection { Count: 0 } => null,
        var v => v.ToString(),
    };
}

/// <summary>Every server setting with a switch, found on <see cref="ServerOptions"/> by its <see cref="SwitchAttribute"/>.</summary>
public static class ServerSettings
{
    /// <summary>A <see cref="ServerOptions"/> as nothing configured it: where the defaults come from.</summary>
    internal static readonly ServerOptions Defaults = new();

    /// <summary>The settings, in declaration order.</summary>
    public static IReadOnlyList<ServerSetting> All { get; } =
        [.. typeof(ServerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<SwitchAttribute>() is not null)
            .Select(p => new ServerSetting(p, p.GetCustomAttribute<SwitchAttribute>()!))];

    /// <summary>
    /// <c>--kafka-setting NAME=VALUE</c>: one librdkafka setting, the same as the configuration path
    /// <c>--Wildberries:KafkaSettings:NAME=VALUE</c>.
    /// </summary>
    public const string KafkaSettingSwitch = "--kafka-setting";

    /// <summary>Switch to configuration key, for the command-line configuration source (dictionary-valued settings excluded).</summary>
    internal static Dictionary<string, string> SwitchMappings { get; } =
        All.Where(s => s.Switch.Name != KafkaSettingSwitch).ToDictionary(s => s.Switch.Name, s => s.ConfigurationKey, StringComparer.Ordinal);

    /// <summary>Environment variable to the property under <see cref="ServerOptions.Section"/>.</summary>
    internal static Dictionary<string, string> EnvironmentMappings { get; } =
        All.Where(s => s.EnvironmentVariable is not null).ToDictionary(s => s.EnvironmentVariable!, s => s.Property.Name, StringComparer.Ordinal);

    /// <summary>The switches that are flags: <c>--demo</c> means <c>--demo true</c>.</summary>
    internal static HashSet<string> Flags { get; } = [.. All.Where(s => s.IsFlag).Select(s => s.Switch.Name)];
}
