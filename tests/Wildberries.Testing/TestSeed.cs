using System.Globalization;
using System.Runtime.CompilerServices;

namespace Wildberries.Testing;

/// <summary>
/// The seed of a randomized test: read from <c>variable</c> to replay a run, else picked afresh; either way written
/// (to the test's output) with the command that replays it.
/// </summary>
public static class TestSeed
{
    public static int Get(Action<string> writeLine, string variable, [CallerMemberName] string test = "", [CallerFilePath] string file = "")
    {
        ArgumentNullException.ThrowIfNull(writeLine);
        var seed = int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var given)
            ? given
            : Environment.TickCount & int.MaxValue;
        writeLine($"seed {seed} (replay: {variable}={seed} dotnet test -c Release --project tests/{Project(file)} -- --filter-method '*{test}')");
        return seed;
    }

    /// <summary>The test project a source file is in: the folder under <c>tests/</c>.</summary>
    private static string Project(string file)
    {
        var parts = file.Split('/', '\\');
        var tests = Array.LastIndexOf(parts, "tests");
        return tests >= 0 && tests + 1 < parts.Length - 1 ? parts[tests + 1] : Path.GetFileName(Path.GetDirectoryName(file)) ?? "";
    }
}
