namespace Wildberries.Engine.Reads;

/// <summary>
/// A fixed-bucket latency histogram one thread writes and any thread reads (Prometheus-style cumulative buckets).
/// Lock-free: each bucket is a counter only its writer increments.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>Upper bounds in microseconds: 50 us to 1 s, enough to tell a page-cache commit from a stalled disk.</summary>
    public static readonly long[] BoundsMicros = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

    private readonly long[] _counts = new long[BoundsMicros.Length + 1];
    private long _sumMicros;

    /// <summary>Records one observation; called by the single writer.</summary>
    public void Record(long micros)
    {
        var i = 0;
        while (i < BoundsMicros.Length && micros > BoundsMicros[i]) i++;
        Volatile.Write(ref _counts[i], _counts[i] + 1);
        Volatile.Write(ref _sumMicros, _sumMicros + micros);
    }

    /// <summary>Observations per bucket (the last is above the largest bound), and their sum in microseconds.</summary>
    public (long[] Counts, long SumMicros) Read()
    {
        var counts = new long[_counts.Length];
        for (var i = 0; i < counts.Length; i++) counts[i] = Volatile.Read(ref _counts[i]);
        return (counts, Volatile.Read(ref _sumMicros));
    }
}
