using System.Diagnostics;
using System.Globalization;
using Wildberries.Engine;

namespace Wildberries.Bench;

/// <summary>
/// What the process did through one measured window of the peak sale (<c>--diagnose</c>): collections by generation
/// and GC pause, thread pool threads and queue (sampled every 10 ms), the process's minor page faults and CPU
/// (/proc/self/stat), the CPU of the busiest threads (/proc/self/task) and, for the in-process engine, journal commits and
/// commands per commit. One line per run, so a slow run can be told from a fast one.
/// </summary>
internal sealed class PeakSaleProbe
{
    private readonly Func<ReservationEngine?> _engine;
    private int[] _gc = new int[3];
    private TimeSpan _pause;
    private long _allocated, _minflt, _user, _sys, _commits, _inPlace, _completed;
    private Dictionary<string, long> _threads = [];
    private long _started;
    private Thread? _sampler;
    private volatile bool _stop;
    private int _maxThreads, _minThreads;
    private long _maxPending, _sumPending, _samples;

    public PeakSaleProbe(Func<ReservationEngine?> engine) => _engine = engine;

    public void Start()
    {
        _gc = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        _pause = GC.GetTotalPauseDuration();
        _allocated = GC.GetTotalAllocatedBytes();
        (_minflt, _user, _sys) = ReadProcess();
        _threads = ReadThreads();
        _completed = ThreadPool.CompletedWorkItemCount;
        var e = _engine();
        _commits = e is null ? 0 : Commits(e);
        _inPlace = e?.InPlaceBatches ?? 0;
        _maxThreads = 0;
        _minThreads = int.MaxValue;
        _maxPending = _sumPending = _samples = 0;
        _stop = false;
        _sampler = new Thread(Sample) { IsBackground = true, Name = "peak-probe" };
        _sampler.Start();
        _started = Stopwatch.GetTimestamp();
    }

    public string Stop(long checkouts)
    {
        var seconds = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        _stop = true;
        _sampler?.Join();
        var (minflt, user, sys) = ReadProcess();
        var threads = ReadThreads();
        var e = _engine();
        var commits = e is null ? 0 : Commits(e) - _commits;
        var engineCpu = string.Join(", ", threads.Select(t => (t.Key, Ms: (t.Value - _threads.GetValueOrDefault(t.Key)) * 10))
            .Where(t => t.Ms > 0).OrderByDescending(t => t.Ms).Take(8).Select(t => $"{t.Key} {t.Ms} ms"));
        return string.Create(CultureInfo.InvariantCulture,
            $"{checkouts / seconds:N0}/s in {seconds:F3} s; GC gen0/1/2 {GC.CollectionCount(0) - _gc[0]}/{GC.CollectionCount(1) - _gc[1]}/{GC.CollectionCount(2) - _gc[2]}, " +
            $"pause {(GC.GetTotalPauseDuration() - _pause).TotalMilliseconds:F1} ms, {(GC.GetTotalAllocatedBytes() - _allocated) / (double)Math.Max(1, checkouts):N0} B/checkout; " +
            $"pool threads {_minThreads}-{_maxThreads}, queued max {_maxPending} mean {_sumPending / (double)Math.Max(1, _samples):F0}, items {ThreadPool.CompletedWorkItemCount - _completed:N0}; " +
            $"minor faults {minflt - _minflt:N0}; CPU user {(user - _user) * 10} ms sys {(sys - _sys) * 10} ms ({(user - _user + sys - _sys) * 10 / 1000.0 / seconds:F2} cores); " +
            $"commits {commits:N0} ({(commits == 0 ? 0 : checkouts / (double)commits):F1} checkouts/commit), in-place batches {(e?.InPlaceBatches ?? 0) - _inPlace:N0}; thread CPU: {engineCpu}");
    }

    private static long Commits(ReservationEngine engine) => engine.CommitLatency.Sum(h => h.Read().Counts.Sum());

    private void Sample()
    {
        while (!_stop)
        {
            Thread.Sleep(10);
            var t = ThreadPool.ThreadCount;
            var p = ThreadPool.PendingWorkItemCount;
            _maxThreads = Math.Max(_maxThreads, t);
            _minThreads = Math.Min(_minThreads, t);
            _maxPending = Math.Max(_maxPending, p);
            _sumPending += p;
            _samples++;
        }
    }

    // Minor faults, utime and stime (clock ticks) of the process: /proc/self/stat fields 10, 14 and 15.
    private static (long MinFlt, long User, long Sys) ReadProcess()
    {
        if (!OperatingSystem.IsLinux()) return default;
        var stat = File.ReadAllText("/proc/self/stat");
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(f[7], CultureInfo.InvariantCulture), long.Parse(f[11], CultureInfo.InvariantCulture), long.Parse(f[12], CultureInfo.InvariantCulture));
    }

    // User + system clock ticks per thread name (threads of one name summed).
    private static Dictionary<string, long> ReadThreads()
    {
        var cpu = new Dictionary<string, long>();
        if (!OperatingSystem.IsLinux()) return cpu;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            string stat;
            try { stat = File.ReadAllText(Path.Combine(task, "stat")); } catch (IOException) { continue; }
            var open = stat.IndexOf('(', StringComparison.Ordinal);
            var close = stat.LastIndexOf(')');
            var name = stat[(open + 1)..close];
            var f = stat[(close + 2)..].Split(' ');
            cpu[name] = cpu.GetValueOrDefault(name) + long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
        }
        return cpu;
    }
}
