using System.Diagnostics;
using System.Globalization;

namespace Wildberries.Bench.Durable;

/// <summary>
/// The thread pool through an open-loop window, every 10 ms on its own thread: queued items, threads, items done,
/// checkouts issued and answered, and the CPU each of the process's threads took (Linux, /proc/self/task), so a
/// stall can be told apart: the pool idle with work queued (starved of threads or of CPU), or busy with other work.
/// </summary>
internal sealed class PoolSampler : IDisposable
{
    private readonly record struct Sample(long Ticks, long Pending, int Threads, long Completed, long Issued, long Answered, double LateMs, Dictionary<string, long>? Cpu);

    private readonly Func<long> _issued;
    private readonly Func<long> _answered;
    private readonly List<Sample> _samples = [];
    private readonly Thread _thread;
    private volatile bool _stop;

    public PoolSampler(Func<long> issued, Func<long> answered)
    {
        _issued = issued;
        _answered = answered;
        _thread = new Thread(Run) { IsBackground = true, Name = "pool-sampler", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    private void Run()
    {
        var next = Stopwatch.GetTimestamp();
        while (!_stop)
        {
            next += Stopwatch.Frequency / 100;
            while (Stopwatch.GetTimestamp() < next) Thread.Sleep(1);
            var now = Stopwatch.GetTimestamp();
            var sample = new Sample(now, ThreadPool.PendingWorkItemCount, ThreadPool.ThreadCount, ThreadPool.CompletedWorkItemCount,
                _issued(), _answered(), (now - next) * 1000.0 / Stopwatch.Frequency, ReadCpu());
            lock (_samples) _samples.Add(sample);
        }
    }

    // Clock ticks (usually 10 ms) of user + system CPU per thread name (threads of one name summed).
    private static Dictionary<string, long>? ReadCpu()
    {
        if (!OperatingSystem.IsLinux()) return null;
        var cpu = new Dictionary<string, long>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                string stat;
                try { stat = File.ReadAllText(Path.Combine(task, "stat")); } catch (IOException) { continue; }
                var open = stat.IndexOf('(');
                var close = stat.LastIndexOf(')');
                var name = stat[(open + 1)..close];
                var fields = stat[(close + 2)..].Split(' ');
                // utime, stime (clock ticks) and minor page faults of the thread.
                cpu[name + " user"] = cpu.GetValueOrDefault(name + " user") + long.Parse(fields[11], CultureInfo.InvariantCulture);
                cpu[name + " sys"] = cpu.GetValueOrDefault(name + " sys") + long.Parse(fields[12], CultureInfo.InvariantCulture);
                cpu[name + " faults/100"] = cpu.GetValueOrDefault(name + " faults/100") + long.Parse(fields[7], CultureInfo.InvariantCulture) / 10;
            }
        }
        catch (DirectoryNotFoundException) { return null; }
        return cpu;
    }

    /// <summary>The samples from <paramref name="fromMs"/> to <paramref name="toMs"/> after <paramref name="start"/>, one a line.</summary>
    public string Describe(long start, double fromMs, double toMs)
    {
        List<Sample> samples;
        lock (_samples) samples = [.. _samples];
        var lines = new List<string>();
        Sample? previous = null;
        foreach (var s in samples)
        {
            var at = (s.Ticks - start) * 1000.0 / Stopwatch.Frequency;
            if (at >= fromMs && at <= toMs)
            {
                var cpu = "";
                if (previous is { Cpu: { } before } && s.Cpu is { } after)
                {
                    cpu = string.Join(" ", after.Select(kv => (kv.Key, Delta: kv.Value - before.GetValueOrDefault(kv.Key))).Where(x => x.Delta > 0)
                        .OrderByDescending(x => x.Delta).Select(x => x.Key.EndsWith("/100", StringComparison.Ordinal) ? $"{x.Key[..^4]}:{x.Delta * 100}" : $"{x.Key}:{x.Delta * 10}ms"));
                }
                var done = previous is { } p ? s.Completed - p.Completed : 0;
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"        {at,7:F1} ms: pool {s.Threads} threads, {s.Pending,6:N0} queued, {done,6:N0} items done; issued {s.Issued,7:N0}, answered {s.Answered,7:N0} ({s.Issued - s.Answered,6:N0} waiting); sampler {s.LateMs,5:F1} ms late; cpu {cpu}"));
            }
            previous = s;
        }
        return string.Join("\n", lines);
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }
}
