using System.Diagnostics;

namespace Wildberries.Testing;

/// <summary>
/// One run of the crash child (tests/Wildberries.CrashChild, copied beside the tests that use it): started with its
/// arguments, left to work from the moment it says READY while <c>whileRunning</c> runs (a delay, faults injected),
/// then killed with SIGKILL (no chance to flush or clean up); every line it printed before the kill is returned, each
/// one an acknowledgement it had received.
/// </summary>
public static class CrashChildProcess
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, "Wildberries.CrashChild.dll");

    /// <summary>Runs the child, then kills it; throws when it exits before it is ready.</summary>
    public static async Task<List<string>> RunAndKillAsync(IEnumerable<string> arguments, Func<CancellationToken, Task> whileRunning, string label, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(whileRunning);
        var acks = new List<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process
        {
            StartInfo = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false },
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
        try
        {
            var first = await Task.WhenAny(ready.Task, exited).WaitAsync(TimeSpan.FromSeconds(60), cancellation).ConfigureAwait(false);
            if (first != ready.Task) throw new InvalidOperationException($"{label}: the child exited before it was ready: {errors}");
            await whileRunning(cancellation).ConfigureAwait(false);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
        await exited.WaitAsync(TimeSpan.FromSeconds(30), cancellation).ConfigureAwait(false);
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false); // lines still in the pipe were acknowledged before the kill
        lock (acks) return [.. acks];
    }

    /// <summary>The dotnet the tests run under (DOTNET_HOST_PATH), else the one on PATH.</summary>
    public static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
