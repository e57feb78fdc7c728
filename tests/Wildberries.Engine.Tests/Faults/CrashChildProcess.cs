using System.Diagnostics;

namespace Wildberries.Engine.Tests.Faults;

/// <summary>
/// One run of the crash child (tests/Wildberries.CrashChild): started with its arguments, left to work until it says
/// READY and then for a while, killed with SIGKILL (no chance to flush or clean up), and every line it printed before
/// the kill returned: each one an acknowledgement it had received.
/// </summary>
internal static class CrashChildProcess
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, "Wildberries.CrashChild.dll");

    public static async Task<List<string>> RunAndKillAsync(IEnumerable<string> arguments, TimeSpan workFor, string label, CancellationToken cancellation)
    {
        var acks = new List<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process
        {
            StartInfo = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false },
        };
        process.StartInfo.ArgumentList.Add(Program);
        foreach (var argument in arguments) process.StartInfo.ArgumentList.Add(argument);
        var errors = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            if (e.Data == "READY") ready.TrySetResult();
            else lock (acks) acks.Add(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (errors) errors.AppendLine(e.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync(cancellation);
        var first = await Task.WhenAny(ready.Task, exited).WaitAsync(TimeSpan.FromSeconds(60), cancellation);
        Assert.True(first == ready.Task, $"{label}: the child exited before it was ready: {errors}");

        await Task.Delay(workFor, cancellation);
        process.Kill();
        await exited.WaitAsync(TimeSpan.FromSeconds(30), cancellation);
        process.WaitForExit(); // lines still in the pipe were acknowledged before the kill: read them all
        lock (acks) return [.. acks];
    }
}
