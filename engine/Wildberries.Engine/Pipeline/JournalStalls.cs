using System.Collections.Concurrent;
using System.Diagnostics;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// A diagnostic: each call on the journal path that took longer than <see cref="ThresholdMs"/> (an append, which
/// may turn a FASTER page; a commit; a device write; a new segment file with its directory fsync), with when it
/// ended. Costs two timestamp reads per call; keeps the last <see cref="Capacity"/> stalls of the process. The
/// durable benchmark prints them beside each open-loop window to tell the engine's stalls from the machine's.
/// </summary>
internal static class JournalStalls
{
    /// <summary>5 ms: a commit on a healthy disk is well under a millisecond.</summary>
    public const double ThresholdMs = 5;

    /// <summary>The newest stalls kept.</summary>
    public const int Capacity = 256;

    private static readonly long ThresholdTicks = (long)(ThresholdMs * Stopwatch.Frequency / 1000);
    private static readonly ConcurrentQueue<(long EndedTicks, string What, double Ms)> Recorded = new();

    /// <summary>Records the call <paramref name="what"/> that started at <paramref name="startedTicks"/> if it was slow.</summary>
    public static void Observe(string what, long startedTicks)
    {
        var now = Stopwatch.GetTimestamp();
        if (now - startedTicks < ThresholdTicks) return;
        Recorded.Enqueue((now, what, (now - startedTicks) * 1000.0 / Stopwatch.Frequency));
        while (Recorded.Count > Capacity) Recorded.TryDequeue(out _);
    }

    /// <summary>The stalls that ended at or after <paramref name="sinceTicks"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public static IReadOnlyList<(long EndedTicks, string What, double Ms)> Since(long sinceTicks) =>
        [.. Recorded.Where(s => s.EndedTicks >= sinceTicks)];
}
