namespace Wildberries.Testing;

/// <summary>
/// Waiting for a condition instead of for a fixed time: polled every few milliseconds until it holds or a deadline
/// passes, so a test is neither flaky on a slow machine nor slow on a fast one.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(10);

    /// <summary>True as soon as <paramref name="condition"/> holds; false when it still does not after <paramref name="deadline"/>.</summary>
    public static async Task<bool> TryUntilAsync(Func<Task<bool>> condition, TimeSpan deadline, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (true)
        {
            if (await condition().ConfigureAwait(false)) return true;
            if (System.Diagnostics.Stopwatch.GetElapsedTime(started) > deadline) return false;
            await Task.Delay(Every, cancellation).ConfigureAwait(false);
        }
    }

    /// <inheritdoc cref="TryUntilAsync(Func{Task{bool}}, TimeSpan, CancellationToken)"/>
    public static Task<bool> TryUntilAsync(Func<bool> condition, TimeSpan deadline, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return TryUntilAsync(() => Task.FromResult(condition()), deadline, cancellation);
    }

    /// <summary>Returns as soon as <paramref name="condition"/> holds; throws <see cref="TimeoutException"/> naming <paramref name="what"/> after <paramref name="deadline"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan deadline, Func<string> what, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(what);
        if (!await TryUntilAsync(condition, deadline, cancellation).ConfigureAwait(false))
        {
            throw new TimeoutException($"Still not after {deadline.TotalSeconds:F0} s: {what()}");
        }
    }
}
