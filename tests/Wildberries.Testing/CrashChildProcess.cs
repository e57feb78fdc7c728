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
    public static Task<List<string>> RunAndKillAsync(IEnumerable<string> arguments, Func<CancellationToken, Task> whileRunning, string label, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(whileRunning);
        return RunAndKillAsync(arguments, (_, c) => whileRunning(c), label, cancellation);
    }

    /// <summary>
    /// Runs the child, then kills it once <paramref name="whileRunning"/> is done, which may wait on the lines the
    /// child printed so far (a kill after so much acknowledged work, not after so many milliseconds); throws when it
    /// exits before it is ready.
    /// </summary>
    public static async Task<List<string>> RunAndKillAsync(IEnumerable<string> arguments, Func<ChildLines, CancellationToken, Task> whileRunning, string label, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(whileRunning);
        var acks = new ChildLines();
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
            else acks.Add(e.Data);
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
            await whileRunning(acks, cancellation).ConfigureAwait(false);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
        await exited.WaitAsync(TimeSpan.FromSeconds(30), cancellation).ConfigureAwait(false);
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false); // lines still in the pipe were acknowledged before the kill
        return acks.ToList();
    }

    /// <summary>The dotnet the tests run under (DOTNET_HOST_PATH), else the one on PATH.</summary>
    public static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}

/// <summary>The lines a running crash child has printed so far (after READY), safe to read while it prints more.</summary>
public sealed class ChildLines
{
    private readonly List<string> _lines = [];
    private readonly List<Waiter> _waiters = [];

    internal void Add(string line)
    {
        lock (_lines)
        {
            _lines.Add(line);
            // Woken as the line arrives (not at the next poll): a kill after the Nth acknowledgement lands right after it.
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var waiter = _waiters[i];
                if (!line.StartsWith(waiter.Prefix, StringComparison.Ordinal) || --waiter.Missing > 0) continue;
                waiter.Reached.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// Completes as the line that makes <paramref name="count"/> lines starting with <paramref name="prefix"/> is read
    /// (at once if there are that many); a <see cref="TimeoutException"/> after <paramref name="deadline"/>.
    /// </summary>
    public async Task WhenCountAsync(string prefix, int count, TimeSpan deadline, CancellationToken cancellation)
    {
        var waiter = new Waiter(prefix);
        lock (_lines)
        {
            waiter.Missing = count - CountLocked(prefix);
            if (waiter.Missing <= 0) return;
            _waiters.Add(waiter);
        }
        try
        {
            await waiter.Reached.Task.WaitAsync(deadline, cancellation).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Still not after {deadline.TotalSeconds:F0} s: {count} lines '{prefix}...' from the child (it printed {Count(prefix)})");
        }
    }

    /// <summary>How many lines so far start with <paramref name="prefix"/>.</summary>
    public int Count(string prefix)
    {
        lock (_lines) return CountLocked(prefix);
    }

    /// <summary>Whether some line so far meets <paramref name="condition"/>.</summary>
    public bool Any(Func<string, bool> condition)
    {
        lock (_lines) return _lines.Any(condition);
    }

    /// <summary>Waits until at least <paramref name="count"/> lines start with <paramref name="prefix"/>; a <see cref="TimeoutException"/> after <paramref name="deadline"/>.</summary>
    public Task UntilAsync(string prefix, int count, TimeSpan deadline, CancellationToken cancellation) =>
        Eventually.UntilAsync(() => Count(prefix) >= count, deadline, () => $"{count} lines '{prefix}...' from the child (it printed {Count(prefix)})", cancellation);

    internal List<string> ToList()
    {
        lock (_lines) return [.. _lines];
    }

    private int CountLocked(string prefix) => _lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>One <see cref="WhenCountAsync"/>: how many more matching lines it waits for.</summary>
    private sealed class Waiter(string prefix)
    {
        public string Prefix { get; } = prefix;

        public int Missing { get; set; }

        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
