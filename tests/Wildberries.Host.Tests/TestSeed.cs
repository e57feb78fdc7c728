using System.Globalization;
using System.Runtime.CompilerServices;

namespace Wildberries.Host.Tests;

/// <summary>
/// The seed of a randomized test: read from <c>variable</c> to replay a run, else picked afresh; either way written
/// to the test output with the command that replays it.
/// </summary>
internal static class TestSeed
{
    public static int Get(ITestOutputHelper output, string variable, [CallerMemberName] string test = "")
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var given)
            ? given
            : Environment.TickCount & int.MaxValue;
        output.WriteLine($"seed {seed} (replay: {variable}={seed} dotnet test -c Release --project tests/Wildberries.Host.Tests -- --filter-method '*{test}')");
        return seed;
    }
}
